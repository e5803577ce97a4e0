"""The W.A.L.T causal 3-D CNN autoencoder (W.A.L.T §4.1 and App. A: "the causal 3D CNN encoder-decoder architecture
of the MAGVIT-v2 tokenizer"; latents real-valued and quantization-free).

``1 + T`` frames of ``H × W`` map to ``1 + T/f_t`` latent frames of ``H/f_s × W/f_s × c``; the default
(``f_s = 8``, ``f_t = 4``, ``c = 8``) turns a 17×128×128 clip into 5×16×16×8. Every convolution is causal in time,
so the first frame is encoded (and decoded) on its own and an image is a one-frame video.

Quantization-free latents: MAGVIT-v2 quantizes with LFQ; W.A.L.T keeps the latents real-valued. We regularise them
with a diagonal-Gaussian posterior and a small KL term (the LDM "KL-reg" autoencoder): ``encode`` returns the
posterior mean unless ``sample=True``.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from registry import AUTOENCODERS
from walt.models.meta import building_on_meta
from walt.models.autoencoders.causal_conv import (CausalConv3d, CausalDownsample3d, CausalResBlock3d,
                                                  CausalUpsample3d, FrameGroupNorm)

LOGVAR_RANGE = (-30.0, 20.0)


class DiagonalGaussian:
    """Posterior ``N(mean, exp(logvar))`` over the latents, with the KL divergence to ``N(0, I)``."""

    def __init__(self, moments: Tensor):
        self.mean, logvar = moments.chunk(2, dim=1)
        self.logvar = logvar.clamp(*LOGVAR_RANGE)

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        noise = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + torch.exp(0.5 * self.logvar) * noise

    def kl(self) -> Tensor:
        """KL(q || N(0, I)) summed over every latent element except the batch: ``(B,)``."""
        kl = 0.5 * (self.mean.square() + self.logvar.exp() - 1.0 - self.logvar)
        return kl.flatten(1).sum(1)


class CausalEncoder3d(nn.Module):
    """conv_in → per level: ``num_res_blocks`` residual blocks then a strided causal downsample → middle blocks →
    norm, SiLU, 1×1×1 conv to the ``2c`` posterior moments."""

    def __init__(self, latent_channels: int, base_channels: int, channel_multipliers: Sequence[int],
                 num_res_blocks: int, temporal_downsample: Sequence[bool], num_mid_blocks: int, num_groups: int,
                 pad_mode: str):
        super().__init__()
        self.conv_in = CausalConv3d(3, base_channels, 3, pad_mode=pad_mode)
        layers: list[nn.Module] = []
        ch = base_channels
        for i, mult in enumerate(channel_multipliers):
            for _ in range(num_res_blocks):
                layers.append(CausalResBlock3d(ch, base_channels * mult, num_groups, pad_mode))
                ch = base_channels * mult
            if i < len(channel_multipliers) - 1:
                layers.append(CausalDownsample3d(ch, ch, temporal_downsample[i], pad_mode))
        layers += [CausalResBlock3d(ch, ch, num_groups, pad_mode) for _ in range(num_mid_blocks)]
        self.blocks = nn.Sequential(*layers)
        self.norm_out = FrameGroupNorm(min(num_groups, ch), ch)
        self.conv_out = nn.Conv3d(ch, 2 * latent_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv_out(F.silu(self.norm_out(self.blocks(self.conv_in(x)))))


class CausalDecoder3d(nn.Module):
    """Mirror of the encoder: conv_in → middle blocks → per level (top first): residual blocks then a causal
    depth-to-space upsample → norm, SiLU, causal conv to RGB."""

    def __init__(self, latent_channels: int, base_channels: int, channel_multipliers: Sequence[int],
                 num_res_blocks: int, temporal_downsample: Sequence[bool], num_mid_blocks: int, num_groups: int,
                 pad_mode: str):
        super().__init__()
        ch = base_channels * channel_multipliers[-1]
        self.conv_in = CausalConv3d(latent_channels, ch, 3, pad_mode=pad_mode)
        layers: list[nn.Module] = [CausalResBlock3d(ch, ch, num_groups, pad_mode) for _ in range(num_mid_blocks)]
        for i in reversed(range(len(channel_multipliers))):
            for _ in range(num_res_blocks):
                layers.append(CausalResBlock3d(ch, base_channels * channel_multipliers[i], num_groups, pad_mode))
                ch = base_channels * channel_multipliers[i]
            if i > 0:
                layers.append(CausalUpsample3d(ch, ch, temporal_downsample[i - 1], pad_mode))
        self.blocks = nn.Sequential(*layers)
        self.norm_out = FrameGroupNorm(min(num_groups, ch), ch)
        self.conv_out = CausalConv3d(ch, 3, 3, pad_mode=pad_mode)

    def forward(self, z: Tensor) -> Tensor:
        return self.conv_out(F.silu(self.norm_out(self.blocks(self.conv_in(z)))))


@AUTOENCODERS.register_module()
class CausalVAE3D(nn.Module):
    """W.A.L.T §4.1 causal 3-D CNN VAE (MAGVIT-v2 layout: base 128 channels, multipliers (1, 2, 2, 4), 4 residual
    blocks per level, temporal downsampling in the last two downsamples → ``f_s = 8``, ``f_t = 4``, ``c = 8``).

    ``pretrained``: a local file holding this model's ``state_dict``, a walt trainer checkpoint of
    ``AutoencoderTraining`` (its ``model`` weights under ``autoencoder.``) or that trainer's work dir.
    ``chunk_size`` bounds memory by encoding/decoding that many clips at a time.
    """

    causal = True

    def __init__(self, latent_channels: int = 8, base_channels: int = 128,
                 channel_multipliers: Sequence[int] = (1, 2, 2, 4), num_res_blocks: int = 4,
                 temporal_downsample: Sequence[bool] = (False, True, True), num_mid_blocks: int = 2,
                 num_groups: int = 32, pad_mode: str = "replicate", sample_posterior: bool = False,
                 chunk_size: int | None = None, pretrained: str | None = None):
        super().__init__()
        if len(temporal_downsample) != len(channel_multipliers) - 1:
            raise ValueError(f"CausalVAE3D: temporal_downsample needs {len(channel_multipliers) - 1} entries (one per "
                             f"downsample), got {tuple(temporal_downsample)}")
        self.latent_channels = latent_channels
        self.spatial_factor = 2 ** (len(channel_multipliers) - 1)
        self.temporal_factor = 2 ** sum(bool(t) for t in temporal_downsample)
        self.sample_posterior = sample_posterior
        self.chunk_size = chunk_size
        args = (latent_channels, base_channels, tuple(channel_multipliers), num_res_blocks,
                tuple(bool(t) for t in temporal_downsample), num_mid_blocks, num_groups, pad_mode)
        self.encoder = CausalEncoder3d(*args)
        self.decoder = CausalDecoder3d(*args)
        if pretrained is not None and not building_on_meta():
            self.load_pretrained(pretrained)

    # ------------------------------------------------------------------ shapes
    def latent_grid(self, t: int, h: int, w: int) -> tuple[int, int, int]:
        """``(1 + T, H, W) -> (1 + T/f_t, H/f_s, W/f_s)``."""
        if (t - 1) % self.temporal_factor or h % self.spatial_factor or w % self.spatial_factor:
            raise ValueError(f"CausalVAE3D: frames T={t} must be 1 + a multiple of {self.temporal_factor} and "
                             f"H={h}, W={w} multiples of {self.spatial_factor}")
        return 1 + (t - 1) // self.temporal_factor, h // self.spatial_factor, w // self.spatial_factor

    def pixel_grid(self, t: int, h: int, w: int) -> tuple[int, int, int]:
        """Inverse of :meth:`latent_grid`."""
        return 1 + (t - 1) * self.temporal_factor, h * self.spatial_factor, w * self.spatial_factor

    # ------------------------------------------------------------------ encode / decode
    def encode_posterior(self, x: Tensor) -> DiagonalGaussian:
        """The diagonal-Gaussian posterior ``q(z | x)`` of pixels ``x (B, 3, T, H, W)`` in ``[-1, 1]``."""
        if x.ndim != 5 or x.shape[1] != 3:
            raise ValueError(f"CausalVAE3D.encode: expected pixels (B, 3, T, H, W), got shape {tuple(x.shape)}")
        self.latent_grid(*x.shape[2:])
        return DiagonalGaussian(self._chunked(self.encoder, x))

    def encode(self, x: Tensor, sample: bool | None = None, generator: torch.Generator | None = None) -> Tensor:
        """Latents ``(B, c, 1 + T/f_t, H/f_s, W/f_s)``: the posterior mean, or a sample when ``sample`` (default:
        the ``sample_posterior`` setting)."""
        posterior = self.encode_posterior(x)
        use_sample = self.sample_posterior if sample is None else sample
        return posterior.sample(generator) if use_sample else posterior.mean

    def decode(self, z: Tensor) -> Tensor:
        """Pixels ``(B, 3, 1 + f_t·(t-1), f_s·h, f_s·w)`` from latents ``z (B, c, t, h, w)``."""
        if z.ndim != 5 or z.shape[1] != self.latent_channels:
            raise ValueError(f"CausalVAE3D.decode: expected latents (B, {self.latent_channels}, t, h, w), "
                             f"got shape {tuple(z.shape)}")
        return self._chunked(self.decoder, z)

    def forward(self, x: Tensor) -> Tensor:
        """Reconstruction through the posterior mean."""
        return self.decode(self.encode(x, sample=False))

    def _chunked(self, net: nn.Module, x: Tensor) -> Tensor:
        if self.chunk_size is None or x.shape[0] <= self.chunk_size:
            return net(x)
        return torch.cat([net(part) for part in x.split(self.chunk_size)], dim=0)

    # ------------------------------------------------------------------ weights
    def load_pretrained(self, path: str | Path) -> None:
        """Load weights from ``path``: a state dict, a trainer checkpoint whose ``model`` holds an
        ``AutoencoderTraining`` with this model under ``autoencoder.``, or a trainer work dir (its ``latest``)."""
        path = Path(path)
        if path.is_dir() and (path / "latest").is_file():  # a trainer work dir: its `latest` names the checkpoint
            path = path / (path / "latest").read_text().strip()
        if not path.is_file():
            raise FileNotFoundError(f"CausalVAE3D: pretrained checkpoint {path} does not exist")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
            state = state["model"]
        prefix = "autoencoder."
        if any(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        missing, unexpected = self.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise KeyError(f"CausalVAE3D: checkpoint {path} does not match the architecture; missing "
                           f"{missing[:5]}{'...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}")

    @property
    def last_layer(self) -> nn.Parameter:
        """The decoder's output weight (where VQ-GAN's adaptive adversarial weight compares gradient norms)."""
        return self.decoder.conv_out.conv.weight

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def kl_per_pixel(posterior: DiagonalGaussian, pixels: Tensor) -> Tensor:
    """Mean over the batch of KL summed over latents, divided by the pixel elements per clip: the LDM KL-reg
    normalisation (``weight · KL_sum / #pixels`` next to a per-element reconstruction loss)."""
    return posterior.kl().mean() / math.prod(pixels.shape[1:])
