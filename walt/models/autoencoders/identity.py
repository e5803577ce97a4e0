"""Identity autoencoder: the data already are latents (pre-cached with ``tools/encode_latents.py``), or the model
runs in pixel space (the CPU demo)."""
from __future__ import annotations

from torch import Tensor, nn

from registry import AUTOENCODERS


@AUTOENCODERS.register_module()
class IdentityAutoencoder(nn.Module):
    """Pass-through autoencoder for cached latents: ``encode`` and ``decode`` return their input."""

    causal = False
    spatial_factor = 1
    temporal_factor = 1

    def __init__(self, latent_channels: int = 3):
        super().__init__()
        self.latent_channels = latent_channels

    def latent_grid(self, t: int, h: int, w: int) -> tuple[int, int, int]:
        return t, h, w

    def encode(self, x: Tensor) -> Tensor:
        if x.shape[1] != self.latent_channels:
            raise ValueError(f"IdentityAutoencoder: expected {self.latent_channels} channels, got shape {tuple(x.shape)}")
        return x

    def decode(self, z: Tensor) -> Tensor:
        return z

    def forward(self, x: Tensor) -> Tensor:
        """Reconstruction: the input itself."""
        return self.decode(self.encode(x))
