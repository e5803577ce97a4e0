"""Each registered self-attention equals dense softmax attention over the whole token grid under the mask that type
stands for, written out here from the papers (so the slot matrix of test_attention_matrix.py cannot hide a wrong
mask). All options on: qk-norm, relative position bias, temporal RoPE, a joint batch with image frames.

* W.A.L.T §4.2: SW = same frame and same ``h' × w'`` block; STW = same ``t' × h' × w'`` block, where an image token
  attends only to itself (the identity mask: its value passes through); full = everything, where an image token
  attends only to the tokens of its own frame; wherever a window spans frames video tokens attend only to video
  tokens.
* LAVITA §3.2/§3.6: spatial = same frame; temporal = same position, video frames only, and image tokens get no
  output; variant 4 = the first half of the heads spatial, the second half temporal (image tokens get no temporal
  heads), one output projection.
"""
import math

import pytest
import torch
import torch.nn.functional as F

from registry import ATTENTIONS
from walt.models.grid import Grid
from test_attention_matrix import SELF_ATTENTIONS

GRID = Grid(4, 4, 4)
DIM, HEADS = 16, 4
IMAGE_MASK = torch.tensor([[False, False, True, False], [True, False, False, True]])
WHOLE_FRAME, WHOLE_TIME, EVERYTHING = (1, GRID.h, GRID.w), (GRID.t, 1, 1), tuple(GRID)
ALL = slice(0, HEADS)
# type → its windows (config), and per head group: (heads, window, table of that group, image tokens get no output)
IDENTITY_FOR_IMAGES = {"SpatiotemporalWindowAttention"}  # W.A.L.T §4.2: images pass STW layers as is
STANDS_FOR = {
    "SpatialWindowAttention": (dict(window=(1, 2, 2)), [(ALL, (1, 2, 2), "rel_pos", False)]),
    "SpatiotemporalWindowAttention": (dict(window=(2, 2, 2)), [(ALL, (2, 2, 2), "rel_pos", False)]),
    "FullAttention": ({}, [(ALL, EVERYTHING, "rel_pos", False)]),
    "SpatialAttention": ({}, [(ALL, WHOLE_FRAME, "rel_pos", False)]),
    "TemporalAttention": ({}, [(ALL, WHOLE_TIME, "rel_pos", True)]),
    "SpatioTemporalSplitHeadAttention": ({}, [(slice(0, 2), WHOLE_FRAME, "rel_pos_parts.0", False),
                                              (slice(2, 4), WHOLE_TIME, "rel_pos_parts.1", True)]),
}


def _rope(x, frames):
    """Rotate channel pairs ``(i, i + d/2)`` of ``x`` ``(B, heads, N, d)`` by ``frame · 10000^(-2i/d)``."""
    d = x.shape[-1]
    angle = frames[:, None].double() * 10000.0 ** (-torch.arange(d // 2).double() * 2 / d)
    z = torch.complex(x[..., : d // 2].double(), x[..., d // 2:].double()) * torch.polar(torch.ones_like(angle), angle)
    return torch.cat([z.real, z.imag], dim=-1).to(x.dtype)


def _dense_reference(attn, x, groups, image_mask, identity=False):
    b, n, _ = x.shape
    hd = DIM // HEADS
    q, k, v = (t.view(b, n, HEADS, hd).transpose(1, 2) for t in (x @ attn.qkv.weight.T + attn.qkv.bias).chunk(3, -1))
    q = F.layer_norm(q, (hd,), attn.q_norm.weight, attn.q_norm.bias, eps=1e-6)
    k = F.layer_norm(k, (hd,), attn.k_norm.weight, attn.k_norm.bias, eps=1e-6)
    coords = torch.stack(torch.meshgrid(*[torch.arange(s) for s in GRID], indexing="ij"), -1).view(n, 3)
    frames = coords[:, 0]
    q, k = _rope(q, frames), _rope(k, frames)  # the identity between tokens of one frame
    image = image_mask[:, frames]  # (B, N)
    outs = []
    for heads, window, table_name, no_output_on_images in groups:
        block = coords // torch.tensor(window)
        allowed = (block[:, None] == block[None]).all(-1).expand(b, n, n)
        if window[0] > 1:  # spans frames: images keep to their own frame, or to themselves (identity)
            video = ~image
            own = torch.eye(n, dtype=torch.bool) if identity else frames[:, None] == frames[None]
            allowed = allowed & ((video[:, :, None] & video[:, None]) | own)
        table = attn.get_submodule(table_name)
        size = torch.tensor(table.window)
        offset = (coords[:, None] - coords[None] + size - 1).clamp(min=0).minimum(2 * size - 2)  # outside: masked
        bias = table.table[:, offset[..., 0], offset[..., 1], offset[..., 2]]  # (heads of the group, N, N)
        scores = q[:, heads] @ k[:, heads].transpose(-1, -2) / math.sqrt(hd) + bias
        out = scores.masked_fill(~allowed[:, None], float("-inf")).softmax(-1) @ v[:, heads]
        if no_output_on_images:
            out = out * (~image)[:, None, :, None]
        outs.append(out)
    out = torch.cat(outs, dim=1).transpose(1, 2).reshape(b, n, DIM) @ attn.proj.weight.T + attn.proj.bias
    if all(group[3] for group in groups):  # LAVITA temporal attention leaves image frames untouched
        out = out * (~image)[:, :, None]
    return out


def test_every_registered_self_attention_has_its_mask_written_here():
    assert sorted(STANDS_FOR) == sorted(SELF_ATTENTIONS)


@pytest.mark.parametrize("name", SELF_ATTENTIONS)
def test_attention_equals_dense_attention_under_the_mask_of_its_type(name):
    config, groups = STANDS_FOR[name]
    attn = ATTENTIONS.build(dict(type=name, **config), default_args=dict(
        dim=DIM, num_heads=HEADS, qk_norm=True, rel_pos_bias=True, rope=True, input_grid=tuple(GRID)))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in attn.parameters():  # non-trivial norms, biases and tables, so a skipped term would show
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    x = torch.randn(2, GRID.numel, DIM, generator=gen)
    ref = _dense_reference(attn, x, groups, IMAGE_MASK, identity=name in IDENTITY_FOR_IMAGES)
    torch.testing.assert_close(attn(x, GRID, IMAGE_MASK), ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(attn(x, GRID), _dense_reference(attn, x, groups, torch.zeros_like(IMAGE_MASK)),
                               rtol=1e-5, atol=1e-5)
