"""LoRA fine-tuning against full fine-tuning: one training step of LAVITA-S/2 on the same batch, same optimizer.

The model is ``train_step.py``'s LAVITA-S/2 (variant 2, S-AdaLN, learned sigma, 32.5 M parameters) on a batch of 2
latent videos ``(2, 4, 16, 16, 16)`` (16 frames of 128² video through the SD VAE: 2 × 1024 tokens; the 256² batch
of ``train_step.py`` takes minutes per step on a shared 2-core CPU); one step = forward + backward + AdamW update
(walt's ``build_optimizer`` over the trainable parameters) with an MSE loss against a fixed target, with gradient
checkpointing as the fine-tuning configs train (``--no-grad-checkpointing``: without). ``full`` trains every weight;
``lora`` adds peft LoRA adapters of rank ``--rank`` (alpha = rank) to the blocks' attention q/k/v and output
projections and MLPs (``walt.models.adapters``, as ``model.lora`` does in a run) and trains them alone, the base frozen in fp32 (this
benchmark measures the CPU's native precision; bf16 base weights where the hardware has bf16 would shrink LoRA's
memory further).

Each mode runs in a child process of its own, ``--rounds`` times in turn (full, lora, full, lora: machine load hits
both alike), so its peak RSS is its own; the report gives the peak RSS and its part above the child's RSS before the
model was built (the interpreter with torch, walt and peft imported, the same for both). Step time is the median
over all timed steps, after one untimed step (AdamW allocates its state there). The children run with glibc's mmap
threshold pinned at 128 KiB (``MALLOC_MMAP_THRESHOLD_``): by default glibc raises it as large blocks are freed, after
which freed tensors stay resident and the peak RSS measures the allocator's retention more than the live tensors
(``--glibc-default`` measures that way). "Peak tensors" is the memory a GPU allocator would report: the weights, the
optimizer state and the peak of the tensors one more (untimed) step creates and holds at once (activations,
gradients), counted exactly by ``harness.PeakTensorMemory``; the RSS adds the allocator's and the libraries' memory.
Goals (issue 28): optimizer state ≤ 5 % of full fine-tuning's, peak memory ≤ 60 %, step time ≤ full's.

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

from torch import nn

import harness
from registry import BACKBONES
from walt.engine.optim import build_optimizer
from walt.models.adapters import LoRASettings, attach_lora

TARGET = ("attn_qkv", "attn_out", "mlp")


BATCH = (2, 4, 16, 16, 16)


def build() -> nn.Module:
    torch.manual_seed(0)
    _, c, t, h, w = BATCH
    return BACKBONES.build(dict(type="LAVITA", preset="LAVITA-S/2", variant=2, in_channels=c, input_size=(t, h, w)))


def run(mode: str, rank: int, steps: int, grad_checkpointing: bool) -> dict:
    """One child: build, train ``1 + steps`` steps, report."""
    base_rss = harness.status_mib("VmRSS")
    gen = torch.Generator().manual_seed(1)
    x, t = torch.randn(*BATCH, generator=gen), torch.tensor([10, 500])
    target = torch.randn(BATCH[0], 2 * BATCH[1], *BATCH[2:], generator=gen)
    net = build().train()
    net.grad_checkpointing = grad_checkpointing
    if mode == "lora":
        attach_lora(net, LoRASettings(r=rank, alpha=float(rank), target=TARGET))
    optimizer = build_optimizer(dict(type="AdamW", lr=1e-4), net)

    def step() -> None:
        F.mse_loss(net(x, t), target).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    times, cpu_times = [], []
    for _ in range(1 + steps):
        start, cpu_start = time.perf_counter(), time.process_time()
        step()
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    peak_rss = harness.peak_rss_mib()
    state_bytes = sum(v.numel() * v.element_size() for s in optimizer.state.values() for v in s.values()
                      if torch.is_tensor(v) and v.dim() > 0)
    weight_bytes = sum(p.numel() * p.element_size() for p in net.parameters())
    return dict(mode=mode, times=times[1:], cpu_times=cpu_times[1:], peak_rss_mib=peak_rss, base_rss_mib=base_rss,
                tensor_mib=(weight_bytes + state_bytes) / 2**20 + harness.peak_mib(step),
                trainable=sum(p.numel() for p in net.parameters() if p.requires_grad),
                total=sum(p.numel() for p in net.parameters()), optimizer_state_bytes=state_bytes)


def summarize(results: dict[str, list[dict]], rank: int) -> None:
    rows = {}
    for mode, runs in results.items():
        rows[mode] = dict(s=harness.median([s for r in runs for s in r["times"]]),
                          cpu=harness.median([s for r in runs for s in r["cpu_times"]]),
                          rss=harness.median([r["peak_rss_mib"] for r in runs]),
                          base=min(r["base_rss_mib"] for r in runs), tensors=runs[0]["tensor_mib"],
                          trainable=runs[0]["trainable"],
                          total=runs[0]["total"], state=runs[0]["optimizer_state_bytes"])
    print("\n| mode | trainable params | optimizer state (MiB) | peak tensors (MiB) | peak RSS (MiB) "
          "| above imports (MiB) | step (s) | CPU (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for mode, r in rows.items():
        print(f"| {mode if mode == 'full' else f'LoRA r={rank}'} | {r['trainable']:,} of {r['total']:,} | "
              f"{r['state'] / 2**20:.2f} | {r['tensors']:.0f} | {r['rss']:.0f} | {r['rss'] - r['base']:.0f} | "
              f"{r['s']:.2f} | {r['cpu']:.2f} |")
    full, lora = rows["full"], rows["lora"]
    state, rss, above = lora["state"] / full["state"], lora["rss"] / full["rss"], \
        (lora["rss"] - lora["base"]) / (full["rss"] - full["base"])
    tensors = lora["tensors"] / full["tensors"]
    speed, cpu = lora["s"] / full["s"], lora["cpu"] / full["cpu"]
    print(f"\nlora_finetune: LoRA r={rank} / full: trainable {lora['trainable'] / full['trainable']:.2%}, optimizer "
          f"state {state:.2%} (goal <= 5%), peak tensor memory {tensors:.0%} (goal <= 60%), peak RSS {rss:.0%} "
          f"({above:.0%} above the imports), "
          f"step time {speed:.2f}x, CPU time {cpu:.2f}x (goal <= 1)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rank", type=int, default=16, help="LoRA rank r (default 16)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per child (after one untimed)")
    parser.add_argument("--rounds", type=int, default=2, help="children per mode, interleaved")
    parser.add_argument("--no-grad-checkpointing", dest="grad_checkpointing", action="store_false",
                        help="keep every activation (both modes)")
    parser.add_argument("--glibc-default", action="store_true",
                        help="leave glibc's dynamic mmap threshold on (freed tensors stay resident)")
    parser.add_argument("--child", choices=("full", "lora"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run(args.child, args.rank, args.steps, args.grad_checkpointing)))
        return
    harness.print_hardware()
    if not args.glibc_default:
        os.environ["MALLOC_MMAP_THRESHOLD_"] = str(128 * 1024)  # inherited by the children
    print(f"LAVITA-S/2, batch {BATCH}, gradient checkpointing {'on' if args.grad_checkpointing else 'off'}, fp32, "
          f"MALLOC_MMAP_THRESHOLD_={os.environ.get('MALLOC_MMAP_THRESHOLD_', 'glibc default')}")
    results: dict[str, list[dict]] = {"full": [], "lora": []}
    for _ in range(args.rounds):
        for mode in results:
            child = ["--child", mode, "--rank", str(args.rank), "--steps", str(args.steps)]
            r = harness.run_child(os.path.abspath(__file__),
                                  child + ([] if args.grad_checkpointing else ["--no-grad-checkpointing"]))
            results[mode].append(r)
            print(f"{mode}: {', '.join(f'{s:.2f}' for s in r['times'])} s/step, peak RSS {r['peak_rss_mib']:.0f} MiB",
                  flush=True)
    summarize(results, args.rank)


if __name__ == "__main__":
    main()
