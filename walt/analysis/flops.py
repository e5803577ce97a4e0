"""FLOP and parameter reports of a denoiser (DESIGN "print FLOP/parameter tables"; LAVITA App. A.1 Table 3).

Two counting backends share the MAC formulas of :mod:`walt.analysis.flop_handles`:

* ``"fvcore"``: ``fvcore.nn.FlopCountAnalysis`` (jit trace) with our handles for SDPA and its kernel variants,
  broadcast matmul, baddbmm and general einsum. jit tracing of a convolution fails on meta tensors
  (``meta_conv`` receives traced sizes), so this backend needs real weights.
* ``"torch"``: a ``TorchFunctionMode`` that counts every ``torch``/``F``/``Tensor`` call of the forward. It sees
  ``F.scaled_dot_product_attention`` before it is decomposed (on meta SDPA decomposes to plain ``bmm`` and could no
  longer be told apart from other matmuls), so it runs on the meta device: a multi-billion-parameter preset is
  counted in seconds without allocating a weight. Both backends give the same numbers (tested).

Counts are MACs (one multiply-accumulate = 1, the papers' and fvcore's convention); ``convention="flop"``
doubles them. ``attention_matmuls=False`` leaves out the score/value matmuls inside SDPA and ``norms=False`` the
normalization layers, which together give the LAVITA Table 3 convention (one MAC of each linear/conv layer).
Ops without a formula that are not free (:data:`~walt.analysis.flop_handles.FREE_OPS`) land in ``skipped``.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from walt.models.attention.window import resolve_window
from walt.models.conditioning.conditions import Conditions
from walt.analysis.flop_handles import (ATTENTION_OPS, FREE_OPS, FUNCTION_FORMULAS, NORM_OPS, OP_ALIASES,
                                     canonical_name, fvcore_handles)

CONVENTIONS = {"mac": 1, "flop": 2}


@dataclass
class FlopReport:
    """MAC counts of one forward: ``by_operator`` and ``by_module`` (top-level children) in MACs, ``skipped`` op
    names with call counts. ``total(...)`` applies a convention and the attention/norm switches."""

    by_operator: Counter = field(default_factory=Counter)
    by_module: Counter = field(default_factory=Counter)
    module_attention: Counter = field(default_factory=Counter)
    module_norms: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)

    @property
    def attention_macs(self) -> int:
        return sum(v for k, v in self.by_operator.items() if k in ATTENTION_OPS)

    @property
    def norm_macs(self) -> int:
        return sum(v for k, v in self.by_operator.items() if k in NORM_OPS)

    def total(self, convention: str = "mac", attention_matmuls: bool = True, norms: bool = True) -> int:
        macs = sum(self.by_operator.values())
        macs -= 0 if attention_matmuls else self.attention_macs
        macs -= 0 if norms else self.norm_macs
        return macs * _scale(convention)

    def module_total(self, name: str, convention: str = "mac", attention_matmuls: bool = True,
                     norms: bool = True) -> int:
        macs = self.by_module[name]
        macs -= 0 if attention_matmuls else self.module_attention[name]
        macs -= 0 if norms else self.module_norms[name]
        return macs * _scale(convention)


def _scale(convention: str) -> int:
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown FLOP convention {convention!r}; choose one of {sorted(CONVENTIONS)}")
    return CONVENTIONS[convention]


def _flat_inputs(inputs: dict[str, Any]) -> dict[tuple[str, str | None], Tensor]:
    """The tensors of ``inputs`` by ``(keyword, Conditions field or None)``."""
    flat: dict[tuple[str, str | None], Tensor] = {}
    for name, value in inputs.items():
        if isinstance(value, Conditions):
            flat.update({(name, field): v for field, v in value.tensors().items()})
        else:
            flat[(name, None)] = value
    return flat


class _CallWithKwargs(nn.Module):
    """Lets a jit trace call ``model(**kwargs)``: tensors travel positionally (a ``Conditions`` input as its
    fields), names are fixed here."""

    def __init__(self, model: nn.Module, names: Sequence[tuple[str, str | None]]):
        super().__init__()
        self.model, self.names = model, tuple(names)

    def forward(self, *tensors: Tensor) -> Any:
        kwargs: dict[str, Any] = {}
        conds: dict[str, dict[str, Tensor]] = {}
        for (name, field), tensor in zip(self.names, tensors):
            if field is None:
                kwargs[name] = tensor
            else:
                conds.setdefault(name, {})[field] = tensor
        return self.model(**kwargs, **{name: Conditions(**c) for name, c in conds.items()})


class _FunctionCounter(TorchFunctionMode):
    """Counts the MACs of every torch call made while active, attributed to the top-level child running it."""

    def __init__(self, report: FlopReport):
        super().__init__()
        self.report, self.stack = report, [""]

    def __torch_function__(self, func: Any, types: Any, args: Sequence[Any] = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = canonical_name(func)
        formula = FUNCTION_FORMULAS.get(name)
        if formula is not None:
            macs = int(formula(args, kwargs, out))
            name = OP_ALIASES.get(name, name)
            self.report.by_operator[name] += macs
            self.report.by_module[self.stack[-1]] += macs
            if name in ATTENTION_OPS:
                self.report.module_attention[self.stack[-1]] += macs
            if name in NORM_OPS:
                self.report.module_norms[self.stack[-1]] += macs
        elif name not in FREE_OPS:
            self.report.skipped[name] += 1
        return out


def count_flops(model: nn.Module, inputs: dict[str, Any], backend: str = "auto") -> FlopReport:
    """MACs of ``model(**inputs)`` by operator and by top-level child. ``backend``: ``"torch"`` (any device,
    meta included), ``"fvcore"`` (real tensors), ``"auto"`` (fvcore unless the inputs are on the meta device)."""
    if backend == "auto":
        backend = "torch" if any(t.is_meta for t in _flat_inputs(inputs).values()) else "fvcore"
    if backend == "fvcore":
        return _count_fvcore(model, inputs)
    if backend != "torch":
        raise ValueError(f"unknown FLOP backend {backend!r}; choose 'auto', 'torch' or 'fvcore'")
    report = FlopReport()
    counter = _FunctionCounter(report)

    def enter(top: str) -> Any:
        return lambda module, args: counter.stack.append(top)

    def leave(module: nn.Module, args: Any, output: Any) -> None:
        counter.stack.pop()

    hooks = []  # every submodule pushes its top-level ancestor (a ModuleDict of blocks is never called itself)
    for name, child in model.named_modules():
        if name:
            hooks.append(child.register_forward_pre_hook(enter(name.split(".")[0])))
            hooks.append(child.register_forward_hook(leave))
    try:
        with torch.no_grad(), counter:
            model(**inputs)
    finally:
        for h in hooks:
            h.remove()
    return report


def _count_fvcore(model: nn.Module, inputs: dict[str, Any]) -> FlopReport:
    from fvcore.nn import FlopCountAnalysis

    flat = _flat_inputs(inputs)
    if any(t.is_meta for t in flat.values()):
        raise ValueError("the fvcore FLOP backend cannot trace convolutions on the meta device; use backend='torch'")
    wrapper = _CallWithKwargs(model, list(flat))
    analysis = FlopCountAnalysis(wrapper, tuple(flat.values())).set_op_handle(**fvcore_handles())
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
    with torch.no_grad():
        by_op = Counter({k: int(v) for k, v in analysis.by_operator().items() if v})
    skipped = Counter({k.removeprefix("aten::"): v for k, v in analysis.unsupported_ops().items()})
    report = FlopReport(by_operator=by_op, skipped=skipped)
    per_module = analysis.by_module_and_operator()
    for name, _ in model.named_children():
        ops = per_module.get(f"model.{name}", Counter())
        report.by_module[name] = int(sum(ops.values()))
        report.module_attention[name] = int(sum(v for k, v in ops.items() if k in ATTENTION_OPS))
        report.module_norms[name] = int(sum(v for k, v in ops.items() if k in NORM_OPS))
    report.by_module[""] = sum(by_op.values()) - sum(report.by_module.values())
    return report


def count_fwd_bwd_macs(model: nn.Module, inputs: dict[str, Any]) -> tuple[int, int]:
    """Measured ``(forward, forward + backward)`` MACs of matmul/conv/attention ops (norms excluded), by torch's
    ``FlopCounterMode`` on a loss ``output.float().sum()``; works on the meta device."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fwd, torch.no_grad():
        model(**inputs)
    with torch.enable_grad(), FlopCounterMode(display=False) as both:
        model(**inputs).float().sum().backward()
    model.zero_grad(set_to_none=True)
    return fwd.get_total_flops() // 2, both.get_total_flops() // 2  # FlopCounterMode counts 2 per MAC


def activation_bytes(model: nn.Module, inputs: dict[str, Any]) -> int:
    """Peak activation memory estimate of a training step: bytes of the distinct tensors autograd saves for the
    backward pass in one forward (parameters excluded). Works on the meta device."""
    param_storages = {p.untyped_storage()._cdata for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        if storage._cdata not in param_storages:
            seen[storage._cdata] = storage.nbytes()
        return t

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(**inputs)
    return sum(seen.values())


def param_counts(model: nn.Module) -> dict[str, Any]:
    """``{"total", "trainable", "by_module": {child: params}}`` (parameters shared between children counted once
    in ``total``)."""
    unique = {id(p): p for p in model.parameters()}.values()
    return {
        "total": sum(p.numel() for p in unique),
        "trainable": sum(p.numel() for p in unique if p.requires_grad),
        "by_module": {n: sum(p.numel() for p in c.parameters()) for n, c in model.named_children()},
    }


def flops_table(model: nn.Module, input_shape: Sequence[int], convention: str = "mac",
                attention_matmuls: bool = True) -> list[dict[str, Any]]:
    """Rows ``{"module", "params", "gflops"}`` per top-level child of a backbone (or of ``model.backbone``) and a
    ``"total"`` row, for a table in W&B. ``input_shape`` is the latent ``(B, C, T, H, W)``; runs one forward with
    zero inputs on the model's device under ``no_grad``."""
    backbone = getattr(model, "backbone", model)
    p = next(backbone.parameters())
    report = count_flops(backbone, backbone_inputs(backbone, input_shape, device=p.device, dtype=p.dtype),
                         backend="torch")
    params = param_counts(backbone)
    rows = [{"module": name, "params": n,
             "gflops": report.module_total(name, convention, attention_matmuls) / 1e9}
            for name, n in params["by_module"].items()]
    if report.by_module[""]:
        rows.append({"module": "(own ops)", "params": 0, "gflops": report.module_total("", convention,
                                                                                      attention_matmuls) / 1e9})
    rows.append({"module": "total", "params": params["total"],
                 "gflops": report.total(convention, attention_matmuls) / 1e9})
    return rows


def backbone_inputs(backbone: nn.Module, input_shape: Sequence[int], device: torch.device | str = "meta",
                    dtype: torch.dtype = torch.float32, text_length: int = 77) -> dict[str, Any]:
    """Zero inputs ``dict(x, t, cond)`` for one call of a :class:`~walt.models.backbones.denoiser.LatentDenoiser`:
    latents of ``input_shape`` ``(B, C, T, H, W)``, timesteps, and a ``Conditions`` with every condition the
    backbone was configured with (class labels, text tokens and mask, pooled text, the low-resolution latent of a
    super-resolution stage)."""
    if len(input_shape) != 5:
        raise ValueError(f"input shape must be (B, C, T, H, W), got {tuple(input_shape)}")
    b, c, t, h, w = (int(v) for v in input_shape)
    expected = getattr(backbone, "in_channels", c)
    if c != expected:
        raise ValueError(f"input shape {tuple(input_shape)}: the backbone expects C={expected} latent channels")
    cond = {}
    if getattr(backbone, "y_embedder", None) is not None:
        cond["y"] = torch.zeros(b, dtype=torch.long, device=device)
    text_dim, text_inputs = getattr(backbone, "text_dim", None), getattr(backbone, "text_inputs", ())
    if "pooled" in text_inputs:
        cond["text_pooled"] = torch.zeros(b, text_dim, device=device, dtype=dtype)
    if "tokens" in text_inputs:
        cond["text"] = torch.zeros(b, text_length, text_dim, device=device, dtype=dtype)
        cond["text_mask"] = torch.ones(b, text_length, dtype=torch.bool, device=device)
    if getattr(backbone, "super_resolution", False):
        cond["x_lr"] = torch.zeros(b, c, t, h // 2, w // 2, device=device, dtype=dtype)
    return {"x": torch.zeros(b, c, t, h, w, device=device, dtype=dtype),
            "t": torch.zeros(b, dtype=torch.long, device=device), "cond": Conditions(**cond)}


def reference_adaln_macs(backbone: nn.Module, input_shape: Sequence[int]) -> int:
    """MACs that LAVITA's reference code (Latte) spends on top of walt's on the adaLN regressions, for the LAVITA
    Table 3 count. Latte repeats ``c`` over the attention sequences and regresses the modulation once per sequence
    (per frame in a spatial block, per spatial position in a temporal block, per frame in the final layer); walt
    regresses it once per sample, which gives the same modulations. Defined for per-layer ``AdaLN``/``SAdaLN``
    and blocks with one window self-attention (``block.attn.window``)."""
    cond = getattr(backbone, "conditioning", None)
    if cond is None or not hasattr(cond, "num_chunks") or hasattr(cond, "rank"):
        raise ValueError(f"reference adaLN count: needs a per-layer AdaLN/SAdaLN conditioning, got "
                         f"{type(cond).__name__}")
    b, _, t, h, w = (int(v) for v in input_shape)
    grid = backbone.patch_embed.grid(t, h, w)
    per_layer = b * cond.num_chunks * cond.dim * cond.dim
    blocks = backbone.blocks.values() if isinstance(backbone.blocks, nn.ModuleDict) else backbone.blocks
    extra = 0
    for i, block in enumerate(blocks):
        window = getattr(getattr(block, "attn", None), "window", None)
        if window is None:
            raise ValueError(f"reference adaLN count: block {i} ({type(block).__name__}) has no single window "
                             f"self-attention (.attn.window)")
        extra += per_layer * (grid.numel // math.prod(resolve_window(window, grid)) - 1)
    head = getattr(backbone.final_layer, "adaLN_modulation", None)
    if head is not None:
        linear = head[-1]
        extra += b * (grid.t - 1) * linear.in_features * linear.out_features
    return extra


def default_input_shape(backbone: nn.Module, batch: int = 1) -> tuple[int, int, int, int, int]:
    """The latent ``(B, C, T, H, W)`` a backbone is built for (its ``in_channels`` and latent ``input_size``)."""
    size = getattr(backbone, "input_size", None)
    if not (isinstance(size, (tuple, list)) and len(size) == 3):
        raise ValueError(f"no default input shape for {type(backbone).__name__}: pass --input-shape B,C,T,H,W")
    return (batch, backbone.in_channels, *(int(v) for v in size))  # type: ignore[return-value]


def default_pixel_shape(cfg: Any, batch: int = 1) -> tuple[int, int, int, int, int]:
    """The pixel clip ``(B, 3, T, H, W)`` a config works on: ``model.video_size``, else the training data's
    ``num_frames`` and ``resolution`` (an autoencoder config)."""
    size = cfg["model"].get("video_size")
    if size is None:
        train = cfg.get("data", {}).get("train", {})
        res = train.get("resolution")
        if train.get("num_frames") is None or res is None:
            raise ValueError("no default pixel shape: set model.video_size or data.train.num_frames/resolution, or "
                             "pass --input-shape B,3,T,H,W")
        size = (train["num_frames"], *((res, res) if isinstance(res, int) else res))
    return (batch, 3, *(int(v) for v in size))  # type: ignore[return-value]


def human(n: float) -> str:
    """``5572690000000`` → ``5.573T``."""
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.4g}{unit}"
    return f"{n:.4g}"


__all__ = ["FlopReport", "count_flops", "count_fwd_bwd_macs", "activation_bytes", "param_counts", "flops_table",
           "backbone_inputs", "reference_adaln_macs", "default_input_shape", "default_pixel_shape", "human", "CONVENTIONS"]
