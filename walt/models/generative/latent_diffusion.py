"""The latent diffusion model of both papers: what ``tools/train.py`` trains and ``tools/sample.py`` samples.

A frozen autoencoder maps pixels to latents (W.A.L.T §4.1, LAVITA §3), the latents are normalized per channel
(W.A.L.T Table 3e "latent norm"), and a denoiser backbone is trained with a :class:`GaussianDiffusion`. The task
switches of W.A.L.T §4.3–4.5 live here:

* self-conditioning (§4.3): with probability ``self_condition_prob`` per sample, a no-grad first pass gives
  ``x̃_0``, fed to the second pass as the extra channels ``x_sc``;
* condition dropout for classifier-free guidance: labels → the null class ``num_classes``, text → zero tokens with
  an all-False mask and a zero pooled vector;
* frame prediction (§4.4): with probability ``frame_prediction_prob`` per sample, ``c_fp = concat(m∘z, m)`` with 1
  or 2 observed latent frames;
* super-resolution (§4.5): the low-resolution latent (batch key ``lowres_latent``, or ``lowres_video`` pixels
  encoded by the autoencoder) is noise-augmented to ``t_sr ~ U{0, …, sr_noise_t_max}`` and given as ``x_lr``.

Batch keys are those of ``docs/architecture.md``. With ``images`` (W.A.L.T joint image–video training) the
per-sample conditions (``label``, ``caption``, ``text_*``) cover the videos first, then the image stacks.
"""
from __future__ import annotations

import inspect
from typing import Sequence

import torch
from torch import Tensor, nn

from registry import AUTOENCODERS, BACKBONES, DIFFUSIONS, MODELS, SAMPLERS, TEXT_ENCODERS
from walt.diffusion.frame_prediction import (check_num_observed, frame_prediction_condition, observed_mask,
                                             sample_num_observed)
from walt.diffusion.gaussian_diffusion import GaussianDiffusion
from walt.diffusion.guidance import classifier_free_guidance
from walt.diffusion.noise_augmentation import noise_augment, sample_noise_level
from walt.diffusion.samplers import DDIM, Sampler
from walt.models.autoencoders.latent_norm import LatentNorm


@MODELS.register_module()
class LatentDiffusion(nn.Module):
    """Latent video diffusion (W.A.L.T §3–4, LAVITA §3): backbone + diffusion + frozen autoencoder/text encoder.

    ``latent_norm``: ``None``, ``dict(stats="latent_stats.json")`` or ``dict(mean=[...], std=[...])``.
    ``video_size``: pixel ``(T, H, W)`` of generated videos (the latent grid follows from the autoencoder).
    W.A.L.T defaults: ``self_condition_prob=0.9`` (§5.3 Table 3c); ``sr_noise_t_max`` is not stated in the paper
    (we take 250 of 1000 steps).
    """

    def __init__(self, backbone: dict, diffusion: dict | None = None, autoencoder: dict | None = None,
                 text_encoder: dict | None = None, latent_norm: dict | None = None,
                 video_size: Sequence[int] | None = None, self_condition_prob: float = 0.9,
                 cond_dropout_prob: float = 0.1, frame_prediction_prob: float = 0.0,
                 super_resolution: bool = False, sr_noise_t_max: int = 250):
        super().__init__()
        for name, p in dict(self_condition_prob=self_condition_prob, cond_dropout_prob=cond_dropout_prob,
                            frame_prediction_prob=frame_prediction_prob).items():
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"LatentDiffusion: {name} must be in [0, 1], got {p}")
        self.diffusion: GaussianDiffusion = DIFFUSIONS.build(dict(diffusion or dict(type="GaussianDiffusion")))
        self.autoencoder = AUTOENCODERS.build(dict(autoencoder or dict(type="IdentityAutoencoder")))
        self.autoencoder.requires_grad_(False).eval()
        self.text_encoder = TEXT_ENCODERS.build(dict(text_encoder)) if text_encoder else None
        self.latent_norm = self._build_latent_norm(latent_norm)
        self.video_size = tuple(video_size) if video_size is not None else None
        self.self_condition_prob, self.cond_dropout_prob = self_condition_prob, cond_dropout_prob
        self.frame_prediction_prob, self.super_resolution = frame_prediction_prob, super_resolution
        self.sr_noise_t_max = sr_noise_t_max
        if not 0 <= sr_noise_t_max < self.diffusion.num_timesteps:
            raise ValueError(f"LatentDiffusion: sr_noise_t_max must be in [0, {self.diffusion.num_timesteps - 1}], "
                             f"got {sr_noise_t_max}")
        self.backbone = BACKBONES.build(dict(backbone), default_args=self._backbone_defaults(backbone))
        self._check_backbone()
        self.num_classes: int | None = getattr(self.backbone, "num_classes", None)
        # which text inputs the backbone reads: per-token (W.A.L.T cross-attention) and/or pooled (LAVITA T2V)
        self.uses_text_tokens = getattr(self.backbone, "text_proj", None) is not None
        self.uses_text_pooled = getattr(self.backbone, "text_pooled_proj", None) is not None

    # ===========================================================================================================
    # construction
    # ===========================================================================================================
    def _build_latent_norm(self, cfg: dict | None) -> LatentNorm | None:
        if cfg is None:
            return None
        cfg = dict(cfg)
        if "stats" in cfg:
            norm = LatentNorm.from_file(cfg["stats"])
        elif "mean" in cfg and "std" in cfg:
            norm = LatentNorm(cfg["mean"], cfg["std"])
        else:
            raise KeyError(f"LatentDiffusion: latent_norm {cfg} needs 'stats' (a JSON file) or 'mean' and 'std'")
        if norm.latent_channels != self.autoencoder.latent_channels:
            raise ValueError(f"LatentDiffusion: latent_norm has {norm.latent_channels} channels, the autoencoder "
                             f"{self.autoencoder.latent_channels}")
        return norm

    def _backbone_defaults(self, cfg: dict) -> dict:
        """What the model knows about its backbone, passed where the backbone class takes it."""
        defaults = dict(in_channels=self.autoencoder.latent_channels, learn_sigma=self.diffusion.learn_sigma,
                        self_condition=self.self_condition_prob > 0,
                        frame_prediction=self.frame_prediction_prob > 0, super_resolution=self.super_resolution)
        if self.text_encoder is not None:
            defaults["text_dim"] = self.text_encoder.dim
        cls = BACKBONES.get(cfg.get("type")) if isinstance(cfg.get("type"), str) else cfg.get("type")
        params = inspect.signature(cls).parameters if cls is not None else {}
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return defaults
        return {k: v for k, v in defaults.items() if k in params}

    def _check_backbone(self) -> None:
        b = self.backbone
        wanted = dict(self_condition=self.self_condition_prob > 0, frame_prediction=self.frame_prediction_prob > 0,
                      super_resolution=self.super_resolution, learn_sigma=self.diffusion.learn_sigma)
        for key, value in wanted.items():
            if bool(getattr(b, key, False)) != value:
                raise ValueError(f"LatentDiffusion: backbone {key}={getattr(b, key, False)} but the model needs "
                                 f"{key}={value} (set by self_condition_prob / frame_prediction_prob / "
                                 f"super_resolution / diffusion.learn_sigma); drop {key} from the backbone config")

    def train(self, mode: bool = True) -> "LatentDiffusion":
        super().train(mode)
        self.autoencoder.eval()  # frozen: never in training mode
        return self

    @property
    def device(self) -> torch.device:
        return next(self.backbone.parameters()).device

    # ===========================================================================================================
    # latents
    # ===========================================================================================================
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
        if self.video_size is None:
            raise ValueError("LatentDiffusion: set video_size=(T, H, W) in the model config to sample without "
                             "cond_latent / lowres inputs")
        return tuple(self.autoencoder.latent_grid(*self.video_size))

    def _training_latents(self, batch: dict) -> tuple[Tensor, Tensor | None]:
        """Normalized latents ``(B, c, t, h, w)`` and the latent ``image_mask`` (or ``None``)."""
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
        n, c, k, h, w = images.shape
        zi = self.encode(images.transpose(1, 2).reshape(n * k, c, 1, h, w))
        zi = zi.view(n, k, *zi.shape[1:]).squeeze(3).transpose(1, 2)
        if zi.shape[1:] != z.shape[1:]:
            raise ValueError(f"LatentDiffusion: 'images' {tuple(images.shape)} encode to {tuple(zi.shape)}, which "
                             f"does not match the video latents {tuple(z.shape)} (K must be the latent frame count)")
        video_mask = image_mask if image_mask is not None else z.new_zeros(z.shape[0], z.shape[2], dtype=torch.bool)
        return torch.cat([z, zi]), torch.cat([video_mask, video_mask.new_ones(n, z.shape[2])])

    # ===========================================================================================================
    # conditions
    # ===========================================================================================================
    def _labels(self, batch: dict, b: int) -> Tensor | None:
        if self.num_classes is None:
            return None
        if "label" not in batch:
            raise KeyError(f"LatentDiffusion: class-conditional backbone (num_classes={self.num_classes}) needs "
                           f"'label' in the batch, got keys {sorted(batch)}")
        y = torch.as_tensor(batch["label"], device=self.device).long()
        if y.shape != (b,):
            raise ValueError(f"LatentDiffusion: 'label' has shape {tuple(y.shape)}, expected ({b},)")
        return y

    def _text(self, batch: dict, b: int) -> dict[str, Tensor] | None:
        """``dict(tokens, mask, pooled)`` from cached ``text_*`` keys or by encoding ``caption``."""
        if not (self.uses_text_tokens or self.uses_text_pooled):
            return None
        if "text_tokens" in batch or "text_pooled" in batch:
            text = {k: batch[f"text_{k}"].to(self.device) for k in ("tokens", "mask", "pooled")
                    if f"text_{k}" in batch}
        elif "caption" in batch and self.text_encoder is not None:
            text = {k: v.to(self.device) for k, v in self.text_encoder(list(batch["caption"])).items()}
        else:
            raise KeyError("LatentDiffusion: a text-conditional backbone needs 'text_tokens'/'text_mask'/"
                           f"'text_pooled' or 'caption' with a text_encoder; batch keys {sorted(batch)}")
        for key, used in (("tokens", self.uses_text_tokens), ("pooled", self.uses_text_pooled)):
            if used and key not in text:
                raise KeyError(f"LatentDiffusion: the backbone needs text_{key}, missing from the batch")
        if "tokens" in text and "mask" not in text:
            text["mask"] = torch.ones(text["tokens"].shape[:2], dtype=torch.bool, device=self.device)
        for key, value in text.items():
            if value.shape[0] != b:
                raise ValueError(f"LatentDiffusion: text_{key} has batch size {value.shape[0]}, expected {b}")
        return text

    def _condition_kwargs(self, y: Tensor | None, text: dict[str, Tensor] | None) -> dict[str, Tensor]:
        kwargs: dict[str, Tensor] = {}
        if y is not None:
            kwargs["y"] = y
        if text is not None and self.uses_text_tokens:
            kwargs.update(text=text["tokens"], text_mask=text["mask"])
        if text is not None and self.uses_text_pooled:
            kwargs["text_pooled"] = text["pooled"]
        return kwargs

    def _null_conditions(self, y: Tensor | None, text: dict[str, Tensor] | None,
                         drop: Tensor) -> tuple[Tensor | None, dict[str, Tensor] | None]:
        """Labels → null class, text → zero tokens / all-False mask / zero pooled, where ``drop`` ``(B,)`` is True."""
        if y is not None:
            y = torch.where(drop, torch.full_like(y, self.num_classes), y)
        if text is not None:
            keep = ~drop
            text = {k: (v & keep[:, None]) if k == "mask" else v * keep.view(-1, *([1] * (v.dim() - 1))).to(v.dtype)
                    for k, v in text.items()}
        return y, text

    # ===========================================================================================================
    # training
    # ===========================================================================================================
    def forward(self, batch: dict) -> dict[str, Tensor]:
        """Training loss ``loss`` (scalar) plus logged scalars (``mse``, ``vlb`` with learned Σ, task rates)."""
        z, image_mask = self._training_latents(batch)
        b, device = z.shape[0], z.device
        y, text = self._labels(batch, b), self._text(batch, b)
        if self.cond_dropout_prob > 0 and (y is not None or text is not None):
            y, text = self._null_conditions(y, text, torch.rand(b, device=device) < self.cond_dropout_prob)
        kwargs = self._condition_kwargs(y, text)
        if image_mask is not None:
            kwargs["image_mask"] = image_mask
        logs: dict[str, Tensor] = {}
        if self.frame_prediction_prob > 0:
            k = sample_num_observed(b, z.shape[2], self.frame_prediction_prob, device)
            if image_mask is not None:  # a stack of independent images has no past frames
                k = torch.where(image_mask.any(dim=1), torch.zeros_like(k), k)
            kwargs["x_fp"] = frame_prediction_condition(z, k)
            logs["frame_prediction_rate"] = (k > 0).float().mean()
        if self.super_resolution:
            z_lr = self._lowres_latent(batch, z)
            t_sr = sample_noise_level(b, self.sr_noise_t_max, self.diffusion.num_timesteps, device)
            kwargs.update(x_lr=noise_augment(self.diffusion, z_lr, t_sr), t_sr=t_sr)
        t = torch.randint(0, self.diffusion.num_timesteps, (b,), device=device)
        losses = self.diffusion.training_losses(self._self_conditioned_backbone, z, t, model_kwargs=kwargs)
        return {k: v.mean() for k, v in losses.items()} | logs

    def _self_conditioned_backbone(self, x_t: Tensor, t: Tensor, **kwargs) -> Tensor:
        """W.A.L.T §4.3: ``f(z_t; stopgrad(z̃_0), c, t)`` with ``z̃_0 = f(z_t; 0, c, t)`` on a ``p_sc`` share of the
        samples, ``f(z_t; 0, c, t)`` on the rest."""
        if self.self_condition_prob == 0:
            return self.backbone(x_t, t, **kwargs)
        x_sc = torch.zeros_like(x_t)
        use = torch.rand(x_t.shape[0], device=x_t.device) < self.self_condition_prob
        if use.any():
            with torch.no_grad():
                pred, _ = self.diffusion.split_output(self.backbone(x_t, t, x_sc=x_sc, **kwargs), x_t)
                x0, _ = self.diffusion.predict_x0_eps(pred.float(), x_t, t)
            x_sc = torch.where(use.view(-1, 1, 1, 1, 1), x0.to(x_t.dtype), x_sc)
        return self.backbone(x_t, t, x_sc=x_sc, **kwargs)

    def _lowres_latent(self, batch: dict, z: Tensor) -> Tensor:
        if "lowres_latent" in batch:
            z_lr = self.normalize(batch["lowres_latent"].to(self.device).float())
        elif "lowres_video" in batch:
            z_lr = self.encode(batch["lowres_video"])
        else:
            raise KeyError("LatentDiffusion(super_resolution=True) needs 'lowres_latent' (unnormalized latents) or "
                           f"'lowres_video' (pixels) in the batch, got keys {sorted(batch)}")
        expected = (z.shape[0], z.shape[1], z.shape[2], z.shape[3] // 2, z.shape[4] // 2)
        if tuple(z_lr.shape) != expected:
            raise ValueError(f"LatentDiffusion: low-resolution latent has shape {tuple(z_lr.shape)}, expected "
                             f"{expected} (half the spatial size of {tuple(z.shape)})")
        return z_lr

    # ===========================================================================================================
    # sampling
    # ===========================================================================================================
    @torch.inference_mode()
    def sample(self, num: int, *, y: Tensor | Sequence[int] | int | None = None, prompts: Sequence[str] | None = None,
               text: dict[str, Tensor] | None = None, steps: int = 50, cfg_scale: float = 1.0,
               sampler: Sampler | dict | None = None, generator: torch.Generator | None = None, decode: bool = True,
               progress: bool = False, cond_latent: Tensor | None = None, lowres: Tensor | None = None,
               t_sr: int = 0) -> Tensor:
        """``num`` videos ``(num, 3, T, H, W)`` in ``[-1, 1]`` (unnormalized latents with ``decode=False``).

        ``y``: class labels (random ones from ``generator`` when omitted for a class-conditional model).
        ``prompts`` (encoded by the text encoder) or ``text=dict(tokens, mask, pooled)`` (cached embeddings).
        ``sampler``: a :class:`Sampler` or a ``SAMPLERS`` config (default ``DDIM`` with ``steps`` steps, η = 0).
        ``cond_latent``: observed first latent frames ``(num, c, k, h, w)`` (unnormalized; frame prediction, §4.4);
        they are copied exactly into the result. ``lowres``: the previous stage's latent ``(num, c, t, h/2, w/2)``
        (unnormalized; super-resolution, §4.5), noise-augmented to level ``t_sr``.
        ``cfg_scale`` guides every condition the model was trained to drop (labels / text with
        ``cond_dropout_prob > 0``; ``c_fp`` with ``0 < frame_prediction_prob < 1``, null = zero ``c_fp``)."""
        device = self.device
        shape = self._sample_shape(num, lowres)
        cond, null = self._sample_conditions(num, y, prompts, text, generator)
        observed = None
        if cond_latent is not None:
            observed, c_fp = self._observed(cond_latent.to(device).float(), shape)
            cond["x_fp"], null["x_fp"] = c_fp, torch.zeros_like(c_fp)
        if lowres is not None:
            # unguided inputs: the same low-res latent in both halves of a guided batch
            t_lr = torch.full((num,), t_sr, device=device)
            x_lr = noise_augment(self.diffusion, self.normalize(lowres.to(device).float()), t_lr, generator)
            for inputs in (cond, null):
                inputs.update(x_lr=x_lr, t_sr=t_lr)
        elif self.super_resolution:
            raise ValueError("LatentDiffusion(super_resolution=True).sample needs lowres=(num, c, t, h/2, w/2)")
        self._check_guidance(cfg_scale, cond_latent is not None)
        guided_keys = self._guided_keys(cond_latent is not None)
        null = {k: (v if k in guided_keys else cond[k]) for k, v in null.items()}

        if sampler is None:
            sampler = DDIM(num_steps=steps, eta=0.0)
        elif isinstance(sampler, dict):
            sampler = SAMPLERS.build(dict(sampler), default_args=dict(num_steps=steps))
        z = sampler.sample(self.diffusion, classifier_free_guidance(self.backbone, cond, null, cfg_scale), shape,
                           generator=generator, device=device, self_condition=self.self_condition_prob > 0,
                           observed=observed, progress=progress)
        z = self.denormalize(z)
        if cond_latent is not None:
            z[:, :, :cond_latent.shape[2]] = cond_latent.to(z)
        if not decode:
            return z
        return self.autoencoder.decode(z).float().clamp(-1.0, 1.0)

    def _sample_shape(self, num: int, lowres: Tensor | None) -> tuple[int, ...]:
        c = self.autoencoder.latent_channels
        if lowres is not None:
            if lowres.dim() != 5 or lowres.shape[:2] != (num, c):
                raise ValueError(f"LatentDiffusion.sample: lowres must be ({num}, {c}, t, h/2, w/2), got "
                                 f"{tuple(lowres.shape)}")
            t, h, w = lowres.shape[2], lowres.shape[3] * 2, lowres.shape[4] * 2
        else:
            t, h, w = self.latent_size()
        return num, c, t, h, w

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

    def _sample_conditions(self, num: int, y, prompts, text, generator) -> tuple[dict, dict]:
        """Conditional and null keyword inputs of the backbone (labels, text)."""
        device = self.device
        if self.num_classes is not None and y is None:
            y = torch.randint(self.num_classes, (num,), generator=generator,
                              device=generator.device if generator is not None else device)
        if y is not None:
            if self.num_classes is None:
                raise ValueError("LatentDiffusion.sample: y given but the backbone is not class-conditional")
            y = torch.as_tensor(y, device=device).long()
            y = y.expand(num).clone() if y.dim() == 0 else y
            if y.shape != (num,):
                raise ValueError(f"LatentDiffusion.sample: y has shape {tuple(y.shape)}, expected ({num},)")
        if self.uses_text_tokens or self.uses_text_pooled:
            if text is None:
                if self.text_encoder is None:
                    raise ValueError("LatentDiffusion.sample: a text-conditional model without text_encoder needs "
                                     "text=dict(tokens, mask, pooled)")
                text = self.text_encoder(list(prompts) if prompts is not None else [""] * num)
            text = self._text({f"text_{k}": v for k, v in text.items()}, num)
        elif prompts is not None or text is not None:
            raise ValueError("LatentDiffusion.sample: prompts/text given but the backbone is not text-conditional")
        cond = self._condition_kwargs(y, text)
        null_y, null_text = self._null_conditions(y, text, torch.ones(num, dtype=torch.bool, device=device))
        return cond, self._condition_kwargs(null_y, null_text)

    def _guided_keys(self, frame_prediction: bool) -> set[str]:
        """Backbone inputs whose null version the model was trained on."""
        keys = set()
        if self.cond_dropout_prob > 0:
            keys |= {"y", "text", "text_mask", "text_pooled"}
        if frame_prediction and self.frame_prediction_prob < 1:
            keys.add("x_fp")
        return keys

    def _check_guidance(self, cfg_scale: float, frame_prediction: bool) -> None:
        if cfg_scale == 1.0:
            return
        conditional = self.num_classes is not None or self.uses_text_tokens or self.uses_text_pooled
        if not ((conditional and self.cond_dropout_prob > 0) or (frame_prediction and self.frame_prediction_prob < 1)):
            raise ValueError(
                f"LatentDiffusion.sample: cfg_scale={cfg_scale} needs a null condition the model was trained on: "
                f"class/text conditioning with cond_dropout_prob > 0 (got {self.cond_dropout_prob}, "
                f"class-conditional={self.num_classes is not None}, "
                f"text={self.uses_text_tokens or self.uses_text_pooled}) or frame prediction with "
                f"frame_prediction_prob < 1 and cond_latent; use cfg_scale=1.0")
