"""Test-only components for the engine tests: a 2-layer MLP "model" with the top-level model contract and a
synthetic video dataset. Imported by tests and by subprocess runs through ``custom_imports`` in their configs."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from registry import DATASETS, MODELS, OPTIMIZERS

SHAPE = (3, 2, 4, 4)  # (C, T, H, W)


@MODELS.register_module(force=True)
class EngineTinyMLP(nn.Module):
    """Test model: denoise ``video + noise`` with a 2-layer MLP; a frozen linear stands in for an autoencoder.
    Faults to inject: a NaN loss from forward call ``nan_at_call`` on, a NaN gradient (finite loss) from call
    ``nan_grad_at_call`` on, ``sample()`` raising (``fail_sampling``); ``noise=False`` makes the loss deterministic."""

    def __init__(self, hidden: int = 16, nan_at_call: int | None = None, nan_grad_at_call: int | None = None,
                 sleep: float = 0.0, noise: bool = True, fail_sampling: bool = False):
        super().__init__()
        dim = int(torch.tensor(SHAPE).prod())
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.frozen = nn.Linear(dim, dim).requires_grad_(False)
        self.nan_at_call, self.nan_grad_at_call, self.sleep, self.calls = nan_at_call, nan_grad_at_call, sleep, 0
        self.noise, self.fail_sampling = noise, fail_sampling

    def forward(self, batch: dict) -> dict[str, Tensor]:
        self.calls += 1
        if self.sleep:
            import time
            time.sleep(self.sleep)
        x = self.frozen(batch["video"].flatten(1))
        noise = torch.randn_like(x) if self.noise else torch.zeros_like(x)  # global RNG, like a diffusion loss
        loss = F.mse_loss(self.mlp(x + noise), x)
        if self.nan_at_call is not None and self.calls >= self.nan_at_call:
            loss = loss * float("nan")
        if self.nan_grad_at_call is not None and self.calls >= self.nan_grad_at_call:
            loss = loss + torch.sqrt(self.mlp[0].bias.sum() * 0.0)  # adds 0 to the loss, NaN to the gradient
        return dict(loss=loss, noise_std=noise.std())

    @torch.no_grad()
    def sample(self, num: int, *, steps: int = 2, cfg_scale: float = 1.0, generator: torch.Generator | None = None,
               **_: object) -> Tensor:
        if self.fail_sampling:
            raise RuntimeError("EngineTinyMLP.sample failed on purpose")
        dim = int(torch.tensor(SHAPE).prod())
        z = torch.randn(num, dim, generator=generator)
        return torch.tanh(self.mlp(z)).view(num, *SHAPE)


@OPTIMIZERS.register_module(force=True)
class EngineTinySGD(torch.optim.SGD):
    """Test optimizer: plain SGD, whose update is ``lr × gradient``, so a wrong gradient scale (a missing
    ``1/accumulation``, gradients summed over ranks instead of averaged) changes the weights; AdamW's update does not
    depend on the gradient's scale."""

    def __init__(self, params, lr: float = 0.5):
        super().__init__(params, lr=lr)


# the optimizer entry of a config that trains with EngineTinySGD (replacing the AdamW of the schedule base)
SGD = dict(_delete_=True, type="EngineTinySGD", lr=0.5)


@DATASETS.register_module(force=True)
class EngineTinyVideos(Dataset):
    """Test dataset: ``length`` fixed random clips ``(3, 2, 4, 4)`` in [-1, 1] with labels."""

    def __init__(self, length: int = 12):
        self.videos = torch.rand(length, *SHAPE, generator=torch.Generator().manual_seed(123)) * 2 - 1

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, index: int) -> dict:
        return dict(video=self.videos[index], label=index % 3)


REPO = Path(__file__).resolve().parents[1]


def write_config(directory: str | Path, name: str = "tiny", **overrides: object) -> Path:
    """Write a tiny training config over the real schedule/runtime bases; ``overrides`` become top-level keys."""
    keys = dict(
        model=dict(type="EngineTinyMLP", hidden=16),
        data=dict(train=dict(type="EngineTinyVideos", length=12), batch_size=4, num_workers=0),
        max_steps=6, precision="fp32", lr_schedule=dict(warmup_steps=2), log_interval=2, ckpt_interval=3,
        sample=dict(interval=0, num=2, steps=2), ema=dict(decay=0.9),
    )
    keys.update(overrides)
    lines = [f"_base_ = [{str(REPO / 'configs/_base_/schedules/adamw.py')!r}, "
             f"{str(REPO / 'configs/_base_/runtime/default.py')!r}]",
             "custom_imports = dict(imports=['engine_tiny'], allow_failed_imports=False)"]
    lines += [f"{key} = {value!r}" for key, value in keys.items()]
    path = Path(directory) / f"{name}.py"
    path.write_text("\n".join(lines) + "\n")
    return path
