"""Training-free step caching at sampling: TeaCache (Liu et al. 2025, "Timestep Embedding Tells: It's Time to Cache
for Video Diffusion Model", §3.2–3.4; the public TeaCache4Latte / TeaCache4Open-Sora code).

Consecutive sampling steps give the transformer blocks nearly the same input at nearly the same noise level, so
their output residual ``blocks(h) − h`` barely changes. TeaCache estimates that change from the *timestep-modulated
input* of the first block, ``I_t = LN(h_t)·(1 + scale_t) + shift_t`` — cheap, and it sees both the noisy input and
the timestep: it accumulates the relative L1 change ``‖I_t − I_{t+1}‖₁ / ‖I_{t+1}‖₁`` (optionally through the
paper's fitted polynomial rescaling, ``coefficients``) from call to call, and while the sum stays below ``threshold``
it skips the block stack and adds the residual of the last computed call to ``h``; once the sum reaches it, the
blocks run, the residual is stored and the sum restarts. The first call always computes.

It wraps a backbone's ``run_blocks`` (the block loop of ``walt/models/backbones/{walt,lavita}.py``) for the duration
of one sampling run; the patch embedding, conditioning and output layer run on every call. With classifier-free
guidance the conditional and null halves are one batch, decided together; Heun's two calls per step are two calls.
``skipped`` / ``calls`` count the network calls of the last run (``computed``: which ran the blocks).
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from registry import STEP_CACHES
from walt.models.conditioning.modulate import modulate


def modulated_input(tokens: Tensor, mod: Tensor) -> Tensor:
    """The first block's self-attention input ``LN(h)·(1 + scale) + shift`` (TeaCache's indicator); ``LN(h)`` for a
    block without modulation (LAVITA "all tokens", where the timestep travels as a token of ``h``)."""
    x = F.layer_norm(tokens, tokens.shape[-1:], eps=1e-6)
    if mod.shape[-2] == 0:
        return x
    shift, scale = mod.unbind(-2)[:2]
    return modulate(x, shift, scale)


@STEP_CACHES.register_module()
class TeaCache:
    """TeaCache with ``threshold`` on the accumulated relative L1 change of the modulated input (the paper's δ:
    0.1 ≈ 1.6×, 0.2 ≈ 2.1× on Latte, §4.3) and optional polynomial ``coefficients`` (highest power first, as
    ``numpy.polyval``) that rescale the input change to the output change; ``None``: the change itself."""

    def __init__(self, threshold: float = 0.1, coefficients: Sequence[float] | None = None):
        if not threshold >= 0:
            raise ValueError(f"TeaCache: threshold must be >= 0, got {threshold}")
        self.threshold = float(threshold)
        self.coefficients = None if coefficients is None else [float(c) for c in coefficients]
        self.reset()

    def reset(self) -> None:
        self.calls = self.skipped = 0
        self.computed: list[bool] = []  # per network call of the run: whether the blocks ran
        self._accumulated = 0.0
        self._previous: Tensor | None = None
        self._residual: Tensor | None = None

    def _rescaled(self, change: float) -> float:
        if self.coefficients is None:
            return change
        out = 0.0
        for c in self.coefficients:
            out = out * change + c
        return out

    def run_blocks(self, blocks: Callable[..., Tensor], tokens: Tensor, grid, mods: Tensor, *rest) -> Tensor:
        """``blocks(tokens, grid, mods, *rest)``, or ``tokens`` plus the cached residual when the input changed
        little since the last computed call."""
        self.calls += 1
        indicator = modulated_input(tokens, mods[0])
        compute = self._previous is None or self._residual is None or self._residual.shape != tokens.shape
        if not compute:
            change = ((indicator - self._previous).abs().mean() / self._previous.abs().mean()).item()
            self._accumulated += self._rescaled(change)
            compute = self._accumulated >= self.threshold
        self._previous = indicator
        self.computed.append(compute)
        if not compute:
            self.skipped += 1
            return tokens + self._residual
        self._accumulated = 0.0
        out = blocks(tokens, grid, mods, *rest)
        self._residual = out - tokens
        return out

    @contextlib.contextmanager
    def attached(self, backbone: nn.Module) -> Iterator["TeaCache"]:
        """Wrap ``backbone.run_blocks`` with this cache (state reset) until the block exits."""
        self.reset()
        blocks = backbone.run_blocks
        backbone.run_blocks = lambda *args: self.run_blocks(blocks, *args)
        try:
            yield self
        finally:
            del backbone.run_blocks

    def report(self) -> str:
        share = self.skipped / self.calls if self.calls else 0.0
        return (f"TeaCache(threshold={self.threshold:g}): skipped the blocks in {self.skipped} of {self.calls} "
                f"network calls ({share:.0%})")


def build_cache(cache: dict | str | TeaCache | None) -> TeaCache | None:
    """A step cache from a ``STEP_CACHES`` config dict, a name (its defaults), an instance, or ``None`` (off)."""
    if cache is None or not isinstance(cache, (dict, str)):
        return cache
    return STEP_CACHES.build(dict(type=cache) if isinstance(cache, str) else dict(cache))


@contextlib.contextmanager
def step_cache(cache: TeaCache | None, backbone: nn.Module) -> Iterator[TeaCache | None]:
    """``cache`` attached to ``backbone`` for the block; nothing at all with ``cache=None``."""
    if cache is None:
        yield None
        return
    with cache.attached(backbone):
        yield cache

