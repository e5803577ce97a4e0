"""Samplers of the reverse process: ancestral ``DDPM`` (Ho et al. 2020 Alg. 2) and ``DDIM`` (Song et al. 2021
Eq. 12; W.A.L.T samples with 50 DDIM steps, App. A), both with timestep respacing.

A sampler calls ``model_fn(x_t, t, **extra)`` (classifier-free guidance is applied inside ``model_fn``, see
``guidance.py``) with the original timesteps. Options shared by both:

* ``self_condition``: the previous step's ``x̂_0`` is fed as ``x_sc`` (zeros at the first step; W.A.L.T §4.3).
* ``observed=(z, mask)``: frame prediction (W.A.L.T §4.4) — after every step the frames where ``mask`` is 1 are
  replaced by the observed latents ``z`` noised to the next step's level, and by ``z`` itself at the end, so the
  returned sample holds the observed frames exactly.
* ``generator``: a ``torch.Generator`` for the initial noise and every noise draw (seedable sampling).
"""
from __future__ import annotations

import math
from abc import abstractmethod

import torch
from torch import Tensor
from tqdm.auto import tqdm

from registry import SAMPLERS
from walt.diffusion.gaussian_diffusion import GaussianDiffusion
from walt.diffusion.guidance import ModelFn
from walt.diffusion.noise import gaussian_noise
from walt.diffusion.parameterization import x0_eps_coefficients
from walt.diffusion.respacing import space_timesteps
from walt.diffusion.sampler_base import Observed, SamplerBase


class Sampler(SamplerBase):
    """The loop shared by DDPM and DDIM; subclasses define one reverse ``step``. All samples of a batch share the
    timestep, so per-step coefficients are Python floats (few small tensor ops per step: the loop costs little
    next to the network, see ``benchmarks/sampling.py``)."""

    diffusion_kind, instead = GaussianDiffusion, "sample a RectifiedFlow with Euler or Heun"

    def __init__(self, num_steps: int = 50, spacing: str = "trailing", progress: bool = False):
        self.num_steps, self.spacing, self.progress = num_steps, spacing, progress

    @abstractmethod
    def step(self, diffusion: GaussianDiffusion, model_output: Tensor, x: Tensor, i: int,
             generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """One reverse step from index ``i`` of the (respaced) ``diffusion``: ``(x_{i−1}, x̂_0)``."""

    def integrate(self, diffusion: GaussianDiffusion, model_fn: ModelFn, x: Tensor,
                  generator: torch.Generator | None, self_condition: bool, observed: Observed | None,
                  progress: bool) -> Tensor:
        spaced = diffusion.respace(space_timesteps(diffusion.num_timesteps, self.num_steps, self.spacing))
        timesteps = [torch.full((x.shape[0],), int(ts), device=x.device, dtype=torch.long)
                     for ts in spaced.timestep_map]
        if observed is not None:
            z_obs, keep = observed
            x = torch.where(keep, self._noised(spaced, z_obs, spaced.num_timesteps - 1, x), x)
        x_sc = torch.zeros_like(x) if self_condition else None
        indices = range(spaced.num_timesteps - 1, -1, -1)
        for i in tqdm(indices, desc=type(self).__name__, disable=not progress):
            out = model_fn(x, timesteps[i], **({"x_sc": x_sc} if self_condition else {}))
            x, x0 = self.step(spaced, out, x, i, generator)
            if self_condition:
                x_sc = x0
            if observed is not None:
                z_obs_t = self._noised(spaced, z_obs, i - 1, gaussian_noise(x.shape, generator, x.device)) if i > 0 \
                    else z_obs
                x = torch.where(keep, z_obs_t, x)
        return x

    @staticmethod
    def _noised(diffusion: GaussianDiffusion, z: Tensor, i: int, noise: Tensor) -> Tensor:
        """``q(z_i | z)`` at index ``i``: ``α_i z + σ_i ε``."""
        return torch.add(z * float(diffusion.sqrt_alphas_cumprod[i]), noise,
                         alpha=float(diffusion.sqrt_one_minus_alphas_cumprod[i]))


@SAMPLERS.register_module()
class DDPM(Sampler):
    """Ancestral sampling with the model's (learned or fixed) variance (DDPM Alg. 2; improved DDPM respacing)."""

    def __init__(self, num_steps: int = 1000, spacing: str = "trailing", progress: bool = False):
        super().__init__(num_steps, spacing, progress)

    def step(self, diffusion: GaussianDiffusion, model_output: Tensor, x: Tensor, i: int,
             generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        pm = diffusion.p_mean_variance(model_output, x, torch.full((x.shape[0],), i, device=x.device))
        if i == 0:
            return pm["mean"], pm["pred_x0"]
        noise = gaussian_noise(x.shape, generator, x.device)
        return pm["mean"] + torch.exp(0.5 * pm["log_variance"]) * noise, pm["pred_x0"]


@SAMPLERS.register_module()
class DDIM(Sampler):
    """DDIM (Song et al. Eq. 12): ``x_{t−1} = sqrt(ᾱ_{t−1}) x̂_0 + sqrt(1 − ᾱ_{t−1} − σ_t²) ε̂ + σ_t z`` with
    ``σ_t = η·sqrt((1 − ᾱ_{t−1})/(1 − ᾱ_t))·sqrt(1 − ᾱ_t/ᾱ_{t−1})``; ``η = 0`` is deterministic, ``η = 1`` without
    respacing is DDPM with the fixed-small variance. W.A.L.T: 50 steps, η = 0."""

    def __init__(self, num_steps: int = 50, eta: float = 0.0, spacing: str = "trailing", progress: bool = False):
        super().__init__(num_steps, spacing, progress)
        self.eta = eta

    def step(self, diffusion: GaussianDiffusion, model_output: Tensor, x: Tensor, i: int,
             generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        pred, _ = diffusion.split_output(model_output, x)
        pred = pred.to(x.dtype)
        ab, ab_prev = float(diffusion.alphas_cumprod[i]), float(diffusion.alphas_cumprod_prev[i])
        p, q, r, u = x0_eps_coefficients(diffusion.prediction, math.sqrt(ab), math.sqrt(1 - ab))
        sigma = self.eta * math.sqrt((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev))
        c_x0, c_eps = math.sqrt(ab_prev), math.sqrt(max(1 - ab_prev - sigma ** 2, 0.0))
        x0 = torch.add(x * p, pred, alpha=q)
        # x_prev = c_x0·x̂_0 + c_eps·ε̂, both linear in (x_t, pred)
        x_prev = torch.add(x * (c_x0 * p + c_eps * r), pred, alpha=c_x0 * q + c_eps * u)
        if sigma > 0:
            x_prev = torch.add(x_prev, gaussian_noise(x.shape, generator, x.device), alpha=sigma)
        return x_prev, x0
