"""The public causal 3-D video VAEs of diffusers behind walt's autoencoder contract: CogVideoX, Wan 2.1, HunyuanVideo,
LTX-Video and Mochi (diffusers ``AutoencoderKLCogVideoX``, ``AutoencoderKLWan``, ``AutoencoderKLHunyuanVideo``,
``AutoencoderKLLTXVideo``, ``AutoencoderKLMochi``). Used in place of W.A.L.T's unreleased tokenizer (W.A.L.T §4.1),
the way Open-Sora 2.0 trains on the HunyuanVideo VAE and finetrainers on CogVideoX latents.

``encode`` returns the posterior mode (or a sample) *scaled as the model's own diffusers pipeline scales it*, and
``decode`` undoes that scaling before ``vae.decode`` (the inverse of what each pipeline does before decoding):

=============  ==============================================  ======================================
class          pipeline scaling (encode direction)             where mean / std / factor live
=============  ==============================================  ======================================
CogVideoX      ``z * scaling_factor``                          config (``pipeline_cogvideox.py``)
Wan            ``(z - latents_mean) / latents_std``            config (``pipeline_wan.py``)
HunyuanVideo   ``z * scaling_factor``                          config (``pipeline_hunyuan_video.py``)
LTX-Video      ``(z - mean) * scaling_factor / std``           the VAE's buffers (``pipeline_ltx.py``)
Mochi          ``(z - mean) * scaling_factor / std``           config; ``z * scaling_factor`` without
=============  ==============================================  ======================================

walt's per-channel latent normalization (``latent_norm``, statistics written by ``tools/encode_latents.py`` from these
scaled latents) is applied once more by ``LatentDiffusion`` on top; ``pipeline_scaling=False`` hands out the raw
posterior instead, so that walt's normalization is the only one. Each is applied exactly once on the way in and
undone once on the way out.

Frames must lie on the model's temporal grid ``1 + m·k`` (``m``: the temporal factor, or the frame chunk the
diffusers code encodes / decodes at once: 8 for CogVideoX, whose decoder takes latent frames in pairs); anything
else is one ``ValueError`` naming the grid (diffusers itself would silently drop frames).
"""
from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from registry import AUTOENCODERS
from walt.models.meta import building_on_meta

SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")


@dataclass(frozen=True)
class VideoVAESpec:
    """What differs between the supported classes: how the factors follow from the config, how the pipeline scales
    latents, and whether tiling is on by default (memory: see docs/video_vaes.md)."""

    spatial: Callable[[nn.Module], int]
    temporal: Callable[[nn.Module], int]
    frame_multiple: Callable[[nn.Module, int], int]  # (vae, temporal factor) -> m of the 1 + m·k frame grid
    stats: str | None  # where latents_mean / latents_std come from: "config", "buffers" or None
    use_scaling_factor: bool
    tiling: bool


def _cogvideox_temporal(vae: nn.Module) -> int:
    # CogVideoXDownBlock3D i compresses time while i < log2(ratio), and only blocks before the last downsample
    return 2 ** min(int(math.log2(vae.config.temporal_compression_ratio)), len(vae.config.block_out_channels) - 1)


VIDEO_VAES: dict[str, VideoVAESpec] = {
    "AutoencoderKLCogVideoX": VideoVAESpec(
        spatial=lambda v: 2 ** (len(v.config.block_out_channels) - 1), temporal=_cogvideox_temporal,
        frame_multiple=lambda v, tf: tf * v.num_latent_frames_batch_size, stats=None, use_scaling_factor=True,
        tiling=True),
    "AutoencoderKLWan": VideoVAESpec(
        spatial=lambda v: 2 ** len(v.config.temperal_downsample) * (v.config.patch_size or 1),
        temporal=lambda v: 2 ** sum(map(bool, v.config.temperal_downsample)),
        frame_multiple=lambda v, tf: math.lcm(4, tf),  # AutoencoderKLWan._encode takes the frames 4 at a time
        stats="config", use_scaling_factor=False, tiling=False),
    "AutoencoderKLHunyuanVideo": VideoVAESpec(
        spatial=lambda v: v.spatial_compression_ratio, temporal=lambda v: v.temporal_compression_ratio,
        frame_multiple=lambda v, tf: tf, stats=None, use_scaling_factor=True, tiling=True),
    "AutoencoderKLLTXVideo": VideoVAESpec(
        spatial=lambda v: v.spatial_compression_ratio, temporal=lambda v: v.temporal_compression_ratio,
        frame_multiple=lambda v, tf: tf, stats="buffers", use_scaling_factor=True, tiling=False),
    "AutoencoderKLMochi": VideoVAESpec(
        spatial=lambda v: v.spatial_compression_ratio, temporal=lambda v: v.temporal_compression_ratio,
        frame_multiple=lambda v, tf: tf, stats="config", use_scaling_factor=True, tiling=True),
}


@AUTOENCODERS.register_module()
class DiffusersVideoVAE(nn.Module):
    """A public causal video VAE of diffusers (the classes of :data:`VIDEO_VAES`) on ``(B, 3, T, H, W)`` pixels in
    ``[-1, 1]``, frozen, with the latent scaling of its pipeline.

    ``pretrained``: a local diffusers folder (``save_pretrained``; a pipeline folder with ``vae/`` works too) or one
    weights file for the classes diffusers loads with ``from_single_file`` (Wan, LTX-Video); the architecture of a
    single file is ``config``: a local folder holding its diffusers ``config.json``, or a dict of keys over the
    class defaults (which are the released Wan 2.1 / LTX-Video 0.9 VAEs). ``pretrained=None`` builds ``config`` with
    random weights. ``model``: the diffusers class name, checked against the folder (default: the folder's).
    ``tiling``: ``None`` = the model's default (on for CogVideoX, HunyuanVideo, Mochi), a bool, or a dict of
    ``enable_tiling`` keywords (tile sizes); ``slicing``: one clip of a batch at a time (diffusers' switch).
    ``decode_timestep`` / ``decode_noise_scale``: LTX-Video's timestep-conditioned decoder (0.9.1+), as its pipeline.
    """

    causal = True  # every supported class maps 1 + m·k frames to 1 + (m/f_t)·k latent frames

    def __init__(self, pretrained: str | None = None, model: str | None = None, config: dict | str | None = None,
                 tiling: bool | dict | None = None, slicing: bool = True, sample_posterior: bool = False,
                 pipeline_scaling: bool = True, decode_timestep: float = 0.0,
                 decode_noise_scale: float | None = None):
        super().__init__()
        if model is not None and model not in VIDEO_VAES:
            raise ValueError(f"DiffusersVideoVAE: model {model!r} is not supported; supported: {', '.join(VIDEO_VAES)}")
        self.vae, self.model = load_video_vae(pretrained, model, config)
        spec = VIDEO_VAES[self.model]
        cfg = self.vae.config
        self.latent_channels = cfg.get("latent_channels", cfg.get("z_dim"))
        self.spatial_factor, self.temporal_factor = spec.spatial(self.vae), spec.temporal(self.vae)
        self.frame_multiple = spec.frame_multiple(self.vae, self.temporal_factor)
        self.sample_posterior, self.pipeline_scaling = sample_posterior, pipeline_scaling
        self.decode_timestep = decode_timestep
        self.decode_noise_scale = decode_timestep if decode_noise_scale is None else decode_noise_scale
        mean, std = _pipeline_stats(self.vae, spec, self.latent_channels)
        self.register_buffer("latents_mean", mean.view(1, -1, 1, 1, 1), persistent=False)
        self.register_buffer("latents_std", std.view(1, -1, 1, 1, 1), persistent=False)
        self.scaling_factor = float(cfg.get("scaling_factor", 1.0)) if spec.use_scaling_factor else 1.0
        self.vae.use_slicing = slicing
        tiling = spec.tiling if tiling is None else tiling
        self.tiling = tiling
        if tiling:
            self.vae.enable_tiling(**(tiling if isinstance(tiling, dict) else {}))
        self.vae.requires_grad_(False).eval()

    # ------------------------------------------------------------------ shapes
    def latent_grid(self, t: int, h: int, w: int) -> tuple[int, int, int]:
        """``(1 + m·k, H, W) -> (1 + (T - 1)/f_t, H/f_s, W/f_s)``."""
        m, fs = self.frame_multiple, self.spatial_factor
        if (t - 1) % m or t < 1 or h % fs or w % fs:
            raise ValueError(f"DiffusersVideoVAE({self.model}): a clip of {t}x{h}x{w} (frames x H x W) is off its "
                             f"grid: frames must be 1 + {m}k (e.g. {1 + m}, {1 + 2 * m}, {1 + 4 * m}) and H, W "
                             f"multiples of {fs}")
        return 1 + (t - 1) // self.temporal_factor, h // fs, w // fs

    def pixel_grid(self, t: int, h: int, w: int) -> tuple[int, int, int]:
        """Inverse of :meth:`latent_grid`: what ``decode`` returns for a ``(t, h, w)`` latent."""
        step = self.frame_multiple // self.temporal_factor
        if (t - 1) % step or t < 1:
            raise ValueError(f"DiffusersVideoVAE({self.model}): {t} latent frames are off its grid 1 + {step}k "
                             f"(pixel frames 1 + {self.frame_multiple}k)")
        return 1 + (t - 1) * self.temporal_factor, h * self.spatial_factor, w * self.spatial_factor

    # ------------------------------------------------------------------ scaling
    def scale(self, z: Tensor) -> Tensor:
        """Raw posterior latents -> the pipeline's latents (identity with ``pipeline_scaling=False``)."""
        if not self.pipeline_scaling:
            return z
        return (z - self.latents_mean.to(z)) * self.scaling_factor / self.latents_std.to(z)

    def unscale(self, z: Tensor) -> Tensor:
        """Inverse of :meth:`scale` (the pipelines' step before ``vae.decode``)."""
        if not self.pipeline_scaling:
            return z
        return z * self.latents_std.to(z) / self.scaling_factor + self.latents_mean.to(z)

    # ------------------------------------------------------------------ encode / decode
    def encode(self, x: Tensor, sample: bool | None = None, generator: torch.Generator | None = None) -> Tensor:
        """Pixels ``(B, 3, T, H, W)`` in ``[-1, 1]`` -> scaled latents ``(B, c, t, h, w)``: the posterior mode, or
        a sample when ``sample`` (default: ``sample_posterior``)."""
        if x.ndim != 5 or x.shape[1] != 3:
            raise ValueError(f"DiffusersVideoVAE.encode: expected pixels (B, 3, T, H, W), got shape {tuple(x.shape)}")
        grid = self.latent_grid(*x.shape[2:])
        posterior = self.vae.encode(x.to(self._dtype)).latent_dist
        use_sample = self.sample_posterior if sample is None else sample
        z = posterior.sample(generator) if use_sample else posterior.mode()
        self._check_shape(z, (self.latent_channels, *grid), "encode")
        return self.scale(z)

    def decode(self, z: Tensor) -> Tensor:
        """Scaled latents ``(B, c, t, h, w)`` -> pixels ``(B, 3, T, H, W)`` in ``[-1, 1]``."""
        if z.ndim != 5 or z.shape[1] != self.latent_channels:
            raise ValueError(f"DiffusersVideoVAE.decode: expected latents (B, {self.latent_channels}, t, h, w), "
                             f"got shape {tuple(z.shape)}")
        expected = (3, *self.pixel_grid(*z.shape[2:]))
        z = self.unscale(z).to(self._dtype)
        if not self.vae.config.get("timestep_conditioning", False):
            x = self.vae.decode(z).sample
        else:  # LTX-Video 0.9.1+ (pipeline_ltx.py): the decoder is told a small timestep and sees that much noise
            temb = torch.full((z.shape[0],), self.decode_timestep, device=z.device, dtype=z.dtype)
            if self.decode_noise_scale:
                z = (1 - self.decode_noise_scale) * z + self.decode_noise_scale * torch.randn_like(z)
            x = self.vae.decode(z, temb).sample
        self._check_shape(x, expected, "decode")
        return x

    def _check_shape(self, out: Tensor, expected: tuple[int, ...], what: str) -> None:
        # diffusers' tiled paths return a wrong size, silently, when the tile overlaps do not divide evenly
        if tuple(out.shape[1:]) != expected:
            raise ValueError(f"DiffusersVideoVAE({self.model}).{what}: diffusers returned {tuple(out.shape[1:])}, "
                             f"expected {expected}; with tiling on, choose tile sizes whose overlaps are whole "
                             f"latents (tiling={self.tiling})")

    @property
    def _dtype(self) -> torch.dtype:
        return next(self.vae.parameters()).dtype  # diffusers' ModelMixin.dtype walks every parameter on each call

    def forward(self, x: Tensor) -> Tensor:
        """Reconstruction through the posterior mode (what ``tools/flops.py --component autoencoder`` counts)."""
        return self.decode(self.encode(x, sample=False))

    def train(self, mode: bool = True) -> "DiffusersVideoVAE":
        super().train(mode)
        self.vae.eval()  # frozen public weights: never in training mode
        return self


# ====================================================================================================================
# loading
# ====================================================================================================================
def load_video_vae(pretrained: str | None, model: str | None, config: dict | str | None) -> tuple[nn.Module, str]:
    """The diffusers VAE and its class name: from a local folder, a single weights file, or ``config`` (random
    weights). Under ``with torch.device("meta")`` only the architecture is built and no weights file is read."""
    import diffusers  # here, not at the top: importing diffusers takes seconds in every walt process

    if pretrained is None or Path(pretrained).suffix in SINGLE_FILE_SUFFIXES:
        if model is None:
            raise ValueError("DiffusersVideoVAE: 'model' (the diffusers class name) is needed without a diffusers "
                             f"folder; one of {', '.join(VIDEO_VAES)}")
        cls = getattr(diffusers, model)
        if pretrained is None or building_on_meta():
            return cls.from_config(_architecture(cls, model, config)), model
        return _load_single_file(cls, model, pretrained, config), model
    if config is not None:
        raise ValueError("DiffusersVideoVAE: 'config' only applies to a single weights file or pretrained=None; a "
                         f"diffusers folder ({pretrained}) carries its own config.json")
    found = _find_vae_dir(pretrained)
    if found is None and model is not None and building_on_meta():  # structure only: the released architecture
        return getattr(diffusers, model).from_config({"_class_name": model}), model
    if found is None:
        raise FileNotFoundError(f"DiffusersVideoVAE: {pretrained} is not a local diffusers VAE folder (no config.json "
                                f"in it or in its vae/)")
    folder_class = json.loads((found / "config.json").read_text()).get("_class_name")
    if folder_class not in VIDEO_VAES or (model is not None and folder_class != model):
        wanted = model or f"one of {', '.join(VIDEO_VAES)}"
        raise ValueError(f"DiffusersVideoVAE: {found} holds a diffusers {folder_class}, not {wanted}"
                         + (f" (set model={folder_class!r})" if folder_class in VIDEO_VAES else ""))
    cls = getattr(diffusers, folder_class)
    if building_on_meta():
        return cls.from_config(cls.load_config(found)), folder_class
    return cls.from_pretrained(found, local_files_only=True), folder_class


def _architecture(cls: type, model: str, config: dict | str | None) -> dict:
    """The class config: a local folder's ``config.json`` (``config`` a path) or the class defaults plus ``config``."""
    if isinstance(config, str):
        found = _find_vae_dir(config)
        if found is None:
            raise FileNotFoundError(f"DiffusersVideoVAE: config {config} is not a folder holding a diffusers "
                                    f"config.json (or vae/config.json)")
        return dict(cls.load_config(found))
    return {"_class_name": model, **(config or {})}


def _load_single_file(cls: type, model: str, path: str, config: dict | str | None) -> nn.Module:
    """diffusers' ``from_single_file`` with a local architecture (offline: it would fetch one from the hub)."""
    from diffusers.loaders.single_file_model import SINGLE_FILE_LOADABLE_CLASSES

    if model not in SINGLE_FILE_LOADABLE_CLASSES:
        loadable = ", ".join(m for m in VIDEO_VAES if m in SINGLE_FILE_LOADABLE_CLASSES)
        raise ValueError(f"DiffusersVideoVAE: diffusers has no single-file loader for {model} (it has one for "
                         f"{loadable}); pass its diffusers folder instead of {path}")
    if not Path(path).is_file():
        raise FileNotFoundError(f"DiffusersVideoVAE: weights file {path} does not exist")
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "config.json").write_text(json.dumps(_architecture(cls, model, config)))
        return cls.from_single_file(path, config=folder, local_files_only=True)


def _find_vae_dir(path: str) -> Path | None:
    """A local diffusers VAE folder: ``path`` itself or its ``vae/`` (a pipeline folder)."""
    for folder in (Path(path), Path(path) / "vae"):
        if (folder / "config.json").is_file():
            return folder
    return None


def _pipeline_stats(vae: nn.Module, spec: VideoVAESpec, channels: int) -> tuple[Tensor, Tensor]:
    """``latents_mean`` / ``latents_std`` as the pipeline reads them (zeros / ones where it reads none)."""
    mean, std = torch.zeros(channels), torch.ones(channels)
    if spec.stats == "buffers":
        mean, std = vae.latents_mean.detach().clone().float(), vae.latents_std.detach().clone().float()
    elif spec.stats == "config" and vae.config.get("latents_mean") is not None \
            and vae.config.get("latents_std") is not None:
        mean = torch.tensor(vae.config.latents_mean, dtype=torch.float32)
        std = torch.tensor(vae.config.latents_std, dtype=torch.float32)
    if mean.numel() != channels or std.numel() != channels:
        raise ValueError(f"DiffusersVideoVAE: latents_mean / latents_std have {mean.numel()} / {std.numel()} entries "
                         f"for {channels} latent channels")
    return mean, std
