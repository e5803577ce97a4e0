"""walt.models.attention: see the module docstrings; every module here is imported so its components register."""
from walt.utils.imports import import_submodules

import_submodules(__name__, __path__)
