"""Model components of walt.

Tensor conventions (fixed for the whole codebase)
-------------------------------------------------
* Pixels and latents are ``(B, C, T, H, W)``; an image is a video with ``T = 1``. Pixels are in ``[-1, 1]``.
* Inside a backbone, tokens are flattened to ``(B, N, D)`` with ``N = t * h * w`` in ``(t, h, w)`` row-major order,
  and a :class:`~walt.models.grid.Grid` ``(t, h, w)`` travels beside them. Attention modules reshape to
  ``(B, t, h, w, D)`` internally; norms, MLPs and modulation work on ``(B, N, D)`` directly.
* Conditioning vectors (timestep + class/text/noise-level embeddings) are ``(B, D)``; in joint image–video
  training, where an image frame takes its own class / text, per frame ``(B, t, D)`` (and so are the adaLN
  modulations, ``walt/models/conditioning/image_frames.py``).
* ``image_mask`` is a ``(B, t)`` bool tensor, ``True`` where a latent frame is an independent image (W.A.L.T joint
  training: a sample that is a stack of images; LAVITA: image frames appended to a clip). Temporal mixing never
  crosses into or out of such a frame.
* Timesteps are integer ``(B,)`` tensors for the discrete 1000-step schedules.
* A backbone is called ``backbone(x, t, cond)``: everything besides the latents and timesteps travels in one
  :class:`~walt.models.conditioning.conditions.Conditions` value (``walt/models/backbones/denoiser.py``).
"""
from walt.models.grid import Grid

__all__ = ["Grid"]
