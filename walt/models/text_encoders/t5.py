"""T5 encoder: W.A.L.T §4.5 / §5.3 conditions its text-to-video cascade on T5-XL per-token embeddings through
cross-attention."""
from __future__ import annotations

from pathlib import Path

from torch import Tensor
from transformers import AutoTokenizer, T5Config, T5EncoderModel

from registry import TEXT_ENCODERS
from walt.models.meta import building_on_meta
from walt.models.text_encoders.base import FrozenTextEncoder, masked_mean

# The T5 v1.1 encoders W.A.L.T's sizes refer to (T5-XL, §5.3), for structure-only builds (meta device) on a machine
# without the weights: the architecture keys of their released configs.
T5_V1_1 = {
    "t5-v1_1-xl": dict(d_model=2048, d_ff=5120, num_heads=32, num_layers=24),
    "t5-v1_1-xxl": dict(d_model=4096, d_ff=10240, num_heads=64, num_layers=24),
}


def _structure(path: str) -> T5Config:
    """The architecture of the T5 at ``path``: its config.json, or the known v1.1 size its folder is named after."""
    if (Path(path) / "config.json").is_file():
        return T5Config.from_pretrained(path, local_files_only=True)
    name = Path(path).name
    if name not in T5_V1_1:
        raise FileNotFoundError(f"T5TextEncoder: {path!r} has no config.json, and its name is none of the known "
                                f"sizes {sorted(T5_V1_1)}")
    return T5Config(**T5_V1_1[name], d_kv=64, vocab_size=32128, feed_forward_proj="gated-gelu")


@TEXT_ENCODERS.register_module()
class T5TextEncoder(FrozenTextEncoder):
    """``transformers`` T5 encoder and tokenizer read from a local directory (``save_pretrained`` layout; nothing is
    downloaded). ``tokens`` = last hidden states padded to ``max_length``; ``pooled`` = their mean over the valid
    tokens (T5 has no pooled output; W.A.L.T uses only the per-token embeddings).

    Args:
        path: directory with the T5 weights and config (e.g. a local copy of ``google/t5-v1_1-xl``).
        tokenizer_path: directory of the tokenizer, default ``path``.
        max_length: tokens per prompt (not stated in W.A.L.T; 128 as in Imagen's T5 conditioning).
    """

    def __init__(self, path: str, tokenizer_path: str | None = None, max_length: int = 128):
        super().__init__()
        if building_on_meta():  # structure only: no weights, no tokenizer
            self.model, self.tokenizer = T5EncoderModel(_structure(path)), None
        else:
            for p in (path, tokenizer_path or path):
                if not Path(p).is_dir():
                    raise FileNotFoundError(f"T5TextEncoder: {p!r} is not a local directory (save_pretrained layout)")
            self.model = T5EncoderModel.from_pretrained(path, local_files_only=True)
            self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_path or path, local_files_only=True)
        self.max_length = max_length
        self.dim = self.model.config.d_model
        self.freeze()

    def encode(self, prompts: list[str]) -> dict[str, Tensor]:
        batch = self.tokenize(prompts)
        tokens = self.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
        mask = batch.attention_mask.bool()
        return {"tokens": tokens, "mask": mask, "pooled": masked_mean(tokens, mask)}
