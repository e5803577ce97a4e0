"""ADM's evaluator (openai/guided-diffusion ``evaluations/evaluator.py``) on walt's side: the reference batch
``.npz`` loaded as the evaluator loads it, and the improved precision / recall of Kynkäänniemi et al. 2019 as the
evaluator computes them.

* Reference batch (L138-140, L164-172): ``arr_0`` holds the reference images, uint8 ``(N, H, W, 3)``, whose
  activations are always computed (precision / recall need them); when the file also stores ``mu``/``sigma`` (pool
  features) and ``mu_s``/``sigma_s`` (spatial features), FID and sFID use those, as the released
  ``VIRTUAL_imagenet256_labeled.npz`` is used; otherwise ``np.mean`` / ``np.cov`` of the activations.
* Precision / recall (L194-202, L248-281, L325-359, L414-430): squared Euclidean distances
  ``max(‖u‖² − 2u·v + ‖v‖², 0)`` in float16 (the float32 ones where float16 overflows); the radius of a
  point is the distance to its 3rd nearest neighbour in its own set (index 3 of the sorted row, the point itself at
  index 0); precision = fraction of samples within the radius of some reference point, recall = fraction of
  reference points within the radius of some sample.
"""
from __future__ import annotations

import os
import zipfile

import numpy as np

NHOOD = 3          # nhood_sizes=(3,)
BLOCK = 10000      # row_batch_size = col_batch_size


def load_reference_batch(path: str) -> dict:
    """``images`` (uint8 NHWC) and, when stored, ``mu``/``sigma``/``mu_s``/``sigma_s`` of a reference ``.npz``."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--ref-batch {path!r} does not exist")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"--ref-batch {path!r} is not an .npz file")
    with np.load(path) as data:
        if "arr_0" not in data.files:
            raise ValueError(f"--ref-batch {path!r}: missing arr_0 (the reference images) in the npz file; it holds "
                             f"{sorted(data.files)}")
        out = {k: data[k] for k in ("arr_0", "mu", "sigma", "mu_s", "sigma_s") if k in data.files}
    images = out.pop("arr_0")
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"--ref-batch {path!r}: arr_0 must be uint8 (N, H, W, 3), got {images.dtype} "
                         f"{images.shape}")
    if "mu" in out and not {"sigma", "mu_s", "sigma_s"} <= set(out):
        raise ValueError(f"--ref-batch {path!r}: holds mu but not all of sigma, mu_s, sigma_s (the evaluator reads "
                         f"all four)")
    return dict(images=images, **out)


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    norm_a, norm_b = np.square(a).sum(1)[:, None], np.square(b).sum(1)[None, :]
    return np.maximum(norm_a - 2 * (a @ b.T) + norm_b, 0.0)


def pairwise_distances(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Squared distances of the rows of ``u`` and ``v`` as the evaluator's DistanceBlock (L376-383): from the
    features cast to float16, the result in float16 (here: computed in float32 from the float16 inputs, rounded to
    float16); the float32 computation where float16 overflows."""
    with np.errstate(over="ignore", invalid="ignore"):
        d16 = _squared_distances(u.astype(np.float16).astype(np.float32),
                                 v.astype(np.float16).astype(np.float32)).astype(np.float16)
    if np.isfinite(d16).all():
        return d16.astype(np.float32)
    return _squared_distances(u.astype(np.float32), v.astype(np.float32)).astype(np.float32)


def manifold_radii(features: np.ndarray, k: int = NHOOD) -> np.ndarray:
    """Distance of each row to its ``k``-th nearest neighbour in ``features`` (itself at index 0)."""
    radii = np.zeros(len(features), np.float32)
    for lo in range(0, len(features), BLOCK):
        rows = np.concatenate([pairwise_distances(features[lo:lo + BLOCK], features[c:c + BLOCK])
                               for c in range(0, len(features), BLOCK)], axis=1)
        radii[lo:lo + BLOCK] = np.partition(rows, k, axis=1)[:, k]
    return radii


def precision_recall(reference: np.ndarray, samples: np.ndarray, k: int = NHOOD) -> tuple[float, float]:
    """``(precision, recall)`` of ``samples`` against ``reference`` features (module docstring)."""
    radii_ref, radii_sample = manifold_radii(reference, k), manifold_radii(samples, k)
    ref_in = np.zeros(len(reference), bool)      # reference point inside some sample's ball (recall)
    sample_in = np.zeros(len(samples), bool)     # sample inside some reference point's ball (precision)
    for lo in range(0, len(reference), BLOCK):
        for co in range(0, len(samples), BLOCK):
            d = pairwise_distances(reference[lo:lo + BLOCK], samples[co:co + BLOCK])
            ref_in[lo:lo + BLOCK] |= (d <= radii_sample[None, co:co + BLOCK]).any(axis=1)
            sample_in[co:co + BLOCK] |= (d <= radii_ref[lo:lo + BLOCK, None]).any(axis=0)
    return float(sample_in.mean()), float(ref_in.mean())
