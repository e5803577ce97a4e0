"""OpenCLIP text encoder: the CLIP text transformer of Stable Diffusion 1.4, whose pooled output LAVITA §4.4 adds
to the conditioning like a label."""
from __future__ import annotations

from pathlib import Path

import open_clip
import torch
from open_clip.model import _build_text_tower
from torch import Tensor

from registry import TEXT_ENCODERS
from walt.models.meta import building_on_meta
from walt.models.text_encoders.base import FrozenTextEncoder


def _text_state_dict(path: str) -> dict[str, Tensor]:
    """The text-tower entries of an open_clip / OpenAI CLIP checkpoint (full model or text tower alone)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"OpenCLIPTextEncoder: pretrained checkpoint {path!r} does not exist "
                                f"(only local files are loaded; pretrained=None gives a random init)")
    sd = torch.load(path, map_location="cpu", weights_only=True)
    sd = sd.get("state_dict", sd)
    sd = {k.removeprefix("module."): v for k, v in sd.items()}
    skip = ("visual.", "logit_scale", "logit_bias", "text_projection", "attn_mask")
    text = {k.removeprefix("text."): v for k, v in sd.items() if not k.startswith(skip)
            and not k.removeprefix("text.").startswith(skip)}
    if not text:
        raise KeyError(f"OpenCLIPTextEncoder: no text-tower weights (token_embedding, transformer.*) in {path!r}")
    return text


@TEXT_ENCODERS.register_module()
class OpenCLIPTextEncoder(FrozenTextEncoder):
    """CLIP text transformer from open_clip. ``tokens`` are the final-LayerNorm outputs of all ``context_length``
    positions (what SD1.4 cross-attends to); ``pooled`` is the end-of-text token's output before the contrastive
    projection (HF ``CLIPTextModel.pooler_output``, the "pooled output" LAVITA uses), so both have ``dim = width``.

    Args:
        model_name: an open_clip model config ("ViT-L-14" = the SD1.4 text encoder, width 768, 12 layers).
        pretrained: ``None`` (random init) or a local open_clip/OpenAI checkpoint file; the text tower is taken
            from it and the image tower is ignored.
        text_cfg: overrides of the config's ``text_cfg`` (e.g. a tiny width/layers for tests).
        quick_gelu: OpenAI CLIP (SD1.4) was trained with QuickGELU; set False for LAION-trained ViT-L-14 weights.
    """

    def __init__(self, model_name: str = "ViT-L-14", pretrained: str | None = None, text_cfg: dict | None = None,
                 quick_gelu: bool = True):
        super().__init__()
        model_cfg = open_clip.get_model_config(model_name)
        if model_cfg is None:
            raise KeyError(f"OpenCLIPTextEncoder: unknown open_clip model {model_name!r}; "
                           f"available: {', '.join(open_clip.list_models())}")
        cfg = dict(model_cfg["text_cfg"], **(text_cfg or {}), proj_type="none", output_tokens=True)
        self.model_name = model_name
        self.text = _build_text_tower(model_cfg["embed_dim"], cfg, quick_gelu=quick_gelu)
        if pretrained is not None and not building_on_meta():
            self.text.load_state_dict(_text_state_dict(pretrained), strict=True)
        self.tokenizer = open_clip.get_tokenizer(model_name, context_length=self.text.context_length)
        self.dim = self.text.width
        self.freeze()

    def encode(self, prompts: list[str]) -> dict[str, Tensor]:
        ids = self.tokenizer(prompts).to(self.device)
        pooled, tokens = self.text(ids)
        eot = ids.argmax(dim=-1)  # the end-of-text token has the largest id
        mask = torch.arange(ids.shape[1], device=ids.device)[None] <= eot[:, None]
        return {"tokens": tokens, "mask": mask, "pooled": pooled}
