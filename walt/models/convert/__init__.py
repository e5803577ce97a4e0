"""Public weights ↔ walt: the public Latte code's checkpoints (video, image-joint, text-to-video), the released
Latte text-to-video model in the diffusers layout, and DiT (original and diffusers) through LAVITA §3.6's
initialization; both directions where the target layout can express the model, with the layout checked in every
direction (a variant-1, variant-4 or RoPE model, or one whose spatial / temporal attention has other windows, is
refused by the Latte exporters).

* :mod:`.formats` reads a file or folder and tells the layout from the keys;
* :mod:`.latte`, :mod:`.latte_diffusers`, :mod:`.dit` hold the key mappings, each documented there;
* :mod:`.load` fits converted tensors onto a backbone (:func:`load_public`), strict or reporting what it left.
"""
from walt.models.convert.common import LayoutError, LoadReport
from walt.models.convert.dit import (dit_diffusers_config, dit_diffusers_to_dit, dit_to_dit_diffusers, dit_to_walt,
                                     walt_to_dit)
from walt.models.convert.formats import FORMATS, detect_format, diffusers_folder, read_weights, state_dict_of
from walt.models.convert.latte import latte_img_to_walt, latte_to_walt, walt_to_latte
from walt.models.convert.latte_diffusers import diffusers_latte_to_walt, walt_to_diffusers_latte
from walt.models.convert.load import load_public

__all__ = ["LayoutError", "LoadReport", "FORMATS", "detect_format", "diffusers_folder", "read_weights",
           "state_dict_of", "load_public", "latte_to_walt", "latte_img_to_walt", "walt_to_latte",
           "diffusers_latte_to_walt", "walt_to_diffusers_latte", "dit_to_walt", "walt_to_dit", "dit_diffusers_to_dit",
           "dit_to_dit_diffusers", "dit_diffusers_config"]
