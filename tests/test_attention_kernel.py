"""The CPU fast path of the attention kernel (``math_attention``, used for a float bias with gradient) against SDPA.

Both compute ``softmax(Q Kᵀ / √d + B) V``; the checks compare the output and the gradients of q, k, v and the bias
(a per-head ``(heads, L, L)`` table broadcast over the batch, as W.A.L.T's relative position bias is), in fp32 to
1e-5 and in bf16 to the bf16 tolerance stated below, including ``-inf`` entries of the image-frame mask.
"""
import pytest
import torch
import torch.nn.functional as F

from walt.models.attention.kernel import attention, image_frame_mask, math_attention
from walt.models.grid import Grid

# bf16 keeps 8 significant bits (relative rounding 2^-8 ≈ 4e-3); outputs and gradients here are O(1) sums of a few
# dozen rounded terms, so the two bf16 kernels may differ by a few rounding steps.
BF16_TOL = dict(atol=3e-2, rtol=3e-2)
FP32_TOL = dict(atol=1e-5, rtol=1e-5)


def _inputs(batch: int, heads: int, length: int, dim: int, dtype: torch.dtype = torch.float32):
    q, k, v = (torch.randn(batch, heads, length, dim).to(dtype).requires_grad_() for _ in range(3))
    bias = (0.5 * torch.randn(heads, length, length)).to(dtype).requires_grad_()
    return q, k, v, bias


def _run(fn, q, k, v, bias, mask=None, dout=None):
    """Output and gradients (q, k, v, bias) of ``fn`` for the loss ``<out, dout>``."""
    leaves = (q, k, v, bias)
    q, k, v, b = (t.detach().clone().requires_grad_() for t in leaves)
    full = b if mask is None else b.masked_fill(~mask, float("-inf"))
    out = fn(q, k, v, full)
    dout = torch.ones_like(out) if dout is None else dout
    out.backward(dout.to(out.dtype))
    return [out.detach().float()] + [t.grad.float() for t in (q, k, v, b)]


def _sdpa(q, k, v, bias):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)


def _assert_close(got, want, tol):
    for name, a, b in zip(("out", "dq", "dk", "dv", "dbias"), got, want):
        assert torch.isfinite(a).all(), f"{name} has non-finite entries"
        torch.testing.assert_close(a, b, **tol, msg=lambda m, name=name: f"{name}: {m}")


def test_fp32_matches_sdpa():
    q, k, v, bias = _inputs(3, 2, 12, 8)
    dout = torch.randn(3, 2, 12, 8)
    _assert_close(_run(math_attention, q, k, v, bias, dout=dout), _run(_sdpa, q, k, v, bias, dout=dout), FP32_TOL)


def test_fp32_image_frame_mask_matches_sdpa_without_nan():
    """The image-frame mask (image tokens attend within their own frame of the window, video tokens to video tokens)
    combined with the learned bias."""
    grid, window = Grid(4, 2, 2), (4, 2, 2)
    image_mask = torch.tensor([[True, False, False, False], [True, True, True, True]])
    allowed = image_frame_mask(image_mask, grid, window)  # (2, 1, 16, 16)
    assert not allowed.all()
    q, k, v, bias = _inputs(2, 2, grid.numel, 8)
    dout = torch.randn(2, 2, grid.numel, 8)
    got = _run(math_attention, q, k, v, bias, allowed, dout)
    _assert_close(got, _run(_sdpa, q, k, v, bias, allowed, dout), FP32_TOL)
    # the mask written out: frame 0 an image, frames 1-3 video; an all-image sample attends frame by frame
    ones = [torch.ones(n, n, dtype=torch.bool) for n in (4, 12)]
    assert torch.equal(allowed[0, 0], torch.block_diag(*ones))
    assert torch.equal(allowed[1, 0], torch.block_diag(*[ones[0]] * 4))
    # no gradient reaches masked bias entries
    blocked_everywhere = ~allowed.any(0)[0]  # (L, L): blocked in both samples
    assert blocked_everywhere.any() and (got[4][:, blocked_everywhere] == 0).all()


@pytest.mark.parametrize("masked", [False, True])
def test_bf16_matches_sdpa(masked):
    grid, window = Grid(4, 2, 2), (4, 2, 2)
    allowed = image_frame_mask(torch.tensor([[True, False, False, False], [False] * 4]), grid, window)
    q, k, v, bias = _inputs(2, 2, grid.numel, 8, torch.bfloat16)
    mask = allowed if masked else None
    _assert_close(_run(math_attention, q, k, v, bias, mask), _run(_sdpa, q, k, v, bias, mask), BF16_TOL)


def test_bf16_autocast_matches_sdpa():
    """The training setting: fp32 leaves, bf16 autocast, fp32 bias table."""
    q, k, v, bias = _inputs(2, 2, 16, 8)

    def under_autocast(fn):
        def run(*args):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return fn(*args)
        return run

    got = _run(under_autocast(math_attention), q, k, v, bias)
    assert got[0].dtype == torch.float32  # _run reports in fp32; the kernel itself ran in bf16
    _assert_close(got, _run(under_autocast(_sdpa), q, k, v, bias), BF16_TOL)


def test_dispatch():
    """A CPU float bias with gradient takes ``math_attention``; without gradient (or a bool mask) SDPA."""
    q, k, v, bias = _inputs(2, 2, 6, 4)
    assert torch.equal(attention(q, k, v, bias), math_attention(q, k, v, bias))
    with torch.no_grad():
        assert torch.equal(attention(q, k, v, bias), _sdpa(q, k, v, bias))
    mask = torch.rand(6, 6) > 0.3
    mask |= torch.eye(6, dtype=torch.bool)
    assert torch.equal(attention(q, k, v, mask), _sdpa(q, k, v, mask))


def test_window_split_and_merge_heads():
    """One-copy head split/merge equals window_partition followed by the per-head view, and inverts it; a strided
    view of a fused q/k/v projection splits like a contiguous tensor."""
    from walt.models.attention.kernel import window_merge, window_merge_heads, window_partition, window_split_heads

    grid, window, heads, d = (4, 4, 6), (2, 2, 3), 2, 3
    qkv = torch.randn(2, 4 * 4 * 6, 3, heads, d)
    xw = window_partition(qkv.flatten(2), grid, window)  # (B', L, 3·heads·d)
    want = xw.view(*xw.shape[:2], 3, heads, d).permute(2, 0, 3, 1, 4)
    for part, ref in zip(qkv.unbind(2), want):
        got = window_split_heads(part, grid, window)
        assert got.is_contiguous() and torch.equal(got, ref)
    v = window_split_heads(qkv[:, :, 2], grid, window)
    merged = window_merge_heads(v, grid, window)
    assert torch.equal(merged, window_merge(v.transpose(1, 2).reshape(*xw.shape[:2], heads * d), grid, window))
    assert torch.equal(merged, qkv[:, :, 2].flatten(2))


def test_windowed_attention_equals_dense_masked_attention():
    """``windowed_attention`` on a grid equals one dense attention over all tokens whose mask allows exactly the
    pairs in the same window (and, with images, only pairs of one frame for an image token)."""
    from walt.models.attention.kernel import windowed_attention

    grid, window, heads, d = Grid(4, 4, 6), (2, 2, 3), 2, 4
    q, k, v = (torch.randn(2, grid.numel, heads, d) for _ in range(3))
    image_mask = torch.tensor([[False, True, False, False], [False] * 4])
    t, h, w = torch.meshgrid(*(torch.arange(n) for n in grid), indexing="ij")
    cell = ((t // 2) * 100 + (h // 2) * 10 + w // 3).flatten()
    same = cell[:, None] == cell[None]
    img = grid.token_mask(image_mask)  # (2, N)
    same_frame = t.flatten()[:, None] == t.flatten()[None]
    allowed = same & ((~img[:, :, None] & ~img[:, None, :]) | same_frame)  # (2, N, N)
    dense = F.scaled_dot_product_attention(*(x.transpose(1, 2) for x in (q, k, v)), attn_mask=allowed[:, None])
    got = windowed_attention(q, k, v, grid, window, image_mask)
    torch.testing.assert_close(got, dense.transpose(1, 2).reshape(2, grid.numel, heads * d), **FP32_TOL)
