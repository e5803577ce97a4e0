"""UCF-101 (Soomro et al. 2012): W.A.L.T §5.1 class-conditional video generation; LAVITA §4 trains on the
train and test splits together."""
from __future__ import annotations

import os
import re

from registry import DATASETS
from walt.data.listing import check_root, log_missing, resolve_video_path
from walt.data.video_dataset import VideoDataset, VideoSample

SPLITS = ("train", "test", "all")


def class_caption(name: str) -> str:
    """``"ApplyEyeMakeup"`` → ``"apply eye makeup"`` (the class name as a prompt)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).lower()


def read_class_index(path: str) -> list[str]:
    """``classInd.txt`` lines ``"<1-based index> <ClassName>"`` → class names in 0-based label order."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"UCF101: class index file {path!r} does not exist")
    entries = {}
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or not parts[0].isdigit():
                raise ValueError(f"UCF101: {path!r} line {line_no} is {line.strip()!r}, expected '<index> <ClassName>'")
            entries[int(parts[0]) - 1] = parts[1]
    if sorted(entries) != list(range(len(entries))):
        raise ValueError(f"UCF101: {path!r} does not number its classes 1..{len(entries)}")
    return [entries[i] for i in range(len(entries))]


def read_split_list(path: str) -> list[str]:
    """``trainlistXX.txt`` (``"Class/v_Class_gXX_cYY.avi <label>"``) or ``testlistXX.txt`` → relative paths."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"UCF101: split file {path!r} does not exist")
    with open(path, encoding="utf-8") as f:
        return [line.split()[0] for line in f if line.strip()]


@DATASETS.register_module()
class UCF101(VideoDataset):
    """W.A.L.T §5.1 / LAVITA §4 UCF-101, in its official layout ``root/<ClassName>/v_<ClassName>_gXX_cYY.avi``
    with the split files ``<split_dir>/{classInd.txt, trainlistXX.txt, testlistXX.txt}`` (``split_dir``
    relative to ``root`` unless absolute). Labels are classInd's 1-based indices minus one; captions are the class
    names in words.
    ``split``: ``"train"``, ``"test"`` or ``"all"`` (LAVITA). Listed ``.avi`` files re-encoded under another
    video extension are found too. Defaults: W.A.L.T's 17×128×128 clips."""

    def __init__(self, root: str, split: str = "train", fold: int = 1, split_dir: str = "ucfTrainTestlist",
                 num_frames: int = 17, frame_interval: int = 1, resolution: int | tuple[int, int] = 128, **kwargs):
        check_root(root, "UCF101")
        if split not in SPLITS:
            raise ValueError(f"UCF101: split must be one of {SPLITS}, got {split!r}")
        lists_dir = os.path.join(root, split_dir)
        classes = read_class_index(os.path.join(lists_dir, "classInd.txt"))
        label_of = {name: i for i, name in enumerate(classes)}
        parts = ["train", "test"] if split == "all" else [split]
        listed = [p for part in parts for p in read_split_list(os.path.join(lists_dir, f"{part}list{fold:02d}.txt"))]
        samples, missing = [], []
        for rel in listed:
            class_name = rel.replace("\\", "/").split("/")[0]
            if class_name not in label_of:
                raise ValueError(f"UCF101: {rel!r} in the {split} list names class {class_name!r}, "
                                 f"which is not in {os.path.join(lists_dir, 'classInd.txt')!r}")
            path = resolve_video_path(os.path.join(root, rel))
            if path is None:
                missing.append(os.path.join(root, rel))
                continue
            samples.append(VideoSample(path, label_of[class_name], class_caption(class_name)))
        log_missing("UCF101", lists_dir, missing, len(listed))
        self.split = split
        super().__init__(samples, root=root, num_frames=num_frames, frame_interval=frame_interval,
                         resolution=resolution, classes=classes, **kwargs)
