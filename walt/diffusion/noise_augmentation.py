"""Noise-conditioning augmentation of the low-resolution input of a super-resolution stage (W.A.L.T §4.5;
Imagen / cascaded diffusion): ``z_lr`` is noised with the same schedule to a level ``t_sr ~ U{0, …, t_max}``, and
``t_sr`` is given to the denoiser (embedded and added to the AdaLN-LoRA conditioning)."""
from __future__ import annotations

import torch
from torch import Tensor

from walt.diffusion.gaussian_diffusion import GaussianDiffusion
from walt.diffusion.samplers import gaussian_noise


def noise_augment(diffusion: GaussianDiffusion, z_lr: Tensor, t_sr: Tensor,
                  generator: torch.Generator | None = None) -> Tensor:
    """``z_lr`` noised by the forward process to the timesteps ``t_sr`` ``(B,)``: a draw of ``q(z_lr,t_sr | z_lr)``."""
    noise = gaussian_noise(z_lr.shape, generator, z_lr.device).to(z_lr.dtype)
    return diffusion.q_sample(z_lr, t_sr, noise)


def sample_noise_level(batch: int, t_max: int, num_timesteps: int, device: torch.device | str = "cpu",
                       generator: torch.Generator | None = None) -> Tensor:
    """Training draw ``t_sr ~ U{0, …, t_max}`` ``(B,)``."""
    if not 0 <= t_max < num_timesteps:
        raise ValueError(f"sr_noise_t_max must be in [0, {num_timesteps - 1}], got {t_max}")
    return torch.randint(0, t_max + 1, (batch,), generator=generator, device=device)
