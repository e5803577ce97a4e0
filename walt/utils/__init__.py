"""Utilities: FLOP/param reports, video io, metrics, misc."""
from walt.utils.imports import import_submodules

import_submodules(__name__, __path__)
