"""The protocol every member of ``SAMPLERS`` keeps (walt/diffusion/__init__.py): ``sample(diffusion, model_fn,
shape, *, generator, device, noise, self_condition, observed, progress)``. The base draws the initial noise, checks
that the diffusion is of the kind the sampler integrates, and lays out the observed frames of frame prediction;
each family (``samplers.py``: DDPM / DDIM; ``flow_samplers.py``: Euler / Heun; ``scheduler_samplers.py``: diffusers'
DPM-Solver++ / UniPC / DDIM) writes its loop in ``integrate``."""
from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor

from walt.diffusion.guidance import ModelFn
from walt.diffusion.noise import gaussian_noise

# Observed latent frames of frame prediction: the clean latents and a dense bool mask of x's shape (torch.where
# with a broadcast (B, 1, T, 1, 1) mask is several times slower).
Observed = tuple[Tensor, Tensor]


class SamplerBase(ABC):
    """``diffusion_kind``: the diffusion class the sampler integrates; ``instead``: what to use for other kinds."""

    diffusion_kind: type | tuple[type, ...]
    instead: str

    @torch.inference_mode()
    def sample(self, diffusion: object, model_fn: ModelFn, shape: tuple[int, ...], *,
               generator: torch.Generator | None = None, device: torch.device | str = "cpu",
               noise: Tensor | None = None, self_condition: bool = False,
               observed: tuple[Tensor, Tensor] | None = None, progress: bool | None = None) -> Tensor:
        """Samples of ``shape`` from ``noise`` (or Gaussian noise from ``generator``); ``observed=(z, mask)``: frames
        held at ``z`` (frame prediction, W.A.L.T §4.4)."""
        if not isinstance(diffusion, self.diffusion_kind):
            kinds = self.diffusion_kind if isinstance(self.diffusion_kind, tuple) else (self.diffusion_kind,)
            raise ValueError(f"sampler {type(self).__name__} samples a {' or '.join(k.__name__ for k in kinds)}, got "
                             f"a {type(diffusion).__name__} diffusion ({self.instead})")
        x = gaussian_noise(shape, generator, device) if noise is None else noise.to(device)
        held = None
        if observed is not None:
            held = observed[0].to(x), observed[1].to(device).bool().expand(x.shape).contiguous()
        show = self.progress if progress is None else progress
        return self.integrate(diffusion, model_fn, x, generator, self_condition, held, show)

    @abstractmethod
    def integrate(self, diffusion: object, model_fn: ModelFn, x: Tensor, generator: torch.Generator | None,
                  self_condition: bool, observed: Observed | None, progress: bool) -> Tensor:
        """The sampling loop from the initial noise ``x``."""
