"""book.generative.penalties: interpolates against their formula, the gradient norm against
a critic whose input gradient is known in closed form."""

import torch

from book.generative import penalties


class QuadraticCritic(torch.nn.Module):
    """D(x) = 1/2 x^T M x + w^T x, input gradient M x + w (M symmetric)."""

    def __init__(self):
        super().__init__()
        a = torch.randn(2, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        self.M = torch.nn.Parameter(a + a.T)
        self.w = torch.nn.Parameter(torch.tensor([0.5, -1.0], dtype=torch.float64))

    def forward(self, x):
        return (0.5 * ((x @ self.M) * x).sum(1) + x @ self.w)[:, None]


def test_interpolate_is_a_random_point_on_each_segment():
    g = torch.Generator().manual_seed(1)
    x_r, x_f = torch.randn(16, 2, generator=g), torch.randn(16, 2, generator=g)
    x_hat = penalties.interpolate(x_r, x_f, torch.Generator().manual_seed(2))
    eps = torch.rand(16, 1, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(x_hat, eps * x_r + (1 - eps) * x_f)


def test_grad_norm_is_the_input_gradient_norm_and_differentiable():
    critic = QuadraticCritic()
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    norms = penalties.grad_norm(critic, x)
    torch.testing.assert_close(norms, (x @ critic.M.detach() + critic.w.detach()).norm(dim=1))
    # the penalty trains the critic: d/dw sum |M x + w| = sum (M x + w) / |M x + w|
    norms.sum().backward()
    g = x @ critic.M.detach() + critic.w.detach()
    torch.testing.assert_close(critic.w.grad, (g / g.norm(dim=1, keepdim=True)).sum(0))
    assert not x.requires_grad  # the caller's batch is left alone
