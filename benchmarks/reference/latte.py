"""The public Latte model (LAVITA's reference code, ``models/latte.py`` of github.com/Vchitect/Latte), restated as the
peer of ``benchmarks/train_step.py``. Not part of walt.

What the public code does, and so does this file, operation for operation:

* ``Attention``: one fused ``qkv`` linear; ``reshape(B, N, 3, heads, d).permute(2, 0, 3, 1, 4).contiguous()``;
  ``attention_mode='math'``: ``softmax(q kᵀ · d^-½) v`` as explicit matmuls, ``'flash'``:
  ``F.scaled_dot_product_attention``; then ``transpose(1, 2).reshape(B, N, C)`` and ``proj``; dropouts of p = 0.
  (The public ``'flash'`` branch reshapes SDPA's ``(B, heads, N, d)`` output to ``(B, N, C)`` without the transpose,
  which mixes heads and tokens; here both modes compute the same function, with the transpose of ``'math'``.)
* ``TransformerBlock``: adaLN-Zero as in DiT; its ``adaLN_modulation`` (SiLU, Linear to 6D) is applied to the
  conditioning *repeated per sequence* (per frame in spatial blocks, per patch position in temporal blocks).
* ``Latte.forward``: ``rearrange`` ``b f c h w → (b f) c h w``, timm ``PatchEmbed`` + fixed 2-D sin-cos
  ``pos_embed``; timestep embedding repeated with ``einops.repeat``; block pairs, with ``rearrange``
  ``(b f) t d → (b t) f d`` before every temporal block (``temp_embed`` added before the first) and back after it;
  final layer on the per-frame conditioning; ``unpatchify`` via ``einsum('nhwpqc->nchpwq')``; output
  ``(B, F, 2C, H, W)`` (learned sigma). ``Mlp`` and ``PatchEmbed`` are timm's, as in the public code.

Weights load from walt's ``to_latte_state_dict`` (the public checkpoint layout), so the two models compute the same
function and ``train_step.py`` checks their outputs agree before timing them.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from timm.models.vision_transformer import Mlp, PatchEmbed
from torch import Tensor, nn


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, attention_mode: str = "math"):
        super().__init__()
        if attention_mode not in ("math", "flash"):
            raise ValueError(f"Latte Attention: attention_mode must be 'math' or 'flash', got {attention_mode!r}")
        self.num_heads, self.scale, self.attention_mode = num_heads, (dim // num_heads) ** -0.5, attention_mode
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.attn_drop = nn.Dropout(0.0)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(0.0)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4).contiguous()
        q, k, v = qkv.unbind(0)
        if self.attention_mode == "flash":
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            weights = self.attn_drop(((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1))
            out = weights @ v
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(b, n, c)))


class TimestepEmbedder(nn.Module):
    def __init__(self, hidden_size: int, frequency_embedding_size: int = 256):
        super().__init__()
        self.frequency_embedding_size = frequency_embedding_size
        self.mlp = nn.Sequential(nn.Linear(frequency_embedding_size, hidden_size), nn.SiLU(),
                                 nn.Linear(hidden_size, hidden_size))

    def forward(self, t: Tensor) -> Tensor:
        half = self.frequency_embedding_size // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half).to(t.device)
        args = t[:, None].float() * freqs[None]
        return self.mlp(torch.cat([torch.cos(args), torch.sin(args)], dim=-1))


class TransformerBlock(nn.Module):
    def __init__(self, hidden_size: int, num_heads: int, mlp_ratio: float = 4.0, attention_mode: str = "math"):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(hidden_size, num_heads, qkv_bias=True, attention_mode=attention_mode)
        self.norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(in_features=hidden_size, hidden_features=int(hidden_size * mlp_ratio),
                       act_layer=lambda: nn.GELU(approximate="tanh"), drop=0)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 6 * hidden_size))

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + gate_msa.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift_msa, scale_msa))
        return x + gate_mlp.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))


class FinalLayer(nn.Module):
    def __init__(self, hidden_size: int, patch_size: int, out_channels: int):
        super().__init__()
        self.norm_final = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden_size, patch_size * patch_size * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 2 * hidden_size))

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class Latte(nn.Module):
    """Latte (variant 2: spatial and temporal blocks interleaved), unconditional (``extras=1``), learned sigma."""

    def __init__(self, input_size: int = 32, patch_size: int = 2, in_channels: int = 4, hidden_size: int = 1152,
                 depth: int = 28, num_heads: int = 16, mlp_ratio: float = 4.0, num_frames: int = 16,
                 attention_mode: str = "math"):
        super().__init__()
        self.in_channels, self.out_channels, self.patch_size = in_channels, 2 * in_channels, patch_size
        self.x_embedder = PatchEmbed(input_size, patch_size, in_channels, hidden_size, bias=True)
        self.t_embedder = TimestepEmbedder(hidden_size)
        num_patches = self.x_embedder.num_patches
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches, hidden_size), requires_grad=False)
        self.temp_embed = nn.Parameter(torch.zeros(1, num_frames, hidden_size), requires_grad=False)
        self.blocks = nn.ModuleList(TransformerBlock(hidden_size, num_heads, mlp_ratio, attention_mode)
                                    for _ in range(depth))
        self.final_layer = FinalLayer(hidden_size, patch_size, self.out_channels)

    def unpatchify(self, x: Tensor) -> Tensor:
        c, p = self.out_channels, self.patch_size
        h = w = int(x.shape[1] ** 0.5)
        x = torch.einsum("nhwpqc->nchpwq", x.reshape(x.shape[0], h, w, p, p, c))
        return x.reshape(x.shape[0], c, h * p, w * p)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        """``x`` ``(B, F, C, H, W)`` (Latte's layout), ``t`` ``(B,)`` → ``(B, F, 2C, H, W)``."""
        batches = x.shape[0]
        x = self.x_embedder(rearrange(x, "b f c h w -> (b f) c h w")) + self.pos_embed
        t = self.t_embedder(t)
        timestep_spatial = repeat(t, "n d -> (n c) d", c=self.temp_embed.shape[1])
        timestep_temp = repeat(t, "n d -> (n c) d", c=self.pos_embed.shape[1])
        for i in range(0, len(self.blocks), 2):
            spatial_block, temp_block = self.blocks[i:i + 2]
            x = spatial_block(x, timestep_spatial)
            x = rearrange(x, "(b f) t d -> (b t) f d", b=batches)
            if i == 0:
                x = x + self.temp_embed
            x = temp_block(x, timestep_temp)
            x = rearrange(x, "(b t) f d -> (b f) t d", b=batches)
        x = self.unpatchify(self.final_layer(x, timestep_spatial))
        return rearrange(x, "(b f) c h w -> b f c h w", b=batches)
