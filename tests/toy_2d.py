"""The 2-D toy problem of the end-to-end diffusion tests: a mixture of three Gaussians, a small MLP trained on it with
any diffusion of the protocol (``sample_t``, ``training_losses``), and the distance of samples to the data's first two
moments. Stated tolerance: mean within 0.1, every covariance entry within 0.15 (data covariance ≈ [[0.71, −0.34],
[−0.34, 0.71]]); an untrained model gives mean ≈ 0 and covariance ≈ identity."""
import math

import pytest
import torch
from torch import nn

CENTERS = torch.tensor([[-1.0, 0.5], [1.0, -0.5], [0.0, 1.5]])
MEAN_TOLERANCE, COVARIANCE_TOLERANCE = 0.1, 0.15


def toy_data(n: int, generator: torch.Generator) -> torch.Tensor:
    k = torch.randint(0, 3, (n,), generator=generator)
    return CENTERS[k] + 0.2 * torch.randn(n, 2, generator=generator)


class ToyMLP(nn.Module):
    """``(x (B, 2), t (B,)) -> (B, 2)``; ``t`` in backbone units (0..1000, integer or float) as sinusoidal features."""

    def __init__(self, hidden: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(18, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 2))

    def forward(self, x, t):
        angles = t.float()[:, None] * torch.exp(-math.log(1000.0) * torch.arange(8) / 8)
        return self.net(torch.cat([x, angles.sin(), angles.cos()], dim=1))


def train_toy_model(diffusion, steps: int = 600, batch: int = 512) -> ToyMLP:
    """Adam, lr 3e-3 decayed linearly to 0, fixed seeds."""
    torch.manual_seed(0)
    model = ToyMLP()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1 - i / steps)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        x0 = toy_data(batch, g)
        t = diffusion.sample_t(batch, generator=g)
        loss = diffusion.training_losses(model, x0, t, torch.randn(x0.shape, generator=g))["loss"].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return model


def moment_errors(samples: torch.Tensor) -> tuple[float, float]:
    """Largest absolute deviation of the samples' mean and covariance from the data's (100k reference draws)."""
    ref = toy_data(100_000, torch.Generator().manual_seed(2))
    return (float((samples.mean(0) - ref.mean(0)).abs().max()),
            float((torch.cov(samples.T) - torch.cov(ref.T)).abs().max()))


@pytest.fixture()
def one_thread():
    """Tiny matmuls: one thread is fastest and immune to oversubscription on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
