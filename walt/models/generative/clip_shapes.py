"""Which pixel clip shapes a latent diffusion model can train on, and what each costs: the build-time check of shape
buckets (``walt/data/buckets.py``).

A shape ``(frames, height, width)`` is allowed when the autoencoder maps it to a latent (the causal VAE needs
``1 + 4k`` frames and sides divisible by 8), the patch embedding divides the latent (``p`` in space, the tube's
``pt`` in time) and every window of every attention fits the token grid it gets there (windows follow the grid as
:func:`~walt.models.attention.kernel.stretch_window` says: W.A.L.T's 1×16×16 SW window on a 16×16 grid is 1×16×28
on 16×28, its 5×8×8 STW window 5×8×14; a grid those cannot follow, e.g. 16×20 for an 8-wide window on 16, is
refused). Its cost is the number of tokens the backbone's transformer runs on.
"""
from __future__ import annotations

from typing import Sequence

from torch import nn

from walt.models.attention.heads import MultiHeadAttention
from walt.models.attention.kernel import check_window


def clip_tokens(model: nn.Module, shape: Sequence[int], where: str = "bucket") -> int:
    """Tokens of one clip of pixel ``shape`` ``(frames, height, width)`` in ``model`` (a ``LatentDiffusion``, on
    any device, the meta device included); a ValueError naming ``where`` and the shape when it is not allowed."""
    shape = tuple(int(s) for s in shape)
    backbone = model.backbone
    try:
        latent = tuple(model.autoencoder.latent_grid(*shape))
    except ValueError as err:
        raise ValueError(f"{where} {shape}: the autoencoder has no latent for it ({err})") from None
    patch = (getattr(backbone.patch_embed, "temporal_patch", 1), backbone.patch_size, backbone.patch_size)
    if any(n % p for n, p in zip(latent, patch)):
        raise ValueError(f"{where} {shape}: latent (t, h, w)={latent} is not divisible by the patch (pt, p, p)="
                         f"{patch}")
    grid = backbone.patch_embed.grid(*latent)
    run_grid = backbone.conditioning.token_grid(grid)
    for name, module in backbone.named_modules():
        if isinstance(module, MultiHeadAttention):
            try:
                check_window(tuple(run_grid), module.window_on(run_grid), name)
            except ValueError as err:
                raise ValueError(f"{where} {shape}: latent {latent}, token grid {tuple(grid)}, {name}: {err}") from None
    return grid.numel


def clip_token_counts(model: nn.Module, shapes: Sequence[Sequence[int]], where: str = "buckets") -> list[int]:
    """:func:`clip_tokens` of every shape, each refused shape named by its index in ``where``."""
    return [clip_tokens(model, shape, f"{where}[{i}]") for i, shape in enumerate(shapes)]
