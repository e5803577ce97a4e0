"""Loading public weights into a walt backbone: dispatch on the detected layout, fit with shape checks, and the
strictness rule — nothing loads silently (every fresh model tensor and unused checkpoint tensor is in the report)."""
from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from walt.models.convert.common import Converted, LayoutError, LoadReport, assemble
from walt.models.convert.dit import check_dit_diffusers_config, dit_diffusers_to_dit, dit_to_walt
from walt.models.convert.latte import latte_img_to_walt, latte_to_walt
from walt.models.convert.latte_diffusers import diffusers_latte_to_walt
from walt.models.convert.layout import layout_facts

NAMES = dict(walt_backbone="walt backbone", latte="Latte", dit="DiT", latte_diffusers="diffusers Latte",
             dit_diffusers="diffusers DiT")


def convert(sd: dict[str, Tensor], fmt: str, backbone: nn.Module, config: dict[str, Any] | None = None,
            dit_init: str = "latte") -> Converted:
    """``sd`` (layout ``fmt``) as walt tensors for ``backbone`` (``dit_init``: how DiT fills temporal blocks,
    :func:`~walt.models.convert.dit.dit_to_walt`)."""
    if fmt == "latte":  # latte.py and latte_img.py share the keys; their text projections read different inputs
        pooled = "text_embedding_projection.1.weight" in sd and layout_facts(backbone)["latte_text"] == "pooled"
        return (latte_img_to_walt if pooled else latte_to_walt)(sd, backbone)
    if fmt == "latte_diffusers":
        return diffusers_latte_to_walt(sd, backbone, config)
    if fmt in ("dit", "dit_diffusers"):
        notes = []
        if fmt == "dit_diffusers":
            notes = check_dit_diffusers_config(config, backbone) if config is not None else \
                ["no config.json: the DiT's resolution could not be checked"]
            notes.append("diffusers' DiT embeds timesteps with frequencies 10000^(-i/(half-1)); the original DiT, "
                         "whose weights it holds, and walt use 10000^(-i/half)")
            sd = dit_diffusers_to_dit(sd)
        out = dit_to_walt(sd, backbone, dit_init)
        out.notes += notes
        return out
    if fmt == "walt_backbone":
        out = Converted(notes=["a bare walt backbone state dict carries no config: variant, conditioning and "
                               "temporal position could not be checked against the model"])
        for key, value in sd.items():
            out.put(key, value, key)
        return out
    raise ValueError(f"convert: no converter for layout {fmt!r}")


def load_public(backbone: nn.Module, sd: dict[str, Tensor], fmt: str, config: dict[str, Any] | None = None,
                strict: bool = True, dit_init: str = "latte") -> LoadReport:
    """Load ``sd`` into ``backbone``. ``strict``: every model tensor must come from the checkpoint and every
    checkpoint tensor must be used (a :class:`LayoutError` lists the others); otherwise they are reported."""
    state, report = assemble(backbone, convert(sd, fmt, backbone, config, dit_init), NAMES[fmt])
    if strict and (report.fresh or report.unused):
        raise LayoutError(f"{NAMES[fmt]} weights do not cover this model exactly: " + "; ".join(report.lines()[1:]))
    backbone.load_state_dict(state)
    return report
