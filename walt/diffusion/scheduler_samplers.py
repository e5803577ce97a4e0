"""diffusers' multistep solvers as walt samplers, through one adapter: DPM-Solver++ (Lu et al. 2022, "DPM-Solver++",
Alg. 2: the 2M solver, and its SDE variant §5), UniPC (Zhao et al. 2023, the UniP-2 predictor with the UniC
corrector), DDIM (the equality check against walt's own ``DDIM``) and any other diffusers multistep scheduler by name.

The scheduler does the solver arithmetic (``diffusers.DPMSolverMultistepScheduler``, ``UniPCMultistepScheduler``,
``DDIMScheduler``, unchanged); the adapter builds it for the walt diffusion being sampled and runs walt's loop around
``scheduler.step``:

* parameterization: the scheduler gets the diffusion's own β table (``trained_betas``: any schedule, zero terminal
  SNR included, where diffusers' DPM-Solver / UniPC put ᾱ_T at 2⁻²⁴ instead of 0 so that λ_T is finite) and its
  prediction (ε → ``epsilon``, v → ``v_prediction``, x_0 → ``sample``); a learned-Σ output (LAVITA §3.1) gives the
  scheduler its first ``C`` channels, the ODE solvers need no variance. A :class:`RectifiedFlow` is sampled on the
  schedulers' flow sigmas (``use_flow_sigmas``, ``flow_prediction``, the diffusion's shift); the model is called with
  ``model_time(σ)`` = σ·1000, as by Euler / Heun.
* the model is called as by DDIM / Euler: ``model_fn(x_t, t, **extra)`` with guidance inside ``model_fn``; the
  self-conditioning input is the previous call's ``x̂_0`` (``diffusion.x0_from_output``); observed frames of frame
  prediction are put at the next model input's level after every step (fresh noise for a Gaussian diffusion, as
  DDPM / DDIM do; their straight path from the initial noise for rectified flow, as Euler / Heun do) and returned
  exactly.
"""
from __future__ import annotations

import inspect

import torch
from torch import Tensor
from tqdm.auto import tqdm

from registry import SAMPLERS
from walt.diffusion.gaussian_diffusion import GaussianDiffusion
from walt.diffusion.guidance import ModelFn
from walt.diffusion.noise import gaussian_noise
from walt.diffusion.rectified_flow import RectifiedFlow
from walt.diffusion.respacing import SPACINGS
from walt.diffusion.sampler_base import Observed, SamplerBase

PREDICTION_TYPES = dict(eps="epsilon", v="v_prediction", x0="sample")


def scheduler_class(name: str) -> type:
    """The diffusers scheduler class ``name`` (a ``ValueError`` lists the multistep ones)."""
    import diffusers

    cls = getattr(diffusers, name, None)
    if cls is None or not hasattr(cls, "set_timesteps"):
        names = sorted(n for n in dir(diffusers) if n.endswith("Scheduler"))
        raise ValueError(f"unknown diffusers scheduler {name!r}; diffusers has: {', '.join(names)}")
    return cls


def scheduler_config(diffusion: GaussianDiffusion | RectifiedFlow, cls: type, spacing: str) -> dict:
    """What ``cls`` needs to know about ``diffusion``: its β table and prediction, or the flow sigmas and shift."""
    params = inspect.signature(cls.__init__).parameters
    if isinstance(diffusion, RectifiedFlow):
        if "use_flow_sigmas" not in params:
            raise ValueError(f"{cls.__name__} has no flow sigmas: sample a RectifiedFlow with DPMSolverPP, "
                             f"DPMSolverSDE, UniPC, Euler or Heun")
        return dict(num_train_timesteps=diffusion.num_timesteps, use_flow_sigmas=True, flow_shift=diffusion.shift,
                    prediction_type="flow_prediction")
    config = dict(num_train_timesteps=diffusion.num_timesteps, trained_betas=diffusion.betas.float().numpy(),
                  prediction_type=PREDICTION_TYPES[diffusion.prediction], timestep_spacing=spacing)
    if float(diffusion.alphas_cumprod[-1]) == 0.0:
        config["rescale_betas_zero_snr"] = True  # keeps ᾱ_T = 0 (β_T = 1); DPM-Solver / UniPC then take 2⁻²⁴
    return config


@SAMPLERS.register_module()
class DiffusersScheduler(SamplerBase):
    """Sample with the diffusers scheduler ``scheduler`` (a class name) built with ``options`` on top of what the
    diffusion implies (module docstring). ``spacing``: the timestep spacing of a Gaussian diffusion (``trailing``
    starts at ``T − 1``, Lin et al. 2024 Table 2). ``step_options``: keywords of ``scheduler.step`` (DDIM's ``eta``)."""

    diffusion_kind = (GaussianDiffusion, RectifiedFlow)
    instead = "a GaussianDiffusion or a RectifiedFlow"

    def __init__(self, scheduler: str = "DPMSolverMultistepScheduler", num_steps: int = 20,
                 options: dict | None = None, step_options: dict | None = None, spacing: str = "trailing",
                 progress: bool = False):
        if num_steps < 1:
            raise ValueError(f"{type(self).__name__}: num_steps must be >= 1, got {num_steps}")
        if spacing not in SPACINGS:
            raise ValueError(f"{type(self).__name__}: unknown spacing {spacing!r}; valid: {', '.join(SPACINGS)}")
        self.cls = scheduler_class(scheduler)
        self.num_steps, self.spacing, self.progress = num_steps, spacing, progress
        self.options, self.step_options = dict(options or {}), dict(step_options or {})
        self._takes_generator = "generator" in inspect.signature(self.cls.step).parameters

    def scheduler(self, diffusion: GaussianDiffusion | RectifiedFlow):
        """The diffusers scheduler for ``diffusion``, with its timesteps set."""
        scheduler = self.cls(**scheduler_config(diffusion, self.cls, self.spacing), **self.options)
        scheduler.set_timesteps(self.num_steps)
        return scheduler

    def integrate(self, diffusion: GaussianDiffusion | RectifiedFlow, model_fn: ModelFn, x: Tensor,
                  generator: torch.Generator | None, self_condition: bool, observed: Observed | None,
                  progress: bool) -> Tensor:
        scheduler = self.scheduler(diffusion)
        flow = isinstance(diffusion, RectifiedFlow)
        # the backbone's time of each model call, and the level the observed frames are put at before it
        if flow:
            levels = [float(s) for s in scheduler.sigmas]
            times = [diffusion.model_time(torch.tensor(s)).item() for s in levels[:-1]]
        else:
            times = levels = [int(t) for t in scheduler.timesteps] + [-1]
        t_dtype = torch.promote_types(x.dtype, torch.float32) if flow else torch.long
        step_options = dict(self.step_options, **({"generator": generator} if self._takes_generator else {}))
        x_sc = torch.zeros_like(x) if self_condition else None
        if observed is not None:
            z_obs, keep = observed
            noise_obs = x  # the observed frames start at their level with the sample's initial noise, as in DDIM
            x = torch.where(keep, self._observed_at(diffusion, z_obs, levels[0], noise_obs), x)
        for i, t in enumerate(tqdm(scheduler.timesteps, desc=type(self).__name__, disable=not progress)):
            t_model = torch.full((x.shape[0],), times[i], device=x.device, dtype=t_dtype)
            out = model_fn(scheduler.scale_model_input(x, t), t_model, **({"x_sc": x_sc} if self_condition else {}))
            if self_condition:
                x_sc = diffusion.x0_from_output(out, x, t_model)
            pred = out[:, :x.shape[1]].to(x.dtype)  # a learned-Σ output's variance half is not the solvers' input
            x = scheduler.step(pred, t, x, return_dict=False, **step_options)[0]
            if observed is not None:
                fresh = not flow and levels[i + 1] >= 0
                noise = gaussian_noise(x.shape, generator, x.device) if fresh else noise_obs
                x = torch.where(keep, self._observed_at(diffusion, z_obs, levels[i + 1], noise), x)
        return x

    @staticmethod
    def _observed_at(diffusion: GaussianDiffusion | RectifiedFlow, z: Tensor, level: float, noise: Tensor) -> Tensor:
        """Observed latents at ``level`` (a timestep, or σ of a flow) with ``noise``; clean at ``level < 0`` (after
        a Gaussian diffusion's last step; a flow's last σ is 0)."""
        if isinstance(diffusion, RectifiedFlow):
            return diffusion.q_sample(z, torch.full((z.shape[0],), level, device=z.device), noise)
        if level < 0:
            return z
        return diffusion.q_sample(z, torch.full((z.shape[0],), level, device=z.device, dtype=torch.long), noise)


@SAMPLERS.register_module()
class DPMSolverPP(DiffusersScheduler):
    """DPM-Solver++(2M) (Lu et al. 2022, Alg. 2; data prediction, second order): ``diffusers``
    ``DPMSolverMultistepScheduler(algorithm_type="dpmsolver++")``; 20 steps is its usual setting."""

    def __init__(self, num_steps: int = 20, order: int = 2, spacing: str = "trailing", progress: bool = False):
        super().__init__("DPMSolverMultistepScheduler", num_steps,
                         dict(algorithm_type="dpmsolver++", solver_order=order), spacing=spacing, progress=progress)


@SAMPLERS.register_module()
class DPMSolverSDE(DiffusersScheduler):
    """SDE-DPM-Solver++(2M) (Lu et al. 2022 §5, the SDE counterpart of 2M): ``algorithm_type="sde-dpmsolver++"``; draws
    noise every step from the sampling generator."""

    def __init__(self, num_steps: int = 20, order: int = 2, spacing: str = "trailing", progress: bool = False):
        super().__init__("DPMSolverMultistepScheduler", num_steps,
                         dict(algorithm_type="sde-dpmsolver++", solver_order=order), spacing=spacing,
                         progress=progress)


@SAMPLERS.register_module()
class UniPC(DiffusersScheduler):
    """UniPC (Zhao et al. 2023): the UniP predictor with the UniC corrector, B(h) = e^h − 1 (``bh2``), data prediction:
    ``diffusers`` ``UniPCMultistepScheduler``."""

    def __init__(self, num_steps: int = 20, order: int = 2, spacing: str = "trailing", progress: bool = False):
        super().__init__("UniPCMultistepScheduler", num_steps, dict(solver_order=order), spacing=spacing,
                         progress=progress)


@SAMPLERS.register_module()
class DiffusersDDIM(DiffusersScheduler):
    """DDIM through the adapter (``diffusers.DDIMScheduler``, no clipping, ᾱ_{−1} = 1): the same sampler as walt's
    ``DDIM`` with the same ``spacing`` and ``eta`` where the steps are ``T/N`` apart (trailing or leading spacing,
    ``N`` dividing ``T``: diffusers' DDIM always steps from ``t`` to ``t − T//N``) — the check that the adapter feeds
    a scheduler walt's parameterization and calls the model as walt's loops do (``tests/test_scheduler_samplers.py``)."""

    def __init__(self, num_steps: int = 50, eta: float = 0.0, spacing: str = "trailing", progress: bool = False):
        super().__init__("DDIMScheduler", num_steps, dict(clip_sample=False, set_alpha_to_one=True),
                         dict(eta=eta), spacing=spacing, progress=progress)
