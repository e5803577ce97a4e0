"""Feature detectors of the sample-quality metrics, loaded from local files and called the way the public metric
code calls them (StyleGAN-V ``src/metrics/``, stylegan2-ada-pytorch ``metrics/``, Latte
``tools/calc_metrics_for_dataset.py``; docs/evaluation.md lists what was checked):

==============  ======================================  ============================================================
kind            file of the protocol                    call (inputs uint8 in [0, 255])
==============  ======================================  ============================================================
``i3d``         ``i3d_torchscript.pt`` (Kinetics-400)   ``net(videos (B,3,T,H,W), rescale=True, resize=True,
                                                        return_features=True)`` → 400-d features (FVD)
``c3d``         ``c3d_ucf101.pt`` (TGAN-v2 port)        ``net(videos (B,3,16,H,W))`` → 101 class probabilities
``inception``   ``inception-2015-12-05.pt`` (TF graph)  ``net(images (B,3,H,W), return_features=True)`` → 2048-d
                                                        (FID); ``net(images, no_output_bias=True)`` → 1008
                                                        probabilities (IS)
==============  ======================================  ============================================================

A file is recognised by its content: a TorchScript archive (``code/`` inside the zip) is loaded with
``torch.jit.load(map_location=device)`` and its kind read off ``forward``'s arguments; anything else must be a
state dict (or ``{"config", "state_dict"}``) of walt's own :class:`InceptionI3d` / :class:`InceptionV3`, told apart
by their key names. Those take the same uint8 inputs: scaled to ``[-1, 1]`` and bilinearly resized to 224² (I3D)
or 299² (InceptionV3); walt's IS drops the classifier bias like ``no_output_bias``.
"""
from __future__ import annotations

import hashlib
import os
import warnings
import zipfile
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from walt.evaluation.i3d import InceptionI3d
from walt.evaluation.inception import InceptionV3

KINDS = ("i3d", "c3d", "inception")
I3D_KWARGS = dict(rescale=True, resize=True, return_features=True)
FID_KWARGS = dict(return_features=True)
IS_KWARGS = dict(no_output_bias=True)


class DetectorFileError(ValueError):
    """A detector file that cannot be used: the message names the file and what was expected."""


@lru_cache(maxsize=None)
def file_sha256(path: str) -> str:
    """Hex sha256 of a file (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_torchscript_archive(path: str) -> bool:
    """TorchScript archives are zips holding ``<name>/code/``; ``torch.save`` zips have no ``code/`` folder."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name for name in archive.namelist())


def torchscript_kind(net: torch.jit.ScriptModule) -> str | None:
    """``"i3d"`` / ``"inception"`` / ``"c3d"`` from the keyword arguments ``forward`` accepts, or ``None``."""
    args = [a for a in net.forward.schema.arguments if a.name != "self"]
    names = {a.name for a in args}
    if set(I3D_KWARGS) <= names:
        return "i3d"
    if {"return_features", "no_output_bias"} <= names:
        return "inception"
    if args and str(args[0].type) == "Tensor" and all(a.has_default_value() for a in args[1:]):
        return "c3d"
    return None


def state_dict_kind(state: dict) -> str | None:
    keys = set(state)
    if "Conv3d_1a_7x7.conv3d.weight" in keys:
        return "i3d"
    if "Conv2d_1a_3x3.conv.weight" in keys:
        return "inception"
    return None


@dataclass
class Detector:
    """A loaded detector: ``kind``, the file, its sha256 and format, and the protocol's calls."""

    kind: str
    path: str
    sha256: str
    format: str  # "torchscript" or "walt-state-dict"
    net: nn.Module
    device: torch.device

    @property
    def torchscript(self) -> bool:
        return self.format == "torchscript"

    def _float_input(self, x: Tensor, size: int) -> Tensor:
        """uint8 → ``[-1, 1]``, spatially resized to ``size²`` (walt's own networks)."""
        x = x.float() / 127.5 - 1.0
        if x.ndim == 5:  # (B, 3, T, H, W): resize each frame
            b, c, t, h, w = x.shape
            frames = x.transpose(1, 2).reshape(b * t, c, h, w)
            frames = F.interpolate(frames, size=(size, size), mode="bilinear", align_corners=False)
            return frames.view(b, t, c, size, size).transpose(1, 2)
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)

    @torch.no_grad()
    def features(self, x: Tensor) -> Tensor:
        """FVD features of uint8 videos ``(B, 3, T, H, W)`` (i3d) or FID features of uint8 images ``(B, 3, H, W)``
        (inception), float32 on the CPU."""
        x = x.to(self.device)
        if self.kind == "i3d":
            out = self.net(x, **I3D_KWARGS) if self.torchscript else self.net(self._float_input(x, 224))
        elif self.kind == "inception":
            out = self.net(x, **FID_KWARGS) if self.torchscript else self.net(self._float_input(x, 299))[0]
        else:
            raise ValueError(f"{self.path}: a {self.kind} detector gives probabilities, not features")
        return out.float().cpu()

    def require_spatial(self) -> None:
        """Stop with the missing layer named unless this detector exposes ADM's spatial features."""
        if self.kind != "inception" or self.torchscript:
            raise DetectorFileError(f"--{self.kind} {self.path}: a {self.format} {self.kind} detector exposes no "
                                    f"spatial features (ADM's mixed_6/conv, needed by sFID); give a walt "
                                    f"InceptionV3 state dict as --inception, or leave sfid out of --metrics")

    @torch.no_grad()
    def spatial_features(self, x: Tensor) -> Tensor:
        """ADM's sFID features of uint8 images ``(B, 3, H, W)``: the TF graph's ``mixed_6/conv`` (the 1×1 branch
        of torchvision's ``Mixed_6d``), first 7 channels, flattened in NHWC order (evaluator.py L24, L157-158,
        L599). Only walt's InceptionV3 exposes that layer: the TorchScript ``inception-2015-12-05.pt`` returns pool
        features and logits only."""
        self.require_spatial()
        found = []
        hook = self.net.Mixed_6d.branch1x1.register_forward_hook(lambda _m, _i, out: found.append(out))
        try:
            self.net(self._float_input(x.to(self.device), 299))
        finally:
            hook.remove()
        return found[0][:, :7].permute(0, 2, 3, 1).reshape(len(x), -1).float().cpu()

    @torch.no_grad()
    def probabilities(self, x: Tensor) -> Tensor:
        """Class probabilities of uint8 videos ``(B, 3, 16, H, W)`` (c3d) or images ``(B, 3, H, W)`` (inception),
        float32 on the CPU."""
        x = x.to(self.device)
        if self.kind == "c3d":
            out = self.net(x)
        elif self.kind == "inception" and self.torchscript:
            out = self.net(x, **IS_KWARGS)
        elif self.kind == "inception":
            features, _ = self.net(self._float_input(x, 299))
            out = torch.softmax(F.linear(features, self.net.fc.weight), dim=1)
        else:
            raise ValueError(f"{self.path}: an {self.kind} detector gives features, not probabilities")
        return out.float().cpu()


def _walt_network(kind: str, config: dict, state: dict, path: str) -> nn.Module:
    net = InceptionI3d(**config) if kind == "i3d" else InceptionV3(**config)
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise DetectorFileError(f"{path} does not match {type(net).__name__}({config}): missing {missing[:5]}, "
                                f"unexpected {unexpected[:5]}")
    return net


def load_detector(path: str, kind: str, device: str | torch.device = "cpu") -> Detector:
    """Load ``path`` as a detector of ``kind`` (one of :data:`KINDS`) onto ``device``."""
    if kind not in KINDS:
        raise ValueError(f"detector kind must be one of {KINDS}, got {kind!r}")
    if not os.path.isfile(path):
        raise DetectorFileError(f"--{kind} file {path!r} does not exist")
    if is_torchscript_archive(path):
        with warnings.catch_warnings():  # torch.jit is deprecated, but the protocol's detectors are TorchScript
            warnings.simplefilter("ignore", FutureWarning)
            net, fmt = torch.jit.load(path, map_location=device).eval(), "torchscript"
        found = torchscript_kind(net)
        what = f"a TorchScript {found} detector" if found else "a TorchScript module whose forward takes " + \
            str([a.name for a in net.forward.schema.arguments if a.name != "self"])
    else:
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any unpickling failure means "not a state dict"
            raise DetectorFileError(f"--{kind} file {path!r} is neither a TorchScript archive nor a state dict "
                                    f"({type(err).__name__})") from err
        if not isinstance(blob, dict):
            raise DetectorFileError(f"--{kind} file {path!r} is neither a TorchScript archive nor a state dict")
        config, state = (blob.get("config", {}), blob["state_dict"]) if "state_dict" in blob else ({}, blob)
        found, fmt = state_dict_kind(state), "walt-state-dict"
        what = f"a state dict of walt's {found} network" if found else \
            f"a state dict of unknown keys ({sorted(state)[:3]})"
        net = _walt_network(kind, config, state, path).to(device).eval() if found == kind else None
    if found != kind:
        raise DetectorFileError(f"--{kind} file {path!r} is {what}; expected a {kind} detector")
    return Detector(kind, path, file_sha256(os.path.abspath(path)), fmt, net, torch.device(device))
