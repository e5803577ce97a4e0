"""Building a config's model, and what a latent diffusion model derives for its backbone.

Configs state only choices (DESIGN: "configs never carry derived shapes"): the backbone's latent channels and size
come from the autoencoder and ``video_size``, its output channels from the diffusion (learned Σ doubles them), its
extra input channels from the task switches, its text width from the text encoder (:func:`backbone_args`).
:func:`build_model` is the one way a config becomes a model (trainer, tools, tests); :func:`build_backbone` gives
a config's backbone exactly as training builds it (on the meta device by default: structure only, any size).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from registry import BACKBONES, MODELS


def backbone_args(autoencoder: nn.Module, diffusion: Any, video_size: Sequence[int], text_dim: int | None,
                  self_condition: bool, frame_prediction: bool, super_resolution: bool) -> dict[str, Any]:
    """The keyword arguments a backbone is offered (it takes those its class has)."""
    return dict(in_channels=autoencoder.latent_channels, input_size=tuple(autoencoder.latent_grid(*video_size)),
                learn_sigma=diffusion.learn_sigma, text_dim=text_dim, self_condition=self_condition,
                frame_prediction=frame_prediction, super_resolution=super_resolution)


def build_model(cfg: Any) -> nn.Module:
    """``cfg.model``, offered the data-side ``cfg.latent_norm`` (the statistics of the dataset's latents, set by the
    ``_base_/data`` file; W.A.L.T §5.2) unless the model config sets its own. ``model.lora`` (LoRA fine-tuning
    adapters) is not part of the model: the trainer and the tools add the adapters to the loaded base weights
    (:mod:`walt.engine.lora_run`)."""
    return MODELS.build(without_lora(cfg["model"]), default_args=dict(latent_norm=cfg.get("latent_norm")))


def without_lora(model_cfg: dict) -> dict:
    """``cfg.model`` without its ``lora`` key (the adapters' settings, read by :mod:`walt.engine.lora_run`)."""
    return {key: value for key, value in model_cfg.items() if key != "lora"}


def build_backbone(model_cfg: dict, device: torch.device | str = "meta") -> nn.Module:
    """The backbone of the latent diffusion model ``model_cfg`` (``cfg.model``), built on ``device``."""
    model_cfg = without_lora(model_cfg)
    with torch.device("meta"):
        model = MODELS.build(model_cfg)
    if torch.device(device).type == "meta":
        return model.backbone
    with torch.device(device):
        return BACKBONES.build(model_cfg["backbone"], default_args=model.backbone_args)
