"""diffusers' solvers through walt's adapter (walt.diffusion.scheduler_samplers): every solver recovers x_0 from the
exact model of a point mass for every parameterization (ε, v with zero terminal SNR, x_0, learned Σ, rectified
flow); walt's DDIM through the adapter (diffusers' DDIMScheduler) equals walt's own DDIM, self-conditioning and frame
prediction included; kinds, registry and tools."""
import pytest
import torch

from registry import SAMPLERS
from walt.diffusion.gaussian_diffusion import GaussianDiffusion
from walt.diffusion.rectified_flow import RectifiedFlow
from walt.diffusion.samplers import DDIM
from walt.diffusion.scheduler_samplers import DiffusersDDIM, DiffusersScheduler, DPMSolverPP, DPMSolverSDE, UniPC

PARAMETERIZATIONS = [dict(prediction="eps", zero_terminal_snr=False), dict(prediction="v", zero_terminal_snr=True),
                     dict(prediction="x0", zero_terminal_snr=False),
                     dict(prediction="eps", zero_terminal_snr=False, learn_sigma=True)]
SOLVERS = [DPMSolverPP(num_steps=2), DPMSolverPP(num_steps=20), DPMSolverSDE(num_steps=7), UniPC(num_steps=7),
           UniPC(num_steps=16, order=3), DiffusersDDIM(num_steps=10)]


def _per_sample(table, t, x):
    return table[t].to(x.dtype).view(-1, *([1] * (x.dim() - 1)))


def _point_mass(d: GaussianDiffusion, x0, perturb: float = 0.0, x_sc_weight: float = 0.0):
    """The exact denoiser of a point mass at ``x0`` in ``d``'s parameterization, computed from walt's float64 tables
    (independently of the schedulers'), optionally perturbed by a smooth function of ``x_t`` and ``x_sc``."""
    def model(x, t, x_sc=None):
        a, s = _per_sample(d.sqrt_alphas_cumprod, t, x), _per_sample(d.sqrt_one_minus_alphas_cumprod, t, x)
        eps = (x - a * x0) / s
        out = dict(eps=eps, v=a * eps - s * x0, x0=x0.expand_as(x))[d.prediction] + perturb * torch.sin(3 * x)
        if x_sc is not None:
            out = out + x_sc_weight * x_sc
        return torch.cat([out, torch.rand_like(out)], dim=1) if d.learn_sigma else out
    return model


@pytest.mark.parametrize("kind", PARAMETERIZATIONS, ids=lambda k: "-".join(f"{v}" for v in k.values()))
@pytest.mark.parametrize("sampler", SOLVERS, ids=lambda s: f"{type(s).__name__}{s.num_steps}")
def test_each_solver_recovers_x0_from_the_exact_model_of_a_point_mass(sampler, kind):
    d = GaussianDiffusion(**kind)
    x0 = torch.randn(2, 3, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    out = sampler.sample(d, _point_mass(d, x0), x0.shape, generator=torch.Generator().manual_seed(1))
    # the schedulers keep float32 tables (and ᾱ_T = 2⁻²⁴ for zero terminal SNR): a 2-step run sees it most
    torch.testing.assert_close(out, x0, rtol=0, atol=2e-3 if sampler.num_steps == 2 else 1e-5)


@pytest.mark.parametrize("sampler", [DPMSolverPP(num_steps=1), DPMSolverPP(num_steps=7), DPMSolverSDE(num_steps=7),
                                     UniPC(num_steps=7)], ids=lambda s: f"{type(s).__name__}{s.num_steps}")
def test_each_solver_recovers_x0_from_the_exact_velocity_of_a_rectified_flow(sampler):
    x0 = torch.randn(2, 3, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    seen = []

    def velocity(x, t):  # x_t = (1 − t)·x0 + t·ε has the velocity (x_t − x0)/t; the model sees t·1000
        seen.append(t)
        return (x - x0) / (t / 1000).view(-1, *([1] * (x.dim() - 1)))

    out = sampler.sample(RectifiedFlow(shift=3.0), velocity, x0.shape, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(out, x0, rtol=0, atol=1e-5)
    assert seen[0].dtype == torch.float32 and 990 < float(seen[0][0]) < 1000  # σ·1000, not an integer timestep


@pytest.mark.parametrize("kind", [dict(prediction="v", zero_terminal_snr=True, self_condition=True),
                                  dict(prediction="eps", zero_terminal_snr=False, learn_sigma=True)],
                         ids=["walt-v-ztsnr-self-conditioning", "lavita-eps-learned-sigma"])
@pytest.mark.parametrize("steps, spacing", [(50, "trailing"), (25, "leading"), (8, "trailing")])
def test_ddim_through_the_adapter_equals_walts_ddim(kind, steps, spacing):
    kind = dict(kind)
    self_condition = kind.pop("self_condition", False)
    d = GaussianDiffusion(**kind)
    x0 = torch.randn(2, 3, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    model = _point_mass(d, x0, perturb=0.05, x_sc_weight=0.1)
    run = dict(generator=torch.Generator().manual_seed(1), self_condition=self_condition)
    ours = DDIM(num_steps=steps, spacing=spacing).sample(d, model, x0.shape, **run)
    run["generator"] = torch.Generator().manual_seed(1)
    theirs = DiffusersDDIM(num_steps=steps, spacing=spacing).sample(d, model, x0.shape, **run)
    assert (ours - x0).abs().max() > 1e-4  # the perturbed model does not land on x0: a real comparison
    torch.testing.assert_close(theirs, ours, rtol=0, atol=1e-5)


def test_ddim_through_the_adapter_holds_observed_frames_as_walts_ddim_does():
    d = GaussianDiffusion()
    x0 = torch.randn(2, 3, 4, 2, 2, generator=torch.Generator().manual_seed(0))
    mask = torch.tensor([[1.0, 1, 0, 0], [1, 0, 0, 0]]).view(2, 1, 4, 1, 1)
    model = _point_mass(d, torch.zeros_like(x0), perturb=0.1)
    outs = [s.sample(d, model, x0.shape, observed=(x0, mask), generator=torch.Generator().manual_seed(1))
            for s in (DDIM(num_steps=10), DiffusersDDIM(num_steps=10))]
    torch.testing.assert_close(outs[1], outs[0], rtol=0, atol=1e-5)
    assert torch.equal(outs[1][0, :, :2], x0[0, :, :2]) and torch.equal(outs[1][1, :, :1], x0[1, :, :1])


@pytest.mark.parametrize("sampler", [DPMSolverPP(num_steps=5), UniPC(num_steps=5)])
def test_observed_frames_of_a_flow_are_returned_exactly(sampler):
    x0 = torch.randn(2, 3, 4, 2, 2)
    mask = torch.tensor([[1.0, 1, 0, 0], [1, 0, 0, 0]]).view(2, 1, 4, 1, 1)
    out = sampler.sample(RectifiedFlow(), lambda x, t: 0.3 * x, x0.shape, observed=(x0, mask),
                         generator=torch.Generator().manual_seed(0))
    assert torch.equal(out[0, :, :2], x0[0, :, :2]) and torch.equal(out[1, :, :1], x0[1, :, :1])


def test_sde_variant_draws_from_the_generator_and_the_ode_solvers_do_not():
    d = GaussianDiffusion()
    noise = torch.randn(1, 3, 2, 4, 4)

    def run(sampler, seed):
        return sampler.sample(d, lambda x, t: 0.2 * x, noise.shape, noise=noise,
                              generator=torch.Generator().manual_seed(seed))

    assert not torch.equal(run(DPMSolverSDE(num_steps=5), 0), run(DPMSolverSDE(num_steps=5), 1))
    assert torch.equal(run(DPMSolverPP(num_steps=5), 0), run(DPMSolverPP(num_steps=5), 1))


def test_wrong_kind_unknown_scheduler_and_registry():
    with pytest.raises(ValueError, match="DDIMScheduler has no flow sigmas"):
        DiffusersDDIM(num_steps=2).sample(RectifiedFlow(), lambda x, t: x, (1, 3))
    with pytest.raises(ValueError, match="unknown diffusers scheduler 'Nope'.*DPMSolverMultistepScheduler"):
        DiffusersScheduler("Nope")
    with pytest.raises(ValueError, match="GaussianDiffusion or RectifiedFlow, got a str"):
        UniPC().sample("diffusion", lambda x, t: x, (1, 3))
    third_order = SAMPLERS.build(dict(type="DiffusersScheduler", scheduler="DPMSolverMultistepScheduler",
                                      num_steps=8, options=dict(solver_order=3)))
    d = GaussianDiffusion(prediction="eps", zero_terminal_snr=False)
    x0 = torch.randn(1, 3, 2, 2, 2)
    torch.testing.assert_close(third_order.sample(d, _point_mass(d, x0), x0.shape), x0, rtol=0, atol=1e-5)
    for name, steps in (("DPMSolverPP", 20), ("DPMSolverSDE", 20), ("UniPC", 20), ("DiffusersDDIM", 50)):
        assert SAMPLERS.build(dict(type=name)).num_steps == steps
