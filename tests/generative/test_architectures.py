"""The generators of ``gan_architectures``: batch normalisation against its definition and
torch's BatchNorm2d, self-modulation against plain BN, shapes, and the training loop."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from book.generative import architectures as A

CFG = A.ArchConfig(steps=3, batch=16)


def test_standardise_matches_the_formula_and_torch_batchnorm():
    h = torch.randn(10, 3, 4, 4) * 3 + 1
    mu = h.mean(dim=(0, 2, 3), keepdim=True)
    var = ((h - mu) ** 2).mean(dim=(0, 2, 3), keepdim=True)          # biased, as BN uses
    torch.testing.assert_close(A.standardise(h), (h - mu) / torch.sqrt(var + A.EPS))
    bn = A.BatchNorm(3, 5)
    with torch.no_grad():
        bn.gamma.copy_(torch.tensor([0.5, 2.0, -1.0]))
        bn.beta.copy_(torch.tensor([0.1, 0.0, 3.0]))
    ref = nn.BatchNorm2d(3, eps=A.EPS).train()
    with torch.no_grad():
        ref.weight.copy_(bn.gamma)
        ref.bias.copy_(bn.beta)
    torch.testing.assert_close(bn(h, torch.randn(10, 5)), ref(h))


def test_self_modulation_with_constant_outputs_is_plain_batchnorm():
    h, z = torch.randn(12, 4, 2, 2), torch.randn(12, 7)
    sm, bn = A.SelfModBatchNorm(4, 7), A.BatchNorm(4, 7)
    torch.testing.assert_close(sm(h, z), bn(h, z))                 # at init: gamma 1, beta 0
    g, b = torch.tensor([2.0, -1.0, 0.5, 1.0]), torch.tensor([0.3, 0.0, -2.0, 1.0])
    with torch.no_grad():
        sm.to_gamma.bias.copy_(g)
        sm.to_beta.bias.copy_(b)
        bn.gamma.copy_(g)
        bn.beta.copy_(b)
    torch.testing.assert_close(sm(h, z), bn(h, z))
    gamma, beta = sm.scale_shift(z)
    assert gamma.std(0).max() == 0 and beta.std(0).max() == 0
    with torch.no_grad():                                          # now gamma depends on z
        sm.to_gamma.weight.normal_()
    gamma, _ = sm.scale_shift(z)
    assert gamma.std(0).min() > 0
    assert not torch.allclose(sm(h, z), bn(h, z))
    # the formula, written out per sample
    ref = A.standardise(h) * gamma[:, :, None, None] + beta[:, :, None, None]
    torch.testing.assert_close(sm(h, z), ref)


@pytest.mark.parametrize("arch", A.ARCHITECTURES)
def test_generators_map_noise_to_digits(arch):
    G = A.Generator(arch, CFG)
    z = torch.randn(9, CFG.latent)
    x = G(z)
    assert x.shape == (9, 64) and x.min() >= 0 and x.max() <= 1
    outs = A.norm_outputs(G, z)
    assert len(outs) == len(G.norm_layers())
    assert {o.shape[-1] for o in outs} <= {2, 4, 8} and outs[-1].shape[-1] == 8


def test_selfmod_generator_starts_as_the_residual_one():
    torch.manual_seed(0)
    plain, sm = A.Generator("resnet", CFG), A.Generator("selfmod", CFG)
    missing, unexpected = sm.load_state_dict(plain.state_dict(), strict=False)
    assert not any("conv" in k or k.startswith(("inp", "out")) for k in missing)
    z = torch.randn(32, CFG.latent)
    torch.testing.assert_close(sm(z), plain(z))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="unknown architecture"):
        A.Generator("stylegan", CFG)
    with pytest.raises(ValueError, match="digits must be"):
        A.train("dcgan", torch.rand(10, 63), CFG)
    with pytest.raises(ValueError, match="unknown loss"):
        A.train("dcgan", torch.rand(10, 64), A.ArchConfig(loss="hinge"))
    with pytest.raises(ValueError, match="steps"):
        A.train("dcgan", torch.rand(10, 64), A.ArchConfig(steps=0))


def test_training_is_finite_and_repeatable():
    x = torch.rand(50, 64)
    a = A.train("selfmod", x, CFG, stream=3, snapshots=(0, 3), n_show=8)
    b = A.train("selfmod", x, CFG, stream=3, snapshots=(0, 3), n_show=8)
    assert sorted(a.frames) == [0, 3] and a.frames[3].shape == (8, 64)
    assert len(a.d_loss) == CFG.steps
    torch.testing.assert_close(torch.tensor(a.frames[3]), torch.tensor(b.frames[3]))
    assert not torch.allclose(torch.tensor(a.frames[0]), torch.tensor(a.frames[3]))


def test_divergence_is_reported():
    from book import training
    with pytest.raises(training.Diverged, match="lower the learning rates"):
        A.train("dcgan", torch.rand(40, 64), A.ArchConfig(steps=5, batch=8, lr_g=1e30,
                                                          lr_d=1e30))
