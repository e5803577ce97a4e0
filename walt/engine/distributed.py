"""Distributed setup for ``torchrun``: process group (nccl on CUDA, gloo on CPU), device choice, wrapping the model
for data parallelism (``parallel="ddp"``) or fully sharded data parallelism (``parallel="fsdp"``: FSDP2
``fully_shard`` on every backbone block, then on the whole model), and what differs between the two for the
trainer: full state dicts of the model and optimizer for a checkpoint (FSDP gathers shards), and switching the
gradient all-reduce off on the non-final micro-steps of gradient accumulation."""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["DistInfo", "init_distributed", "wrap_model", "unwrap", "all_reduce_mean", "gather_objects", "cleanup",
           "gradient_sync", "get_training_state", "set_training_state"]


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed() -> DistInfo:
    """Join the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1); one device per local rank."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo",
                                device_id=device if device.type == "cuda" else None)
    return DistInfo(rank, world_size, local_rank, device)


def wrap_model(model: nn.Module, parallel: str, info: DistInfo) -> nn.Module:
    """``model`` unchanged on one process; else DDP or FSDP2 as ``parallel`` says."""
    if parallel not in ("ddp", "fsdp"):
        raise ValueError(f"parallel must be 'ddp' or 'fsdp', got {parallel!r}")
    if not info.distributed:
        return model
    if parallel == "ddp":
        ids = [info.device.index] if info.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)
    from torch.distributed.fsdp import fully_shard

    backbone = getattr(model, "backbone", model)
    blocks = getattr(backbone, "blocks", [])
    for block in blocks.values() if isinstance(blocks, nn.ModuleDict) else blocks:  # LAVITA keys its blocks
        fully_shard(block)
    fully_shard(model)
    return model


def unwrap(model: nn.Module) -> nn.Module:
    """The user's module inside a DDP wrapper (FSDP2 shards in place, nothing to unwrap)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def _sharded(model: nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule
    return isinstance(model, FSDPModule)


@contextlib.contextmanager
def gradient_sync(model: nn.Module, enabled: bool) -> Iterator[None]:
    """Forward and backward inside this block all-reduce (DDP) / reduce-scatter (FSDP) the gradients only when
    ``enabled``; otherwise each rank accumulates its own local gradients (``no_sync``), to be synchronised by the
    last micro-step of the optimizer step."""
    if enabled:
        yield
    elif isinstance(model, nn.parallel.DistributedDataParallel):
        with model.no_sync():
            yield
    elif _sharded(model):
        model.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            model.set_requires_gradient_sync(True)
    else:
        yield


def get_training_state(model: nn.Module, optimizer: torch.optim.Optimizer,
                       skip: set[str]) -> tuple[dict[str, torch.Tensor], dict]:
    """Full (unsharded) state dicts of the model (without the names in ``skip``, on CPU) and of the optimizer.
    Under FSDP every rank must call it (it gathers the shards); the full dicts then exist on rank 0 only."""
    if _sharded(model):
        from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                             get_optimizer_state_dict)
        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        model_state = get_model_state_dict(model, options=options)
        optimizer_state = get_optimizer_state_dict(model, optimizer, options=options)
    else:
        model_state, optimizer_state = unwrap(model).state_dict(), optimizer.state_dict()
    return {k: v.detach().cpu() for k, v in model_state.items() if k not in skip}, optimizer_state


def set_training_state(model: nn.Module, model_state: dict[str, torch.Tensor],
                       optimizer: torch.optim.Optimizer | None = None, optimizer_state: dict | None = None) -> Any:
    """Load full state dicts (as :func:`get_training_state` returns them) into a possibly sharded model and, when
    given, its optimizer; returns the model's ``(missing_keys, unexpected_keys)`` (loaded non-strictly)."""
    if _sharded(model):
        from torch.distributed.checkpoint.state_dict import (StateDictOptions, set_model_state_dict,
                                                             set_optimizer_state_dict)
        result = set_model_state_dict(model, model_state,
                                      options=StateDictOptions(full_state_dict=True, strict=False))
        if optimizer is not None:
            set_optimizer_state_dict(model, optimizer, optimizer_state,
                                     options=StateDictOptions(full_state_dict=True))
        return result
    result = unwrap(model).load_state_dict(model_state, strict=False)
    if optimizer is not None:
        optimizer.load_state_dict(optimizer_state)
    return result


def all_reduce_mean(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of ``values`` over ranks (identity on one process)."""
    if info.distributed:
        values = values.clone()
        dist.all_reduce(values)
        values /= info.world_size
    return values


def gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank."""
    if not info.distributed:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def cleanup(info: DistInfo) -> None:
    if info.distributed and dist.is_initialized():
        dist.destroy_process_group()
