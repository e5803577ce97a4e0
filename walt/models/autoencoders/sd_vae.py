"""Per-frame 2-D VAE of Stable Diffusion (LAVITA §3: "a pre-trained variational autoencoder" encodes every frame;
the SD latent scale 0.18215), wrapped to the walt autoencoder contract with ``(B, C, T, H, W)`` tensors.

Weights come only from local files: a directory written by diffusers' ``save_pretrained`` (a pipeline directory
with a ``vae/`` subfolder works too), or a single ``.safetensors`` / ``.ckpt`` / ``.pt`` file — the original
(CompVis/LDM) layout, alone or inside a whole Stable Diffusion checkpoint (``first_stage_model.`` keys), or the
diffusers layout. A single file stores no architecture: it is SD's (``config`` overrides keys). diffusers'
``AutoencoderKL.from_single_file`` works offline only when given a local config folder (it fetches one from the hub
otherwise), so the LDM keys are converted here with diffusers' own ``convert_ldm_vae_checkpoint``, which needs none.
``pretrained=None`` builds the SD-VAE architecture randomly initialised. Frames are encoded and decoded
independently, ``chunk_size`` frames at a time, to bound memory.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from einops import rearrange
from safetensors.torch import load_file
from torch import Tensor, nn

from registry import AUTOENCODERS
from walt.models.meta import building_on_meta

if TYPE_CHECKING:
    from diffusers import AutoencoderKL

SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
# The architecture of the SD 1.x / 2.x VAE (diffusers' AutoencoderKL defaults with the SD block widths).
SD_VAE_CONFIG = dict(
    in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, norm_num_groups=32, sample_size=256,
    block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
)


@AUTOENCODERS.register_module()
class SDVAE(nn.Module):
    """LAVITA §3 per-frame autoencoder: diffusers ``AutoencoderKL`` (SD layout), latents scaled by 0.18215,
    ``f_s = 8``, ``f_t = 1``, 4 channels. ``config`` overrides architecture keys when building without weights or
    from a single file."""

    # Every frame is encoded alone, so the first one is too (images and video frames share the latent space).
    causal = True
    temporal_factor = 1

    def __init__(self, pretrained: str | None = None, scale_factor: float = 0.18215, chunk_size: int = 16,
                 sample_posterior: bool = False, config: dict | None = None):
        super().__init__()
        if chunk_size < 1:
            raise ValueError(f"SDVAE: chunk_size must be >= 1, got {chunk_size}")
        single_file = pretrained is not None and Path(pretrained).suffix in SINGLE_FILE_SUFFIXES
        if pretrained is not None and config and not single_file:
            raise ValueError("SDVAE: 'config' only applies when building without 'pretrained' weights or from a "
                             "single weights file")
        architecture = {**SD_VAE_CONFIG, **(config or {})}
        from diffusers import AutoencoderKL  # here, not at the top: importing diffusers takes seconds

        if pretrained is None or (single_file and building_on_meta()):
            self.vae = AutoencoderKL(**architecture)
        elif single_file:
            self.vae = load_single_file(pretrained, architecture)
        elif building_on_meta():  # structure only: the directory's architecture if it is here, else SD's
            found = _find_vae_dir(pretrained)
            self.vae = AutoencoderKL.from_config(AutoencoderKL.load_config(**found)) if found \
                else AutoencoderKL(**SD_VAE_CONFIG)
        else:
            found = _find_vae_dir(pretrained)
            if found is None:
                raise FileNotFoundError(f"SDVAE: {pretrained} is not a local diffusers AutoencoderKL directory (no "
                                        f"config.json in it or in its vae/); pass a directory written by "
                                        f"save_pretrained")
            self.vae = AutoencoderKL.from_pretrained(**found, local_files_only=True)
        self.scale_factor = scale_factor
        self.chunk_size = chunk_size
        self.sample_posterior = sample_posterior
        self.latent_channels = self.vae.config.latent_channels
        self.spatial_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)

    def latent_grid(self, t: int, h: int, w: int) -> tuple[int, int, int]:
        if h % self.spatial_factor or w % self.spatial_factor:
            raise ValueError(f"SDVAE: H={h}, W={w} must be multiples of {self.spatial_factor}")
        return t, h // self.spatial_factor, w // self.spatial_factor

    def forward(self, x: Tensor) -> Tensor:
        """Reconstruction through the posterior mean (what ``tools/flops.py --component autoencoder`` counts)."""
        return self.decode(self.encode(x, sample=False))

    def encode(self, x: Tensor, sample: bool | None = None, generator: torch.Generator | None = None) -> Tensor:
        """Pixels ``(B, 3, T, H, W)`` in ``[-1, 1]`` → scaled latents ``(B, 4, T, H/8, W/8)`` (posterior mean unless
        ``sample``)."""
        if x.ndim != 5 or x.shape[1] != 3:
            raise ValueError(f"SDVAE.encode: expected pixels (B, 3, T, H, W), got shape {tuple(x.shape)}")
        self.latent_grid(*x.shape[2:])
        use_sample = self.sample_posterior if sample is None else sample
        frames = rearrange(x, "b c t h w -> (b t) c h w")
        latents = []
        for chunk in frames.split(self.chunk_size):
            dist = self.vae.encode(chunk).latent_dist
            latents.append(dist.sample(generator) if use_sample else dist.mean)
        z = torch.cat(latents) * self.scale_factor
        return rearrange(z, "(b t) c h w -> b c t h w", b=x.shape[0])

    def decode(self, z: Tensor) -> Tensor:
        """Scaled latents ``(B, 4, T, h, w)`` → pixels ``(B, 3, T, 8h, 8w)``."""
        if z.ndim != 5 or z.shape[1] != self.latent_channels:
            raise ValueError(f"SDVAE.decode: expected latents (B, {self.latent_channels}, T, h, w), "
                             f"got shape {tuple(z.shape)}")
        frames = rearrange(z, "b c t h w -> (b t) c h w") / self.scale_factor
        x = torch.cat([self.vae.decode(chunk).sample for chunk in frames.split(self.chunk_size)])
        return rearrange(x, "(b t) c h w -> b c t h w", b=z.shape[0])


def load_single_file(path: str, architecture: dict) -> AutoencoderKL:
    """An ``AutoencoderKL`` of ``architecture`` with the weights of one file, in the LDM or the diffusers layout."""
    from diffusers import AutoencoderKL
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    if not Path(path).is_file():
        raise FileNotFoundError(f"SDVAE: {path} is not a file")
    if Path(path).suffix == ".safetensors":
        sd = load_file(path)
    else:
        sd = torch.load(path, map_location="cpu", weights_only=True)
        sd = sd.get("state_dict", sd)
    vae = AutoencoderKL(**architecture)
    if not any(k.startswith("encoder.down_blocks.") for k in sd):  # the original layout (maybe a whole SD file)
        sd = convert_ldm_vae_checkpoint(sd, architecture)
    result = vae.load_state_dict(sd, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(f"SDVAE: {path} does not hold an AutoencoderKL of the SD architecture {architecture}: "
                         f"missing {result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}")
    return vae


def _find_vae_dir(path: str) -> dict | None:
    """``from_pretrained`` arguments for a local VAE directory or a pipeline directory holding ``vae/``."""
    root = Path(path)
    if (root / "config.json").is_file():
        return dict(pretrained_model_name_or_path=str(root))
    if (root / "vae" / "config.json").is_file():
        return dict(pretrained_model_name_or_path=str(root), subfolder="vae")
    return None
