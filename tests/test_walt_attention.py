"""W.A.L.T attention layers (§4.2–4.3) against an independent dense reference written here.

The reference computes plain ``softmax(Q Kᵀ / √d + bias + mask) V`` over the whole token grid, with the window
restriction expressed as a block-diagonal mask and the relative position bias read from the table entry by entry.
"""
import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from registry import ATTENTIONS, POS_EMBEDS
from walt.models.embeddings.rel_pos_bias import RelativePositionBias
from walt.models.grid import Grid

DIM, HEADS = 16, 2


def _coords(grid):
    return list(itertools.product(range(grid.t), range(grid.h), range(grid.w)))


def _window_of(pos, window):
    return tuple(p // w for p, w in zip(pos, window))


def _dense_self_attention(attn, x, grid, window, image_frames=(), identity=False):
    """Dense reference for a window self-attention module (uses only its weights); returns (pre-proj, output).
    In a window spanning frames a token of ``image_frames`` attends to its own frame, or to itself (``identity``)."""
    b, n, d = x.shape
    hd = d // HEADS
    wq, wk, wv = attn.qkv.weight.chunk(3)
    bq, bk, bv = attn.qkv.bias.chunk(3)

    def heads(t):
        return t.view(b, n, HEADS, hd).transpose(1, 2)

    q, k, v = heads(x @ wq.T + bq), heads(x @ wk.T + bk), heads(x @ wv.T + bv)
    q = F.layer_norm(q, (hd,), attn.q_norm.weight, attn.q_norm.bias, eps=1e-6)
    k = F.layer_norm(k, (hd,), attn.k_norm.weight, attn.k_norm.bias, eps=1e-6)
    coords = _coords(grid)
    bias = torch.zeros(HEADS, n, n)
    mask = torch.full((n, n), float("-inf"))
    table = attn.rel_pos.table if attn.rel_pos is not None else None
    tw = attn.rel_pos.window if attn.rel_pos is not None else None
    for i, pi in enumerate(coords):
        for j, pj in enumerate(coords):
            if _window_of(pi, window) != _window_of(pj, window):
                continue
            img_i, img_j = pi[0] in image_frames, pj[0] in image_frames
            if (img_i or img_j) and (i != j if identity and window[0] > 1 else pi[0] != pj[0]):
                continue
            mask[i, j] = 0.0
            if table is not None:
                dt, dh, dw = (a - b + w - 1 for a, b, w in zip(pi, pj, tw))
                bias[:, i, j] = table[:, dt, dh, dw]
    scores = q @ k.transpose(-1, -2) / math.sqrt(hd) + bias + mask
    pre = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, n, d)
    return pre, pre @ attn.proj.weight.T + attn.proj.bias


@pytest.mark.parametrize("kind, window", [
    ("SpatialWindowAttention", (1, 2, 2)),
    ("SpatiotemporalWindowAttention", (2, 2, 2)),
    ("FullAttention", None),
])
def test_window_attention_equals_masked_full_attention(kind, window):
    grid = Grid(4, 4, 4)
    cfg = dict(type=kind, dim=DIM, num_heads=HEADS, input_grid=tuple(grid))
    if window is not None:
        cfg["window"] = window
    attn = ATTENTIONS.build(cfg)
    with torch.no_grad():
        for p in attn.parameters():  # non-trivial norms and biases, so a skipped term would show
            p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(2, grid.numel, DIM)
    _, ref = _dense_self_attention(attn, x, grid, window or tuple(grid))
    assert (attn(x, grid) - ref).abs().max().item() <= 1e-5


def test_identity_mask_passes_image_value_through():
    """W.A.L.T §4.2: STW attention passes an image frame's value embeddings through as is (identity mask, the
    default); video tokens attend only to video tokens."""
    grid = Grid(4, 2, 2)
    attn = ATTENTIONS.build(dict(type="SpatiotemporalWindowAttention", dim=DIM, num_heads=HEADS, window=(4, 2, 2),
                                 input_grid=tuple(grid)))
    x = torch.randn(2, grid.numel, DIM)
    image_mask = torch.tensor([[False, True, False, True], [True, True, True, True]])
    captured = {}
    attn.proj.register_forward_hook(lambda mod, inp, out: captured.update(pre=inp[0]))
    out = attn(x, grid, image_mask)
    value = x @ attn.qkv.weight[2 * DIM:].T + attn.qkv.bias[2 * DIM:]
    is_img = image_mask[:, :, None].expand(2, 4, grid.spatial).reshape(2, grid.numel)
    assert (captured["pre"][is_img] - value[is_img]).abs().max().item() <= 1e-6
    _, ref = _dense_self_attention(attn, x[:1], grid, (4, 2, 2), image_frames=(1, 3), identity=True)
    assert (out[:1] - ref).abs().max().item() <= 1e-5


def test_image_frames_attend_within_their_own_frame_of_the_window():
    """``image_frames="own_frame"`` (what a spatial slot offers): an image token attends to the tokens of its own
    frame in the window (as the image alone, t = 1, would), never to another frame; video tokens only to video."""
    grid = Grid(4, 2, 2)
    attn = ATTENTIONS.build(dict(type="SpatiotemporalWindowAttention", dim=DIM, num_heads=HEADS, window=(4, 2, 2),
                                 input_grid=tuple(grid), image_frames="own_frame"))
    with torch.no_grad():
        attn.rel_pos.table.normal_()
    x = torch.randn(2, grid.numel, DIM)
    image_mask = torch.tensor([[False, True, False, True], [True, True, True, True]])
    out = attn(x, grid, image_mask)
    _, ref = _dense_self_attention(attn, x[:1], grid, (4, 2, 2), image_frames=(1, 3))
    assert (out[:1] - ref).abs().max().item() <= 1e-5
    # an image frame's output equals that image passed alone (t = 1: the window clamps to 1×2×2)
    alone = attn(x[1:, 4:8], Grid(1, 2, 2))
    assert (out[1:, 4:8] - alone).abs().max().item() <= 1e-5


@pytest.mark.parametrize("image_frames", ["identity", "own_frame"])
def test_windows_folded_into_the_batch_keep_image_frames_apart(image_frames):
    """Windows that are not runs of tokens (2×2×2 of a 4×4×4 grid) are folded into the batch before the projections;
    the image frames' mask must follow each token into its window."""
    grid = Grid(4, 4, 4)
    attn = ATTENTIONS.build(dict(type="SpatiotemporalWindowAttention", dim=DIM, num_heads=HEADS, window=(2, 2, 2),
                                 input_grid=tuple(grid), image_frames=image_frames))
    x = torch.randn(2, grid.numel, DIM)
    image_mask = torch.tensor([[False, True, False, False], [True, False, False, True]])
    out = attn(x, grid, image_mask)
    for i, frames in enumerate(((1,), (0, 3))):
        _, ref = _dense_self_attention(attn, x[i:i + 1], grid, (2, 2, 2), image_frames=frames,
                                       identity=image_frames == "identity")
        assert (out[i:i + 1] - ref).abs().max().item() <= 1e-5


def test_image_through_spatiotemporal_layer_uses_central_bias_rows():
    """A 1-frame input clamps the 5×2×2 window to 1×2×2; its bias is the Δt = 0 slice of the table."""
    attn = ATTENTIONS.build(dict(type="SpatiotemporalWindowAttention", dim=DIM, num_heads=HEADS, window=(5, 2, 2),
                                 input_grid=(5, 2, 2)))
    grid = Grid(1, 2, 2)
    x = torch.randn(1, grid.numel, DIM)
    _, ref = _dense_self_attention(attn, x, grid, (1, 2, 2))
    assert (attn(x, grid) - ref).abs().max().item() <= 1e-5


def test_window_cross_attention_matches_dense_reference_and_ignores_padding():
    grid, text_len = Grid(2, 4, 4), 3
    attn = ATTENTIONS.build(dict(type="WindowCrossAttention", dim=DIM, num_heads=HEADS, window=(1, 2, 2)))
    x, ctx = torch.randn(2, grid.numel, DIM), torch.randn(2, text_len, DIM)
    ctx_mask = torch.tensor([[True, True, False], [True, False, False]])
    out = attn(x, grid, ctx, ctx_mask)
    hd = DIM // HEADS
    wk, wv = attn.kv.weight.chunk(2)
    bk, bv = attn.kv.bias.chunk(2)
    coords = _coords(grid)
    ref = torch.zeros_like(x)
    for b in range(2):
        for i, pi in enumerate(coords):
            same = [j for j, pj in enumerate(coords) if _window_of(pj, (1, 2, 2)) == _window_of(pi, (1, 2, 2))]
            kv_in = torch.cat([x[b, same], ctx[b, ctx_mask[b]]])  # concat(window tokens, real text tokens)
            q = (x[b, i] @ attn.q.weight.T + attn.q.bias).view(HEADS, hd)
            k = (kv_in @ wk.T + bk).view(-1, HEADS, hd).transpose(0, 1)
            v = (kv_in @ wv.T + bv).view(-1, HEADS, hd).transpose(0, 1)
            q = F.layer_norm(q, (hd,), attn.q_norm.weight, attn.q_norm.bias, eps=1e-6)
            k = F.layer_norm(k, (hd,), attn.k_norm.weight, attn.k_norm.bias, eps=1e-6)
            w = (k @ q[:, :, None]).squeeze(-1) / math.sqrt(hd)
            ref[b, i] = (w.softmax(-1)[:, None] @ v).reshape(DIM) @ attn.proj.weight.T + attn.proj.bias
    assert (out - ref).abs().max().item() <= 1e-5
    ctx2 = ctx.clone()
    ctx2[~ctx_mask] = 100.0
    assert torch.equal(attn(x, grid, ctx2, ctx_mask), out)


def test_rel_pos_bias_interpolation_identity_and_shapes():
    rel = RelativePositionBias((5, 8, 8), num_heads=3)
    before = rel.table.detach().clone()
    rel.interpolate((5, 8, 8))
    assert (rel.table - before).abs().max().item() <= 1e-6
    rel.interpolate((5, 8, 14))
    assert tuple(rel.table.shape) == (3, 9, 15, 27)
    assert tuple(rel((5, 8, 14)).shape) == (3, 5 * 8 * 14, 5 * 8 * 14)
    sw = RelativePositionBias((1, 16, 16), num_heads=2)
    sw.interpolate((1, 16, 28))
    assert tuple(sw.table.shape) == (2, 1, 31, 55)
    with pytest.raises(ValueError, match=r"larger than the table's window \(1, 16, 28\)"):
        sw((1, 16, 32))


def test_abs_pos_embed_images_get_first_frame_and_interpolation():
    pos = POS_EMBEDS.build(dict(type="LearnedSpaceTimePosEmbed", dim=4, grid=(5, 2, 3)))
    grid = Grid(5, 2, 3)
    x = torch.randn(2, grid.numel, 4)
    image_mask = torch.tensor([[False] * 5, [True] * 5])
    out = pos(x, grid, image_mask).view(2, 5, 6, 4)
    spatial = pos.spatial.reshape(6, 4)
    xv = x.view(2, 5, 6, 4)
    for f in range(5):
        assert torch.allclose(out[0, f], xv[0, f] + spatial + pos.temporal[f])
        assert torch.allclose(out[1, f], xv[1, f] + spatial + pos.temporal[0])
    sp, tp = pos.spatial.detach().clone(), pos.temporal.detach().clone()
    pos.interpolate((5, 2, 3))
    assert (pos.spatial - sp).abs().max().item() <= 1e-6 and (pos.temporal - tp).abs().max().item() <= 1e-6
    big = POS_EMBEDS.build(dict(type="LearnedSpaceTimePosEmbed", dim=4, grid=(5, 16, 16)))
    big.interpolate((5, 16, 28))
    assert tuple(big.spatial.shape) == (16, 28, 4) and tuple(big.temporal.shape) == (5, 4)
    assert big(torch.zeros(1, 5 * 16 * 28, 4), Grid(5, 16, 28)).shape == (1, 5 * 16 * 28, 4)
