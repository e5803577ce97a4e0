"""LoRA fine-tuning against full fine-tuning: one training step of LAVITA-S/2 on the same batch, same optimizer.

The model and batch are ``train_step.py``'s (LAVITA-S/2, variant 2, S-AdaLN, learned sigma; a batch of 2 latent
videos ``(2, 4, 16, 32, 32)``), one step = forward + backward + AdamW update (walt's ``build_optimizer`` over the
trainable parameters) with an MSE loss against a fixed target. ``full`` trains every weight; ``lora`` adds peft LoRA
adapters of rank ``--rank`` (alpha = rank) to the blocks' attention q/k/v and output projections and MLPs
(``walt.models.adapters``, as ``model.lora`` does in a run) and trains them alone, the base frozen in fp32 (this
benchmark measures the CPU's native precision; bf16 base weights where the hardware has bf16 would shrink LoRA's
memory further).

Each mode runs in a child process of its own, ``--rounds`` times in turn (full, lora, full, lora: machine load hits
both alike), so its peak RSS is its own; the report gives the peak RSS and its part above the child's RSS before the
model was built (the interpreter with torch, walt and peft imported, the same for both). Step time is the median
over all timed steps, after one untimed step (AdamW allocates its state there). Goals (issue 28): optimizer state
≤ 5 % of full fine-tuning's, peak memory ≤ 60 %, step time ≤ full's.

Example::

    python benchmarks/lora_finetune.py                       # 2 rounds × 3 timed steps per mode
    python benchmarks/lora_finetune.py --rank 16 --steps 2 --rounds 1
"""
from __future__ import annotations

import argparse
import json
import os
import time

import torch
import torch.nn.functional as F

import harness
import train_step
from walt.engine.optim import build_optimizer
from walt.models.adapters import LoRASettings, attach_lora

TARGET = ("attn_qkv", "attn_out", "mlp")


def run(mode: str, rank: int, steps: int) -> dict:
    """One child: build, train ``1 + steps`` steps, report."""
    base_rss = harness.status_mib("VmRSS")
    x, t, _, target = train_step.batch("lavita")
    net = train_step.walt_lavita(compile_=False).train()
    if mode == "lora":
        attach_lora(net, LoRASettings(r=rank, alpha=float(rank), target=TARGET))
    optimizer = build_optimizer(dict(type="AdamW", lr=1e-4), net)
    times = []
    for _ in range(1 + steps):
        start = time.perf_counter()
        F.mse_loss(net(x, t), target).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    state_bytes = sum(v.numel() * v.element_size() for s in optimizer.state.values() for v in s.values()
                      if torch.is_tensor(v) and v.dim() > 0)
    return dict(mode=mode, times=times[1:], peak_rss_mib=harness.peak_rss_mib(), base_rss_mib=base_rss,
                trainable=sum(p.numel() for p in net.parameters() if p.requires_grad),
                total=sum(p.numel() for p in net.parameters()), optimizer_state_bytes=state_bytes)


def summarize(results: dict[str, list[dict]], rank: int) -> None:
    rows = {}
    for mode, runs in results.items():
        rows[mode] = dict(s=harness.median([s for r in runs for s in r["times"]]),
                          rss=harness.median([r["peak_rss_mib"] for r in runs]),
                          base=min(r["base_rss_mib"] for r in runs), trainable=runs[0]["trainable"],
                          total=runs[0]["total"], state=runs[0]["optimizer_state_bytes"])
    print(f"\n| mode | trainable params | optimizer state (MiB) | peak RSS (MiB) | above imports (MiB) | step (s) |")
    print("|---|---|---|---|---|---|")
    for mode, r in rows.items():
        print(f"| {mode if mode == 'full' else f'LoRA r={rank}'} | {r['trainable']:,} of {r['total']:,} | "
              f"{r['state'] / 2**20:.2f} | {r['rss']:.0f} | {r['rss'] - r['base']:.0f} | {r['s']:.2f} |")
    full, lora = rows["full"], rows["lora"]
    state, rss, above = lora["state"] / full["state"], lora["rss"] / full["rss"], \
        (lora["rss"] - lora["base"]) / (full["rss"] - full["base"])
    speed = lora["s"] / full["s"]
    print(f"\nlora_finetune: LoRA r={rank} / full: trainable {lora['trainable'] / full['trainable']:.2%}, optimizer "
          f"state {state:.2%} (goal <= 5%), peak RSS {rss:.0%} ({above:.0%} above the imports; goal <= 60%), "
          f"step time {speed:.2f}x (goal <= 1)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rank", type=int, default=16, help="LoRA rank r (default 16)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per child (after one untimed)")
    parser.add_argument("--rounds", type=int, default=2, help="children per mode, interleaved")
    parser.add_argument("--child", choices=("full", "lora"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run(args.child, args.rank, args.steps)))
        return
    harness.print_hardware()
    results: dict[str, list[dict]] = {"full": [], "lora": []}
    for _ in range(args.rounds):
        for mode in results:
            r = harness.run_child(os.path.abspath(__file__), ["--child", mode, "--rank", str(args.rank),
                                                              "--steps", str(args.steps)])
            results[mode].append(r)
            print(f"{mode}: {', '.join(f'{s:.2f}' for s in r['times'])} s/step, peak RSS {r['peak_rss_mib']:.0f} MiB",
                  flush=True)
    summarize(results, args.rank)


if __name__ == "__main__":
    main()
