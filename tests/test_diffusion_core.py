"""Schedules, prediction-target conversions, L_vlb terms and respacing of walt.diffusion (checked against
independent numpy / scipy / torch.distributions computations)."""
import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from registry import DIFFUSIONS
from walt.diffusion.gaussian_diffusion import GaussianDiffusion
from walt.diffusion.losses import discretized_gaussian_log_likelihood, loss_weight, normal_kl
from walt.diffusion.parameterization import target, x0_eps_from_prediction
from walt.diffusion.schedules import make_betas


def _np_alpha_bar(zero_terminal_snr: bool) -> np.ndarray:
    ab = np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))
    if zero_terminal_snr:  # Lin et al. Alg. 1, written out independently
        s = np.sqrt(ab)
        s = (s - s[-1]) * s[0] / (s[0] - s[-1])
        ab = s ** 2
    return ab


def test_linear_schedule_matches_ddpm():
    d = DIFFUSIONS.build(dict(type="GaussianDiffusion", zero_terminal_snr=False, prediction="eps"))
    assert d.num_timesteps == 1000
    assert d.betas[0].item() == pytest.approx(1e-4, abs=1e-15) and d.betas[-1].item() == pytest.approx(0.02, abs=1e-15)
    np.testing.assert_allclose(d.alphas_cumprod.numpy(), _np_alpha_bar(False), rtol=1e-12)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_zero_terminal_snr_gives_alpha_bar_T_zero_and_keeps_alpha_bar_0(schedule):
    plain = torch.cumprod(1 - make_betas(schedule, 1000), 0)
    d = GaussianDiffusion(schedule=schedule, zero_terminal_snr=True, prediction="v")
    assert d.alphas_cumprod[-1].item() == 0.0 and d.betas[-1].item() == 1.0
    assert d.alphas_cumprod[0].item() == pytest.approx(plain[0].item(), rel=1e-12)
    assert bool((d.alphas_cumprod[1:] < d.alphas_cumprod[:-1]).all())
    if schedule == "linear":
        np.testing.assert_allclose(d.alphas_cumprod.numpy(), _np_alpha_bar(True), rtol=1e-9, atol=1e-15)


def test_v_prediction_at_terminal_step_is_finite():
    d = GaussianDiffusion(prediction="v", zero_terminal_snr=True)
    x0, eps, v = torch.randn(3, 4, 2, 3, 3), torch.randn(3, 4, 2, 3, 3), torch.randn(3, 4, 2, 3, 3)
    t = torch.full((3,), 999)
    x_t = d.q_sample(x0, t, eps)
    assert torch.equal(x_t, eps)  # pure noise at SNR 0
    pm = d.p_mean_variance(v, x_t, t)
    assert torch.allclose(pm["pred_x0"], -v) and torch.allclose(pm["pred_eps"], x_t)
    assert all(torch.isfinite(value).all() for value in pm.values())
    losses = d.training_losses(lambda x, tt: v, x0, t, eps)
    expected = ((-x0 - v) ** 2).flatten(1).mean(1)  # v = α ε − σ x0 = −x0 at α = 0
    assert torch.allclose(losses["loss"], expected)
    for weighting in ("none", "min_snr"):
        w = GaussianDiffusion(loss_weighting=weighting).training_losses(lambda x, tt: v, x0, t, eps)["loss"]
        assert torch.isfinite(w).all()


@pytest.mark.parametrize("prediction, zero_terminal_snr",  # eps + zero terminal SNR is rejected (test below)
                         [("eps", False), ("v", False), ("v", True), ("x0", False), ("x0", True)])
def test_conversions_are_exact_inverses_at_every_timestep(prediction, zero_terminal_snr):
    d = GaussianDiffusion(prediction=prediction, zero_terminal_snr=zero_terminal_snr)
    g = torch.Generator().manual_seed(1)
    t = torch.arange(1000)
    x0 = torch.randn(1000, 2, 3, generator=g, dtype=torch.float64)
    eps = torch.randn(1000, 2, 3, generator=g, dtype=torch.float64)
    if zero_terminal_snr:
        t = t[:-1]; x0 = x0[:-1]; eps = eps[:-1]  # at α_T = 0, x_t carries no x0 (v/x0 checked above)
    x_t = d.q_sample(x0, t, eps)
    a, s = d.extract(d.sqrt_alphas_cumprod, t, x0), d.extract(d.sqrt_one_minus_alphas_cumprod, t, x0)
    y = target(prediction, x0, eps, a, s)
    x0_hat, eps_hat = x0_eps_from_prediction(prediction, x_t, y, a, s)
    assert (x0_hat - x0).abs().max() < 1e-5 and (eps_hat - eps).abs().max() < 1e-5
    # and the v definition of Salimans & Ho: v = α ε − σ x0
    v = target("v", x0, eps, a, s)
    assert torch.allclose(v, a * eps - s * x0)
    assert torch.allclose(x0_eps_from_prediction("v", x_t, v, a, s)[0], x0, atol=1e-10)


def test_v_conversion_in_float32_to_1e_5():
    d = GaussianDiffusion()
    t = torch.arange(1000)
    x0, eps = torch.randn(1000, 8), torch.randn(1000, 8)
    x_t = d.q_sample(x0, t, eps)
    a, s = d.extract(d.sqrt_alphas_cumprod, t, x0), d.extract(d.sqrt_one_minus_alphas_cumprod, t, x0)
    x0_hat, eps_hat = d.predict_x0_eps(target("v", x0, eps, a, s), x_t, t)
    assert (x0_hat - x0).abs().max() < 1e-5 and (eps_hat - eps).abs().max() < 1e-5


def test_normal_kl_equals_closed_form_and_torch_distributions():
    z = torch.zeros(1)
    assert normal_kl(z, z, z, z).item() == 0.0
    assert normal_kl(z + 1, z, z, z).item() == pytest.approx(0.5)  # (μ1 − μ2)² / 2
    assert normal_kl(z, z - 2, z, z).item() == pytest.approx(0.5 * (1 + math.exp(-2)))  # σ1² = e⁻², σ2 = 1
    m1, m2, l1, l2 = torch.randn(4, 50, dtype=torch.float64)
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(m1, (0.5 * l1).exp()),
                                            torch.distributions.Normal(m2, (0.5 * l2).exp()))
    assert torch.allclose(normal_kl(m1, l1, m2, l2), ref, atol=1e-12)


def test_discretized_gaussian_log_likelihood_hand_values():
    # x = 0, N(0, 1): P = Φ(1/255) − Φ(−1/255) ≈ 2/255 · φ(0) = 0.0031290, log = −5.76706
    ll = discretized_gaussian_log_likelihood(torch.zeros(1), torch.zeros(1), torch.zeros(1)).item()
    assert ll == pytest.approx(-5.76706, abs=1e-4)
    x = torch.tensor([-1.0, -0.5, 0.2, 1.0], dtype=torch.float64)
    mean = torch.tensor([-0.9, -0.4, 0.1, 0.95], dtype=torch.float64)
    log_scale = torch.tensor([-1.0, -2.0, -0.5, -3.0], dtype=torch.float64)
    s = np.exp(log_scale.numpy())
    lo, hi = (x.numpy() - mean.numpy() - 1 / 255) / s, (x.numpy() - mean.numpy() + 1 / 255) / s
    ref = np.log(np.array([norm.cdf(hi[0]), norm.cdf(hi[1]) - norm.cdf(lo[1]), norm.cdf(hi[2]) - norm.cdf(lo[2]),
                           1 - norm.cdf(lo[3])]))
    # tanh approximation of Φ: agrees with the exact CDF to ~1e-3 relative
    np.testing.assert_allclose(discretized_gaussian_log_likelihood(x, mean, log_scale).numpy(), ref, rtol=2e-3)


def test_vlb_terms_are_posterior_kl_and_decoder_nll_in_bits():
    d = GaussianDiffusion(prediction="eps", zero_terminal_snr=False, learn_sigma=True)
    ab = _np_alpha_bar(False)
    ab_prev = np.concatenate([[1.0], ab[:-1]])
    beta = 1 - ab / ab_prev
    x0 = torch.rand(2, 3, 1, 2, 2, dtype=torch.float64) * 2 - 1
    x_t, mean, log_var = (torch.randn(2, 3, 1, 2, 2, dtype=torch.float64) for _ in range(3))
    t = torch.tensor([0, 500])
    got = d.vlb_terms(x0, x_t, t, mean, log_var)
    i = 500  # DDPM Eq. 7, written out
    mu = (beta[i] * np.sqrt(ab_prev[i]) / (1 - ab[i]) * x0[1]
          + (1 - ab_prev[i]) * np.sqrt(1 - beta[i]) / (1 - ab[i]) * x_t[1])
    var = beta[i] * (1 - ab_prev[i]) / (1 - ab[i])
    kl = torch.distributions.kl_divergence(torch.distributions.Normal(mu, math.sqrt(var)),
                                           torch.distributions.Normal(mean[1], (0.5 * log_var[1]).exp()))
    assert got[1].item() == pytest.approx(kl.mean().item() / math.log(2), rel=1e-9)
    nll = -discretized_gaussian_log_likelihood(x0[0], mean[0], 0.5 * log_var[0]).mean() / math.log(2)
    assert got[0].item() == pytest.approx(nll.item(), rel=1e-12)


def test_learned_sigma_interpolates_log_variance_and_vlb_stops_gradient_on_mean():
    d = GaussianDiffusion(prediction="eps", zero_terminal_snr=False, learn_sigma=True)
    x_t, t = torch.randn(2, 3, 1, 2, 2), torch.tensor([10, 700])
    lo, hi = d.posterior_log_variance_clipped[t].float(), torch.log(d.betas[t]).float()
    for v, expected in ((-1.0, lo), (1.0, hi), (0.0, (lo + hi) / 2)):
        out = torch.cat([torch.zeros_like(x_t), torch.full_like(x_t, v)], dim=1)
        got = d.p_mean_variance(out, x_t, t)["log_variance"]
        assert torch.allclose(got, expected.view(2, 1, 1, 1, 1).expand_as(x_t), atol=1e-6)
    out = torch.randn(2, 6, 1, 2, 2, requires_grad=True)
    losses = d.training_losses(lambda x, tt: out * 1, torch.rand(2, 3, 1, 2, 2) * 2 - 1, t)
    (grad,) = torch.autograd.grad(losses["vlb"].sum(), out)
    assert torch.count_nonzero(grad[:, :3]) == 0 and torch.count_nonzero(grad[:, 3:]) > 0
    assert torch.allclose(losses["loss"], losses["mse"] + 0.001 * 1000 * losses["vlb"])


def test_fixed_variances():
    d_small = GaussianDiffusion(prediction="eps", zero_terminal_snr=False)
    d_large = GaussianDiffusion(prediction="eps", zero_terminal_snr=False, variance="fixed_large")
    x, t = torch.randn(1, 1, 1, 1, 1), torch.tensor([400])
    ab = _np_alpha_bar(False)
    beta = 1 - ab[400] / ab[399]
    assert d_large.p_mean_variance(x, x, t)["log_variance"].item() == pytest.approx(math.log(beta), rel=1e-6)
    assert d_small.p_mean_variance(x, x, t)["log_variance"].item() == pytest.approx(
        math.log(beta * (1 - ab[399]) / (1 - ab[400])), rel=1e-6)


def test_min_snr_weighting_is_min_snr_gamma_in_x0_space():
    snr = torch.tensor([0.0, 0.5, 5.0, 20.0])
    w_x0 = torch.minimum(snr, torch.tensor(5.0))
    assert torch.allclose(loss_weight("min_snr", "x0", snr), w_x0)
    assert torch.allclose(loss_weight("min_snr", "v", snr), w_x0 / (snr + 1))
    assert torch.allclose(loss_weight("min_snr", "eps", snr), torch.tensor([1.0, 1.0, 1.0, 0.25]))
    assert torch.equal(loss_weight("none", "v", snr), torch.ones(4))


def test_respace_keeps_alpha_bar_on_the_kept_steps():
    d = GaussianDiffusion()
    ts = [0, 249, 499, 999]
    s = d.respace(ts)
    assert s.num_timesteps == 4 and s.timestep_map.tolist() == ts
    assert torch.allclose(s.alphas_cumprod, d.alphas_cumprod[ts], rtol=1e-12)
    assert s.betas[1].item() == pytest.approx(1 - d.alphas_cumprod[249].item() / d.alphas_cumprod[0].item())
    full = d.respace(range(1000))
    assert torch.allclose(full.betas, d.betas, rtol=1e-9) and torch.allclose(full.posterior_variance,
                                                                            d.posterior_variance, rtol=1e-9)
    with pytest.raises(ValueError, match="increasing"):
        d.respace([5, 3])


def test_bad_names_and_combinations_raise():
    with pytest.raises(ValueError, match="linear, cosine"):
        GaussianDiffusion(schedule="quadratic")
    with pytest.raises(ValueError, match="eps, v, x0"):
        GaussianDiffusion(prediction="score")
    with pytest.raises(ValueError, match="none, min_snr"):
        GaussianDiffusion(loss_weighting="p2")
    with pytest.raises(ValueError, match="fixed_small, fixed_large"):
        GaussianDiffusion(variance="learned")
    with pytest.raises(ValueError, match="zero_terminal_snr"):
        GaussianDiffusion(prediction="eps", zero_terminal_snr=True)
    with pytest.raises(KeyError, match="GaussianDiffusion"):
        DIFFUSIONS.build(dict(type="GaussianDifusion"))
    with pytest.raises(ValueError, match="expected 6 channels"):
        GaussianDiffusion(learn_sigma=True).p_mean_variance(torch.zeros(1, 3, 1, 2, 2), torch.zeros(1, 3, 1, 2, 2),
                                                            torch.tensor([3]))
