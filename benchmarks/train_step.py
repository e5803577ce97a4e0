"""LAVITA training-step benchmark on CPU: walt's LAVITA vs a straightforward DiT/Latte-style reference.

One step = forward + backward + AdamW update of LAVITA-S/2 (variant 2, S-AdaLN, learned sigma) on a batch of
``2 × 4 × 16 × 32 × 32`` latents (16 frames of 256² video through the SD VAE). Ours: fused qkv, SDPA, bf16
autocast (native bf16 matmuls where the CPU has them), fused AdamW. Reference (written below, same weights): einops
``rearrange`` between spatial and temporal blocks, separate q/k/v linears, explicit ``softmax(q kᵀ/√d) v``, fp32,
per-parameter AdamW. Each implementation runs in its own subprocess so that its peak RSS is its own; the outputs
of the two models are compared in fp32 before timing.

Example::

    python benchmarks/train_step.py --steps 1 --warmup 1

The machine it was written on is shared; CPU time per step (``time.process_time``) is reported beside wall time
because it is far less sensitive to other processes than wall time.
"""
from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from walt.models.convert import walt_to_latte
from walt.models.backbones.lavita import LAVITA

BATCH, CHANNELS, FRAMES, SIDE = 2, 4, 16, 32


# --------------------------------------------------------------------------------- reference implementation
class RefAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.proj = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = (rearrange(f(x), "b n (h d) -> b h n d", h=self.heads) for f in (self.q, self.k, self.v))
        attn = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
        return self.proj(rearrange(attn @ v, "b h n d -> b n (h d)"))


class RefBlock(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = RefAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.fc1, self.fc2 = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        sh1, sc1, g1, sh2, sc2, g2 = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + g1.unsqueeze(1) * self.attn(self.norm1(x) * (1 + sc1.unsqueeze(1)) + sh1.unsqueeze(1))
        h = self.norm2(x) * (1 + sc2.unsqueeze(1)) + sh2.unsqueeze(1)
        return x + g2.unsqueeze(1) * self.fc2(F.gelu(self.fc1(h), approximate="tanh"))


class RefLatte(nn.Module):
    """Latte (variant 2) as DiT writes it: per-frame tokens, rearranged for every temporal block."""

    def __init__(self, depth: int, dim: int, heads: int, patch: int, channels: int, frames: int, side: int):
        super().__init__()
        self.patch, self.channels = patch, channels
        self.x_embedder = nn.Conv2d(channels, dim, patch, stride=patch)
        self.t_mlp = nn.Sequential(nn.Linear(256, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.register_buffer("pos_embed", torch.zeros(1, (side // patch) ** 2, dim))
        self.register_buffer("temp_embed", torch.zeros(1, frames, dim))
        self.blocks = nn.ModuleList(RefBlock(dim, heads) for _ in range(depth))
        self.final_norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))
        self.final_linear = nn.Linear(dim, patch * patch * 2 * channels)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        b, _, f, h, w = x.shape
        x = rearrange(x, "b c f h w -> (b f) c h w")
        x = rearrange(self.x_embedder(x), "n d h w -> n (h w) d") + self.pos_embed
        freqs = torch.exp(-math.log(10000) * torch.arange(128) / 128)
        args = t.float()[:, None] * freqs[None]
        c = self.t_mlp(torch.cat([torch.cos(args), torch.sin(args)], dim=-1))
        s = x.shape[1]
        for i in range(0, len(self.blocks), 2):
            x = self.blocks[i](x, c.repeat_interleave(f, dim=0))
            x = rearrange(x, "(b f) s d -> (b s) f d", b=b)
            if i == 0:
                x = x + self.temp_embed
            x = self.blocks[i + 1](x, c.repeat_interleave(s, dim=0))
            x = rearrange(x, "(b s) f d -> (b f) s d", b=b)
        shift, scale = self.final_ada(c.repeat_interleave(f, dim=0)).chunk(2, dim=1)
        x = self.final_linear(self.final_norm(x) * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1))
        p, hp = self.patch, h // self.patch
        return rearrange(x, "(b f) (hh ww) (p q c) -> b c f (hh p) (ww q)", b=b, hh=hp, p=p, q=p)

    def load_latte(self, sd: dict[str, Tensor]) -> None:
        """Load an official Latte state dict (fused qkv split into q, k, v)."""
        mine = {"x_embedder.weight": sd["x_embedder.proj.weight"], "x_embedder.bias": sd["x_embedder.proj.bias"],
                "pos_embed": sd["pos_embed"], "temp_embed": sd["temp_embed"]}
        for i in (0, 2):
            for kind in ("weight", "bias"):
                mine[f"t_mlp.{i}.{kind}"] = sd[f"t_embedder.mlp.{i}.{kind}"]
        for kind in ("weight", "bias"):
            mine[f"final_ada.1.{kind}"] = sd[f"final_layer.adaLN_modulation.1.{kind}"]
            mine[f"final_linear.{kind}"] = sd[f"final_layer.linear.{kind}"]
            for i in range(len(self.blocks)):
                q, k, v = sd[f"blocks.{i}.attn.qkv.{kind}"].chunk(3, dim=0)
                mine.update({f"blocks.{i}.attn.q.{kind}": q, f"blocks.{i}.attn.k.{kind}": k,
                             f"blocks.{i}.attn.v.{kind}": v})
                for src, dst in (("attn.proj", "attn.proj"), ("mlp.fc1", "fc1"), ("mlp.fc2", "fc2"),
                                 ("adaLN_modulation.1", "adaLN_modulation.1")):
                    mine[f"blocks.{i}.{dst}.{kind}"] = sd[f"blocks.{i}.{src}.{kind}"]
        self.load_state_dict(mine)


# ------------------------------------------------------------------------------------------------ the run
def build(impl: str) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    ours = LAVITA(preset="LAVITA-S/2", variant=2, in_channels=CHANNELS, num_frames=FRAMES, input_size=SIDE)
    with torch.no_grad():  # non-zero adaLN and head so the comparison and the gradients are not trivial
        for p in ours.parameters():
            if p.abs().sum() == 0:
                p.normal_(std=0.02)
    if impl == "ours":
        return ours, torch.optim.AdamW(ours.parameters(), lr=1e-4, fused=True)
    ref = RefLatte(12, 384, 6, 2, CHANNELS, FRAMES, SIDE)
    ref.load_latte(walt_to_latte(ours))
    return ref, torch.optim.AdamW(ref.parameters(), lr=1e-4, foreach=False)


def batch() -> tuple[Tensor, Tensor, Tensor]:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(BATCH, CHANNELS, FRAMES, SIDE, SIDE, generator=gen)
    target = torch.randn(BATCH, 2 * CHANNELS, FRAMES, SIDE, SIDE, generator=gen)
    return x, torch.tensor([10, 500]), target


def run(impl: str, steps: int, warmup: int) -> dict:
    model, opt = build(impl)
    x, t, target = batch()
    use_bf16 = impl == "ours"
    times, cpu_times = [], []
    for i in range(warmup + steps):
        start, cpu_start = time.perf_counter(), time.process_time()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
            loss = F.mse_loss(model(x, t).float(), target)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i >= warmup:
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(impl=impl, s_per_step=sum(times) / len(times), cpu_s_per_step=sum(cpu_times) / len(cpu_times),
                times=times, peak_rss_mb=rss_mb)


def check_same_model() -> float:
    """Max |ours − reference| of the fp32 forward outputs for the same weights (one 16-frame sample)."""
    ours, _ = build("ours")
    ref, _ = build("reference")
    x, t, _ = batch()
    with torch.no_grad():
        return float((ours(x[:1], t[:1]) - ref(x[:1], t[:1])).abs().max())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1, help="timed steps per implementation (1)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed warm-up steps (1)")
    parser.add_argument("--impl", choices=("ours", "reference"), help=argparse.SUPPRESS)  # child process mode
    args = parser.parse_args(argv)
    if args.impl:
        print(json.dumps(run(args.impl, args.steps, args.warmup)))
        return
    diff = check_same_model()
    results = {}
    for impl in ("reference", "ours"):
        out = subprocess.run([sys.executable, __file__, "--impl", impl, "--steps", str(args.steps), "--warmup",
                              str(args.warmup)], check=True, capture_output=True, text=True).stdout
        results[impl] = json.loads(out.strip().splitlines()[-1])
        r = results[impl]
        print(f"{impl:9s}: {r['s_per_step']:.2f} s/step wall (steps {', '.join(f'{s:.2f}' for s in r['times'])}), "
              f"{r['cpu_s_per_step']:.2f} CPU-s/step, peak RSS {r['peak_rss_mb']:.0f} MB")
    ours, ref = results["ours"], results["reference"]
    print(f"train_step: LAVITA-S/2 batch {BATCH} latent {FRAMES}x{CHANNELS}x{SIDE}x{SIDE} CPU, "
          f"{torch.get_num_threads()} threads: ours {ours['s_per_step']:.2f} s/step vs reference "
          f"{ref['s_per_step']:.2f} s/step = {ref['s_per_step'] / ours['s_per_step']:.2f}x wall, "
          f"{ref['cpu_s_per_step'] / ours['cpu_s_per_step']:.2f}x CPU time; peak RSS {ours['peak_rss_mb']:.0f} vs "
          f"{ref['peak_rss_mb']:.0f} MB; max |out diff| fp32 {diff:.1e}")


if __name__ == "__main__":
    main()
