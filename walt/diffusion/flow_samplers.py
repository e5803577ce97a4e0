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

from abc import ABC, abstractmethod
from typing import Callable

import torch
from torch import Tensor
from tqdm.auto import tqdm

from registry import SAMPLERS
from walt.diffusion.guidance import ModelFn
from walt.diffusion.rectified_flow import RectifiedFlow, shift_time
from walt.diffusion.noise import gaussian_noise

Velocity = Callable[[Tensor, float], Tensor]


class FlowSampler(ABC):
    """The loop shared by the ODE samplers; subclasses define one ``step`` from ``t`` to ``t_next``."""

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

    @torch.inference_mode()
    def sample(self, diffusion: RectifiedFlow, model_fn: ModelFn, shape: tuple[int, ...], *,
               generator: torch.Generator | None = None, device: torch.device | str = "cpu",
               noise: Tensor | None = None, self_condition: bool = False,
               observed: tuple[Tensor, Tensor] | None = None, progress: bool | None = None) -> Tensor:
        """Integrate from ``noise`` (or Gaussian noise from ``generator``) at ``t = 1`` to a sample at ``t = 0``."""
        if not isinstance(diffusion, RectifiedFlow):
            raise ValueError(f"sampler {type(self).__name__} integrates a RectifiedFlow ODE, got a "
                             f"{type(diffusion).__name__} diffusion (sample it with DDIM or DDPM)")
        times = self.time_grid(diffusion)
        x = gaussian_noise(shape, generator, device) if noise is None else noise.to(device)
        # float64 samples keep float64 times; lower precisions get float32 times (t·1000 in bf16 is too coarse)
        t_dtype = torch.promote_types(x.dtype, torch.float32)
        x_sc = torch.zeros_like(x) if self_condition else None
        if observed is not None:
            # a dense bool mask: torch.where with a broadcast (B, 1, T, 1, 1) mask is several times slower
            z_obs, keep = observed[0].to(x), observed[1].to(device).bool().expand(x.shape).contiguous()
            noise_obs = x  # at t_0 = 1 the observed frames' straight path starts at their noise

        def velocity(x_t: Tensor, t: float) -> Tensor:
            nonlocal x_sc
            t_model = torch.full((shape[0],), t, device=device, dtype=t_dtype)
            if observed is not None:  # every network input, Heun's corrector included, sees them at time t
                x_t = torch.where(keep, diffusion.q_sample(z_obs, t_model, noise_obs), x_t)
            t_model = diffusion.model_time(t_model)
            out = model_fn(x_t, t_model, **({"x_sc": x_sc} if self_condition else {}))
            if self_condition:
                x_sc = diffusion.x0_from_output(out, x_t, t_model)
            return out.to(x_t.dtype)

        show = self.progress if progress is None else progress
        for i in tqdm(range(self.num_steps), desc=type(self).__name__, disable=not show):
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
