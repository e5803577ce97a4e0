"""The latent diffusion model of both papers: what ``tools/train.py`` trains and ``tools/sample.py`` samples.

A frozen autoencoder maps pixels to latents (W.A.L.T §4.1, LAVITA §3), the latents are normalized per channel
(W.A.L.T Table 3e "latent norm"), and a denoiser backbone is trained with a diffusion (``DIFFUSIONS``: any member
of the protocol in ``walt/diffusion/__init__.py``). The task switches of W.A.L.T §4.3–4.5 live here:

* self-conditioning (§4.3): with probability ``self_condition_prob`` per sample, a no-grad first pass gives
  ``x̃_0``, fed to the second pass as the extra channels ``x_sc``;
* condition dropout for classifier-free guidance (``conditions.py``), drawn per clip and, in joint image–video
  training, once more per clip for its image frames' own labels / captions (``image_frame_dropout``;
  ``frame_conditions.py``);
* frame prediction (§4.4): with probability ``frame_prediction_prob`` per sample, ``c_fp = concat(m∘z, m)`` with 1
  or 2 observed latent frames;
* super-resolution (§4.5): the low-resolution latent (``latents.py``) is noise-augmented to a level
  ``t_sr ~ U{0, …, sr_noise_t_max}`` and given as ``x_lr``.

What the backbone is built for (latent channels and size, learned Σ, extra inputs, text width) is derived here
(``build.py``), never stated in a config.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from registry import AUTOENCODERS, BACKBONES, DIFFUSIONS, MODELS, SAMPLERS, TEXT_ENCODERS
from walt.diffusion.frame_prediction import (check_num_observed, frame_prediction_condition, observed_mask,
                                             sample_num_observed)
from walt.diffusion.guidance import classifier_free_guidance
from walt.diffusion.noise_augmentation import sample_noise_level
from walt.models.autoencoders.latent_norm import LatentNorm
from walt.models.conditioning.conditions import Conditions
from walt.models.generative.build import backbone_args
from walt.models.generative.conditions import NULL_TEXTS, sampling_conditions
from walt.models.generative.frame_conditions import training_conditions
from walt.models.generative.inference import InferenceBackbone, check_compile
from walt.models.generative.latents import LatentCodec
from walt.models.generative.step_cache import TeaCache, build_cache, step_cache

IMAGE_FRAME_DROPOUTS = ("per_clip", "per_frame")


@MODELS.register_module()
class LatentDiffusion(LatentCodec):
    """Latent video diffusion (W.A.L.T §3–4, LAVITA §3): backbone + diffusion + frozen autoencoder/text encoder.

    ``video_size``: pixel ``(T, H, W)`` of the clips (the latent grid the backbone is built for follows from the
    autoencoder). ``latent_norm``: ``None``, ``dict(stats="latent_stats.json")`` or ``dict(mean=[...], std=[...])``.
    ``text_dim``: the width of cached text embeddings when there is no ``text_encoder``. ``null_text``: what dropped
    text is (``conditions.py``; ``"empty_prompt"`` needs a ``text_encoder``). ``image_frame_dropout``: in joint
    image–video training, the condition dropout of the image frames' own labels / captions is drawn once per clip
    for all its images (``"per_clip"``, the public Latte image-joint code) or once per image frame
    (``"per_frame"``), independently of the clip's own draw. W.A.L.T defaults:
    ``self_condition_prob=0.9`` (§5.3 Table 3c); ``sr_noise_t_max`` is not stated in the paper (we take 250 of 1000).
    """

    def __init__(self, backbone: dict, video_size: Sequence[int], diffusion: dict | None = None,
                 autoencoder: dict | None = None, text_encoder: dict | None = None, latent_norm: dict | None = None,
                 text_dim: int | None = None, null_text: str = "zeros", self_condition_prob: float = 0.9,
                 cond_dropout_prob: float = 0.1, image_frame_dropout: str = "per_clip",
                 frame_prediction_prob: float = 0.0, super_resolution: bool = False, sr_noise_t_max: int = 250):
        for name, p in dict(self_condition_prob=self_condition_prob, cond_dropout_prob=cond_dropout_prob,
                            frame_prediction_prob=frame_prediction_prob).items():
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"LatentDiffusion: {name} must be in [0, 1], got {p}")
        if video_size is None or len(video_size) != 3:
            raise ValueError(f"LatentDiffusion: video_size must be the pixel (T, H, W) of the clips, got {video_size}")
        autoencoder = AUTOENCODERS.build(dict(autoencoder or dict(type="IdentityAutoencoder")))
        norm = LatentNorm.from_config(latent_norm, autoencoder.latent_channels) if latent_norm else None
        super().__init__(autoencoder, norm, tuple(int(v) for v in video_size))
        self.diffusion = DIFFUSIONS.build(dict(diffusion or dict(type="GaussianDiffusion")),
                                          default_args=dict(latent_size=self.latent_size()))
        self.text_encoder = TEXT_ENCODERS.build(dict(text_encoder)) if text_encoder else None
        if null_text not in NULL_TEXTS or (null_text == "empty_prompt" and self.text_encoder is None):
            raise ValueError(f"LatentDiffusion: null_text must be one of {NULL_TEXTS} ('empty_prompt' needs a "
                             f"text_encoder), got {null_text!r}")
        self.null_text = null_text
        if image_frame_dropout not in IMAGE_FRAME_DROPOUTS:
            raise ValueError(f"LatentDiffusion: image_frame_dropout must be one of {IMAGE_FRAME_DROPOUTS}, got "
                             f"{image_frame_dropout!r}")
        self.self_condition_prob, self.cond_dropout_prob = self_condition_prob, cond_dropout_prob
        self.image_frame_dropout = image_frame_dropout
        self.frame_prediction_prob, self.super_resolution = frame_prediction_prob, super_resolution
        self.sr_noise_t_max = sr_noise_t_max
        if not 0 <= sr_noise_t_max < self.diffusion.num_timesteps:
            raise ValueError(f"LatentDiffusion: sr_noise_t_max must be in [0, {self.diffusion.num_timesteps - 1}], "
                             f"got {sr_noise_t_max}")
        self.backbone_args = backbone_args(
            self.autoencoder, self.diffusion, self.video_size,
            self.text_encoder.dim if self.text_encoder is not None else text_dim,
            self_condition=self_condition_prob > 0, frame_prediction=frame_prediction_prob > 0,
            super_resolution=super_resolution)
        stated = sorted(set(backbone) & set(self.backbone_args))
        if stated:
            raise ValueError(f"LatentDiffusion: model.backbone sets {', '.join(stated)}, which the model derives "
                             f"(from the autoencoder, video_size, the diffusion, the task probabilities and the text "
                             f"encoder); remove {'it' if len(stated) == 1 else 'them'} from the config")
        self.backbone = BACKBONES.build(dict(backbone), default_args=self.backbone_args)
        self.num_classes: int | None = getattr(self.backbone, "num_classes", None)
        self.text_inputs: tuple[str, ...] = self.backbone.text_inputs

    # ===========================================================================================================
    # training
    # ===========================================================================================================
    def forward(self, batch: dict) -> dict[str, Tensor]:
        """Training loss ``loss`` (scalar) plus logged scalars (``mse``, ``vlb`` with learned Σ, task rates)."""
        z, image_mask = self.training_latents(batch)
        b, device = z.shape[0], z.device
        cond = training_conditions(batch, b, image_mask, self.num_classes, self.text_inputs, self.text_encoder,
                                   device)
        if self.cond_dropout_prob > 0 and not cond.empty:
            drop = torch.rand(b, device=device) < self.cond_dropout_prob
            cond = cond.dropped(drop, self.num_classes, self._image_frame_drop(cond, image_mask),
                                self._empty_prompt())
        cond = cond.replace(image_mask=image_mask)
        logs: dict[str, Tensor] = {}
        if self.frame_prediction_prob > 0:
            k = sample_num_observed(b, z.shape[2], self.frame_prediction_prob, device)
            if image_mask is not None:  # a stack of independent images has no past frames
                k = torch.where(image_mask.any(dim=1), torch.zeros_like(k), k)
            cond = cond.replace(x_fp=frame_prediction_condition(z, k))
            logs["frame_prediction_rate"] = (k > 0).float().mean()
        if self.super_resolution:
            z_lr = self.lowres_latent(batch, z)
            t_sr = sample_noise_level(b, self.sr_noise_t_max, self.diffusion.num_timesteps, device)
            cond = cond.replace(x_lr=self.diffusion.augment(z_lr, t_sr), t_sr=t_sr)
        t = self.diffusion.sample_t(b, device)
        losses = self.diffusion.training_losses(self._self_conditioned_backbone, z, t, model_kwargs=dict(cond=cond))
        return {k: v.mean() for k, v in losses.items()} | logs

    def _image_frame_drop(self, cond: Conditions, image_mask: Tensor | None) -> Tensor | None:
        """The dropout draws of the image frames' own labels / captions ``(B, T)`` (``None`` without them): one per
        clip for all its images (``image_frame_dropout="per_clip"``, as ``latte_img.py`` embeds each clip's image
        labels as one row of its label-dropout draw), or one per image frame (``"per_frame"``); independent of the
        clip's own draw either way."""
        if not cond.per_frame:
            return None
        shape = image_mask.shape if self.image_frame_dropout == "per_frame" else (image_mask.shape[0], 1)
        return (torch.rand(shape, device=image_mask.device) < self.cond_dropout_prob).expand(image_mask.shape)

    def _self_conditioned_backbone(self, x_t: Tensor, t: Tensor, cond: Conditions) -> Tensor:
        """W.A.L.T §4.3: ``f(z_t; stopgrad(z̃_0), c, t)`` with ``z̃_0 = f(z_t; 0, c, t)`` on a ``p_sc`` share of the
        samples, ``f(z_t; 0, c, t)`` on the rest."""
        if self.self_condition_prob == 0:
            return self.backbone(x_t, t, cond)
        x_sc = torch.zeros_like(x_t)
        use = torch.rand(x_t.shape[0], device=x_t.device) < self.self_condition_prob
        if use.any():
            with torch.no_grad():
                x0 = self.diffusion.x0_from_output(self.backbone(x_t, t, cond.replace(x_sc=x_sc)), x_t, t)
            x_sc = torch.where(use.view(-1, 1, 1, 1, 1), x0.to(x_t.dtype), x_sc)
        return self.backbone(x_t, t, cond.replace(x_sc=x_sc))

    # ===========================================================================================================
    # sampling
    # ===========================================================================================================
    @torch.inference_mode()
    def sample(self, num: int, *, y: Tensor | Sequence[int] | int | None = None, prompts: Sequence[str] | None = None,
               text: dict[str, Tensor] | None = None, steps: int = 50, cfg_scale: float = 1.0,
               sampler: object | dict | None = None, generator: torch.Generator | None = None, decode: bool = True,
               progress: bool = False, cond_latent: Tensor | None = None, lowres: Tensor | None = None,
               t_sr: int = 0, compile: bool | str = False, cache: TeaCache | dict | str | None = None) -> Tensor:
        """``num`` videos ``(num, 3, T, H, W)`` in ``[-1, 1]`` (unnormalized latents with ``decode=False``).

        ``y``: class labels (random ones from ``generator`` when omitted for a class-conditional model).
        ``prompts`` (encoded by the text encoder) or ``text=dict(tokens, mask, pooled)`` (cached embeddings).
        ``sampler``: a sampler or a ``SAMPLERS`` config (default: the diffusion's, with ``steps`` steps).
        ``cond_latent``: observed first latent frames ``(num, c, k, h, w)`` (unnormalized; frame prediction, §4.4);
        they are copied exactly into the result. ``lowres``: the previous stage's latent ``(num, c, t, h/2, w/2)``
        (unnormalized; super-resolution, §4.5), noise-augmented to level ``t_sr``.
        ``cfg_scale`` guides every condition the model was trained to drop (labels / text with
        ``cond_dropout_prob > 0``; ``c_fp`` with ``0 < frame_prediction_prob < 1``, null = zero ``c_fp``).
        ``compile``: the backbone through a frozen-weight inductor compile (``inference.py``; kept for the next call
        while the weights do not change). ``cache``: a step cache (``step_cache.py``: an instance, whose ``skipped``
        / ``calls`` count this run, or a ``STEP_CACHES`` config / name)."""
        device = self.device
        shape = self.sample_shape(num, lowres)
        cond = sampling_conditions(num, y, prompts, text, generator, self.num_classes, self.text_inputs,
                                   self.text_encoder, device)
        # the null condition: what the model was trained to drop (labels / text, c_fp), the condition elsewhere
        null = cond
        if self.cond_dropout_prob > 0:
            null = cond.dropped(torch.ones(num, dtype=torch.bool, device=device), self.num_classes,
                                null_text=self._empty_prompt())
        observed = None
        if cond_latent is not None:
            observed, c_fp = self._observed(cond_latent.to(device).float(), shape)
            cond = cond.replace(x_fp=c_fp)
            null = null.replace(x_fp=torch.zeros_like(c_fp) if self.frame_prediction_prob < 1 else c_fp)
        if lowres is not None:  # unguided: the same low-res latent in both halves of a guided batch
            t_lr = torch.full((num,), t_sr, device=device)
            x_lr = self.diffusion.augment(self.normalize(lowres.to(device).float()), t_lr, generator)
            cond, null = cond.replace(x_lr=x_lr, t_sr=t_lr), null.replace(x_lr=x_lr, t_sr=t_lr)
        elif self.super_resolution:
            raise ValueError("LatentDiffusion(super_resolution=True).sample needs lowres=(num, c, t, h/2, w/2)")
        self._check_guidance(cfg_scale, cond_latent is not None)
        if sampler is None:
            sampler = self.diffusion.default_sampler(steps)
        elif isinstance(sampler, dict):
            sampler = SAMPLERS.build(dict(sampler), default_args=dict(num_steps=steps))
        network = self._inference_backbone(compile)
        with step_cache(build_cache(cache), self.backbone):
            z = sampler.sample(self.diffusion, classifier_free_guidance(network, cond, null, cfg_scale), shape,
                               generator=generator, device=device, self_condition=self.self_condition_prob > 0,
                               observed=observed, progress=progress)
        z = self.denormalize(z)
        if cond_latent is not None:
            z[:, :, :cond_latent.shape[2]] = cond_latent.to(z)
        return self.autoencoder.decode(z).float().clamp(-1.0, 1.0) if decode else z

    def _inference_backbone(self, compile: bool | str) -> InferenceBackbone:
        """The backbone as sampling calls it: eager inference or its inference compile, one runner per mode built
        once (eager sampling between two compiled runs does not cost a recompile; switching compile modes does,
        ``InferenceBackbone``), kept off the module tree so that the state dict is unchanged."""
        runners = self.__dict__.setdefault("_inference_runners", {})
        mode = check_compile(compile)
        if mode not in runners:
            runners[mode] = InferenceBackbone(self.backbone, mode)
        return runners[mode]

    def _empty_prompt(self) -> dict[str, Tensor] | None:
        """The text encoder's encoding of ``""`` when dropped text is the empty prompt (``null_text``), else None."""
        if self.null_text != "empty_prompt" or not self.text_inputs:
            return None
        return self.text_encoder([""])

    def _observed(self, cond_latent: Tensor, shape: tuple[int, ...]) -> tuple[tuple[Tensor, Tensor], Tensor]:
        """``((z_obs, mask), c_fp)`` for observed first frames ``cond_latent``."""
        if self.frame_prediction_prob == 0:
            raise ValueError("LatentDiffusion.sample: cond_latent needs a model trained with frame_prediction_prob > 0")
        num, c, t, h, w = shape
        if cond_latent.dim() != 5 or cond_latent.shape[:2] != (num, c) or cond_latent.shape[3:] != (h, w):
            raise ValueError(f"LatentDiffusion.sample: cond_latent must be ({num}, {c}, k, {h}, {w}), got "
                             f"{tuple(cond_latent.shape)}")
        k = cond_latent.shape[2]
        check_num_observed(k, t)
        z_obs = torch.zeros(shape, device=cond_latent.device)
        z_obs[:, :, :k] = self.normalize(cond_latent)
        num_observed = torch.full((num,), k, device=cond_latent.device)
        return (z_obs, observed_mask(num_observed, t)), frame_prediction_condition(z_obs, num_observed)

    def _check_guidance(self, cfg_scale: float, frame_prediction: bool) -> None:
        """A ValueError when ``cfg_scale != 1`` has no null condition the model was trained on."""
        guided_fp = frame_prediction and self.frame_prediction_prob < 1
        conditional = self.num_classes is not None or bool(self.text_inputs)
        if cfg_scale != 1.0 and not ((conditional and self.cond_dropout_prob > 0) or guided_fp):
            raise ValueError(
                f"LatentDiffusion.sample: cfg_scale={cfg_scale} needs a null condition the model was trained on: "
                f"class/text conditioning with cond_dropout_prob > 0 (got {self.cond_dropout_prob}, "
                f"class-conditional={self.num_classes is not None}, text={bool(self.text_inputs)}) or frame "
                f"prediction with frame_prediction_prob < 1 and cond_latent; use cfg_scale=1.0")
