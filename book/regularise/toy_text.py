"""A synthetic sentiment task and bag-of-embeddings classifiers trained with adversarial
perturbations of their embeddings (chapter ``adversarial_training``).

The task is generated, not collected: a vocabulary with Zipf frequencies (p_k ∝ 1/k), a few
words of positive and of negative polarity, sentences of T words drawn independently, and
the label the sign of the sentence's total polarity (ties are drawn again). A classifier
averages the T word embeddings and applies a linear layer; runs are stacked along a leading
dimension as in :mod:`book.regularise.robust_training`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from book import checks, seeding, training
from book.regularise import adversarial

TEXT_METHODS = ("plain", "fgm")


@dataclass
class SentimentTask:
    """Sentences (N, T) of word ids and labels (N,) in {0: negative, 1: positive}."""

    polarity: torch.Tensor     # (V,) in {-1, 0, +1}
    frequency: torch.Tensor    # (V,) word probabilities, Zipf
    tokens: torch.Tensor       # (N_train, T)
    labels: torch.Tensor       # (N_train,)
    test_tokens: torch.Tensor  # (N_test, T)
    test_labels: torch.Tensor  # (N_test,)


def _sentences(task_polarity, frequency, n, length, gen):
    tokens, labels, have = [], [], 0
    while have < n:
        t = torch.multinomial(frequency, 2 * n * length, replacement=True,
                              generator=gen).reshape(2 * n, length)
        s = task_polarity[t].sum(1)
        keep = s != 0                              # ties have no label: draw again
        tokens.append(t[keep])
        labels.append((s[keep] > 0).long())
        have += int(keep.sum())
    return torch.cat(tokens)[:n], torch.cat(labels)[:n]


def sentiment_task(vocab: int = 200, polar: int = 25, length: int = 10, n_train: int = 400,
                   n_test: int = 4000, neutral_top: int = 10,
                   generator: torch.Generator | None = None) -> SentimentTask:
    """Draw the task: ``polar`` positive and ``polar`` negative words at random ranks of a
    Zipf vocabulary of ``vocab`` words, below the ``neutral_top`` most frequent words (which,
    like function words, carry no polarity); sentences of ``length`` words."""
    for name, value in (("vocab", vocab), ("polar", polar), ("length", length),
                        ("n_train", n_train), ("n_test", n_test)):
        checks.integer(value, name)
    checks.integer(neutral_top, "neutral_top", least=0)
    if 2 * polar > vocab - neutral_top:
        raise ValueError(f"2 * polar must be at most vocab - neutral_top, got polar={polar}, "
                         f"vocab={vocab}, neutral_top={neutral_top}")
    # p_k ∝ 1/k
    frequency = 1.0 / torch.arange(1, vocab + 1, dtype=torch.float64)
    frequency /= frequency.sum()
    words = neutral_top + torch.randperm(vocab - neutral_top, generator=generator)
    polarity = torch.zeros(vocab)
    polarity[words[:polar]], polarity[words[polar:2 * polar]] = 1.0, -1.0
    x, y = _sentences(polarity, frequency, n_train, length, generator)
    xt, yt = _sentences(polarity, frequency, n_test, length, generator)
    return SentimentTask(polarity, frequency.float(), x, y, xt, yt)


class StackedBag(nn.Module):
    """M bag-of-embeddings classifiers: logits = W^T mean_t e(w_t) + b, (M, N, T) -> (M, N, C).

    Runs flagged in ``standardise`` centre and scale their table per dimension with the word
    weights ``weights`` (Miyato et al.): e = (E - mu) / sigma, so that its scale is fixed;
    the others look words up in the raw table E.
    """

    def __init__(self, n_runs: int, vocab: int, dim: int, n_classes: int = 2,
                 standardise: list[bool] | bool = False, weights: torch.Tensor | None = None,
                 generators: list[torch.Generator] | None = None):
        super().__init__()
        for name, value in (("n_runs", n_runs), ("vocab", vocab), ("dim", dim),
                            ("n_classes", n_classes)):
            checks.integer(value, name)
        gens = generators if generators is not None else [None] * n_runs
        flags = [standardise] * n_runs if isinstance(standardise, bool) else list(standardise)
        if len(gens) != n_runs or len(flags) != n_runs:
            raise ValueError(f"need one generator and one standardise flag per run "
                             f"({n_runs}), got {len(gens)} and {len(flags)}")
        self.table = nn.Parameter(torch.stack([0.1 * torch.randn(vocab, dim, generator=g)
                                               for g in gens]))              # (M, V, D)
        self.weight = nn.Parameter(torch.stack([torch.randn(dim, n_classes, generator=g)
                                                / dim ** 0.5 for g in gens]))  # (M, D, C)
        self.bias = nn.Parameter(torch.zeros(n_runs, 1, n_classes))
        self.register_buffer("standardise", torch.tensor(flags)[:, None, None])
        w = torch.ones(vocab) if weights is None else weights.float()
        self.register_buffer("word_weights", w / w.sum())

    def embeddings(self) -> torch.Tensor:
        """The table each run looks words up in, (M, V, D)."""
        w = self.word_weights[None, :, None]
        # mu = sum_k w_k E_k, sigma^2 = sum_k w_k (E_k - mu)^2, per run and dimension
        mu = (w * self.table).sum(1, keepdim=True)
        var = (w * (self.table - mu) ** 2).sum(1, keepdim=True)
        return torch.where(self.standardise, (self.table - mu) / (var + 1e-8).sqrt(), self.table)

    def scale(self) -> torch.Tensor:
        """The size of each run's table, sqrt(sum_k w_k ||e_k||^2) with the word weights, (M,):
        sqrt(D) for a standardised table."""
        rows = self.embeddings().square().sum(-1)                           # (M, V)
        return (self.word_weights * rows).sum(-1).sqrt()

    def lookup(self, tokens: torch.Tensor) -> torch.Tensor:
        """Word embeddings of the sentences: (N, T) or (M, N, T) -> (M, N, T, D)."""
        table = self.embeddings()
        if tokens.ndim == 2:
            tokens = tokens.expand(len(table), *tokens.shape)
        runs = torch.arange(len(table))[:, None, None]
        return table[runs, tokens]

    def classify(self, emb: torch.Tensor) -> torch.Tensor:
        """Logits from word embeddings (M, N, T, D) -> (M, N, C)."""
        return torch.baddbmm(self.bias, emb.mean(2), self.weight)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.classify(self.lookup(tokens))

    def __len__(self) -> int:
        return self.table.shape[0]


def train_bags(task: SentimentTask, methods: list[str], seeds: list[int], eps: float,
               standardise: list[bool] | bool = False, dim: int = 8, steps: int = 300,
               lr: float = 3e-2) -> StackedBag:
    """Train run m full-batch on 1/2 (l(e) + l(e + delta)), delta the FGM step of norm ``eps``
    on each sentence's embeddings (T x D) for ``fgm`` and delta = 0 for ``plain``; the word
    weights of standardisation are the training counts (plus one)."""
    checks.runs(methods, seeds, TEXT_METHODS)
    checks.positive(eps, "eps")
    checks.integer(steps, "steps")
    gens = [seeding.everything(s) for s in seeds]
    counts = torch.bincount(task.tokens.flatten(), minlength=len(task.polarity)).float()
    bag = StackedBag(len(methods), len(task.polarity), dim, standardise=standardise,
                     weights=counts + 1, generators=gens)
    opt = torch.optim.Adam(bag.parameters(), lr=lr)
    fgm = torch.tensor([float(m == "fgm") for m in methods])[:, None, None, None]
    y = task.labels.expand(len(methods), -1)
    loss_rows = adversarial.cross_entropy_rows(bag.classify, y)
    for step in range(steps):
        emb = bag.lookup(task.tokens)                                      # (M, N, T, D)
        g = adversarial.input_gradient(loss_rows, emb)
        delta = fgm * adversarial.first_order_step(g, eps, "l2", dims=2)
        losses = 0.5 * (loss_rows(emb) + loss_rows(emb + delta)).mean(1)   # (M,)
        for m, value in enumerate(losses):
            training.check_finite(value, step, f"loss of run {m} ({methods[m]})")
        opt.zero_grad(set_to_none=True)
        losses.sum().backward()
        opt.step()
    return bag.eval()
