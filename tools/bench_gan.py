"""``make bench`` part: every GAN loss of ``book.generative.gan`` on ring8 and grid25, three
seeds each.

    python -m tools.bench_gan                       # everything -> _build/bench/gan.json
    python -m tools.bench_gan --datasets ring8 --losses gan-qp wgan-gp --out /tmp/x.json

For each data set and loss: the mean over the seeds of ``modes`` (recovered), ``hq`` (share
of high-quality samples), ``kl`` (mode histogram vs uniform) and ``seconds`` (wall time of
one training run), plus ``cpu_seconds`` (the process's CPU time, less sensitive to other
jobs on the machine) and the per-seed values. The ``reference`` entry of each data set is
the classic WGAN-GP toy configuration (Gulrajani et al. 2017: generator and critic
2-512-512-512, ReLU, 5 critic steps, lambda = 0.1, Adam 1e-4, betas (0.5, 0.9), batch 256)
stopped after the same wall time as the book's WGAN-GP on that data set, on every core
(the book's small networks run on one thread, which is faster for them). The load average
before and after is recorded: wall times measured on a busy machine are inflated.

The three losses of the bar (GAN-QP, WGAN-GP, WGAN-div) run on ring8 with ``BAR_SEEDS`` (ten)
seeds instead: one run's share of high-quality samples moves by several points from seed to
seed, so ``chapters/gan_zoo`` states the bar over these seeds, read from
``chapters/gan_zoo.json`` (written here, stamped with the commit it was measured on; commit it
with the change it measures).

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

from book.generative import gan, toy2d
from tools.chapters import BENCH, ROOT, commit_stamp

N_SAMPLES = 2500
BAR_LOSSES = ("gan-qp", "wgan-gp", "wgan-div")
BAR_SEEDS = list(range(10))
CHAPTER_JSON = ROOT / "chapters" / "gan_zoo.json"


def classic_wgan_gp() -> gan.GANConfig:
    """The WGAN-GP toy configuration of Gulrajani et al. (run until a wall-time budget)."""
    return gan.GANConfig(loss="wgan-gp", steps=10**7, batch=256, latent=2, width=512, depth=3,
                         critic_width=512, critic_depth=3, activation="relu", critic_steps=5,
                         lr_g=1e-4, lr_d=1e-4, betas=(0.5, 0.9), lr_end=1.0,
                         losses=gan.LossConfig(gp_weight=0.1),
                         threads=os.cpu_count() or 1)  # its 512-wide layers use every core


def one_run(cfg: gan.GANConfig, mix: toy2d.Mixture, seed: int,
            max_seconds: float | None = None) -> dict:
    cpu = time.process_time()
    run = gan.train(cfg, mix, seed=seed, max_seconds=max_seconds, keep_partial=True,
                    progress=False)
    cpu = time.process_time() - cpu
    x = gan.sample(run.generator, N_SAMPLES, cfg.latent, torch.Generator().manual_seed(1000 + seed))
    out = toy2d.mode_metrics(x, mix).as_dict()
    out.update(seconds=run.seconds, cpu_seconds=cpu, steps=run.steps,
               diverged=str(run.diverged) if run.diverged else None)
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
    for ds in args.datasets:
        mix = toy2d.mixture(ds)
        result[ds] = {}
        print(f"{ds}:", flush=True)
        for name in args.losses:
            seeds = BAR_SEEDS if (ds == "ring8" and name in BAR_LOSSES) else args.seeds
            per_seed = [one_run(replace(book_cfg, loss=name), mix, s) for s in seeds]
            result[ds][name] = summarise(per_seed)
            print(line(name, result[ds][name]), flush=True)
        if not args.no_reference and "wgan-gp" in result[ds]:
            budget = result[ds]["wgan-gp"]["seconds"]
            per_seed = [one_run(classic_wgan_gp(), mix, s, max_seconds=budget)
                        for s in args.seeds]
            result[ds]["reference"] = summarise(per_seed)
            result[ds]["reference"]["wall_budget_seconds"] = budget
            print(line("reference", result[ds]["reference"]), flush=True)
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
                                   "min": round(float(np.min(v)), 4),
                                   "max": round(float(np.max(v)), 4)}
                             for key, v in (("hq", [r["hq"] for r in per]),
                                            ("modes", [r["modes"] for r in per]))}
                      for name in BAR_LOSSES
                      for per in [result["ring8"][name]["per_seed"]]},
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
