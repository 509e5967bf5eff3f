"""Equal-length generation as sequence labelling: gated convolutions over a synthetic
"couplet" corpus with a known rule.

The code of the chapter ``couplets_as_tagging``: the rule that writes the second line from
the first (a substitution table chosen by marker bits of neighbours at given offsets), its
Bayes-optimal accuracy for a window of any width, the lookup-table baseline, and a stack of
gated residual convolutions whose receptive field grows by ``kernel - 1`` per layer.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

import torch
from torch import nn

from book import checks, training


@dataclass
class CoupletRule:
    """y_i = (perm[x_i] + sum_j 2^j bit(x_{i+o_j})) mod vocab, indices cyclic, with bit(t) = t mod 2.

    Each offset in ``offsets`` contributes one marker bit; the 2^len(offsets) shifted copies of
    the permutation disagree on every token as long as 2^len(offsets) <= vocab.
    """

    vocab: int = 16
    offsets: tuple[int, ...] = (1, -2)
    seed: int = 0

    def __post_init__(self):
        checks.integer(self.vocab, "vocab", least=2)
        if self.vocab % 2 or 2 ** len(self.offsets) > self.vocab:
            raise ValueError(f"need an even vocab >= 2^len(offsets), got vocab={self.vocab}, "
                             f"offsets={self.offsets}")
        if any(o == 0 for o in self.offsets) or len(set(self.offsets)) != len(self.offsets):
            raise ValueError(f"offsets must be distinct and non-zero, got {self.offsets}")
        self.perm = torch.randperm(self.vocab, generator=torch.Generator().manual_seed(self.seed))

    def second_line(self, first: torch.Tensor) -> torch.Tensor:
        """(B, n) first lines -> (B, n) second lines."""
        shift = torch.zeros_like(first)
        for j, o in enumerate(self.offsets):
            # bit of the token o positions away (cyclic: torch.roll by -o brings x_{i+o} to i)
            shift += (2 ** j) * (torch.roll(first, -o, dims=1) % 2)
        return (self.perm[first] + shift) % self.vocab

    def bayes_accuracy(self, half_width: int) -> float:
        """The best accuracy of any predictor that sees x_{i-h}..x_{i+h}: each marker bit out of
        its reach is a fair coin, and the 2^(unseen) candidates are equally likely."""
        h = checks.integer(half_width, "half_width", least=0)
        unseen = sum(abs(o) > h for o in self.offsets)
        # P(correct) = 1 / (number of equally likely answers)
        return 2.0 ** -unseen

    def sample(self, lines: int, length: int, generator: torch.Generator):
        """(first, second) lines, tokens uniform over the vocabulary."""
        checks.integer(lines, "lines")
        need = 2 * max(abs(o) for o in self.offsets) + 1
        if checks.integer(length, "length") < need:
            raise ValueError(f"lines must have at least {need} tokens for offsets {self.offsets}")
        first = torch.randint(0, self.vocab, (lines, length), generator=generator)
        return first, self.second_line(first)


def receptive_field(layers: int, kernel: int = 3) -> int:
    """Inputs an output position sees through ``layers`` convolutions of width ``kernel``:
    1 + layers (kernel - 1)."""
    layers = checks.integer(layers, "layers", least=0)
    kernel = checks.integer(kernel, "kernel")
    if kernel % 2 == 0:
        raise ValueError(f"kernel must be odd (centred windows), got {kernel}")
    return 1 + layers * (kernel - 1)


def table_accuracy(train_x, train_y, test_x, test_y, half_width: int) -> float:
    """Accuracy of a lookup table from the window x_{i-h}..x_{i+h} (cyclic) to the most frequent
    y_i in training; a window never seen falls back to the table of the next smaller window."""
    h = checks.integer(half_width, "half_width", least=0)
    if train_x.numel() == 0:
        raise ValueError("the table needs training lines, got no training lines")

    def windows(x, width):                               # (B, n) -> list of tuples per position
        cols = [torch.roll(x, -o, dims=1) for o in range(-width, width + 1)]
        return list(zip(*(c.reshape(-1).tolist() for c in cols)))

    tables = []
    for width in range(h + 1):
        counts: dict = defaultdict(Counter)
        for w, y in zip(windows(train_x, width), train_y.reshape(-1).tolist()):
            counts[w][y] += 1
        tables.append({w: c.most_common(1)[0][0] for w, c in counts.items()})
    majority = Counter(train_y.reshape(-1).tolist()).most_common(1)[0][0]
    test_windows = [windows(test_x, width) for width in range(h + 1)]
    hits = 0
    for i, y in enumerate(test_y.reshape(-1).tolist()):
        guess = majority
        for width in range(h, -1, -1):                   # widest window seen in training
            if test_windows[width][i] in tables[width]:
                guess = tables[width][test_windows[width][i]]
                break
        hits += guess == y
    return hits / test_y.numel()


class GatedResidualConv(nn.Module):
    """x <- (1 - g) x + g h with h = conv_h(x), g = sigmoid(conv_g(x)): a gated convolution
    that keeps the sequence length (cyclic padding)."""

    def __init__(self, dim: int, kernel: int = 3):
        super().__init__()
        receptive_field(1, kernel)  # validates the kernel
        self.conv = nn.Conv1d(dim, 2 * dim, kernel, padding=kernel // 2, padding_mode="circular")

    def forward(self, x: torch.Tensor) -> torch.Tensor:    # (B, dim, n) -> (B, dim, n)
        h, gate = self.conv(x).chunk(2, dim=1)
        g = torch.sigmoid(gate)
        # (1 - g) x + g h
        return x + g * (h - x)


class ConvTagger(nn.Module):
    """Embedding -> ``layers`` gated residual convolutions -> a softmax over the vocabulary at
    every position: (B, n) tokens -> (B, n, vocab) logits."""

    def __init__(self, vocab: int, dim: int, layers: int, kernel: int = 3):
        super().__init__()
        receptive_field(layers, kernel)
        self.embed = nn.Embedding(vocab, dim)
        self.blocks = nn.ModuleList(GatedResidualConv(dim, kernel) for _ in range(layers))
        self.out = nn.Linear(dim, vocab)

    def features(self, e: torch.Tensor) -> torch.Tensor:   # (B, n, dim) -> (B, n, dim)
        x = e.transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        return x.transpose(1, 2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(self.embed(tokens)))


@dataclass
class TagConfig:
    """Adam on mini-batches of ``batch`` lines for ``steps`` steps."""

    dim: int = 32
    steps: int = 400
    batch: int = 256
    lr: float = 1e-2


def train_tagger(x, y, vocab: int, layers: int, config: TagConfig, seed: int) -> ConvTagger:
    """A ConvTagger with ``layers`` blocks trained by per-position cross-entropy."""
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ConvTagger(vocab, config.dim, layers)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.steps)
    for step in range(config.steps):
        idx = torch.randint(0, len(x), (config.batch,), generator=g)
        logits = model(x[idx])                                  # (batch, n, vocab)
        loss = nn.functional.cross_entropy(logits.reshape(-1, vocab), y[idx].reshape(-1))
        training.check_finite(loss, step, hint="lower the learning rate")
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return model


def accuracy(model: ConvTagger, x, y) -> float:
    """Share of positions where the argmax token is the right one (decoding = argmax per
    position: the second line has the first line's length by construction)."""
    with torch.no_grad():
        return (model(x).argmax(-1) == y).float().mean().item()


def influence(model: ConvTagger, tokens: torch.Tensor, position: int) -> torch.Tensor:
    """|d logits[position] / d embedding[j]| summed, for every input position j: (n,)."""
    e = model.embed(tokens[None]).detach().requires_grad_(True)   # (1, n, dim)
    out = model.out(model.features(e))[0, position]               # (vocab,)
    grads = [torch.autograd.grad(out[v], e, retain_graph=True)[0] for v in range(len(out))]
    return torch.stack(grads).abs().sum(dim=(0, 1, 3))


__all__ = ["CoupletRule", "receptive_field", "table_accuracy", "GatedResidualConv",
           "ConvTagger", "TagConfig", "train_tagger", "accuracy", "influence"]
