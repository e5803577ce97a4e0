"""A W.A.L.T denoiser written the straightforward way, as the peer of walt's ``WALT`` in ``benchmarks/train_step.py``.
Not part of walt.

W.A.L.T has no public code, so the peer is W.A.L.T §4.2–4.3 written in the style of the public DiT / Latte / Swin
code a researcher would start from:

* per-frame patchify (timm ``PatchEmbed`` on ``(b t) c h w``), learned spatial + temporal position tables;
* every block partitions its (modulated) tokens into windows with an ``einops.rearrange``, runs a Swin-style window
  attention (fused qkv, qk-norm, a ``relative_position_bias_table`` gathered through a ``relative_position_index``
  buffer every call) and merges the windows back with another ``rearrange``; ``attention_mode`` ``'math'`` (explicit
  matmuls, as Latte and Swin) or ``'flash'`` (``F.scaled_dot_product_attention`` with the bias as ``attn_mask``);
* AdaLN-LoRA (§4.3, Eq. 3) the DiT way, per block: a model-level ``adaLN_modulation`` (SiLU, Linear to 6D) shared by
  all layers plus each block's own low-rank pair ``lora_b(lora_a(c))`` (``lora_every_layer``, as walt's presets);
* DiT's adaLN final layer and an ``einops`` unpatchify.

:func:`load_walt_state_dict` maps walt's ``WALT`` state dict onto it, so both compute the same function (the benchmark
checks their outputs agree before timing).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from timm.models.vision_transformer import Mlp, PatchEmbed
from torch import Tensor, nn

from reference.latte import FinalLayer, TimestepEmbedder, modulate


def relative_position_index(window: tuple[int, int, int]) -> Tensor:
    """Swin's ``(L, L)`` index into a ``((2wt-1)(2wh-1)(2ww-1), heads)`` table, for a 3-D window."""
    coords = torch.stack(torch.meshgrid(*[torch.arange(w) for w in window], indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
    wt, wh, ww = window
    rel += torch.tensor([wt - 1, wh - 1, ww - 1])
    rel[:, :, 0] *= (2 * wh - 1) * (2 * ww - 1)
    rel[:, :, 1] *= 2 * ww - 1
    return rel.sum(-1)


class WindowAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int, window: tuple[int, int, int], attention_mode: str = "math"):
        super().__init__()
        if attention_mode not in ("math", "flash"):
            raise ValueError(f"WindowAttention: attention_mode must be 'math' or 'flash', got {attention_mode!r}")
        self.num_heads, self.window, self.attention_mode = num_heads, window, attention_mode
        head_dim = dim // num_heads
        self.scale = head_dim ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.q_norm, self.k_norm = nn.LayerNorm(head_dim, eps=1e-6), nn.LayerNorm(head_dim, eps=1e-6)
        self.proj = nn.Linear(dim, dim)
        sizes = [2 * w - 1 for w in window]
        self.relative_position_bias_table = nn.Parameter(torch.zeros(sizes[0] * sizes[1] * sizes[2], num_heads))
        self.register_buffer("relative_position_index", relative_position_index(window), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``(B · windows, L, C)``."""
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
        bias = bias.permute(2, 0, 1).contiguous().unsqueeze(0)
        if self.attention_mode == "flash":
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        else:
            out = (((q @ k.transpose(-2, -1)) * self.scale + bias).softmax(dim=-1)) @ v
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class WALTBlock(nn.Module):
    def __init__(self, dim: int, num_heads: int, grid: tuple[int, int, int], window: tuple[int, int, int],
                 rank: int, attention_mode: str):
        super().__init__()
        (t, h, w), (wt, wh, ww) = grid, window
        self.partition = dict(nt=t // wt, nh=h // wh, nw=w // ww, wt=wt, wh=wh, ww=ww)
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = WindowAttention(dim, num_heads, window, attention_mode)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(in_features=dim, hidden_features=4 * dim, act_layer=lambda: nn.GELU(approximate="tanh"), drop=0)
        self.lora_a = nn.Linear(dim, rank, bias=False)
        self.lora_b = nn.Linear(rank, 6 * dim, bias=False)

    def forward(self, x: Tensor, c: Tensor, shared: Tensor) -> Tensor:
        mod = shared + self.lora_b(self.lora_a(c))
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = mod.chunk(6, dim=1)
        h = rearrange(modulate(self.norm1(x), shift_msa, scale_msa),
                      "b (nt wt nh wh nw ww) d -> (b nt nh nw) (wt wh ww) d", **self.partition)
        h = rearrange(self.attn(h), "(b nt nh nw) (wt wh ww) d -> b (nt wt nh wh nw ww) d", **self.partition)
        x = x + gate_msa.unsqueeze(1) * h
        return x + gate_mlp.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))


class WALTReference(nn.Module):
    """Even layers spatial windows, odd layers spatiotemporal windows; class-conditional, self-conditioning input."""

    def __init__(self, in_channels: int = 8, grid: tuple[int, int, int] = (5, 16, 16), dim: int = 1024,
                 depth: int = 2, num_heads: int = 16, rank: int = 2, num_classes: int = 101,
                 spatial_window: tuple[int, int, int] = (1, 16, 16),
                 spatiotemporal_window: tuple[int, int, int] = (5, 8, 8), attention_mode: str = "math"):
        super().__init__()
        t, h, w = grid
        self.in_channels, self.grid = in_channels, grid
        self.x_embedder = PatchEmbed((h, w), 1, 2 * in_channels, dim, bias=True)  # [x, x_sc]
        self.pos_spatial = nn.Parameter(torch.zeros(h, w, dim))
        self.pos_temporal = nn.Parameter(torch.zeros(t, dim))
        self.t_embedder = TimestepEmbedder(dim)
        self.y_embedder = nn.Embedding(num_classes + 1, dim)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        self.blocks = nn.ModuleList(
            WALTBlock(dim, num_heads, grid, spatial_window if i % 2 == 0 else spatiotemporal_window, rank,
                      attention_mode) for i in range(depth))
        self.final_layer = FinalLayer(dim, 1, in_channels)

    def forward(self, x: Tensor, t: Tensor, y: Tensor) -> Tensor:
        """``x`` ``(B, C, T, H, W)`` → ``(B, C, T, H, W)`` (v prediction); self-conditioning input all zeros."""
        b, _, frames, h, w = x.shape
        x = torch.cat([x, torch.zeros_like(x)], dim=1)
        x = rearrange(self.x_embedder(rearrange(x, "b c t h w -> (b t) c h w")), "(b t) n d -> b (t n) d", b=b)
        x = x + rearrange(self.pos_temporal[:, None, None] + self.pos_spatial[None], "t h w d -> (t h w) d")
        c = self.t_embedder(t) + self.y_embedder(y)
        shared = self.adaLN_modulation(c)
        for block in self.blocks:
            x = block(x, c, shared)
        return rearrange(self.final_layer(x, c), "b (t h w) c -> b c t h w", t=frames, h=h, w=w)


def load_walt_state_dict(model: WALTReference, sd: dict[str, Tensor]) -> None:
    """Load a walt ``WALT`` (AdaLN-LoRA with ``lora_every_layer``, patch 1) state dict into ``model``."""
    mine = {"x_embedder.proj.weight": sd["patch_embed.proj.weight"],
            "x_embedder.proj.bias": sd["patch_embed.proj.bias"], "pos_spatial": sd["pos_embed.spatial"],
            "pos_temporal": sd["pos_embed.temporal"],
            "y_embedder.weight": sd["y_embedder.embedding_table.weight"]}
    for key, value in sd.items():
        if key.startswith(("t_embedder.", "final_layer.")):
            mine[key] = value
    for kind in ("weight", "bias"):
        mine[f"adaLN_modulation.1.{kind}"] = sd[f"conditioning.shared.1.{kind}"]
    for i in range(len(model.blocks)):
        mine[f"blocks.{i}.lora_a.weight"] = sd["conditioning.lora_a"][i]
        mine[f"blocks.{i}.lora_b.weight"] = sd["conditioning.lora_b"][i]
        mine[f"blocks.{i}.attn.relative_position_bias_table"] = sd[f"blocks.{i}.attn.rel_pos.table"].flatten(1).t()
        for part in ("attn.qkv", "attn.q_norm", "attn.k_norm", "attn.proj", "mlp.fc1", "mlp.fc2"):
            for kind in ("weight", "bias"):
                mine[f"blocks.{i}.{part}.{kind}"] = sd[f"blocks.{i}.{part}.{kind}"]
    model.load_state_dict(mine)
