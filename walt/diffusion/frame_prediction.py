"""Frame-prediction conditioning ``c_fp = concat(m_fp ∘ z, m_fp)`` (W.A.L.T §4.4).

``m_fp`` marks the first 1 (image-to-video) or 2 (video prediction) latent frames as observed. We fill the observed
frames with the clean latents ``z_0`` (the paper's formula writes ``z_t``; conditioning on the noisy frames would
leave the past unknown at high noise, and at sampling the past frames are known exactly). A zero ``c_fp`` is the
null condition: it is what the model sees on the ``1 − p_fp`` of training samples without the task, and what
classifier-free guidance uses.
"""
from __future__ import annotations

import torch
from torch import Tensor

FRAME_PREDICTION_CHOICES = (1, 2)


def check_num_observed(num_observed: int, num_frames: int) -> None:
    """Observed frames must leave at least one latent frame to generate."""
    if not 1 <= num_observed < num_frames:
        raise ValueError(f"frame prediction: {num_observed} observed latent frames for a latent with {num_frames} "
                         f"frames; need 1 <= observed < {num_frames}")


def observed_mask(num_observed: Tensor, num_frames: int) -> Tensor:
    """``m_fp`` of shape ``(B, 1, T, 1, 1)``: 1 on the first ``num_observed[b]`` latent frames of sample ``b``."""
    frames = torch.arange(num_frames, device=num_observed.device)
    return (frames[None] < num_observed[:, None]).float()[:, None, :, None, None]


def frame_prediction_condition(z: Tensor, num_observed: Tensor) -> Tensor:
    """``c_fp = concat(m ∘ z, m)`` of shape ``(B, C + 1, T, H, W)``; all zeros where ``num_observed[b] = 0``."""
    b, _, t, h, w = z.shape
    m = observed_mask(num_observed, t).to(z.dtype).expand(b, 1, t, h, w)
    return torch.cat([m * z, m], dim=1)


def sample_num_observed(batch: int, num_frames: int, prob: float, device: torch.device | str = "cpu",
                        generator: torch.Generator | None = None) -> Tensor:
    """Training draw ``(B,)``: with probability ``prob`` observe 1 or 2 frames (uniformly, among the choices that
    leave a frame to predict), otherwise 0 (no frame prediction)."""
    choices = torch.tensor([k for k in FRAME_PREDICTION_CHOICES if k < num_frames], device=device)
    if prob <= 0 or choices.numel() == 0:
        return torch.zeros(batch, dtype=torch.long, device=device)
    pick = choices[torch.randint(len(choices), (batch,), generator=generator, device=device)]
    apply = torch.rand(batch, generator=generator, device=device) < prob
    return torch.where(apply, pick, torch.zeros_like(pick))
