"""The demo dataset: small class-labelled videos of a coloured shape moving in a class-specific direction, and the
scorer that reads a video's direction of motion back (``motion_class``, used by ``benchmarks/demo_motion.py``).

The layout is UCF-101's (``<out>/<Class>/v_<Class>_gXX_cYY.mp4`` + ``<out>/ucfTrainTestlist/{classInd.txt,
trainlist01.txt, testlist01.txt}``), so ``UCF101(root=<out>)`` reads it, plus ``<out>/captions.csv``
(``path,caption``, e.g. "a red square moving left") for ``TextVideoCSV``. Colour, shape and start position are
random per video; the output is a deterministic function of the arguments.
"""
from __future__ import annotations

import csv
import os

import numpy as np

from walt.data.video_io import write_video

CLASSES = {"MoveRight": (1, 0), "MoveLeft": (-1, 0), "MoveUp": (0, -1), "MoveDown": (0, 1)}  # (dx, dy), y down
COLOURS = {"red": (230, 40, 40), "green": (40, 200, 60), "blue": (50, 90, 240), "yellow": (240, 220, 40),
           "cyan": (40, 220, 230), "magenta": (220, 50, 220), "white": (240, 240, 240)}
SHAPES = ("square", "circle", "triangle")
CLIPS_PER_GROUP = 4  # UCF-101 names clips v_<Class>_gXX_cYY: group XX, clip YY within the group
SUPERSAMPLE = 4  # anti-aliased edges: coverage measured on a 4× finer grid


def shape_coverage(shape: str, cx: float, cy: float, radius: float, size: int) -> np.ndarray:
    """Fraction ``(size, size)`` of each pixel covered by ``shape`` centred at ``(cx, cy)`` (pixel units)."""
    fine = (np.arange(size * SUPERSAMPLE) + 0.5) / SUPERSAMPLE
    x, y = fine[None, :] - cx, fine[:, None] - cy
    if shape == "square":
        inside = (np.abs(x) <= radius) & (np.abs(y) <= radius)
    elif shape == "circle":
        inside = x ** 2 + y ** 2 <= radius ** 2
    else:  # upward triangle with its centroid at the centre
        inside = (y <= radius) & (y >= -radius + 2 * np.abs(x))
    return inside.reshape(size, SUPERSAMPLE, size, SUPERSAMPLE).mean(axis=(1, 3))


def render(direction: tuple[int, int], shape: str, colour: tuple[int, int, int], frames: int, size: int,
           rng: np.random.Generator) -> np.ndarray:
    """uint8 ``(frames, size, size, 3)``: the shape travels half the frame width along ``direction``."""
    radius, travel = size / 8, size / 2
    lo, hi = radius + 1, size - radius - 1
    start = rng.uniform(lo, hi, size=2)
    for axis, d in enumerate(direction):  # room for the whole trajectory along the motion axis
        if d > 0:
            start[axis] = rng.uniform(lo, hi - travel)
        elif d < 0:
            start[axis] = rng.uniform(lo + travel, hi)
    video = np.zeros((frames, size, size, 3), np.uint8)
    for i in range(frames):
        step = travel * i / max(frames - 1, 1)
        cover = shape_coverage(shape, start[0] + direction[0] * step, start[1] + direction[1] * step, radius, size)
        video[i] = np.round(cover[..., None] * np.asarray(colour, np.float64)).astype(np.uint8)
    return video


def motion_class(video: np.ndarray, min_travel: float = 0.15) -> int | None:
    """The index in ``CLASSES`` of the direction a bright object travels in ``video`` (uint8 ``(T, H, W, 3)``):
    the brightness-weighted centroid's displacement from the first to the last third of the frames, as a
    fraction of the frame size. ``None`` when the frames are dark or it moves less than ``min_travel``."""
    frames = video.astype(np.float64).max(axis=-1)  # (T, H, W): the shapes are lit on a black background
    mass = frames.sum(axis=(1, 2))
    if (mass < 1e-3 * frames[0].size * 255).any():
        return None
    ys, xs = (np.arange(n) + 0.5 for n in frames.shape[1:])
    centroid = np.stack([(frames.sum(1) * xs).sum(1), (frames.sum(2) * ys).sum(1)], axis=1) / mass[:, None]
    third = max(1, len(frames) // 3)
    shift = (centroid[-third:].mean(0) - centroid[:third].mean(0)) / np.array(frames.shape[:0:-1])
    if np.abs(shift).max() < min_travel:
        return None
    best = [np.dot(shift, d) for d in CLASSES.values()]
    return int(np.argmax(best))


def write_demo_dataset(out: str, num_per_class: int = 24, frames: int = 16, size: int = 64,
                       seed: int = 0) -> dict[str, int]:
    """Write the demo videos, split lists and captions to ``out``; returns the counts written."""
    rng = np.random.default_rng(seed)
    lists_dir = os.path.join(out, "ucfTrainTestlist")
    os.makedirs(lists_dir, exist_ok=True)
    groups = -(-num_per_class // CLIPS_PER_GROUP)
    test_groups = max(1, groups // 4)  # about a quarter held out, split by group as in UCF-101
    train, test, captions = [], [], []
    for label, (name, direction) in enumerate(CLASSES.items()):
        os.makedirs(os.path.join(out, name), exist_ok=True)
        for i in range(num_per_class):
            group, clip = i // CLIPS_PER_GROUP + 1, i % CLIPS_PER_GROUP + 1
            rel = f"{name}/v_{name}_g{group:02d}_c{clip:02d}.mp4"
            colour = list(COLOURS)[rng.integers(len(COLOURS))]
            shape = SHAPES[rng.integers(len(SHAPES))]
            video = render(direction, shape, COLOURS[colour], frames, size, rng)
            write_video(os.path.join(out, rel), video, crf=12)
            (test if group <= test_groups and groups > 1 else train).append((rel, label))
            captions.append((rel, f"a {colour} {shape} moving {name[len('Move'):].lower()}"))
    with open(os.path.join(lists_dir, "classInd.txt"), "w") as f:
        f.writelines(f"{i + 1} {name}\n" for i, name in enumerate(CLASSES))
    with open(os.path.join(lists_dir, "trainlist01.txt"), "w") as f:
        f.writelines(f"{rel} {label + 1}\n" for rel, label in train)
    with open(os.path.join(lists_dir, "testlist01.txt"), "w") as f:
        f.writelines(f"{rel}\n" for rel, _ in test)
    with open(os.path.join(out, "captions.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "caption"])
        writer.writerows(captions)
    return dict(videos=len(captions), train=len(train), test=len(test))
