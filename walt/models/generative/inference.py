"""The backbone at sampling time: frozen weights under ``torch.inference_mode`` (``LatentDiffusion.sample``), eager or
compiled for inference (``sample.compile``). On the CPU, the MLPs fuse ``fc1`` with its GELU (eager and compiled)
and the eager self-attentions share one q/k/v buffer (:func:`walt.models.cpu_inference.cpu_inference`).

``compile=True``: ``torch.compile`` of the whole backbone forward — one graph, no break
(``tests/test_inference_sampling.py``) — with inductor's weight freezing (``torch._inductor.config.freezing``): the
weights become constants of the graph, so inductor folds what depends on them alone, pre-packs the linear weights
(MKL's packed GEMM in fp32 on x86 — the MLPs' fc1 + GELU stays one oneDNN GEMM —, oneDNN with fused epilogues
in bf16) and fuses the element-wise work between the GEMMs; on a GPU the graph is also replayed as a CUDA graph
(``triton.cudagraphs``). ``compile="max-autotune"`` additionally lets inductor pick its own C++ GEMM templates with
fused epilogues where they beat the library GEMM (long compile). The compiled forward belongs to the weights it
folded and to its runner: when any parameter changes (its version counter moves), or another runner compiled since,
the next call compiles again.
"""
from __future__ import annotations

from itertools import count
from typing import Callable

import torch
from torch import Tensor, nn

from walt.models.conditioning.conditions import Conditions
from walt.models.cpu_inference import cpu_inference
from walt.models.generative.step_cache import TeaCache, build_cache
from walt.utils.compile_cache import use_isa_cache_dir

COMPILE_MODES = (False, True, "max-autotune")


def check_compile(compile: bool | str) -> bool | str:
    if compile not in COMPILE_MODES:
        raise ValueError(f"sample.compile must be one of {COMPILE_MODES}, got {compile!r}")
    return compile


def sample_switches(sample_cfg: dict | None) -> dict[str, bool | str | TeaCache | None]:
    """The inference switches of a config's ``sample`` section as ``LatentDiffusion.sample`` keywords: ``compile``
    (``False`` | ``True`` | ``"max-autotune"``) and ``cache`` (a ``STEP_CACHES`` config, e.g.
    ``dict(type="TeaCache", threshold=0.1)``, built here so that the caller can read its counts; ``None``: off)."""
    sample_cfg = dict(sample_cfg or {})
    return dict(compile=check_compile(sample_cfg.get("compile", False)), cache=build_cache(sample_cfg.get("cache")))


def inductor_options(compile: bool | str, cuda: bool) -> dict:
    """Inductor settings of an inference compile (module docstring)."""
    options = {"freezing": True}
    if compile == "max-autotune":
        options.update(max_autotune=True, max_autotune_gemm_backends="CPP,ATEN")
    if cuda:
        options["triton.cudagraphs"] = True
    return options


class InferenceBackbone:
    """Calls ``backbone`` as the samplers do (``(x, t, cond)``), eagerly or through a frozen-weight compile."""

    _ids = count()
    _graphs_of: int | None = None  # the runner whose graphs dynamo holds (the last one that compiled)

    def __init__(self, backbone: nn.Module, compile: bool | str = False):
        self.backbone, self.compile = backbone, check_compile(compile)
        self._id = next(self._ids)
        self._compiled: Callable[..., Tensor] | None = None
        self._options: dict = {}
        self._versions: tuple[int, ...] | None = None

    def _weights_version(self) -> tuple[int, ...]:
        return tuple(p._version for p in self.backbone.parameters())

    def __call__(self, x: Tensor, t: Tensor, cond: Conditions | None = None) -> Tensor:
        if not self.compile:
            with cpu_inference():
                return self.backbone(x, t, cond)
        versions = self._weights_version()
        if self._compiled is None or versions != self._versions or InferenceBackbone._graphs_of != self._id:
            # Drop the graphs compiled so far: they hold stale folded weights, or another runner's (dynamo would reuse
            # a graph of the same forward compiled under another compile mode, another runner's folded weights).
            torch._dynamo.reset()
            InferenceBackbone._graphs_of = self._id
            use_isa_cache_dir()
            cuda = next(self.backbone.parameters()).is_cuda
            self._compiled = torch.compile(self.backbone.forward)
            self._options = inductor_options(self.compile, cuda)
            self._versions = versions
        from torch._inductor import config as inductor_config
        # Inductor's config set around the call that compiles: passed as torch.compile(options=...), freezing
        # does not happen (torch 2.14: the weights stay graph inputs, unpacked, read through addmm).
        with cpu_inference(), inductor_config.patch(self._options):
            return self._compiled(x, t, cond)
