"""Tiny random instances of the five diffusers video VAEs (walt/models/autoencoders/diffusers_video_vae.py): the
released architectures with the widths divided (``WIDTH_SCALE``) and one or two blocks per level, built from a
config with ``from_config`` and saved with ``save_pretrained`` (nothing downloaded). Used by
``benchmarks/vae_encode.py --diffusers`` and by tests/test_diffusers_video_vae.py.

Every tiny model keeps its class's latent scaling (non-trivial ``scaling_factor`` / ``latents_mean`` / ``latents_std``)
and temporal grid; spatial factors are 4 or 8 so that 32² clips stay small.
"""
from __future__ import annotations

from pathlib import Path

import diffusers
import torch

# name -> (diffusers class, tiny config, released first-level width / tiny first-level width)
TINY: dict[str, tuple[str, dict, int]] = {
    # CogVideoX: sample_height / width set the default tiles (half of them, 48×40), whose overlaps are whole latents
    "cogvideox": ("AutoencoderKLCogVideoX", dict(
        block_out_channels=(8, 8, 16), latent_channels=4, layers_per_block=1, norm_num_groups=4,
        temporal_compression_ratio=4, down_block_types=("CogVideoXDownBlock3D",) * 3,
        up_block_types=("CogVideoXUpBlock3D",) * 3, scaling_factor=1.15258426, sample_height=96,
        sample_width=80),
        128 // 8),
    "wan": ("AutoencoderKLWan", dict(
        base_dim=8, z_dim=4, dim_mult=[1, 1, 2], num_res_blocks=1, temperal_downsample=[True, True],
        latents_mean=[0.1, -0.2, 0.3, 0.05], latents_std=[1.5, 0.5, 2.0, 1.2], scale_factor_spatial=4),
        96 // 8),
    "hunyuanvideo": ("AutoencoderKLHunyuanVideo", dict(
        block_out_channels=(8, 8, 16), latent_channels=4, layers_per_block=1, norm_num_groups=4,
        down_block_types=("HunyuanVideoDownBlock3D",) * 3, up_block_types=("HunyuanVideoUpBlock3D",) * 3,
        spatial_compression_ratio=4, temporal_compression_ratio=4), 128 // 8),
    "ltx": ("AutoencoderKLLTXVideo", dict(
        latent_channels=8, block_out_channels=(8, 8, 16), decoder_block_out_channels=(8, 8, 16),
        down_block_types=("LTXVideoDownBlock3D",) * 3, layers_per_block=(1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1), spatio_temporal_scaling=(True, True, False),
        decoder_spatio_temporal_scaling=(True, True, False), decoder_inject_noise=(False,) * 4,
        downsample_type=("conv",) * 3, upsample_residual=(False,) * 3, upsample_factor=(1,) * 3, patch_size=2),
        128 // 8),
    "mochi": ("AutoencoderKLMochi", dict(
        encoder_block_out_channels=(32, 32), decoder_block_out_channels=(32, 32), latent_channels=4,
        layers_per_block=(1, 1, 1), temporal_expansions=(2,), spatial_expansions=(2,),
        add_attention_block=(False, False, False), latents_mean=(0.1, -0.1, 0.2, 0.0),
        latents_std=(0.9, 1.1, 1.3, 0.8), scaling_factor=1.3), 64 // 32),
}


def build_tiny(name: str, seed: int = 0) -> torch.nn.Module:
    """The tiny random diffusers VAE ``name`` (LTX-Video's latent statistics are buffers: set to non-trivial values)."""
    cls_name, config, _ = TINY[name]
    torch.manual_seed(seed)
    vae = getattr(diffusers, cls_name).from_config(config).eval()
    if name == "ltx":
        c = config["latent_channels"]
        vae.latents_mean.copy_(torch.linspace(-0.3, 0.3, c))
        vae.latents_std.copy_(torch.linspace(0.5, 1.5, c))
    return vae


def save_tiny(name: str, folder: str | Path, seed: int = 0) -> Path:
    """``save_pretrained`` of :func:`build_tiny` into ``folder``; returns it."""
    build_tiny(name, seed).save_pretrained(str(folder))
    return Path(folder)
