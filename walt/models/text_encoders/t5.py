"""T5 encoder: W.A.L.T §4.5 / §5.3 conditions its text-to-video cascade on T5-XL per-token embeddings through
cross-attention."""
from __future__ import annotations

from pathlib import Path

from torch import Tensor
from transformers import AutoTokenizer, T5EncoderModel

from registry import TEXT_ENCODERS
from walt.models.text_encoders.base import FrozenTextEncoder


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
        for p in (path, tokenizer_path or path):
            if not Path(p).is_dir():
                raise FileNotFoundError(f"T5TextEncoder: {p!r} is not a local directory (save_pretrained layout)")
        self.model = T5EncoderModel.from_pretrained(path, local_files_only=True)
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_path or path, local_files_only=True)
        self.max_length = max_length
        self.dim = self.model.config.d_model
        self.freeze()

    def encode(self, prompts: list[str]) -> dict[str, Tensor]:
        batch = self.tokenizer(prompts, padding="max_length", truncation=True, max_length=self.max_length,
                               return_tensors="pt").to(self.device)
        tokens = self.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
        mask = batch.attention_mask.bool()
        pooled = (tokens * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        return {"tokens": tokens, "mask": mask, "pooled": pooled}
