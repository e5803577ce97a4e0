"""First-stage training of the W.A.L.T autoencoder (W.A.L.T §4.1 and App. A; VQ-GAN / LDM recipe):
reconstruction + KL + perceptual + adversarial losses, trained by the same trainer as the diffusion models.

One loss, one optimizer. The discriminator's hinge loss is added to the returned ``loss`` and is computed on a
*detached* reconstruction, so it only trains the discriminator; the generator's adversarial term calls the
discriminator with *detached* parameters (``torch.func.functional_call``), so it only trains the autoencoder. One
backward pass through ``loss`` therefore gives both players their own gradients, and any trainer with a single
optimizer over ``parameters()`` trains the GAN correctly. ``discriminator_parameters()`` /
``autoencoder_parameters()`` let a trainer use separate parameter groups (e.g. another learning rate) instead.
The discriminator starts after ``disc_start`` training steps (a step counter buffer, saved with the model); before
that its parameters get zero gradients (DDP needs every parameter in the graph; with weight decay > 0 AdamW would
still shrink them).
"""
from __future__ import annotations

import logging
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from registry import AUTOENCODERS, MODELS
from walt.models.autoencoders.autoencoder_losses import (PerceptualLoss, hinge_discriminator_loss,
                                                        hinge_generator_loss)
from walt.models.autoencoders.causal_vae import kl_per_pixel
from walt.models.autoencoders.discriminator import PatchDiscriminator3D

logger = logging.getLogger(__name__)
_RECONSTRUCTION = {"l1": F.l1_loss, "l2": F.mse_loss}
DISCRIMINATOR_DEFAULTS = dict(base_channels=64, num_layers=3)


@MODELS.register_module()
class AutoencoderTraining(nn.Module):
    """The autoencoder as a top-level trainable model: ``forward(batch) -> dict(loss, rec_loss, kl_loss, ...)``.

    ``perceptual``: ``PerceptualLoss`` kwargs (``vgg_weights`` = a local torchvision VGG-16 state dict, optional
    ``lpips_weights``, ``frames_per_clip``); the term is off (and the log says so) when ``vgg_weights`` is None.
    ``discriminator``: ``PatchDiscriminator3D`` kwargs, or None for no adversarial loss. The generator's adversarial
    term is weighted by ``adversarial_weight`` times VQ-GAN's adaptive weight (``adaptive_weight=True``).
    """

    def __init__(self, autoencoder: dict, reconstruction_loss: str = "l1", kl_weight: float = 1e-6,
                 perceptual: dict | None = None, perceptual_weight: float = 1.0,
                 discriminator: dict | None = DISCRIMINATOR_DEFAULTS, adversarial_weight: float = 0.1,
                 adaptive_weight: bool = True, disc_start: int = 50000):
        super().__init__()
        if reconstruction_loss not in _RECONSTRUCTION:
            raise ValueError(f"AutoencoderTraining: reconstruction_loss must be one of {sorted(_RECONSTRUCTION)}, "
                             f"got {reconstruction_loss!r}")
        self.autoencoder = AUTOENCODERS.build(autoencoder)
        if not hasattr(self.autoencoder, "encode_posterior"):
            raise TypeError(f"AutoencoderTraining: {type(self.autoencoder).__name__} has no encode_posterior(); "
                            f"only variational autoencoders (e.g. CausalVAE3D) are trained here")
        self.reconstruction = _RECONSTRUCTION[reconstruction_loss]
        self.kl_weight = kl_weight
        perceptual = dict(perceptual or {})
        if perceptual.get("vgg_weights"):
            self.perceptual: PerceptualLoss | None = PerceptualLoss(**perceptual)
        else:
            self.perceptual = None
            logger.warning("AutoencoderTraining: perceptual loss is OFF (no perceptual.vgg_weights file given)")
        self.perceptual_weight = perceptual_weight
        self.discriminator = None if discriminator is None else PatchDiscriminator3D(**discriminator)
        self.adversarial_weight = adversarial_weight
        self.adaptive_weight = adaptive_weight
        self.disc_start = disc_start
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    # ------------------------------------------------------------------ parameter groups
    def autoencoder_parameters(self) -> Iterator[nn.Parameter]:
        return self.autoencoder.parameters()

    def discriminator_parameters(self) -> Iterator[nn.Parameter]:
        return iter(()) if self.discriminator is None else self.discriminator.parameters()

    @property
    def discriminator_active(self) -> bool:
        return self.discriminator is not None and int(self.step) >= self.disc_start

    # ------------------------------------------------------------------ training
    def forward(self, batch: dict) -> dict[str, Tensor]:
        if "video" not in batch:
            raise KeyError(f"AutoencoderTraining: batch has no 'video' key (keys: {sorted(batch)})")
        x = batch["video"]
        posterior = self.autoencoder.encode_posterior(x)
        x_rec = self.autoencoder.decode(posterior.sample())
        out = dict(rec_loss=self.reconstruction(x_rec.float(), x.float()), kl_loss=kl_per_pixel(posterior, x))
        nll = out["rec_loss"]  # the reconstruction terms (VQ-GAN's "nll"), balanced against the adversarial one
        if self.perceptual is not None:
            out["perceptual_loss"] = self.perceptual(x_rec.float(), x.float())
            nll = nll + self.perceptual_weight * out["perceptual_loss"]
        loss = nll + self.kl_weight * out["kl_loss"]
        if self.discriminator_active:
            frozen = {name: p.detach() for name, p in self.discriminator.named_parameters()}
            out["gen_adv_loss"] = hinge_generator_loss(functional_call(self.discriminator, frozen, (x_rec,)))
            out["disc_loss"] = hinge_discriminator_loss(self.discriminator(x.detach()),
                                                        self.discriminator(x_rec.detach()))
            out["adv_weight"] = self.adversarial_weight * self._balance(nll, out["gen_adv_loss"])
            loss = loss + out["adv_weight"] * out["gen_adv_loss"] + out["disc_loss"]
        elif self.discriminator is not None:  # keep the idle discriminator in the graph: DDP needs every parameter
            loss = loss + 0.0 * sum(p.sum() for p in self.discriminator.parameters())
        if self.training:
            self.step += 1
        out["loss"] = loss
        return out

    def _balance(self, rec_loss: Tensor, gen_loss: Tensor) -> Tensor:
        """VQ-GAN's adaptive weight ``||∇_L rec|| / (||∇_L gan|| + 1e-4)`` at the decoder's last layer ``L``, so the
        adversarial gradient never swamps the reconstruction gradient (1 when off or without autograd)."""
        if not (self.adaptive_weight and torch.is_grad_enabled() and rec_loss.requires_grad):
            return torch.ones((), device=rec_loss.device)
        last = self.autoencoder.last_layer
        g_rec = torch.autograd.grad(rec_loss, last, retain_graph=True)[0]
        g_gan = torch.autograd.grad(gen_loss, last, retain_graph=True)[0]
        return (g_rec.norm() / (g_gan.norm() + 1e-4)).clamp(0.0, 1e4).detach()

    @torch.no_grad()
    def reconstruct(self, video: Tensor) -> Tensor:
        """Decode the posterior mean of ``video`` ``(B, 3, T, H, W)``: the autoencoder's reconstruction."""
        return self.autoencoder.decode(self.autoencoder.encode(video, sample=False)).clamp(-1, 1)
