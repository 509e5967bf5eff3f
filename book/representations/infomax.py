"""Deep InfoMax on the 8x8 digits with a Gaussian code and a KL prior term: the chapter ``infomax``.

The encoder maps x to a 4x4 map of local features and to a code z ~ N(mu(x), diag e^logvar(x))
(reparametrised). The loss, per model, is

    alpha * (-I_JSD(x; z)) + beta * (-mean_p I_JSD(f_p(x); z)) + gamma * KL(N(mu, e^logvar) || N(0, I))

with I_JSD the Jensen-Shannon objective of :func:`book.representations.mi_bounds.jsd`, the
negatives being pairs whose code comes from another image of the batch. ``n_models``
encoders of the same shape (several seeds and several values of beta) train as one network:
grouped convolutions and batched linear layers, no weight shared between models.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from book import checks, seeding, training
from book.representations.mi_bounds import jsd
from book.stacked import EnsembleLinear


@dataclass
class InfomaxConfig:
    """The models (one per seed and beta), the loss weights and the training schedule."""

    code: int = 16                      # size k of the code z
    channels: tuple[int, int] = (16, 32)
    hidden: int = 64                    # width of the two critics
    alpha: float = 0.5                  # weight of the global term
    betas: tuple[float, ...] = (1.5,)   # weights of the local term, one group of models each
    gamma: float = 0.01                 # weight of the prior (KL) term
    seeds: int = 2                      # models per beta
    epochs: int = 20
    batch: int = 128
    lr: float = 3e-3

    def __post_init__(self):
        checks.integer(self.code, "code")
        checks.integer(self.seeds, "seeds")
        checks.integer(self.epochs, "epochs")
        checks.integer(self.batch, "batch", least=2)
        for name in ("alpha", "gamma"):
            checks.number(getattr(self, name), name, 0.0)
        if not self.betas:
            raise ValueError("betas must hold at least one weight of the local term")
        for b in self.betas:
            checks.number(b, "every beta", 0.0)
        checks.positive(self.lr, "lr")

    @property
    def n_models(self) -> int:
        return len(self.betas) * self.seeds


class InfoMax(nn.Module):
    """M encoders with their global critic T(x, z) and local critic T(f_p, z)."""

    def __init__(self, config: InfomaxConfig):
        super().__init__()
        m, k, (c1, c2), h = config.n_models, config.code, config.channels, config.hidden
        self.m, self.k, self.c2 = m, k, c2
        # encoder: 8x8 -> (c1, 8, 8) -> (c2, 4, 4) local features -> (mu, logvar)
        self.conv1 = nn.Conv2d(m, m * c1, 3, padding=1, groups=m)
        self.conv2 = nn.Conv2d(m * c1, m * c2, 3, padding=1, stride=2, groups=m)
        self.head = EnsembleLinear(m, 16 * c2, 2 * k)
        with torch.no_grad():   # start with little noise, sigma = e^-2: the critics see a signal
            self.head.bias[..., k:] = -4.0
        # critics on concatenated pairs: global (x, z), local (f_p(x), z)
        self.global1, self.global2 = EnsembleLinear(m, 64 + k, h), EnsembleLinear(m, h, 1)
        self.local1, self.local2 = EnsembleLinear(m, c2 + k, h), EnsembleLinear(m, h, 1)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N, 64) pixels -> local features (M, N, 16, c2), mu and logvar (M, N, k)."""
        if x.ndim != 2 or x.shape[1] != 64:
            raise ValueError(f"x must be (N, 64) pixels, got shape {tuple(x.shape)}")
        n = x.shape[0]
        h = F.relu(self.conv1(x.reshape(n, 1, 8, 8).expand(n, self.m, 8, 8)))
        h = F.relu(self.conv2(h))                                   # (N, M c2, 4, 4)
        local = h.reshape(n, self.m, self.c2, 16).permute(1, 0, 3, 2)   # (M, N, 16, c2)
        mu, logvar = self.head(local.flatten(2)).chunk(2, -1)
        return local, mu, logvar

    def global_scores(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """T(x_i, z_i) for (N, 64) and (M, N, k) -> (M, N)."""
        pair = torch.cat([x.expand(self.m, *x.shape), z], -1)
        return self.global2(F.relu(self.global1(pair)))[..., 0]

    def local_scores(self, local: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """T(f_p(x_i), z_i) for (M, N, 16, c2) and (M, N, k) -> (M, N, 16)."""
        pair = torch.cat([local, z[:, :, None].expand(-1, -1, local.shape[2], -1)], -1)
        return self.local2(F.relu(self.local1(pair)))[..., 0]


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag e^logvar) || N(0, I)) = 1/2 sum_j (mu_j^2 + e^logvar_j - 1 - logvar_j)."""
    return 0.5 * (mu * mu + logvar.exp() - 1 - logvar).sum(-1)


def loss_terms(model: InfoMax, x: torch.Tensor,
               generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """The three terms of the loss on a batch, each (M,): the global and local JSD objectives
    (to be maximised) and the mean KL; negatives pair x_i with the code of x_{i+1}."""
    local, mu, logvar = model.encode(x)
    # z = mu + sigma * eps, the reparametrised code, (M, N, k)
    z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=generator)
    z_other = z.roll(1, dims=1)                 # the code of another image: p(x) p(z)
    global_jsd = jsd(model.global_scores(x, z), model.global_scores(x, z_other))
    pos, neg = model.local_scores(local, z), model.local_scores(local, z_other)
    local_jsd = jsd(pos.flatten(1), neg.flatten(1))  # averaged over images and positions
    return {"global": global_jsd, "local": local_jsd, "kl": gaussian_kl(mu, logvar).mean(-1)}


def total_loss(terms: dict[str, torch.Tensor], config: InfomaxConfig) -> torch.Tensor:
    """alpha (-I_global) + beta_m (-I_local) + gamma KL, summed over the M models."""
    betas = torch.tensor(config.betas).repeat_interleave(config.seeds)   # (M,)
    per_model = (-config.alpha * terms["global"] - betas * terms["local"]
                 + config.gamma * terms["kl"])
    return per_model.sum()


@dataclass
class InfomaxRun:
    model: InfoMax
    history: list[dict[str, list[float]]]   # per epoch: the mean of each term, per model
    seconds: float


def train(x_train: torch.Tensor, config: InfomaxConfig, stream: int = 0,
          desc: str = "training Deep InfoMax") -> InfomaxRun:
    """Adam on shuffled batches; ``stream`` is the book.seeding stream of weights and batches."""
    torch.manual_seed(seeding.seed(stream))
    gen = seeding.generator(stream + 1)
    model = InfoMax(config)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    history, start, step = [], time.perf_counter(), 0
    n = len(x_train)
    for _ in training.progress(range(config.epochs), desc=desc):
        order = torch.randperm(n, generator=gen)
        sums = {"global": 0.0, "local": 0.0, "kl": 0.0}
        batches = range(0, n - config.batch + 1, config.batch)
        for i in batches:
            terms = loss_terms(model, x_train[order[i:i + config.batch]], gen)
            loss = total_loss(terms, config)
            training.check_finite(loss, step, "the Deep InfoMax loss",
                                  "lower lr or gamma")
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            sums = {key: sums[key] + terms[key].detach() for key in sums}
        history.append({key: (v / len(batches)).tolist() for key, v in sums.items()})
    return InfomaxRun(model, history, time.perf_counter() - start)


@torch.no_grad()
def codes(model: InfoMax, x: torch.Tensor) -> torch.Tensor:
    """The code means mu(x), (M, N, k): the features the chapter probes."""
    return model.encode(x)[1]


@torch.no_grad()
def global_infonce(model: InfoMax, x: torch.Tensor) -> torch.Tensor:
    """InfoNCE estimate of I(x; mu(x)) with the trained global critic, all N x N pairs: (M,)."""
    from book.representations.mi_bounds import infonce

    mu = codes(model, x)                               # (M, N, k)
    if len(x) < 2:
        raise ValueError("need at least two digits to form negative pairs")
    n = len(x)
    xs = x[:, None].expand(n, n, 64).reshape(n * n, 64)                 # [i, j] -> x_i
    zs = mu[:, None].expand(-1, n, -1, -1).reshape(model.m, n * n, -1)   # [i, j] -> z_j
    scores = model.global_scores(xs, zs).reshape(model.m, n, n)      # T(x_i, z_j)
    return infonce(scores)


def linear_probe(train: torch.Tensor, y_train: torch.Tensor, test: torch.Tensor,
                 y_test: torch.Tensor, cs: tuple[float, ...] = (0.1, 1.0, 10.0),
                 seed: int = 0) -> tuple[float, float]:
    """Test accuracy of a logistic regression on standardised features, its C chosen from
    ``cs`` on a validation quarter of the training split, then refitted on all of it:
    (accuracy, C). The same protocol for every feature set (pixels, PCA, codes)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if train.ndim != 2 or test.ndim != 2 or train.shape[1] != test.shape[1]:
        raise ValueError(f"features must be (N, d) with the same d, got {tuple(train.shape)} "
                         f"and {tuple(test.shape)}")
    x, y = train.double().numpy(), y_train.numpy()
    fit_x, val_x, fit_y, val_y = train_test_split(
        x, y, test_size=0.25, stratify=y, random_state=seeding.seed(seed))

    def probe(c):
        return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))

    best = max(cs, key=lambda c: probe(c).fit(fit_x, fit_y).score(val_x, val_y))
    return probe(best).fit(x, y).score(test.double().numpy(), y_test.numpy()), float(best)


def neighbours(train: torch.Tensor, queries: torch.Tensor, k: int = 5) -> torch.Tensor:
    """Indices (Q, k) of the k training rows nearest each query by cosine similarity."""
    checks.integer(k, "k")
    if train.ndim != 2 or queries.ndim != 2 or train.shape[1] != queries.shape[1]:
        raise ValueError(f"features must be (N, d) with the same d, got {tuple(train.shape)} "
                         f"and {tuple(queries.shape)}")
    cosine = F.normalize(queries, dim=1) @ F.normalize(train, dim=1).T   # (Q, N)
    return cosine.topk(k, dim=1).indices


def neighbour_share(train: torch.Tensor, y_train: torch.Tensor, queries: torch.Tensor,
                    y_queries: torch.Tensor, k: int = 5) -> float:
    """Share of the k cosine-nearest training rows that carry the query's label."""
    idx = neighbours(train, queries, k)
    return (y_train[idx] == y_queries[:, None]).double().mean().item()
