"""LAVITA attentions (lavita.md §3.2, §3.5, §3.6) against independent einsum/softmax computations."""
import torch

from walt.models.attention.lavita_attention import (SpatialAttention, SpatioTemporalSplitHeadAttention,
                                                    TemporalAttention)
from walt.models.embeddings.rope import TemporalRoPE, rotate
from walt.models.grid import Grid

B, T, H, W, D, HEADS = 2, 4, 3, 2, 16, 4
GRID = Grid(T, H, W)


def _reference_mha(x5, qkv, heads, axis):
    """Plain softmax MHA on ``x5`` (B, T, H, W, C) along ``axis`` ('space' or 'time'); returns (B, T, H, W, C/3·...)."""
    b, t, h, w, _ = x5.shape
    q, k, v = qkv(x5).chunk(3, dim=-1)
    d = q.shape[-1] // heads

    def split(z):  # → (B, T, H·W, heads, d)
        return z.reshape(b, t, h * w, heads, d)

    q, k, v = split(q), split(k), split(v)
    if axis == "space":
        logits = torch.einsum("btnhd,btmhd->bthnm", q, k) / d**0.5
        out = torch.einsum("bthnm,btmhd->btnhd", logits.softmax(-1), v)
    else:
        logits = torch.einsum("btnhd,bsnhd->bnhts", q, k) / d**0.5
        out = torch.einsum("bnhts,bsnhd->btnhd", logits.softmax(-1), v)
    return out.reshape(b, t, h, w, heads * d)


def test_spatial_attention_equals_per_frame_softmax_attention():
    attn = SpatialAttention(D, HEADS).eval()
    x = torch.randn(B, GRID.numel, D)
    ref = attn.proj(_reference_mha(x.view(B, T, H, W, D), attn.qkv, HEADS, "space")).reshape(B, -1, D)
    torch.testing.assert_close(attn(x, GRID), ref, rtol=1e-5, atol=1e-5)


def test_temporal_attention_equals_per_position_softmax_attention():
    attn = TemporalAttention(D, HEADS).eval()
    x = torch.randn(B, GRID.numel, D)
    ref = attn.proj(_reference_mha(x.view(B, T, H, W, D), attn.qkv, HEADS, "time")).reshape(B, -1, D)
    torch.testing.assert_close(attn(x, GRID), ref, rtol=1e-5, atol=1e-5)


def test_split_head_attention_sums_spatial_and_temporal_halves():
    attn = SpatioTemporalSplitHeadAttention(D, HEADS).eval()
    x = torch.randn(B, GRID.numel, D)
    x5 = x.view(B, T, H, W, D)
    d = D // HEADS
    half = HEADS // 2 * d
    w, bias = attn.qkv.weight.view(3, HEADS * d, D), attn.qkv.bias.view(3, HEADS * d)

    def qkv_of(sl):
        return lambda z: torch.cat([z @ w[i, sl].T + bias[i, sl] for i in range(3)], dim=-1)

    out_s = _reference_mha(x5, qkv_of(slice(0, half)), HEADS // 2, "space")
    out_t = _reference_mha(x5, qkv_of(slice(half, D)), HEADS // 2, "time")
    pw = attn.proj.weight
    ref = out_s @ pw[:, :half].T + out_t @ pw[:, half:].T + attn.proj.bias  # z_s + z'_t, each projected
    torch.testing.assert_close(attn(x, GRID), ref.reshape(B, -1, D), rtol=1e-5, atol=1e-5)


def test_split_head_with_all_heads_spatial_equals_spatial_attention():
    split = SpatioTemporalSplitHeadAttention(D, HEADS, spatial_heads=HEADS).eval()
    spatial = SpatialAttention(D, HEADS).eval()
    spatial.load_state_dict(split.state_dict())
    x = torch.randn(B, GRID.numel, D)
    torch.testing.assert_close(split(x, GRID), spatial(x, GRID), rtol=0, atol=1e-6)


def test_image_frames_are_untouched_by_temporal_attention():
    image_mask = torch.tensor([[False, False, True, True], [False, False, False, True]])
    x = torch.randn(B, GRID.numel, D)
    for attn in (TemporalAttention(D, HEADS), SpatioTemporalSplitHeadAttention(D, HEADS, spatial_heads=0)):
        out = attn(x, GRID, image_mask).view(B, T, H * W, D)
        # zero output (the split-head MHA: zero temporal heads, so only the shared projection's bias remains)
        untouched = torch.zeros(D) if isinstance(attn, TemporalAttention) else attn.proj.bias.detach()
        assert torch.equal(out[image_mask], untouched.expand_as(out[image_mask]))
        # video tokens ignore image frames: changing the images changes nothing
        x2 = x.view(B, T, H * W, D).clone()
        x2[image_mask] += torch.randn_like(x2[image_mask])
        out2 = attn(x2.view(B, -1, D), GRID, image_mask).view(B, T, H * W, D)
        torch.testing.assert_close(out2, out, rtol=0, atol=1e-6)
        # and equal attention over the video frames alone (sample 0: frames 0-1)
        alone = attn(x.view(B, T, H * W, D)[:1, :2].reshape(1, -1, D), Grid(2, H, W))
        torch.testing.assert_close(out[:1, :2].reshape(1, -1, D), alone, rtol=1e-5, atol=1e-6)


def test_rope_at_offset_zero_is_identity_and_relative():
    q, k = torch.randn(3, 6, 2, 8), torch.randn(3, 6, 2, 8)  # (B, N, heads, d) on a one-frame grid
    q0, k0 = TemporalRoPE(8)(q, k, Grid(1, 2, 3))  # a single frame at position 0
    assert torch.equal(q0, q) and torch.equal(k0, k)
    qs, ks = torch.randn(1, 1, 5, 8), torch.randn(1, 1, 5, 8)
    pos = torch.arange(5)
    dots = torch.einsum("...id,...jd->...ij", rotate(qs, pos), rotate(ks, pos))
    dots_shifted = torch.einsum("...id,...jd->...ij", rotate(qs, pos + 7), rotate(ks, pos + 7))
    torch.testing.assert_close(dots, dots_shifted, rtol=1e-4, atol=1e-4)  # depends on the offset only
    # a 2-D rotation by p·θ_0 on the first channel pair
    angle = 3.0
    x = torch.zeros(1, 8)
    x[0, 0] = 1.0
    r = rotate(x, torch.tensor([3]))
    torch.testing.assert_close(r[0, [0, 4]], torch.tensor([torch.cos(torch.tensor(angle)), torch.sin(torch.tensor(angle))]))


def test_temporal_attention_with_rope_rotates_q_and_k():
    attn = TemporalAttention(D, HEADS, rope=True).eval()
    plain = TemporalAttention(D, HEADS).eval()
    plain.load_state_dict(attn.state_dict())
    x = torch.randn(B, GRID.numel, D)
    single = Grid(1, H, W)  # one frame: position 0 only, RoPE is the identity
    torch.testing.assert_close(attn(x[:, : H * W], single), plain(x[:, : H * W], single), rtol=0, atol=1e-6)
    assert not torch.allclose(attn(x, GRID), plain(x, GRID), atol=1e-4)
