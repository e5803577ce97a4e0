"""ODE samplers of a :class:`RectifiedFlow`: ``Euler`` and ``Heun`` (Karras et al. 2022, Alg. 1) integrate
``dx/dt = v_θ(x, t)`` from ``t = 1`` (noise) to ``t = 0`` on a shifted time grid.

The grid has ``N + 1`` times ``t_i = shift_time(1 − i/N, α)``: ``t_0 = 1``, ``t_N = 0``, and ``α > 1`` spends more of
the steps near the noise end (SD3 §5.3.2, which samples its 1024² model at α = 3). ``shift=None`` uses the diffusion's
training shift. The options have the meaning they have for DDPM / DDIM (``samplers.py``):

* ``model_fn(x_t, t·T, **extra)``: classifier-free guidance is applied inside ``model_fn`` (``guidance.py``).
* ``self_condition``: ``x_sc`` is zeros at the first evaluation, then the ``x̂_0 = x_t − t·v`` of the previous
  evaluation (Heun's corrector sees its predictor's estimate).
* ``observed=(z, mask)``: frame prediction — in every network input at time ``t`` the frames where ``mask`` is 1 are
  their point ``(1 − t)·z + t·ε`` on the straight path from their initial noise ``ε`` to ``z`` (the next step's level
  after each step, as for DDPM / DDIM, and Heun's corrector input too), and the sample returns ``z`` there exactly.
* ``generator``: the initial noise; the ODE adds none afterwards.
"""
from __future__ import annotations

from abc import abstractmethod
from typing import Callable

import torch
from torch import Tensor
from tqdm.auto import tqdm

from registry import SAMPLERS
from walt.diffusion.guidance import ModelFn
from walt.diffusion.rectified_flow import RectifiedFlow, shift_time
from walt.diffusion.sampler_base import Observed, SamplerBase

Velocity = Callable[[Tensor, float], Tensor]


class FlowSampler(SamplerBase):
    """The loop shared by the ODE samplers; subclasses define one ``step`` from ``t`` to ``t_next``."""

    diffusion_kind, instead = RectifiedFlow, "sample a GaussianDiffusion with DDIM or DDPM"

    def __init__(self, num_steps: int = 50, shift: float | None = None, progress: bool = False):
        if num_steps < 1:
            raise ValueError(f"{type(self).__name__}: num_steps must be >= 1, got {num_steps}")
        if shift is not None and not shift > 0:
            raise ValueError(f"{type(self).__name__}: shift must be > 0 (or None for the diffusion's), got {shift}")
        self.num_steps, self.shift, self.progress = num_steps, shift, progress

    @abstractmethod
    def step(self, velocity: Velocity, x: Tensor, t: float, t_next: float) -> Tensor:
        """``x`` at ``t_next`` from ``x`` at ``t``, with ``velocity(x, t)`` the model's ``v`` (one network call)."""

    def time_grid(self, diffusion: RectifiedFlow) -> list[float]:
        """``[t_0 = 1, …, t_N = 0]``, decreasing."""
        shift = diffusion.shift if self.shift is None else self.shift
        return [shift_time(1 - i / self.num_steps, shift) for i in range(self.num_steps + 1)]

    def integrate(self, diffusion: RectifiedFlow, model_fn: ModelFn, x: Tensor, generator: torch.Generator | None,
                  self_condition: bool, observed: Observed | None, progress: bool) -> Tensor:
        """Integrate from the noise ``x`` at ``t = 1`` to a sample at ``t = 0``."""
        times = self.time_grid(diffusion)
        # float64 samples keep float64 times; lower precisions get float32 times (t·1000 in bf16 is too coarse)
        t_dtype = torch.promote_types(x.dtype, torch.float32)
        x_sc = torch.zeros_like(x) if self_condition else None
        if observed is not None:
            z_obs, keep = observed
            noise_obs = x  # at t_0 = 1 the observed frames' straight path starts at their noise

        def velocity(x_t: Tensor, t: float) -> Tensor:
            nonlocal x_sc
            t_model = torch.full((x_t.shape[0],), t, device=x_t.device, dtype=t_dtype)
            if observed is not None:  # every network input, Heun's corrector included, sees them at time t
                x_t = torch.where(keep, diffusion.q_sample(z_obs, t_model, noise_obs), x_t)
            t_model = diffusion.model_time(t_model)
            out = model_fn(x_t, t_model, **({"x_sc": x_sc} if self_condition else {}))
            if self_condition:
                x_sc = diffusion.x0_from_output(out, x_t, t_model)
            return out.to(x_t.dtype)

        for i in tqdm(range(self.num_steps), desc=type(self).__name__, disable=not progress):
            x = self.step(velocity, x, times[i], times[i + 1])
        if observed is not None:
            x = torch.where(keep, z_obs, x)
        return x


@SAMPLERS.register_module()
class Euler(FlowSampler):
    """Euler's method ``x_{t'} = x_t + (t' − t)·v_θ(x_t, t)``: one network call per step (SD3, Open-Sora)."""

    def step(self, velocity: Velocity, x: Tensor, t: float, t_next: float) -> Tensor:
        return torch.add(x, velocity(x, t), alpha=t_next - t)


@SAMPLERS.register_module()
class Heun(FlowSampler):
    """Heun's method (Karras et al. 2022, Alg. 1): an Euler predictor, then the trapezoid of the velocities at both
    ends; the last step (to ``t = 0``) is Euler's, as in Alg. 1, so ``N`` steps cost ``2N − 1`` network calls. The
    default 25 steps cost about what Euler's 50 do."""

    def __init__(self, num_steps: int = 25, shift: float | None = None, progress: bool = False):
        super().__init__(num_steps, shift, progress)

    def step(self, velocity: Velocity, x: Tensor, t: float, t_next: float) -> Tensor:
        v = velocity(x, t)
        x_euler = torch.add(x, v, alpha=t_next - t)
        if t_next == 0:
            return x_euler
        return torch.add(x, v + velocity(x_euler, t_next), alpha=(t_next - t) / 2)
