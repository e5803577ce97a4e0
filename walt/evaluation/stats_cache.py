"""Cached real-data statistics: computed once per (dataset, protocol, metric, detector sha256, sampling choices)
and reused, like the ``gan-metrics`` cache of stylegan2-ada / StyleGAN-V. One ``.npz`` per entry holding ``mu``,
``sigma`` (the protocol's covariance), ``count`` and the JSON ``key`` it was computed for; a file whose key differs
is not used."""
from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np

from walt.utils.atomic import atomic_write

DEFAULT_DIR = os.path.join(os.path.expanduser("~"), ".cache", "walt", "eval_stats")


def cache_path(cache_dir: str | os.PathLike, key: dict) -> Path:
    """``<dataset>-<protocol>-<metric>-<detector sha[:12]>-<key digest[:16]>.npz`` under ``cache_dir``."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{key['dataset']}-{key['protocol']}-{key['metric']}-{key['sha256'][:12]}-{digest}.npz"


def load_stats(path: Path, key: dict) -> dict[str, np.ndarray] | None:
    """The arrays cached at ``path`` for exactly ``key``, or ``None``."""
    if not path.is_file():
        return None
    with np.load(path) as data:
        if json.loads(str(data["key"])) != json.loads(json.dumps(key, sort_keys=True)):
            return None
        return {name: data[name] for name in data.files if name != "key"}


def save_stats(path: Path, key: dict, **arrays: np.ndarray) -> None:
    """Write the arrays with their key (atomically: a crash never leaves a half-written entry)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, key=np.array(json.dumps(key, sort_keys=True)), **arrays)
    atomic_write(path, lambda f: f.write(buffer.getvalue()))
