"""Several small GANs trained at once, as one stacked model (chapter ``gan_zoo``).

The runs of the zoo (one per loss, or per seed) share their architecture and optimiser and
differ in the loss, the data or the seed. Each is a few thousand steps of tiny matrix
products, where a CPU spends its time on the overhead of each operation, not on the
arithmetic. Stacked, the M generators are one set of weights of shape (M, in, out),
applied with one batched product per layer (``torch.baddbmm``), likewise the M critics; Adam
acts elementwise, so one optimiser over the stacked weights updates each run exactly as its
own optimiser would. The runs never mix: run m's loss depends only on slice m of the
weights, so its gradient reaches no other slice.

Each run draws its initial weights, its data, its noise and its penalty points from its own
generator, seeded as :func:`book.generative.gan.train` seeds it, in the same order: a
stacked run is the same experiment as the run of ``gan.train`` with that seed (the same
numbers, up to the rounding of the batched products).
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import torch

from book import seeding, training
from book.stacked import StackedMLP
from book.generative import film, gan

__all__ = ["StackedMLP", "train_stacked"]


def _slice(net: StackedMLP, m: int):
    """Network ``m`` of a stack as a function of an (N, in) batch (for the film's frames)."""
    def f(x: torch.Tensor) -> torch.Tensor:
        for k, (w, b) in enumerate(zip(net.weights, net.biases)):
            x = torch.addmm(b[m], x, w[m])
            if k < len(net.weights) - 1:
                x = net.activation(x)
        return x
    return f


def train_stacked(cfgs: list[gan.GANConfig], data: list, seeds: list[int],
                  snapshots: tuple[int, ...] = (), extent: float = 3.0, n_show: int = 512,
                  progress: bool = True) -> list[gan.GANRun]:
    """Train run m = (``cfgs[m]``, ``data[m]``, ``seeds[m]``) for every m, all at once.

    The configurations may differ only in their loss. Returns one :class:`gan.GANRun` per
    run, as :func:`gan.train` with ``keep_partial=True`` would: a run whose loss becomes
    NaN or infinite gets ``diverged`` set and stops learning, the others go on. ``seconds``
    and the frames' ``cpu_seconds`` are those of the whole stack.
    """
    if not (len(cfgs) == len(data) == len(seeds)) or not cfgs:
        raise ValueError(f"need as many configs, data sets and seeds (>= 1), got "
                         f"{len(cfgs)}, {len(data)}, {len(seeds)}")
    cfg = cfgs[0]
    for c in cfgs:
        if replace(c, loss=cfg.loss) != cfg:
            raise ValueError("stacked runs may differ only in their loss; got configs "
                             f"{cfg} and {c}")
    draws = [d.sample if hasattr(d, "sample") else d for d in data]
    if not all(callable(d) for d in draws):
        raise ValueError("data must be Mixtures or functions f(n, generator) -> (n, 2)")
    names = [c.loss for c in cfgs]
    M, B = len(cfgs), cfg.batch
    with training.torch_threads(cfg.threads):
        # each run seeded and initialised exactly as gan.train does it
        gens, Gs, Ds, z_show = [], [], [], []
        for s in seeds:
            gens.append(seeding.everything(s))
            Gs.append(gan.mlp(cfg.latent, 2, cfg.width, cfg.depth, cfg.activation))
            Ds.append(gan.mlp(2, 1, cfg.critic_width, cfg.critic_depth, cfg.activation))
            z_show.append(torch.randn(n_show, cfg.latent, generator=gens[-1]))
        G, D = StackedMLP(Gs), StackedMLP(Ds)
        opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas, fused=True)
        opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=cfg.betas, fused=True)
        shots = [film.Film({int(s) for s in snapshots}, z, extent) for z in z_show]
        d_hist, g_hist = [[] for _ in range(M)], [[] for _ in range(M)]
        diverged: list[training.Diverged | None] = [None] * M
        wgan = [m for m in range(M) if names[m].startswith("wgan")]
        qp = [m for m in range(M) if names[m] == "gan-qp"]
        bar = range(cfg.steps)
        if progress:
            bar = training.progress(bar, desc=f"training {M} GANs stacked")
        per_step, chunk = cfg.critic_steps + 1, 100
        start, cpu_start = time.perf_counter(), time.thread_time()

        def snap(step: int) -> None:
            for m in range(M):
                if diverged[m] is None:
                    shots[m].snap(step, _slice(G, m), _slice(D, m),
                                  time.thread_time() - cpu_start)

        def record(losses: list[torch.Tensor], hist: list[list], step: int, what: str):
            for m, loss in enumerate(losses):
                if diverged[m] is None:
                    try:
                        hist[m].append(training.check_finite(
                            loss, step, what, f"{names[m]}: try smaller learning rates"))
                    except training.Diverged as err:
                        diverged[m] = err

        def descend(opt: torch.optim.Optimizer, losses: list[torch.Tensor]) -> None:
            # runs that diverged drop out of the sum (their NaNs stay in their own slice)
            alive = [loss for m, loss in enumerate(losses) if diverged[m] is None]
            opt.zero_grad(set_to_none=True)
            if alive:
                torch.stack(alive).sum().backward()
                opt.step()

        snap(0)
        try:
            for step in bar:
                if all(d is not None for d in diverged):
                    break
                if step % chunk == 0:
                    n = min(chunk, cfg.steps - step) * per_step
                    # (n, M, B, 2) and (n, M, B, latent), each run from its own generator
                    reals = torch.stack([draws[m](n * B, gens[m]).reshape(n, B, 2)
                                         for m in range(M)], dim=1)
                    noises = torch.stack([torch.randn(n, B, cfg.latent, generator=gens[m])
                                          for m in range(M)], dim=1)
                i = (step % chunk) * per_step
                for c in range(cfg.critic_steps):
                    x_real = reals[i + c]
                    with torch.no_grad():
                        x_fake = G(noises[i + c])
                    # one pass over both batches of every run: (M, 2B, 1) -> (M, B), (M, B)
                    d_real, d_fake = D(torch.cat([x_real, x_fake], dim=1)).squeeze(-1).chunk(2, 1)
                    dist = norms = None
                    if qp:
                        dist = (x_real - x_fake).norm(dim=2)          # (M, B)
                    if wgan:
                        # eps x_r + (1 - eps) x_f with each WGAN run's own eps, (W, B, 1),
                        # and the gradient norms of those runs' critics there, (W, B)
                        eps = torch.stack([torch.rand(B, 1, generator=gens[m]) for m in wgan])
                        x_mid = eps * x_real[wgan] + (1 - eps) * x_fake[wgan]
                        grad = D.input_gradient(x_mid, wgan)          # (W, B, 2)
                        norms = dict(zip(wgan, grad.norm(dim=2)))
                    losses_d = [gan.critic_loss_of_scores(
                        names[m], d_real[m], d_fake[m], None if dist is None else dist[m],
                        None if norms is None else norms.get(m), cfgs[m].losses) for m in range(M)]
                    descend(opt_d, losses_d)
                record(losses_d, d_hist, step, "critic loss")
                x_fake = G(noises[i + cfg.critic_steps])
                x_real = reals[i + cfg.critic_steps]
                d_real, d_fake = D(torch.cat([x_real, x_fake], dim=1)).squeeze(-1).chunk(2, 1)
                losses_g = [gan.generator_loss_of_scores(names[m], d_real[m], d_fake[m])
                            for m in range(M)]
                descend(opt_g, losses_g)
                record(losses_g, g_hist, step, "generator loss")
                # linear decay: lr_t = lr (1 - (1 - lr_end) t / steps)
                scale = 1.0 - (1.0 - cfg.lr_end) * (step + 1) / cfg.steps
                opt_g.param_groups[0]["lr"] = cfg.lr_g * scale
                opt_d.param_groups[0]["lr"] = cfg.lr_d * scale
                snap(step + 1)
        finally:
            if progress:
                bar.close()
        seconds = time.perf_counter() - start
        return [gan.GANRun(cfgs[m], G.unstack(m), D.unstack(m),
                           diverged[m].step if diverged[m] else len(g_hist[m]), seconds,
                           np.array(d_hist[m]), np.array(g_hist[m]), shots[m].frames,
                           diverged[m]) for m in range(M)]
