"""Where a training step of ``benchmarks/train_step.py`` spends its time: ``torch.profiler`` over one step (forward +
backward + AdamW) of one contender after a warm-up step, top operators by self CPU time, and optionally by the memory
they allocate (``--memory``); and the activation memory of the step, exactly: the bytes of the tensors autograd saves
for the backward (parameters excluded), which unlike peak RSS does not depend on the allocator. Run it for walt and
for a peer, natively and under ``source scripts/avx2_env.sh``, and compare the tables (docs/benchmarks.md records
them).

Example::

    python benchmarks/profile_train_step.py --model lavita --impl walt
    python benchmarks/profile_train_step.py --model lavita --impl latte-math --memory --rows 15
"""
from __future__ import annotations

import argparse
from typing import Callable

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

import harness
import train_step


def saved_activation_mib(net: torch.nn.Module, forward: Callable[[], torch.Tensor]) -> float:
    """MiB of the distinct storages autograd saves for the backward during ``forward()`` (parameters excluded)."""
    params = {p.untyped_storage().data_ptr() for p in net.parameters()}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in params:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        forward()
    return sum(saved.values()) / 2**20


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("Example::")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=tuple(train_step.CONTENDERS), default="lavita")
    parser.add_argument("--impl", default="walt", help="a contender of the model (train_step.CONTENDERS)")
    parser.add_argument("--precision", choices=harness.PRECISIONS, default="fp32")
    parser.add_argument("--rows", type=int, default=20, help="operators listed (20)")
    parser.add_argument("--memory", action="store_true", help="also profile memory and list the top allocators")
    parser.add_argument("--compile", action="store_true", help="torch.compile the transformer blocks first")
    args = parser.parse_args(argv)
    if args.impl not in train_step.CONTENDERS[args.model]:
        known = ", ".join(train_step.CONTENDERS[args.model])
        parser.error(f"--impl {args.impl!r}: {args.model} contenders are {known}")

    harness.print_hardware()
    prec = harness.precisions([args.precision])[0]
    x, t, y, target = train_step.batch(args.model)
    net, opt = train_step.build(args.model, args.impl)
    if args.compile:
        train_step.compile_blocks(net)
    call = train_step.forward_fn(args.model, args.impl, net)

    def step():
        with prec.autocast():
            out = call(x, t, y)
        F.mse_loss(out.float(), target).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()  # warm-up (and compilation)
    with prec.autocast():
        activations = saved_activation_mib(net, lambda: call(x, t, y))
    with profile(activities=[ProfilerActivity.CPU], profile_memory=args.memory) as prof:
        step()
    table = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in table) / 1e6
    print(f"{args.model} {args.impl} {prec.name}: one step, {total:.2f} s self CPU time over all operators; "
          f"activations saved for backward {activations:.0f} MiB")
    print(table.table(sort_by="self_cpu_time_total", row_limit=args.rows, max_name_column_width=48))
    if args.memory:
        print(table.table(sort_by="self_cpu_memory_usage", row_limit=args.rows, max_name_column_width=48))
    print(f"profile_train_step: {args.model} {args.impl} {prec.name}, {activations:.0f} MiB saved activations, "
          "top ops: "
          + ", ".join(f"{e.key} {e.self_cpu_time_total / 1e6:.2f}s"
                      for e in sorted(table, key=lambda e: -e.self_cpu_time_total)[:6]))


if __name__ == "__main__":
    main()
