"""Multiply-accumulate (MAC) formulas of every op a walt denoiser calls, for fvcore and for the meta-device counter.

One formula per op kind works on shapes only, so it runs on meta tensors; two thin adapters feed it: fvcore
handles (``inputs, outputs`` are ``torch._C.Value`` of a jit trace) and a torch-function table (the Python call's
``args, kwargs, out``). The convention is fvcore's: one fused multiply-add counts 1; norms are fvcore's rough
``5·numel`` (``4·numel`` without affine); elementwise math and data movement (``FREE_OPS``) count 0. Ops that are
neither counted nor in ``FREE_OPS`` are reported as skipped by :mod:`walt.analysis.flops`, never dropped silently.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

Shape = Sequence[int]

# ----------------------------------------------------------------------------------------- shape formulas (MACs)


def linear_macs(x: Shape, w: Shape) -> int:
    """``y = x Wᵀ``: every output element of ``(…, out)`` costs ``in`` MACs (the bias add is free)."""
    return math.prod(x[:-1]) * math.prod(w)


def matmul_macs(a: Shape, b: Shape) -> int:
    """``torch.matmul`` with broadcasting and 1-D operands: ``batch · n · k · m``."""
    a = [1, *a] if len(a) == 1 else list(a)
    b = [*b, 1] if len(b) == 1 else list(b)
    if a[-1] != b[-2]:
        raise ValueError(f"matmul: inner dimensions differ, shapes {tuple(a)} @ {tuple(b)}")
    batch = _broadcast(a[:-2], b[:-2])
    return math.prod(batch) * a[-2] * a[-1] * b[-1]


def einsum_macs(equation: str, shapes: Sequence[Shape]) -> int:
    """Contract the operands left to right; a pairwise contraction costs the product of all its index sizes.
    A single operand (a permutation or a sum) is free."""
    equation = equation.replace(" ", "")
    lhs, _, rhs = equation.partition("->")
    terms = lhs.split(",")
    if "." in equation or len(terms) != len(shapes):
        raise ValueError(f"einsum: cannot count {equation!r} on {len(shapes)} operands (no '...' support)")
    sizes: dict[str, int] = {}
    for term, shape in zip(terms, shapes):
        for letter, n in zip(term, shape):
            sizes[letter] = max(sizes.get(letter, 1), n)
    if not rhs and "->" not in equation:  # implicit output: letters seen once, sorted
        rhs = "".join(sorted(c for c in sizes if lhs.count(c) == 1))
    macs, current = 0, terms[0]
    for i, term in enumerate(terms[1:], start=1):
        letters = set(current) | set(term)
        macs += math.prod(sizes[c] for c in letters)
        keep = set(rhs).union(*terms[i + 1:])
        current = "".join(c for c in letters if c in keep)
    return macs


def conv_macs(x: Shape, w: Shape, out: Shape, transposed: bool) -> int:
    """Convolution: each output element costs ``C_in/groups · prod(kernel)`` MACs (transposed: each input one)."""
    return math.prod(x if transposed else out) * math.prod(w[1:])


def attention_macs(q: Shape, k: Shape, v: Shape) -> int:
    """Softmax attention on ``(…, L, E)`` queries and ``(…, S, E)`` keys: scores ``L·S·E`` plus values ``L·S·E_v``."""
    return math.prod(q[:-2]) * q[-2] * k[-2] * (q[-1] + v[-1])


def efficient_attention_macs(q: Shape, k: Shape, v: Shape) -> int:
    """The same count for kernels that take ``(B, L, heads, E)`` (``_efficient_attention_forward``, flash)."""
    return attention_macs((q[0], q[2], q[1], q[3]), (k[0], k[2], k[1], k[3]), (v[0], v[2], v[1], v[3]))


def norm_flops(x: Shape, affine: bool) -> int:
    """fvcore's estimate for a normalization layer: ``5·numel`` with an affine transform, ``4·numel`` without."""
    return math.prod(x) * (5 if affine else 4)


def _broadcast(a: Sequence[int], b: Sequence[int]) -> list[int]:
    n = max(len(a), len(b))
    a, b = [1] * (n - len(a)) + list(a), [1] * (n - len(b)) + list(b)
    return [max(i, j) for i, j in zip(a, b)]


# ----------------------------------------------------------------------------------------------- op categories

ATTENTION_OPS = frozenset({
    "scaled_dot_product_attention", "_scaled_dot_product_flash_attention_for_cpu",
    "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention", "_efficient_attention_forward",
    "_flash_attention_forward", "memory_efficient_attention"})
NORM_OPS = frozenset({"layer_norm", "group_norm", "batch_norm", "instance_norm"})

# Ops that cost no multiply-accumulates: data movement, shape queries, elementwise arithmetic and activations (zero in
# fvcore and in both papers' counts), tensor creation, embedding lookups.
FREE_OPS = frozenset("""
    view reshape permute transpose t contiguous flatten unflatten squeeze unsqueeze expand expand_as repeat
    repeat_interleave chunk split unbind cat concat stack narrow select slice getitem setitem index index_select
    gather roll flip clone detach to type type_as float half bfloat16 double long int bool cpu cuda copy
    size dim numel shape dtype device is_cuda is_meta requires_grad grad_fn ndim data names layout is_floating_point
    add radd sub rsub mul rmul addcmul div rdiv truediv rtruediv neg pow rpow sqrt rsqrt exp log cos sin tanh sigmoid
    abs clamp clamp_min clamp_max maximum minimum where masked_fill lt le gt ge eq ne and or invert not logical_not
    gelu silu relu softmax log_softmax dropout mean sum amax amin max min any all
    arange zeros ones full empty zeros_like ones_like full_like empty_like new_zeros new_ones new_full new_empty
    randn randn_like rand eye tensor scalar_tensor
    embedding pixel_shuffle pixel_unshuffle pad meshgrid constant_pad_nd item tolist len iter
    __get__ get_device is_contiguous element_size nelement storage_offset stride untyped_storage
    broadcast_to expand_copy movedim moveaxis swapaxes split_with_sizes ScalarImplicit Int Float T mT H mH
    isnan isinf isfinite nan_to_num sign floor ceil round remainder fmod erf reciprocal square log1p expm1
    ListUnpack ListConstruct TupleConstruct TupleUnpack NumToTensor
""".split())


# --------------------------------------------------------------------------------------------- fvcore adapters


def fvcore_handles() -> dict[str, Callable[[list, list], int]]:
    """Handles for ``FlopCountAnalysis.set_op_handle`` that fvcore lacks or gets wrong (broadcast matmul, general
    einsum, attention kernels), plus ``None`` (= explicitly free) for every op in :data:`FREE_OPS`."""
    from fvcore.nn.jit_handles import get_shape

    def matmul(inputs: list, outputs: list) -> int:
        return matmul_macs(get_shape(inputs[0]), get_shape(inputs[1]))

    def baddbmm(inputs: list, outputs: list) -> int:
        return matmul_macs(get_shape(inputs[1]), get_shape(inputs[2]))

    def einsum(inputs: list, outputs: list) -> int:
        shapes = [get_shape(v) for v in inputs[1].node().inputs()]
        return einsum_macs(inputs[0].toIValue(), shapes)

    def sdpa(inputs: list, outputs: list) -> int:
        return attention_macs(*(get_shape(v) for v in inputs[:3]))

    def efficient(inputs: list, outputs: list) -> int:
        return efficient_attention_macs(*(get_shape(v) for v in inputs[:3]))

    handles: dict[str, Any] = {f"aten::{name}": None for name in FREE_OPS}
    handles.update({f"aten::{name}_": None for name in FREE_OPS})
    handles.update({"aten::matmul": matmul, "aten::mm": matmul, "aten::bmm": matmul, "aten::baddbmm": baddbmm,
                    "aten::einsum": einsum})
    for name in ATTENTION_OPS:
        bhle = name in ("_efficient_attention_forward", "_flash_attention_forward")
        handles[f"aten::{name}"] = efficient if bhle else sdpa
    return handles


# ------------------------------------------------------------------------------------ torch-function adapters


def _arg(args: Sequence[Any], kwargs: dict[str, Any], index: int, name: str) -> Any:
    return args[index] if len(args) > index else kwargs.get(name)


def _shape(t: Any) -> list[int]:
    return list(t.shape)


def _einsum(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> int:
    operands = args[1] if len(args) == 2 and isinstance(args[1], (list, tuple)) else args[1:]
    return einsum_macs(args[0], [_shape(t) for t in operands])


def _conv(transposed: bool) -> Callable[[Sequence[Any], dict[str, Any], Any], int]:
    def count(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> int:
        x, w = _arg(args, kwargs, 0, "input"), _arg(args, kwargs, 1, "weight")
        return conv_macs(_shape(x), _shape(w), _shape(out), transposed)
    return count


def _norm(weight_index: int) -> Callable[[Sequence[Any], dict[str, Any], Any], int]:
    def count(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> int:
        return norm_flops(_shape(args[0]), _arg(args, kwargs, weight_index, "weight") is not None)
    return count


def _batch_norm(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> int:
    affine = _arg(args, kwargs, 3, "weight") is not None
    if _arg(args, kwargs, 5, "training"):
        return norm_flops(_shape(args[0]), affine)
    return math.prod(_shape(args[0])) * (2 if affine else 1)  # fvcore: inference-mode batch norm


def _interpolate(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> int:
    mode = _arg(args, kwargs, 3, "mode") or "nearest"
    return out.numel() * (1 if mode.startswith("nearest") else 4)  # fvcore: nearest 1, (bi)linear 4 per output


FUNCTION_FORMULAS: dict[str, Callable[[Sequence[Any], dict[str, Any], Any], int]] = {
    "linear": lambda a, k, o: linear_macs(_shape(a[0]), _shape(_arg(a, k, 1, "weight"))),
    "matmul": lambda a, k, o: matmul_macs(_shape(a[0]), _shape(a[1])),
    "mm": lambda a, k, o: matmul_macs(_shape(a[0]), _shape(a[1])),
    "bmm": lambda a, k, o: matmul_macs(_shape(a[0]), _shape(a[1])),
    "addmm": lambda a, k, o: matmul_macs(_shape(a[1]), _shape(a[2])),
    "baddbmm": lambda a, k, o: matmul_macs(_shape(a[1]), _shape(a[2])),
    "einsum": _einsum,
    "conv1d": _conv(False), "conv2d": _conv(False), "conv3d": _conv(False),
    "conv_transpose1d": _conv(True), "conv_transpose2d": _conv(True), "conv_transpose3d": _conv(True),
    "scaled_dot_product_attention": lambda a, k, o: attention_macs(_shape(a[0]), _shape(a[1]), _shape(a[2])),
    "layer_norm": _norm(2), "group_norm": _norm(2), "instance_norm": _norm(3), "batch_norm": _batch_norm,
    "interpolate": _interpolate,
    "adaptive_avg_pool2d": lambda a, k, o: a[0].numel(), "adaptive_avg_pool3d": lambda a, k, o: a[0].numel(),
}

# Function names reported under fvcore's operator name, so both backends print the same keys.
OP_ALIASES = {name: "conv" for name in FUNCTION_FORMULAS if name.startswith("conv")}


def canonical_name(func: Any) -> str:
    """``torch.Tensor.__radd__`` → ``radd``, ``torch.Tensor.add_`` → ``add``, ``Tensor.shape.__get__`` → ``shape``,
    ``torch.nn.functional.linear`` → ``linear``: the key of :data:`FUNCTION_FORMULAS` and :data:`FREE_OPS`."""
    import torch.overrides

    parts = (torch.overrides.resolve_name(func) or getattr(func, "__name__", str(func))).split(".")
    name = parts[-2] if parts[-1] == "__get__" and len(parts) > 1 else parts[-1]
    if name.startswith("__") and name.endswith("__"):
        name = name[2:-2]
        name = name[1:] if name.startswith("i") and name[1:] in FREE_OPS else name  # __iadd__ → add
    return name.rstrip("_") or name
