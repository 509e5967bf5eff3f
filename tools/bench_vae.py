"""``make bench`` part: the VAE chapters' numbers on the digits' test split.

    python -m tools.bench_vae

Repeats the comparison of ``chapters/vae_information_bottleneck.md`` (same data, seeds and
configuration, so the same numbers) and the main VQ-VAE of ``chapters/vq_vae.md``, and writes
``_build/bench/vae.json``::

    {"vae": {"neg_elbo": nats, "seconds": s}, "diag_gauss": {"nll": nats},
     "ppca": {"nll": nats, "latent_dim": k}, "factor_analysis": {"nll": nats},
     "full_gauss": {"nll": nats},
     "vq_vae": {"mse": m, "perplexity": p, "codes": K, "seconds": s},
     "pca_pq": {"mse": m, "bits": b}}

Nats are per test image, for continuous Gaussian densities on dequantised pixels
(``book.generative.vae.dequantise``). ``pca_pq`` is the linear baseline of ``chapters/vq_vae.md`` (PCA + product
quantisation) at the VQ-VAE's bits. ``vae.seconds`` is the training time of the whole
β-sweep (seven VAEs trained side by side; the β = 1 model is one of them).
"""

from __future__ import annotations

import json
import math
import sys

import torch
from sklearn.decomposition import FactorAnalysis

from book import seeding
from book.generative import vae, vq
from book.data import digits
from tools.chapters import BENCH, ROOT


def main() -> int:
    data = digits()
    # the likelihood comparison, exactly as in the chapter
    y_test = vae.dequantise(data.x_test, generator=torch.Generator().manual_seed(1))
    fit_gen = torch.Generator().manual_seed(2)
    y_fit = torch.cat([vae.dequantise(data.x_train, generator=fit_gen) for _ in range(10)])
    config = vae.DIGITS_SWEEP
    diag = vae.DiagGaussian.fit(y_fit)
    ppca = vae.PPCA.fit(y_fit.double(), config.latent_dim)
    fa = FactorAnalysis(n_components=config.latent_dim, random_state=seeding.seed(7)).fit(
        y_fit.double().numpy())
    full = vae.FullGaussian.fit(y_fit)
    run = vae.train_vae(data.x_train, config)
    scores = vae.evaluate(run.model, y_test, n_samples=64,
                          generator=torch.Generator().manual_seed(3))
    i1 = list(config.betas).index(1.0)
    # the VQ-VAE of the chapter
    vq_config = vq.DIGITS_VQ
    main_vq = vq_config.codebooks.index(vq.Codebook(64))  # K = 64, codebook loss, restarts
    vq_run = vq.train_vq(data.x_train, vq_config)
    vq_scores = vq.evaluate(vq_run.model, data.x_test)[main_vq]
    n_codes = vq_config.codebooks[main_vq].n_codes
    pq = vq.ProductQuantiser.fit(data.x_train, vq_config.slots, vq_config.code_dim, n_codes,
                                 seed=seeding.seed(5))
    pq_mse = ((pq.reconstruct(data.x_test) - data.x_test) ** 2).mean().item()

    result = {
        "vae": {"neg_elbo": round(scores["neg_elbo"][i1].item(), 3),
                "seconds": round(run.seconds, 2)},
        "diag_gauss": {"nll": round(diag.nll(y_test).mean().item(), 3)},
        "ppca": {"nll": round(ppca.nll(y_test.double()).mean().item(), 3),
                 "latent_dim": ppca.latent_dim},
        "factor_analysis": {"nll": round(float(-fa.score_samples(y_test.double().numpy()).mean()),
                                         3)},
        "full_gauss": {"nll": round(full.nll(y_test).mean().item(), 3)},
        "vq_vae": {"mse": round(vq_scores["mse"], 6),
                   "perplexity": round(vq_scores["perplexity"], 2),
                   "codes": vq_config.codebooks[main_vq].n_codes,
                   "seconds": round(vq_run.seconds, 2)},
        "pca_pq": {"mse": round(pq_mse, 6),
                   "bits": round(vq_config.slots * math.log2(n_codes))},
    }
    BENCH.mkdir(parents=True, exist_ok=True)
    out = BENCH / "vae.json"
    out.write_text(json.dumps(result, indent=2) + "\n")

    nll = {"diagonal Gaussian": result["diag_gauss"]["nll"],
           f"PPCA (k = {ppca.latent_dim})": result["ppca"]["nll"],
           f"factor analysis (k = {ppca.latent_dim})": result["factor_analysis"]["nll"],
           "full-covariance Gaussian": result["full_gauss"]["nll"],
           f"VAE -ELBO (k = {config.latent_dim}, beta = 1)": result["vae"]["neg_elbo"]}
    print(f"{'model':34} {'nats / test image':>18}")
    for name, value in nll.items():
        print(f"{name:34} {value:18.2f}")
    vae_nll = result["vae"]["neg_elbo"]
    print(f"VAE beats the diagonal Gaussian: {vae_nll < result['diag_gauss']['nll']}; "
          f"beats PPCA: {vae_nll < result['ppca']['nll']}; beats the full-covariance "
          f"Gaussian: {vae_nll < result['full_gauss']['nll']}")
    v = result["vq_vae"]
    print(f"\nVQ-VAE: K = {v['codes']}, test MSE {v['mse']:.5f} per pixel, perplexity "
          f"{v['perplexity']:.1f}, {vq_scores['unused']} codes unused on the test set, "
          f"{v['seconds']:.1f} s")
    print(f"PCA + product quantisation at the same {result['pca_pq']['bits']} bits: test MSE "
          f"{result['pca_pq']['mse']:.5f}")
    print(f"written {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
