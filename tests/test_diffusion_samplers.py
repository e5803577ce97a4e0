"""DDPM / DDIM samplers, respacing, self-conditioning at sampling, observed-frame replacement and classifier-free
guidance (walt.diffusion.samplers, guidance, respacing)."""
import numpy as np
import pytest
import torch

from registry import SAMPLERS
from walt.diffusion.gaussian_diffusion import GaussianDiffusion
from walt.diffusion.guidance import classifier_free_guidance
from walt.diffusion.respacing import space_timesteps
from walt.diffusion.samplers import DDIM, DDPM
from walt.models.conditioning.conditions import Conditions


def _linear_model(x, t, **_):
    """A fixed, timestep-dependent linear 'denoiser' (its output is some v prediction)."""
    return 0.3 * x + 1e-3 * t.view(-1, *([1] * (x.dim() - 1))).float()


@pytest.mark.parametrize("zero_terminal_snr, prediction", [(True, "v"), (False, "eps")])
def test_ddim_eta_one_without_respacing_is_the_ddpm_posterior_step(zero_terminal_snr, prediction):
    d = GaussianDiffusion(zero_terminal_snr=zero_terminal_snr, prediction=prediction)
    ab = d.alphas_cumprod.numpy()
    for i in (1, 2, 300, 998, 999):
        t = torch.full((4,), i)
        x = torch.randn(4, 3, 2, 2, 2)
        out = _linear_model(x, t)
        x_ddim, x0_ddim = DDIM(num_steps=1000, eta=1.0).step(d, out, x, i, torch.Generator().manual_seed(i))
        x_ddpm, x0_ddpm = DDPM().step(d, out, x, i, torch.Generator().manual_seed(i))
        assert torch.allclose(x_ddim, x_ddpm, atol=1e-5) and torch.allclose(x0_ddim, x0_ddpm, atol=1e-6)
        # the DDPM posterior q(x_{t-1} | x_t, x̂0) of Eq. 7, written out in numpy
        b = 1 - ab[i] / ab[i - 1]
        mu = (b * np.sqrt(ab[i - 1]) / (1 - ab[i]) * x0_ddpm.numpy()
              + (1 - ab[i - 1]) * np.sqrt(1 - b) / (1 - ab[i]) * x.numpy())
        z = torch.randn(x.shape, generator=torch.Generator().manual_seed(i)).numpy()
        std = np.sqrt(b * (1 - ab[i - 1]) / (1 - ab[i]))
        np.testing.assert_allclose(x_ddim.numpy(), mu + std * z, atol=1e-5)


def test_ddim_eta_zero_is_deterministic_given_the_seed():
    d = GaussianDiffusion()
    run = lambda seed: DDIM(num_steps=20).sample(d, _linear_model, (2, 3, 2, 4, 4),
                                                 generator=torch.Generator().manual_seed(seed))
    assert torch.equal(run(0), run(0)) and not torch.allclose(run(0), run(1))
    noise = torch.randn(2, 3, 2, 4, 4)
    a = DDIM(num_steps=20).sample(d, _linear_model, noise.shape, noise=noise,
                                  generator=torch.Generator().manual_seed(5))
    b = DDIM(num_steps=20).sample(d, _linear_model, noise.shape, noise=noise,
                                  generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b)  # no randomness after the initial noise
    c = DDPM(num_steps=20).sample(d, _linear_model, noise.shape, noise=noise,
                                  generator=torch.Generator().manual_seed(6))
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("sampler", [DDIM(num_steps=50), DDPM(num_steps=50), DDIM(num_steps=4, spacing="linspace")])
def test_respaced_samplers_call_the_model_with_the_original_timesteps(sampler):
    seen = []

    def model(x, t, **_):
        seen.append(int(t[0]))
        return torch.zeros_like(x)

    sampler.sample(GaussianDiffusion(), model, (1, 2))
    if sampler.spacing == "trailing":
        assert seen == list(range(999, 0, -20))  # W.A.L.T: 50 DDIM steps, starting at t = T (Lin et al. trailing)
    else:
        assert seen == [999, 666, 333, 0]
    assert space_timesteps(1000, 1000).tolist() == list(range(1000))


def test_ddim_on_respaced_steps_uses_the_original_alpha_bar():
    d = GaussianDiffusion(prediction="eps", zero_terminal_snr=False)
    spaced = d.respace([99, 599])
    x, eps = torch.randn(3, 2), torch.randn(3, 2)
    # index 1 is original step 599; the previous kept step is 99
    x_prev, x0 = DDIM(eta=0.0).step(spaced, eps, x, 1, None)
    a, a_prev = d.alphas_cumprod[599].item(), d.alphas_cumprod[99].item()
    x0_ref = (x - np.sqrt(1 - a) * eps) / np.sqrt(a)
    assert torch.allclose(x0, x0_ref, atol=1e-5)
    assert torch.allclose(x_prev, np.sqrt(a_prev) * x0_ref + np.sqrt(1 - a_prev) * eps, atol=1e-5)


def test_self_conditioning_feeds_the_previous_x0_estimate():
    d = GaussianDiffusion()
    calls = []

    def model(x, t, x_sc=None):
        out = 0.5 * x + 0.1 * x_sc
        calls.append((x.clone(), t.clone(), x_sc.clone(), out.clone()))
        return out

    DDIM(num_steps=5).sample(d, model, (2, 3), generator=torch.Generator().manual_seed(0), self_condition=True)
    assert torch.count_nonzero(calls[0][2]) == 0
    for (x, t, _, v), (_, _, x_sc_next, _) in zip(calls[:-1], calls[1:]):
        ab = d.alphas_cumprod[t].float()[:, None]
        assert torch.allclose(x_sc_next, ab.sqrt() * x - (1 - ab).sqrt() * v, atol=1e-6)  # x0 = α x_t − σ v


@pytest.mark.parametrize("sampler", [DDIM(num_steps=10), DDPM(num_steps=10), DDIM(num_steps=10, eta=1.0)])
def test_observed_frames_are_exactly_the_conditioning_latents(sampler):
    z = torch.randn(2, 3, 4, 2, 2)
    mask = torch.tensor([[1.0, 1, 0, 0], [1, 0, 0, 0]]).view(2, 1, 4, 1, 1)
    out = sampler.sample(GaussianDiffusion(), _linear_model, z.shape, observed=(z, mask),
                         generator=torch.Generator().manual_seed(0))
    assert torch.equal(out[0, :, :2], z[0, :, :2]) and torch.equal(out[1, :, :1], z[1, :, :1])
    assert not torch.allclose(out[0, :, 2:], z[0, :, 2:])


def test_classifier_free_guidance_scale_one_is_the_conditional_model_and_scale_s_is_extrapolation():
    calls = []

    def model(x, t, cond):
        calls.append(x.shape[0])
        out = x * (1 + cond.y.float().view(-1, 1, 1)) + cond.x_fp.sum(1, keepdim=True) + cond.x_sc
        return torch.cat([out, out * 2], dim=1)  # 2C channels: prediction + learned-variance values

    x, t, x_sc = torch.randn(2, 3, 5), torch.tensor([3, 4]), torch.randn(2, 3, 5)
    cond = Conditions(y=torch.tensor([1, 2]), x_fp=torch.randn(2, 4, 5))
    null = Conditions(y=torch.tensor([9, 9]), x_fp=torch.zeros(2, 4, 5))
    unguided = classifier_free_guidance(model, cond, null, 1.0)(x, t, x_sc=x_sc)
    assert torch.equal(unguided, model(x, t, cond.replace(x_sc=x_sc)))
    calls.clear()
    guided = classifier_free_guidance(model, cond, null, 3.0)(x, t, x_sc=x_sc)
    assert calls == [4]  # one batched forward for both halves
    c, u = model(x, t, cond.replace(x_sc=x_sc)), model(x, t, null.replace(x_sc=x_sc))
    assert torch.allclose(guided[:, :3], u[:, :3] + 3.0 * (c[:, :3] - u[:, :3]), atol=1e-5)
    assert torch.equal(guided[:, 3:], c[:, 3:])  # variance from the conditional half
    with pytest.raises(ValueError, match="x_fp is given in one half only"):
        classifier_free_guidance(model, cond, Conditions(y=null.y), 2.0)


def test_samplers_are_registered_with_walt_defaults_and_show_progress(capsys):
    ddim = SAMPLERS.build(dict(type="DDIM"))
    assert (ddim.num_steps, ddim.eta, ddim.spacing) == (50, 0.0, "trailing")
    assert SAMPLERS.build(dict(type="DDPM")).num_steps == 1000
    DDIM(num_steps=3, progress=True).sample(GaussianDiffusion(), _linear_model, (1, 2))
    assert "DDIM" in capsys.readouterr().err
    with pytest.raises(ValueError, match="num_steps"):
        DDIM(num_steps=0).sample(GaussianDiffusion(), _linear_model, (1, 2))
    with pytest.raises(ValueError, match="trailing, linspace, leading"):
        DDIM(num_steps=3, spacing="uniform").sample(GaussianDiffusion(), _linear_model, (1, 2))
