"""Autoregressive long-video generation with a frame-prediction model (W.A.L.T §4.4, §5.2 "Qualitative results").

Each new chunk is sampled conditioned on the last generated frames: the last ``1 + (k−1)·f_t`` pixel frames are
re-encoded into ``k`` latent frames with the causal autoencoder (W.A.L.T: the last 5 frames → 2 latent frames,
``f_t = 4``); with a per-frame or identity autoencoder, the last ``k`` frames. The chunk's decoded frames that
re-create that context are dropped and the rest appended.
"""
from __future__ import annotations

import torch
from torch import Tensor

from walt.models.generative.latent_diffusion import LatentDiffusion


def context_frames(model: LatentDiffusion, num_observed: int) -> int:
    """Pixel frames that encode to ``num_observed`` latent frames."""
    ae = model.autoencoder
    return 1 + (num_observed - 1) * ae.temporal_factor if ae.causal else num_observed * ae.temporal_factor


@torch.no_grad()
def extend_video(model: LatentDiffusion, video: Tensor, num_chunks: int = 1, num_observed: int = 2,
                 **sample_kwargs) -> Tensor:
    """``video (B, 3, T, H, W)`` in ``[-1, 1]`` extended by ``num_chunks`` sampled chunks (pixels, same range).

    ``sample_kwargs`` go to :meth:`LatentDiffusion.sample` (``steps``, ``cfg_scale``, ``generator``, ``y``,
    ``prompts``). A class-conditional model needs ``y``, the classes of ``video``: every chunk continues its
    video's class (without it each chunk would draw a class of its own)."""
    if video.dim() != 5 or video.shape[1] != 3:
        raise ValueError(f"extend_video: expected pixels (B, 3, T, H, W), got shape {tuple(video.shape)}")
    n = context_frames(model, num_observed)
    if video.shape[2] < n:
        raise ValueError(f"extend_video: {num_observed} observed latent frames need the last {n} pixel frames, the "
                         f"video has {video.shape[2]}")
    if getattr(model, "num_classes", None) is not None and sample_kwargs.get("y") is None:
        raise ValueError(f"extend_video: the model is class-conditional (num_classes={model.num_classes}); pass y, "
                         f"the class of each of the {video.shape[0]} videos, so that every chunk continues it")
    for _ in range(num_chunks):
        cond_latent = model.autoencoder.encode(video[:, :, -n:].to(model.device)).float()
        chunk = model.sample(video.shape[0], cond_latent=cond_latent, decode=True, **sample_kwargs)
        video = torch.cat([video, chunk[:, :, n:].to(video)], dim=2)
    return video
