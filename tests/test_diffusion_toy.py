"""End-to-end check of the diffusion components: a small MLP denoiser trained for 600 steps on a 2-D mixture of
three Gaussians, then sampled with 50 DDIM steps, reproduces the data mean and covariance (v with zero terminal SNR,
the W.A.L.T setting; eps on the plain linear schedule, the LAVITA setting)."""
import pytest
import torch

from toy_2d import COVARIANCE_TOLERANCE, MEAN_TOLERANCE, moment_errors, one_thread, train_toy_model  # noqa: F401
from walt.diffusion.gaussian_diffusion import GaussianDiffusion
from walt.diffusion.samplers import DDIM


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("prediction, zero_terminal_snr", [("v", True), ("eps", False)])
def test_trained_toy_model_samples_match_data_mean_and_covariance(prediction, zero_terminal_snr):
    diffusion = GaussianDiffusion(prediction=prediction, zero_terminal_snr=zero_terminal_snr)
    model = train_toy_model(diffusion)
    samples = DDIM(num_steps=50).sample(diffusion, model, (4000, 2), generator=torch.Generator().manual_seed(1))
    mean_error, covariance_error = moment_errors(samples)
    assert mean_error < MEAN_TOLERANCE and covariance_error < COVARIANCE_TOLERANCE
