"""Which LAVITA models a public layout can express: the layout facts of a backbone and the check that refuses a
model a layout would misread (a variant-1 model exported to the Latte layout would load as variant 2)."""
from __future__ import annotations

from typing import Any

from torch import nn

from walt.models.attention.lavita_attention import SPATIAL_WINDOW, TEMPORAL_WINDOW
from walt.models.backbones.lavita import LAVITA, SPATIAL, TEMPORAL
from walt.models.convert.common import LayoutError

_CONDITIONING_NAMES = {"AdaLN": "SAdaLN"}  # the class behind both registered names; configs say SAdaLN for LAVITA
_WINDOWS = {SPATIAL: SPATIAL_WINDOW, TEMPORAL: TEMPORAL_WINDOW}
# the ``attention`` fact of a model whose spatial / temporal blocks attend within a frame / across frames, as Latte's
LATTE_ATTENTION = "spatial/temporal"


def layout_facts(model: nn.Module) -> dict[str, Any]:
    """The facts of a LAVITA backbone a public layout depends on."""
    if not isinstance(model, LAVITA):
        raise LayoutError(f"public Latte/DiT weights fit the LAVITA backbone, got {type(model).__name__}")
    cross = next((type(b.cross_attn).__name__ for b in model.blocks.values()
                  if getattr(b, "cross_attn", None) is not None), None)
    conditioning = type(model.conditioning).__name__
    return dict(variant=model.variant, conditioning=_CONDITIONING_NAMES.get(conditioning, conditioning),
                patch_embed=type(model.patch_embed).__name__, temporal_position=model.temporal_position,
                temporal_blocks=model.temporal, cross_attention=cross,
                latte_text=None if model.latte_text_embed is None else model.latte_text_embed.source,
                text_pooled=model.text_pooled_proj is not None, extra_inputs=model.input_channels != model.in_channels,
                attention=_attention(model))


def _attention(model: LAVITA) -> str:
    """:data:`LATTE_ATTENTION`, or the first spatial / temporal block whose self-attention has another window (a
    window within a frame has the keys of Latte's spatial attention, but other outputs)."""
    for key, block in model.blocks.items():
        want = _WINDOWS.get(model.kinds[key])
        window = getattr(block.attn, "window", None)
        if want is not None and window != want:
            return f"block {key}: {type(block.attn).__name__} with window {window}"
    return LATTE_ATTENTION


def require_layout(model: nn.Module, layout: str, **expected: Any) -> dict[str, Any]:
    """Raise a :class:`LayoutError` naming every fact of ``model`` that differs from ``expected`` (a tuple value
    lists the accepted ones); returns the facts."""
    facts = layout_facts(model)
    wrong = {k: v for k, v in expected.items() if (facts[k] not in v if isinstance(v, tuple) else facts[k] != v)}
    if wrong:
        want = ", ".join(f"{k}={' or '.join(map(repr, v)) if isinstance(v, tuple) else repr(v)}"
                         for k, v in wrong.items())
        have = ", ".join(f"{k}={facts[k]!r}" for k in wrong)
        raise LayoutError(f"the {layout} layout expresses LAVITA with {want}; this model has {have}")
    return facts
