"""3-D patch discriminator for the adversarial loss of the W.A.L.T autoencoder (W.A.L.T §4.1: "following VQ-GAN,
reconstruction quality can be further improved by adding adversarial and perceptual losses"; MAGVIT-v2 trains its
tokenizer against a 3-D discriminator).

Strided 3-D convolutions with LeakyReLU and no normalisation (batch statistics would couple real and fake clips);
the output is a grid of real/fake logits, one per space-time patch. A one-frame clip (an image) works too: the
temporal stride of a 1-frame input leaves one frame.
"""
from __future__ import annotations

from torch import Tensor, nn


class PatchDiscriminator3D(nn.Module):
    """``num_layers`` stride-2 3×3×3 convolutions (widths ``base_channels · 2^i``, capped at ``8·base_channels``)
    between an input and an output 3×3×3 convolution; ``forward(x (B,3,T,H,W)) -> logits (B,1,t,h,w)``."""

    def __init__(self, in_channels: int = 3, base_channels: int = 64, num_layers: int = 3):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv3d(in_channels, base_channels, 3, padding=1), nn.LeakyReLU(0.2)]
        ch = base_channels
        for i in range(num_layers):
            out = base_channels * min(2 ** (i + 1), 8)
            layers += [nn.Conv3d(ch, out, 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
            ch = out
        layers.append(nn.Conv3d(ch, 1, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 5:
            raise ValueError(f"PatchDiscriminator3D: expected (B, C, T, H, W), got shape {tuple(x.shape)}")
        return self.net(x)
