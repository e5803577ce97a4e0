"""The latent side of a latent diffusion model: the frozen autoencoder, the per-channel latent normalization
(W.A.L.T Table 3e) and how a training batch becomes normalized latents (batch keys of docs/architecture.md):
``video`` pixels or cached ``latent``\\ s, LAVITA's ``image_mask``, W.A.L.T's joint image stacks (``images``), and
the low-resolution input of a super-resolution stage (``lowres_latent`` / ``lowres_video``, plus ``lowres_images``
for the image stacks of joint training)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from walt.models.autoencoders.latent_norm import LatentNorm


class LatentCodec(nn.Module):
    """Frozen ``autoencoder`` + optional ``latent_norm`` for clips of pixel size ``video_size`` ``(T, H, W)``."""

    def __init__(self, autoencoder: nn.Module, latent_norm: LatentNorm | None, video_size: tuple[int, int, int]):
        super().__init__()
        self.autoencoder = autoencoder.requires_grad_(False).eval()
        self.latent_norm = latent_norm
        self.video_size = video_size

    def train(self, mode: bool = True) -> "LatentCodec":
        super().train(mode)
        self.autoencoder.eval()  # frozen: never in training mode
        return self

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @torch.no_grad()
    def encode(self, video: Tensor) -> Tensor:
        """Normalized latents of pixels ``(B, 3, T, H, W)`` in ``[-1, 1]``."""
        return self.normalize(self.autoencoder.encode(video.to(self.device)).float())

    def normalize(self, z: Tensor) -> Tensor:
        return self.latent_norm.normalize(z) if self.latent_norm is not None else z

    def denormalize(self, z: Tensor) -> Tensor:
        return self.latent_norm.denormalize(z) if self.latent_norm is not None else z

    def latent_size(self) -> tuple[int, int, int]:
        """Latent ``(t, h, w)`` of ``video_size``."""
        return tuple(self.autoencoder.latent_grid(*self.video_size))

    def sample_shape(self, num: int, lowres: Tensor | None = None) -> tuple[int, ...]:
        """Latent ``(num, c, t, h, w)`` to sample: of ``video_size``, or twice the size of a ``lowres`` latent."""
        c = self.autoencoder.latent_channels
        if lowres is None:
            return (num, c, *self.latent_size())
        if lowres.dim() != 5 or lowres.shape[:2] != (num, c):
            raise ValueError(f"LatentDiffusion.sample: lowres must be ({num}, {c}, t, h/2, w/2), got "
                             f"{tuple(lowres.shape)}")
        return num, c, lowres.shape[2], lowres.shape[3] * 2, lowres.shape[4] * 2

    def training_latents(self, batch: dict) -> tuple[Tensor, Tensor | None]:
        """Normalized latents ``(B, c, t, h, w)`` and the latent ``image_mask`` (or ``None``) of a batch."""
        if "latent" in batch:
            z = self.normalize(batch["latent"].to(self.device).float())
        elif "video" in batch:
            z = self.encode(batch["video"])
        else:
            raise KeyError(f"LatentDiffusion: the batch needs 'video' or 'latent', got keys {sorted(batch)}")
        image_mask = batch.get("image_mask")
        if image_mask is not None:
            if "video" in batch and self.autoencoder.temporal_factor != 1:
                raise ValueError("LatentDiffusion: 'image_mask' on pixel frames needs a per-frame autoencoder "
                                 f"(temporal_factor 1), got temporal_factor {self.autoencoder.temporal_factor}")
            image_mask = image_mask.to(self.device).bool()
            if tuple(image_mask.shape) != (z.shape[0], z.shape[2]):
                raise ValueError(f"LatentDiffusion: image_mask has shape {tuple(image_mask.shape)}, expected "
                                 f"{(z.shape[0], z.shape[2])} for latents {tuple(z.shape)}")
        if "images" in batch:
            z, image_mask = self._append_images(z, image_mask, batch["images"])
        return z, image_mask

    def _append_images(self, z: Tensor, image_mask: Tensor | None, images: Tensor) -> tuple[Tensor, Tensor]:
        """W.A.L.T §4.2 joint training: stacks of ``K`` images encoded one frame at a time join the batch."""
        zi = self._encode_stacks(images, z, "images")
        video_mask = image_mask if image_mask is not None else z.new_zeros(z.shape[0], z.shape[2], dtype=torch.bool)
        return torch.cat([z, zi]), torch.cat([video_mask, video_mask.new_ones(zi.shape[0], z.shape[2])])

    def _encode_stacks(self, images: Tensor, z: Tensor, key: str) -> Tensor:
        """Stacks of ``K`` images ``(n, 3, K, H, W)`` encoded one frame at a time, ``(n, c, K, h, w)``, checked to
        match the video latents ``z`` in everything but the batch."""
        n, c, k, h, w = images.shape
        zi = self.encode(images.transpose(1, 2).reshape(n * k, c, 1, h, w))
        zi = zi.view(n, k, *zi.shape[1:]).squeeze(3).transpose(1, 2)
        if zi.shape[1:] != z.shape[1:]:
            raise ValueError(f"LatentDiffusion: {key!r} {tuple(images.shape)} encode to {tuple(zi.shape)}, which "
                             f"does not match the video latents {tuple(z.shape)} (K must be the latent frame count)")
        return zi

    def lowres_latent(self, batch: dict, z: Tensor) -> Tensor:
        """The normalized low-resolution latent of a super-resolution batch, checked against ``z``; in joint
        training the image stacks' low-resolution copies (``lowres_images``) follow the videos', as in ``z``."""
        if "lowres_latent" in batch:
            z_lr = self.normalize(batch["lowres_latent"].to(self.device).float())
        elif "lowres_video" in batch:
            z_lr = self.encode(batch["lowres_video"])
        else:
            raise KeyError("LatentDiffusion(super_resolution=True) needs 'lowres_latent' (unnormalized latents) or "
                           f"'lowres_video' (pixels) in the batch, got keys {sorted(batch)}")
        if "images" in batch:
            if "lowres_images" not in batch:
                raise KeyError("LatentDiffusion(super_resolution=True): a batch with image stacks ('images') needs "
                               "their low-resolution copies 'lowres_images' (SuperResolutionPairs adds them)")
            z_lr = torch.cat([z_lr, self._encode_stacks(batch["lowres_images"], z_lr, "lowres_images")])
        expected = (z.shape[0], z.shape[1], z.shape[2], z.shape[3] // 2, z.shape[4] // 2)
        if tuple(z_lr.shape) != expected:
            raise ValueError(f"LatentDiffusion: low-resolution latent has shape {tuple(z_lr.shape)}, expected "
                             f"{expected} (half the spatial size of {tuple(z.shape)})")
        return z_lr
