"""Frozen feature networks of the evaluation metrics: I3D (FVD) and InceptionV3 (FID, IS). Weights come only from
local files converted by the user (docs/evaluation.md); a ``width`` multiplier builds tiny copies for tests."""
from walt.utils.imports import import_submodules

import_submodules(__name__, __path__)
