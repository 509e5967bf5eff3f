"""``make bench`` part: every GAN loss of ``book.generative.gan`` on ring8 (ten seeds) and
grid25 (three seeds), and anytime curves of the book's WGAN-GP against the classic one.

    python -m tools.bench_gan                       # everything -> _build/bench/gan.json
    python -m tools.bench_gan --datasets ring8 --losses gan-qp wgan-gp --out /tmp/x.json

For each data set and loss: the mean over the seeds of ``modes`` (recovered), ``hq`` (share
of high-quality samples), ``kl`` (mode histogram vs uniform) and ``seconds`` (wall time of
one training run), plus ``cpu_seconds`` and the per-seed values. As in the chapter, the
losses of one seed train together as one stack (``book.generative.gan_stack``), so the
seconds of a run are its stack's divided by the number of losses; the stacks of the seeds
run side by side, one per core. On ring8 every loss runs
with ``BAR_SEEDS`` (ten) seeds: one run's share of high-quality samples moves by several
points from seed to seed, so ``chapters/gan_zoo`` states its results over these seeds.

Anytime curves (``anytime``): modes and hq of 2,500 samples from a fixed latent batch
against the CPU seconds of the training thread (one thread for both, so the numbers do not
depend on what else runs), on ring8 with two seeds, for the book's WGAN-GP (its 2,500
steps) and for the classic WGAN-GP toy configuration of Gulrajani et al. (2017: generator
and critic 2-512-512-512, ReLU, 5 critic steps, lambda = 0.1, Adam 1e-4, betas (0.5, 0.9),
batch 256), given ``REFERENCE_STEPS`` generator steps (80 CPU seconds on the idle 2-core
machine of 2026-12).

``chapters/gan_zoo.json`` (written here, stamped with the commit it was measured on; commit it
with the change it measures) holds the ring8 summaries and the anytime curves.

Exit status 1 if the bar fails: on ring8, GAN-QP, WGAN-GP and WGAN-div each recover >= 7.5
modes with >= 80% high-quality samples (mean of the seeds).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, replace

import numpy as np
import torch

from book import training
from book.generative import gan, gan_stack, toy2d
from tools.chapters import BENCH, ROOT, commit_stamp

N_SAMPLES = 2500
BAR_LOSSES = ("gan-qp", "wgan-gp", "wgan-div")
BAR_SEEDS = list(range(10))
ANYTIME_SEEDS = [0, 1]
REFERENCE_STEPS = 250
CHAPTER_JSON = ROOT / "chapters" / "gan_zoo.json"


def classic_wgan_gp(steps: int = REFERENCE_STEPS) -> gan.GANConfig:
    """The WGAN-GP toy configuration of Gulrajani et al. (constant learning rate, so
    stopping it after ``steps`` changes nothing before), on one thread like the book's."""
    return gan.GANConfig(loss="wgan-gp", steps=steps, batch=256, latent=2, width=512, depth=3,
                         critic_width=512, critic_depth=3, activation="relu", critic_steps=5,
                         lr_g=1e-4, lr_d=1e-4, betas=(0.5, 0.9), lr_end=1.0,
                         losses=gan.LossConfig(gp_weight=0.1), threads=1)


def anytime(cfg: gan.GANConfig, mix: toy2d.Mixture, seed: int, points: int = 12) -> list[list]:
    """``[cpu_seconds, modes, hq]`` at ``points`` steps spread geometrically over the run."""
    steps = sorted({0, *np.unique(np.geomspace(10, cfg.steps, points - 1).astype(int))})
    run = gan.train(cfg, mix, seed=seed, snapshots=steps, n_show=N_SAMPLES, progress=False)
    out = []
    for f in run.frames:
        m = toy2d.mode_metrics(torch.as_tensor(f.samples), mix)
        out.append([round(f.cpu_seconds, 3), m.modes, round(m.hq, 4)])
    return out


def zoo_stack(losses: list[str], dataset: str, seed: int) -> list[dict]:
    """One seed of every loss in ``losses`` on ``dataset``, trained as one stack (as the
    chapter trains its runs): the metrics of 2,500 samples of each run, its steps, and the
    stack's wall and CPU seconds divided by the number of runs in it."""
    mix = toy2d.mixture(dataset)
    cfg = gan.GANConfig()
    cpu = time.process_time()
    runs = gan_stack.train_stacked([replace(cfg, loss=name) for name in losses],
                                   [mix] * len(losses), [seed] * len(losses), progress=False)
    cpu = time.process_time() - cpu
    out = []
    for run in runs:
        x = gan.sample(run.generator, N_SAMPLES, cfg.latent,
                       torch.Generator().manual_seed(1000 + seed))
        r = toy2d.mode_metrics(x, mix).as_dict()
        r.update(seconds=run.seconds / len(runs), cpu_seconds=cpu / len(runs), steps=run.steps,
                 diverged=str(run.diverged) if run.diverged else None)
        out.append(r)
    return out


def summarise(per_seed: list[dict]) -> dict:
    keys = ("modes", "hq", "kl", "seconds", "cpu_seconds")
    out = {k: float(np.mean([r[k] for r in per_seed])) for k in keys}
    out["steps"] = float(np.mean([r["steps"] for r in per_seed]))
    out["diverged"] = sum(r["diverged"] is not None for r in per_seed)
    out["per_seed"] = per_seed
    return out


def line(name: str, r: dict) -> str:
    return (f"  {name:10s} modes {r['modes']:5.2f}  hq {r['hq']:.3f}  kl {r['kl']:.3f}  "
            f"wall {r['seconds']:5.1f} s  cpu {r['cpu_seconds']:5.1f} s  steps {r['steps']:.0f}"
            + (f"  diverged x{r['diverged']}" if r["diverged"] else ""))


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=list(toy2d.MIXTURES))
    ap.add_argument("--losses", nargs="+", default=list(gan.LOSSES))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--no-reference", action="store_true")
    ap.add_argument("--out", default=str(BENCH / "gan.json"))
    args = ap.parse_args(argv)
    for name in args.losses:
        gan.check_loss(name)
    book_cfg = gan.GANConfig()
    result = {
        "config": asdict(book_cfg), "reference_config": asdict(classic_wgan_gp()),
        "seeds": args.seeds, "bar_seeds": BAR_SEEDS, "n_samples": N_SAMPLES,
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "load_average_before": list(os.getloadavg())},
    }
    start = time.perf_counter()
    # every seed of a data set is one stack of all the losses; the stacks (and the anytime
    # runs) go side by side, one per core
    calls = [dict(losses=args.losses, dataset=ds, seed=s) for ds in args.datasets
             for s in (BAR_SEEDS if ds == "ring8" else args.seeds)]
    stacks = training.side_by_side(zoo_stack, calls, desc="GAN stacks")
    for ds in args.datasets:
        mix = toy2d.mixture(ds)
        result[ds] = {}
        print(f"{ds}:", flush=True)
        per_call = [runs for call, runs in zip(calls, stacks) if call["dataset"] == ds]
        for k, name in enumerate(args.losses):
            result[ds][name] = summarise([runs[k] for runs in per_call])
            print(line(name, result[ds][name]), flush=True)
        if not args.no_reference and ds == "ring8":
            configs = {"book wgan-gp": replace(book_cfg, loss="wgan-gp"),
                       "reference": classic_wgan_gp()}
            jobs = [dict(cfg=c, mix=mix, seed=s) for c in configs.values() for s in ANYTIME_SEEDS]
            curves = training.side_by_side(anytime, jobs, desc="anytime runs",
                                           cost=[j["cfg"].steps * j["cfg"].width for j in jobs])
            n = len(ANYTIME_SEEDS)
            result["anytime"] = {name: curves[i * n:(i + 1) * n] for i, name in enumerate(configs)}
            for name, cs in result["anytime"].items():
                ends = [c[-1] for c in cs]
                print(f"  anytime {name}: at the end " + "; ".join(
                    f"{t:.0f} cpu s, {m} modes, hq {h:.3f}" for t, m, h in ends), flush=True)
    result["machine"]["load_average_after"] = list(os.getloadavg())
    result["machine"]["total_seconds"] = time.perf_counter() - start
    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"load average before {result['machine']['load_average_before']}, "
          f"after {result['machine']['load_average_after']}")
    print(f"written {os.path.relpath(out, ROOT)}")
    if "ring8" in result and all(n in result["ring8"] for n in BAR_LOSSES) \
            and os.path.abspath(args.out) == str(BENCH / "gan.json"):
        CHAPTER_JSON.write_text(json.dumps({
            **commit_stamp(), "seeds": BAR_SEEDS, "config": asdict(book_cfg),
            "ring8": {name: {key: {"mean": round(float(np.mean(v)), 4),
                                   "sd": round(float(np.std(v, ddof=1)), 4),
                                   "min": round(float(np.min(v)), 4),
                                   "max": round(float(np.max(v)), 4)}
                             for key in ("hq", "modes", "kl", "cpu_seconds")
                             for v in [[r[key] for r in per]]}
                      for name in result["ring8"]
                      for per in [result["ring8"][name]["per_seed"]]},
            "anytime": result.get("anytime"),
            "reference_config": asdict(classic_wgan_gp()),
        }, indent=1) + "\n")
        print(f"written {CHAPTER_JSON.relative_to(ROOT)}")
    status = 0
    if "ring8" in result:
        for name in BAR_LOSSES:
            r = result["ring8"].get(name)
            if r is None:
                continue
            ok = r["modes"] >= 7.5 and r["hq"] >= 0.8
            fast = r["seconds"] <= 10
            print(f"bar ring8 {name}: modes {r['modes']:.2f} >= 7.5 and hq {r['hq']:.3f} >= 0.8:"
                  f" {'yes' if ok else 'NO'}; wall {r['seconds']:.1f} s <= 10 s: "
                  f"{'yes' if fast else 'NO (see the load average)'}")
            status = status or (0 if ok else 1)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
