"""End-to-end check of the diffusion components: a small MLP denoiser trained for 600 steps on a 2-D mixture of
three Gaussians, then sampled with 50 DDIM steps, reproduces the data mean and covariance (v with zero terminal SNR,
the W.A.L.T setting; eps on the plain linear schedule, the LAVITA setting)."""
import math

import pytest
import torch
from torch import nn

from walt.diffusion.gaussian_diffusion import GaussianDiffusion
from walt.diffusion.samplers import DDIM

CENTERS = torch.tensor([[-1.0, 0.5], [1.0, -0.5], [0.0, 1.5]])


def _data(n: int, generator: torch.Generator) -> torch.Tensor:
    k = torch.randint(0, 3, (n,), generator=generator)
    return CENTERS[k] + 0.2 * torch.randn(n, 2, generator=generator)


class _MLP(nn.Module):
    def __init__(self, hidden: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(18, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 2))

    def forward(self, x, t):
        angles = t.float()[:, None] * torch.exp(-math.log(1000.0) * torch.arange(8) / 8)
        return self.net(torch.cat([x, angles.sin(), angles.cos()], dim=1))


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny matmuls: one thread is fastest and immune to oversubscription on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("prediction, zero_terminal_snr", [("v", True), ("eps", False)])
def test_trained_toy_model_samples_match_data_mean_and_covariance(prediction, zero_terminal_snr):
    torch.manual_seed(0)
    diffusion = GaussianDiffusion(prediction=prediction, zero_terminal_snr=zero_terminal_snr)
    model, steps = _MLP(), 600
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1 - i / steps)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        x0 = _data(512, g)
        t = torch.randint(0, 1000, (512,), generator=g)
        loss = diffusion.training_losses(model, x0, t, torch.randn(x0.shape, generator=g))["loss"].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    samples = DDIM(num_steps=50).sample(diffusion, model, (4000, 2), generator=torch.Generator().manual_seed(1))
    ref = _data(100_000, torch.Generator().manual_seed(2))
    # stated tolerance: mean within 0.1, every covariance entry within 0.15 (data covariance ≈ [[0.71, −0.34],
    # [−0.34, 0.71]]); an untrained model gives mean ≈ 0 and covariance ≈ identity
    assert (samples.mean(0) - ref.mean(0)).abs().max() < 0.1
    assert (torch.cov(samples.T) - torch.cov(ref.T)).abs().max() < 0.15
