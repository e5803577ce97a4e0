"""Perceptual and adversarial losses for training the autoencoder (W.A.L.T §4.1, after VQ-GAN: "adding adversarial
and perceptual losses").

``PerceptualLoss`` is LPIPS-style: VGG-16 features (torchvision architecture, randomly initialised, no download) at
relu1_2, relu2_2, relu3_3, relu4_3, relu5_3, unit-normalised over channels, squared differences averaged over space
and (optionally) weighted per channel by LPIPS' linear heads. Weights are read from local files only: a
torchvision ``vgg16`` state dict (``features.*`` keys) and, optionally, LPIPS linear heads (``lin{i}.model.1.weight``
keys as in the LPIPS release); without linear heads every channel weighs the same.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

# End indices (exclusive) of the VGG-16 `features` slices ending at relu1_2, relu2_2, relu3_3, relu4_3, relu5_3.
VGG_SLICES = (4, 9, 16, 23, 30)
VGG_WIDTHS = (64, 128, 256, 512, 512)
# LPIPS input scaling: [-1, 1] pixels to ImageNet-normalised inputs.
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)


def _load(path: str | Path, what: str) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"PerceptualLoss: {what} file {path} does not exist")
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("state_dict", state)


class PerceptualLoss(nn.Module):
    """LPIPS-style distance between frames of ``x`` and ``y`` ``(B, 3, T, H, W)`` in ``[-1, 1]``, averaged over the
    batch; ``frames_per_clip`` random frames per clip are compared (all when ``None``) to bound the cost."""

    def __init__(self, vgg_weights: str, lpips_weights: str | None = None, frames_per_clip: int | None = None):
        super().__init__()
        from torchvision.models.vgg import cfgs, make_layers  # here: torchvision.models costs seconds to import

        features = make_layers(cfgs["D"])  # VGG-16 `features`, randomly initialised (no classifier)
        state = {k[len("features."):]: v for k, v in _load(vgg_weights, "VGG-16 weights").items()
                 if k.startswith("features.")}
        if not state:
            raise KeyError(f"PerceptualLoss: {vgg_weights} holds no 'features.*' keys of a torchvision vgg16")
        features.load_state_dict(state)
        bounds = (0,) + VGG_SLICES
        self.slices = nn.ModuleList(features[a:b] for a, b in zip(bounds[:-1], bounds[1:]))
        lins = [torch.ones(1, w, 1, 1) / w for w in VGG_WIDTHS]
        if lpips_weights is not None:
            heads = _load(lpips_weights, "LPIPS linear heads")
            try:
                lins = [heads[f"lin{i}.model.1.weight"].float() for i in range(len(VGG_WIDTHS))]
            except KeyError as err:
                raise KeyError(f"PerceptualLoss: {lpips_weights} lacks LPIPS head {err}") from err
        for i, lin in enumerate(lins):
            self.register_buffer(f"lin{i}", lin.reshape(1, -1, 1, 1), persistent=False)
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1), persistent=False)
        self.frames_per_clip = frames_per_clip
        self.requires_grad_(False)  # a fixed feature network (VGG `features` has no dropout or batch norm)

    def _pick_frames(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        t = x.shape[2]
        if self.frames_per_clip is not None and self.frames_per_clip < t:
            idx = torch.randperm(t, device=x.device)[: self.frames_per_clip]
            x, y = x[:, :, idx], y[:, :, idx]
        return rearrange(x, "b c t h w -> (b t) c h w"), rearrange(y, "b c t h w -> (b t) c h w")

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        fx, fy = self._pick_frames(x, y)
        fx, fy = (fx - self.shift) / self.scale, (fy - self.shift) / self.scale
        total = fx.new_zeros(())
        for i, block in enumerate(self.slices):
            fx, fy = block(fx), block(fy)
            diff = (F.normalize(fx, dim=1, eps=1e-10) - F.normalize(fy, dim=1, eps=1e-10)).square()
            total = total + (diff * getattr(self, f"lin{i}")).sum(1).mean()
        return total


def hinge_discriminator_loss(logits_real: Tensor, logits_fake: Tensor) -> Tensor:
    """Hinge loss of the discriminator: ``E[relu(1 - D(x))] + E[relu(1 + D(x̂))]`` (halved, as in VQ-GAN)."""
    return 0.5 * (F.relu(1.0 - logits_real).mean() + F.relu(1.0 + logits_fake).mean())


def hinge_generator_loss(logits_fake: Tensor) -> Tensor:
    """Generator side of the hinge GAN: ``-E[D(x̂)]``."""
    return -logits_fake.mean()
