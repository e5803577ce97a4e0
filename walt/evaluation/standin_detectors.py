"""Stand-ins for the protocol's detector files: tiny randomly initialised networks, scripted with TorchScript, with
the call signatures of ``i3d_torchscript.pt``, ``c3d_ucf101.pt`` and ``inception-2015-12-05.pt``
(walt/evaluation/detectors.py). They measure nothing meaningful; they let the tests and the CPU pipeline demo
(scripts/pipeline_demo.sh) run the evaluation end to end without the real files.

    python -m walt.evaluation.standin_detectors --out DIR    # DIR/{i3d,c3d,inception}_standin.pt
"""
from __future__ import annotations

import argparse
import os
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _to_unit(x: Tensor) -> Tensor:
    return x.float() / 127.5 - 1.0


def _standardize(features: Tensor) -> Tensor:
    """Zero mean, unit variance over the feature axis: the class decision then depends on the pattern of the
    features, not on a bias shared by every input (random weights would predict one class for all inputs)."""
    centered = features - features.mean(dim=1, keepdim=True)
    return centered / (centered.pow(2).mean(dim=1, keepdim=True).sqrt() + 1e-6)


class StandinI3D(nn.Module):
    """``forward(videos uint8 (B,3,T,H,W), rescale, resize, return_features)`` like the FVD I3D: ``rescale`` maps
    ``[0, 255]`` to ``[-1, 1]``, ``resize`` resizes frames to ``size²``; features ``(B, dim)``, else softmax."""

    def __init__(self, dim: int = 12, size: int = 16):
        super().__init__()
        self.size = size
        self.conv = nn.Conv3d(3, 8, 3, stride=2, padding=1)
        self.head = nn.Linear(8, dim)

    def forward(self, x: Tensor, rescale: bool = False, resize: bool = False, return_features: bool = False) -> Tensor:
        x = _to_unit(x) if rescale else x.float()
        if resize:
            x = F.interpolate(x, size=(x.shape[2], self.size, self.size), mode="trilinear", align_corners=False)
        features = self.head(F.relu(self.conv(x)).mean(dim=(2, 3, 4)))
        return features if return_features else torch.softmax(features, dim=1)


class StandinC3D(nn.Module):
    """``forward(videos uint8 (B,3,16,H,W))`` → class probabilities, like the UCF-101 C3D port; the classes are a
    random linear read-out of the clip's hue (mean colour less its grey level) and mean absolute frame difference."""

    def __init__(self, num_classes: int = 7, size: int = 16):
        super().__init__()
        self.size = size
        self.fc = nn.Linear(6, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = F.interpolate(_to_unit(x), size=(x.shape[2], self.size, self.size), mode="trilinear", align_corners=False)
        colour = x.mean(dim=(2, 3, 4))
        hue = colour - colour.mean(dim=1, keepdim=True)
        motion = (x[:, :, 1:] - x[:, :, :-1]).abs().mean(dim=(2, 3, 4))
        return torch.softmax(self.fc(60.0 * torch.cat([hue, motion], dim=1)), dim=1)


class StandinInception(nn.Module):
    """``forward(images uint8 (B,3,H,W), return_features, use_fp16, no_output_bias)`` like the TF Inception port:
    pool features ``(B, dim)`` with ``return_features``, else the softmax of the classifier (without its bias
    when ``no_output_bias``)."""

    def __init__(self, dim: int = 10, num_classes: int = 9, size: int = 16):
        super().__init__()
        self.size = size
        self.conv = nn.Conv2d(3, dim, 3, stride=2, padding=1)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, img: Tensor, return_features: bool = False, use_fp16: bool = False,
                no_output_bias: bool = False) -> Tensor:
        x = F.interpolate(_to_unit(img), size=(self.size, self.size), mode="bilinear", align_corners=False)
        features = F.relu(self.conv(x)).mean(dim=(2, 3))
        if return_features:
            return features
        logits = _standardize(features) @ self.fc.weight.t()
        if not no_output_bias:
            logits = logits + self.fc.bias
        return torch.softmax(3.0 * logits, dim=1)


STANDINS = {"i3d": StandinI3D, "c3d": StandinC3D, "inception": StandinInception}


def build_standin(kind: str, seed: int = 0) -> torch.jit.ScriptModule:
    """The scripted stand-in of ``kind``; He-normal weights from ``seed`` so the features are not degenerate."""
    torch.manual_seed(seed)
    net = STANDINS[kind]()
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.uniform_(m.bias, -0.5, 0.5)
    with warnings.catch_warnings():  # torch.jit is deprecated, but the protocol's files are TorchScript
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.script(net.eval())


def save_standins(out: str, seed: int = 0) -> dict[str, str]:
    """Write ``out/{kind}_standin.pt`` for every kind with ``torch.jit.save``; returns kind → path."""
    os.makedirs(out, exist_ok=True)
    paths = {}
    for kind in STANDINS:
        paths[kind] = os.path.join(out, f"{kind}_standin.pt")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            torch.jit.save(build_standin(kind, seed), paths[kind])
    return paths


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for the three stand-in files")
    parser.add_argument("--seed", type=int, default=0)
    written = save_standins(parser.parse_args().out, parser.parse_args().seed)
    print("standin_detectors: wrote " + ", ".join(written.values()))
