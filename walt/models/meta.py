"""Structure-only builds: inside ``with torch.device("meta")`` a model is built without memory, and its components
read no weight or statistics file (FLOP counting of multi-billion-parameter presets, the config tests)."""
from __future__ import annotations

import torch


def building_on_meta() -> bool:
    """True while the default device is ``meta`` (``with torch.device("meta"):``)."""
    return torch.empty(0).device.type == "meta"
