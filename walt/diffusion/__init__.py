"""walt.diffusion: the diffusions (``DIFFUSIONS``) and their samplers (``SAMPLERS``); every module here is imported
so its components register.

The diffusion protocol — what ``LatentDiffusion``, the samplers and the SR noise augmentation call on a diffusion,
so that any registered diffusion works with every backbone and task:

* ``learn_sigma`` (the backbone outputs ``2C`` channels) and ``num_timesteps`` (the backbone's time scale: it is
  called with times in ``[0, num_timesteps]``);
* ``sample_t(batch, device, generator=None)``: training times in the diffusion's own units; ``model_time(t)``: the
  time the backbone is called with;
* ``q_sample(x0, t, noise)``; ``training_losses(model_fn, x0, t, noise=None, model_kwargs=None)`` → per-sample
  ``(B,)`` losses with ``"loss"`` (and ``"mse"``), calling ``model_fn(x_t, model_time(t), **model_kwargs)``;
* ``x0_from_output(model_output, x_t, t_model)``: the ``x̂_0`` estimate self-conditioning feeds back;
* ``augment(z, level, generator=None)``: SR noise-conditioning augmentation at backbone-time ``level``;
* ``default_sampler(num_steps)``.

A sampler: ``Sampler(num_steps=..., ...).sample(diffusion, model_fn, shape, *, generator, device, noise,
self_condition, observed, progress)``, with classifier-free guidance applied inside ``model_fn``
(``guidance.py``).
"""
from walt.utils.imports import import_submodules

import_submodules(__name__, __path__)
