"""Rectified flow and its ODE samplers (walt.diffusion.rectified_flow, flow_samplers): the toy distribution end to
end, the SD3 time distributions and shift, exactness of Euler / Heun on a known velocity field, frame prediction,
self-conditioning, guidance, kind checks and the registry."""
import math

import numpy as np
import pytest
import torch
from scipy import stats

from registry import DIFFUSIONS, SAMPLERS
from toy_2d import COVARIANCE_TOLERANCE, MEAN_TOLERANCE, moment_errors, one_thread, train_toy_model  # noqa: F401
from walt.diffusion.flow_samplers import Euler, Heun
from walt.diffusion.gaussian_diffusion import GaussianDiffusion
from walt.diffusion.guidance import classifier_free_guidance
from walt.diffusion.rectified_flow import RectifiedFlow, resolution_shift, shift_time
from walt.diffusion.samplers import DDIM, DDPM
from walt.models.conditioning.conditions import Conditions


def _point_mass_velocity(x0):
    """The exact marginal velocity of a point mass at ``x0``: ``x_t = (1 − t)·x0 + t·ε`` gives ``v = (x_t − x0)/t``
    (a field of ``(x, t)`` alone; the model is called with ``t·1000``)."""
    return lambda x, t, **_: (x - x0) / (t / 1000).view(-1, *([1] * (x.dim() - 1)))


# ------------------------------------------------------------------------------------------------------------------
# end to end on the 2-D toy distribution (same problem and tolerance as tests/test_diffusion_toy.py)
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.usefixtures("one_thread")
def test_trained_toy_model_sampled_with_20_euler_steps_matches_data_mean_and_covariance():
    diffusion = RectifiedFlow()
    model = train_toy_model(diffusion)
    samples = Euler(num_steps=20).sample(diffusion, model, (4000, 2), generator=torch.Generator().manual_seed(1))
    mean_error, covariance_error = moment_errors(samples)
    assert mean_error < MEAN_TOLERANCE and covariance_error < COVARIANCE_TOLERANCE


# ------------------------------------------------------------------------------------------------------------------
# training times and the shift
# ------------------------------------------------------------------------------------------------------------------
def _logit_normal_cdf(m, s):
    return lambda t: stats.norm.cdf((np.log(t) - np.log1p(-t) - m) / s)


@pytest.mark.parametrize("mean, std, shift", [(0.0, 1.0, 1.0), (0.5, 0.7, 1.0), (-0.3, 1.2, 3.0)])
def test_logit_normal_times_follow_their_density(mean, std, shift):
    d = RectifiedFlow(time_sampling="logit_normal", logit_mean=mean, logit_std=std, shift=shift)
    t = d.sample_t(40_000, generator=torch.Generator().manual_seed(0)).double().numpy()
    assert t.min() > 0 and t.max() < 1
    # the shift adds log(shift) in logit space: a shifted logit-normal is a logit-normal with mean m + log(shift)
    m = mean + math.log(shift)
    assert stats.kstest(t, _logit_normal_cdf(m, std)).pvalue > 0.01
    # and the histogram follows SD3 Eq. 19's density π(t) = exp(−(logit t − m)²/2s²) / (s·sqrt(2π)·t·(1 − t))
    hist, edges = np.histogram(t, bins=25, range=(0.02, 0.98))
    centers = (edges[1:] + edges[:-1]) / 2
    logit = np.log(centers / (1 - centers))
    density = np.exp(-(logit - m) ** 2 / (2 * std ** 2)) / (std * math.sqrt(2 * math.pi) * centers * (1 - centers))
    np.testing.assert_allclose(hist / (len(t) * (edges[1] - edges[0])), density, atol=0.06 * density.max())


def test_uniform_times_shifted_follow_the_inverse_shift_cdf():
    t = RectifiedFlow(time_sampling="uniform", shift=2.0).sample_t(40_000, generator=torch.Generator().manual_seed(0))
    # P(t' ≤ τ) = P(u ≤ shift⁻¹(τ)) with shift⁻¹(τ) = τ / (2 − τ) for shift 2
    assert stats.kstest(t.double().numpy(), lambda tau: tau / (2 - tau)).pvalue > 0.01


@pytest.mark.parametrize("shift", [0.3, 1.0, 1.7, 3.0, 12.0])
def test_shift_maps_zero_to_zero_one_to_one_and_is_monotone(shift):
    assert shift_time(0.0, shift) == 0.0 and shift_time(1.0, shift) == 1.0
    t = torch.linspace(0, 1, 1001, dtype=torch.float64)
    shifted = shift_time(t, shift)
    assert shifted[0] == 0 and shifted[-1] == 1 and (shifted[1:] > shifted[:-1]).all()
    # SD3 Eq. 23 as printed, and the direction: shift > 1 moves every time towards the noise end
    torch.testing.assert_close(shifted, shift * t / (1 + (shift - 1) * t), rtol=1e-12, atol=1e-15)
    assert (shifted >= t).all() if shift >= 1 else (shifted <= t).all()


def test_resolution_shift_is_the_square_root_of_the_position_ratio():
    assert resolution_shift((1, 32, 32)) == 1.0
    assert resolution_shift((1, 128, 128)) == 4.0          # SD3: 1024² against its 256² base
    assert resolution_shift((16, 32, 32)) == 4.0           # 16 latent frames at 256²
    assert resolution_shift((5, 16, 16), (1, 16, 16)) == math.sqrt(5)
    # shift="auto": the shift of the latent size the model passes in (LatentDiffusion offers latent_size)
    assert RectifiedFlow(shift="auto", latent_size=(16, 32, 32)).shift == 4.0
    with pytest.raises(ValueError, match="latent_size"):
        RectifiedFlow(shift="auto")


# ------------------------------------------------------------------------------------------------------------------
# path, loss, x0 and augmentation
# ------------------------------------------------------------------------------------------------------------------
def test_training_loss_is_the_velocity_mse_and_the_model_sees_t_times_1000():
    d = RectifiedFlow()
    x0, noise, t = torch.randn(4, 3, 2, 4, 4), torch.randn(4, 3, 2, 4, 4), torch.tensor([0.0, 0.25, 0.5, 1.0])
    seen = {}

    def exact(x_t, t_model):
        seen.update(x_t=x_t, t_model=t_model)
        return noise - x0

    losses = d.training_losses(exact, x0, t, noise)
    assert losses["loss"].shape == (4,) and torch.equal(losses["loss"], losses["mse"])
    torch.testing.assert_close(losses["loss"], torch.zeros(4), atol=1e-12, rtol=0)
    torch.testing.assert_close(seen["t_model"], torch.tensor([0.0, 250.0, 500.0, 1000.0]))
    w = t.view(-1, 1, 1, 1, 1)
    torch.testing.assert_close(seen["x_t"], (1 - w) * x0 + w * noise)
    assert torch.equal(seen["x_t"][0], x0[0]) and torch.equal(seen["x_t"][3], noise[3])  # exact endpoints
    zero = d.training_losses(lambda x_t, t_model: torch.zeros_like(x_t), x0, t, noise)["loss"]
    torch.testing.assert_close(zero, ((noise - x0) ** 2).flatten(1).mean(1))


def test_x0_from_output_inverts_the_path_given_the_true_velocity():
    d = RectifiedFlow()
    x0, noise, t = torch.randn(3, 4, 2, 2, 2, dtype=torch.float64), torch.randn(3, 4, 2, 2, 2, dtype=torch.float64), \
        torch.tensor([0.1, 0.6, 1.0], dtype=torch.float64)
    x_t = d.q_sample(x0, t, noise)
    torch.testing.assert_close(d.x0_from_output(noise - x0, x_t, d.model_time(t)), x0)


def test_augment_moves_along_the_path_to_level_over_1000():
    d = RectifiedFlow()
    z = torch.randn(3, 4, 2, 2, 2)
    noise = torch.randn(z.shape, generator=torch.Generator().manual_seed(7))
    out = d.augment(z, torch.tensor([0, 250, 1000]), generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(out[1], 0.75 * z[1] + 0.25 * noise[1])
    assert torch.equal(out[0], z[0]) and torch.equal(out[2], noise[2])
    with pytest.raises(ValueError, match=r"level must be in \[0, 1000\]"):
        d.augment(z, 1001.0)


# ------------------------------------------------------------------------------------------------------------------
# samplers
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sampler", [Euler(num_steps=1), Euler(num_steps=7, shift=3.0), Heun(num_steps=1),
                                     Heun(num_steps=6, shift=0.5)])
def test_ode_samplers_on_the_exact_velocity_of_a_linear_path_recover_x0(sampler):
    # along x_t = (1 − t)·x0 + t·ε the velocity is constant, so both methods are exact up to rounding
    x0 = torch.randn(2, 3, 2, 4, 4, dtype=torch.float64)
    noise = torch.randn(x0.shape, dtype=torch.float64)
    out = sampler.sample(RectifiedFlow(), _point_mass_velocity(x0), x0.shape, noise=noise)
    torch.testing.assert_close(out, x0, rtol=0, atol=1e-12)


def test_time_grid_is_shifted_and_heun_skips_the_correction_at_zero():
    d = RectifiedFlow(shift=3.0)
    grid = Euler(num_steps=4).time_grid(d)
    assert grid[0] == 1.0 and grid[-1] == 0.0
    np.testing.assert_allclose(grid, [3 * u / (1 + 2 * u) for u in (1, 0.75, 0.5, 0.25, 0)])
    assert Euler(num_steps=4, shift=1.0).time_grid(d) == [1.0, 0.75, 0.5, 0.25, 0.0]
    calls = []

    def model(x, t):
        calls.append(float(t[0]))
        return torch.zeros_like(x)

    Heun(num_steps=4, shift=1.0).sample(d, model, (1, 2))
    assert calls == [1000.0, 750.0, 750.0, 500.0, 500.0, 250.0, 250.0]  # 2N − 1 calls, never at t = 0


@pytest.mark.parametrize("sampler", [Euler(num_steps=5), Heun(num_steps=3)])
def test_observed_frames_are_held_exactly_and_follow_their_straight_path(sampler):
    z = torch.randn(2, 3, 4, 2, 2)
    mask = torch.zeros(2, 1, 4, 1, 1)
    mask[:, :, :2] = 1
    noise = torch.randn(z.shape)
    seen = []

    def model(x, t):
        seen.append((x.clone(), t[0] / 1000))
        return 0.3 * x

    out = sampler.sample(RectifiedFlow(), model, z.shape, noise=noise, observed=(z, mask))
    assert torch.equal(out[:, :, :2], z[:, :, :2]) and not torch.allclose(out[:, :, 2:], z[:, :, 2:])
    for x, t in seen:  # what the model saw of the observed frames: (1 − t)·z + t·ε with their initial noise
        torch.testing.assert_close(x[:, :, :2], (1 - t) * z[:, :, :2] + t * noise[:, :, :2])


def test_self_conditioning_feeds_the_previous_evaluations_x0_estimate():
    d = RectifiedFlow()
    seen = []

    def model(x, t, x_sc):
        seen.append((x.clone(), t[0] / 1000, x_sc.clone()))
        return 0.5 * x + 0.1

    Euler(num_steps=4).sample(d, model, (2, 3), self_condition=True, generator=torch.Generator().manual_seed(0))
    assert len(seen) == 4 and torch.equal(seen[0][2], torch.zeros(2, 3))
    for (x, t, _), (_, _, x_sc) in zip(seen, seen[1:]):
        torch.testing.assert_close(x_sc, x - t * (0.5 * x + 0.1))


def test_guided_flow_samples_the_extrapolated_point_mass():
    # velocities of point masses at a (conditional) and b (null): guidance with scale s is the field of the point
    # mass at b + s·(a − b), which Euler reaches exactly
    a, b, s = torch.tensor([[1.0, 2.0]], dtype=torch.float64), torch.tensor([[-1.0, 0.5]], dtype=torch.float64), 3.0

    def model(x, t, cond):
        target = torch.where(cond.y.view(-1, 1) == 1, a, b)
        return (x - target) / (t / 1000).view(-1, 1)

    guided = classifier_free_guidance(model, Conditions(y=torch.ones(4)), Conditions(y=torch.zeros(4)), s)
    out = Euler(num_steps=6, shift=2.0).sample(RectifiedFlow(), guided, (4, 2),
                                               noise=torch.randn(4, 2, dtype=torch.float64))
    torch.testing.assert_close(out, (b + s * (a - b)).expand(4, 2), rtol=0, atol=1e-12)


@pytest.mark.parametrize("sampler, diffusion", [(Euler(num_steps=2), GaussianDiffusion()),
                                                (Heun(num_steps=2), GaussianDiffusion()),
                                                (DDIM(num_steps=2), RectifiedFlow()),
                                                (DDPM(num_steps=2), RectifiedFlow())])
def test_a_sampler_of_the_wrong_kind_names_both(sampler, diffusion):
    with pytest.raises(ValueError) as err:
        sampler.sample(diffusion, lambda x, t: torch.zeros_like(x), (1, 2))
    assert type(sampler).__name__ in str(err.value) and type(diffusion).__name__ in str(err.value)


def test_bad_settings_and_a_learned_sigma_output_are_named():
    with pytest.raises(ValueError, match="time_sampling 'mode'.*uniform, logit_normal"):
        RectifiedFlow(time_sampling="mode")
    with pytest.raises(ValueError, match="shift must be > 0"):
        RectifiedFlow(shift=0.0)
    with pytest.raises(ValueError, match="shift must be > 0"):
        Euler(shift=-1.0)
    with pytest.raises(ValueError, match="4 channels.*learn_sigma"):
        RectifiedFlow().training_losses(lambda x, t: torch.cat([x, x], dim=1), torch.randn(2, 4, 1, 2, 2),
                                        torch.rand(2))


def test_registry_round_trip_and_default_sampler(capsys):
    d = DIFFUSIONS.build(dict(type="RectifiedFlow", time_sampling="uniform", shift=3.0))
    assert isinstance(d, RectifiedFlow) and d.shift == 3.0 and d.time_sampling == "uniform"
    assert d.learn_sigma is False and d.num_timesteps == 1000
    assert isinstance(d.default_sampler(12), Euler) and d.default_sampler(12).num_steps == 12
    assert isinstance(GaussianDiffusion().default_sampler(12), DDIM)
    heun = SAMPLERS.build(dict(type="Heun", num_steps=3, shift=2.0))
    assert isinstance(heun, Heun) and (heun.num_steps, heun.shift) == (3, 2.0)
    assert SAMPLERS.build(dict(type="Euler")).num_steps == 50 and Heun().num_steps == 25
    heun.sample(d, lambda x, t: torch.zeros_like(x), (1, 2), progress=True)
    assert "Heun" in capsys.readouterr().err
