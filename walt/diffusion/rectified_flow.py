"""Rectified flow (Liu et al. 2023; Esser et al. 2024, "SD3"): a straight path between data and noise, trained by
regressing its velocity. Beyond both papers: the objective Open-Sora 1.2+, SD3, Wan and HunyuanVideo train with, here
a drop-in for :class:`GaussianDiffusion` selected by ``model.diffusion.type = "RectifiedFlow"``.

* Path (SD3 §3): ``x_t = (1 − t)·x_0 + t·ε`` for ``t ∈ [0, 1]``; ``t = 1`` is pure noise, so the terminal SNR is zero by
  construction (what W.A.L.T Table 3e rescales the β schedule for). The backbone predicts the velocity
  ``v = dx_t/dt = ε − x_0`` and is trained with the plain per-sample MSE ``mean(‖v_θ − (ε − x_0)‖²)``.
* Training times (SD3 §3.1): ``uniform`` ``t ~ U(0, 1)`` or ``logit_normal`` (Eq. 19): ``t = sigmoid(m + s·n)``,
  ``n ~ N(0, 1)``, which spends the training steps on the intermediate times; SD3's best setting is m = 0, s = 1.
* Shift (SD3 §5.3.2 Eq. 23; Open-Sora 1.2 ``timestep_transform``): ``t' = α·t / (1 + (α − 1)·t)`` with
  ``α = sqrt(m/n)``, ``m`` and ``n`` the numbers of positions of the target and of the base resolution. A higher
  resolution (or a longer video) averages out more noise per unit of signal, so ``α > 1`` moves every time towards
  the noise end (``t' ≥ t``). In logit space the shift adds ``log α``: a shifted logit-normal is a logit-normal with
  mean ``m + log α``. :func:`resolution_shift` computes ``α`` of a latent grid against SD3's 256² base (32×32
  latent positions, where SD3 trains unshifted); SD3 samples its 1024² model at α = 3.
* The backbone is called with ``model_time(t) = t·num_timesteps`` (a float in ``[0, 1000]``): the sinusoidal
  timestep embedders of W.A.L.T and LAVITA are used unchanged.

How the features of :class:`GaussianDiffusion` carry over:

* learned Σ / ``L_vlb`` (LAVITA §3.1): do not apply. Sampling integrates an ODE (no per-step variance to learn) and
  there is no discrete-time ELBO; ``learn_sigma`` is False, so the backbone the model derives outputs ``C`` channels
  (a LAVITA config only replaces the diffusion dict, ``configs/ablations/lavita_rflow.py``).
* loss weighting (Min-SNR) and timestep respacing: do not apply; SD3 weights the loss through the density of ``t``,
  and the samplers pick their own continuous time grid (``flow_samplers.py``).
* self-conditioning (W.A.L.T §4.3): the first pass's ``x̂_0 = x_t − t·v`` (:meth:`x0_from_output`).
* classifier-free guidance: the velocity is linear in the output at a fixed ``x_t``, so ``guidance.py`` guides it as
  it guides ε / v / x_0.
* frame prediction (W.A.L.T §4.4): ``c_fp`` is built from the clean latents as before; the samplers move the observed
  frames along their own straight path and return them exactly.
* SR noise-conditioning augmentation (W.A.L.T §4.5): :meth:`augment` draws ``q(z_t | z)`` at ``t = level/1000``, and the
  backbone embeds ``level`` as ``t_sr``. ``level`` is a point on the time axis, not a noise level shared with the
  Gaussian schedule: level 250 is SNR 9 here and SNR 1.09 under W.A.L.T's linear β (equal SNR is level ≈ 490).
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import Tensor

from registry import DIFFUSIONS, SAMPLERS
from walt.diffusion.losses import mean_flat
from walt.diffusion.noise import gaussian_noise

TIME_SAMPLINGS = ("uniform", "logit_normal")
# SD3's 256² training resolution in latent positions (8× VAE): the base at which it trains without a shift
SD3_BASE_GRID = (1, 32, 32)


def shift_time(t: Tensor | float, shift: float) -> Tensor | float:
    """SD3 Eq. 23: ``s·t / (1 + (s − 1)·t)``, written ``s·t / (s·t + 1 − t)`` so that 0 ↦ 0 and 1 ↦ 1 exactly."""
    return shift * t / (shift * t + (1 - t))


def resolution_shift(grid: Sequence[int], base_grid: Sequence[int] = SD3_BASE_GRID) -> float:
    """``α = sqrt(m/n)`` (SD3 Eq. 23) for a latent grid ``(t, h, w)`` of ``m`` positions against a base of ``n``."""
    m, n = math.prod(grid), math.prod(base_grid)
    if m <= 0 or n <= 0:
        raise ValueError(f"resolution_shift: grids must have positive sizes, got {tuple(grid)} and {tuple(base_grid)}")
    return math.sqrt(m / n)


@DIFFUSIONS.register_module()
class RectifiedFlow:
    """Rectified flow with SD3's logit-normal times and resolution shift (module docstring).

    ``time_sampling``: ``"uniform"`` | ``"logit_normal"`` (``logit_mean``, ``logit_std``: SD3's m, s). ``shift``: α of
    SD3 Eq. 23 applied to the training times, and the default shift of the samplers' time grid (1: no shift;
    ``"auto"``: :func:`resolution_shift` of ``latent_size``, the latent ``(t, h, w)`` the model passes in).
    ``num_timesteps``: the backbone's time scale (it sees ``t·num_timesteps``).
    """

    learn_sigma = False

    def __init__(self, time_sampling: str = "logit_normal", logit_mean: float = 0.0, logit_std: float = 1.0,
                 shift: float | str = 1.0, num_timesteps: int = 1000, latent_size: Sequence[int] | None = None):
        if shift == "auto":
            if latent_size is None:
                raise ValueError("RectifiedFlow: shift='auto' needs latent_size=(t, h, w) (LatentDiffusion passes it)")
            shift = resolution_shift(latent_size)
        if time_sampling not in TIME_SAMPLINGS:
            raise ValueError(f"RectifiedFlow: unknown time_sampling {time_sampling!r}; valid: "
                             f"{', '.join(TIME_SAMPLINGS)}")
        for name, value in dict(logit_std=logit_std, shift=shift, num_timesteps=num_timesteps).items():
            if not value > 0:
                raise ValueError(f"RectifiedFlow: {name} must be > 0, got {value}")
        self.time_sampling, self.logit_mean, self.logit_std = time_sampling, logit_mean, logit_std
        self.shift, self.num_timesteps = float(shift), int(num_timesteps)

    # ----------------------------------------------------------------------------------------------------------
    # Times
    # ----------------------------------------------------------------------------------------------------------
    def sample_t(self, batch: int, device: torch.device | str = "cpu",
                 generator: torch.Generator | None = None) -> Tensor:
        """Training times ``(B,)`` in ``[0, 1]`` (float32), drawn on the generator's device, then shifted."""
        draw = dict(generator=generator, device=generator.device if generator is not None else device)
        if self.time_sampling == "uniform":
            t = torch.rand(batch, **draw)
        else:
            t = torch.sigmoid(self.logit_mean + self.logit_std * torch.randn(batch, **draw))
        return shift_time(t, self.shift).to(device)

    def model_time(self, t: Tensor) -> Tensor:
        """What the backbone is called with: ``t·num_timesteps`` (float)."""
        return t * self.num_timesteps

    @staticmethod
    def _per_sample(t: Tensor, x: Tensor) -> Tensor:
        """``t`` ``(B,)`` shaped ``(B, 1, …, 1)`` in ``x``'s device and dtype."""
        return t.to(device=x.device, dtype=x.dtype).view(-1, *([1] * (x.dim() - 1)))

    # ----------------------------------------------------------------------------------------------------------
    # Path, velocity, loss
    # ----------------------------------------------------------------------------------------------------------
    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """``x_t = (1 − t)·x_0 + t·ε`` (``lerp`` is exact at both ends)."""
        return torch.lerp(x0, noise, self._per_sample(t, x0))

    def _check_output(self, model_output: Tensor, x_t: Tensor) -> None:
        if model_output.shape != x_t.shape:
            raise ValueError(f"RectifiedFlow: model output of shape {tuple(model_output.shape)} does not match x_t "
                             f"{tuple(x_t.shape)}; the backbone must predict a velocity with {x_t.shape[1]} channels "
                             f"(learn_sigma is False under rectified flow)")

    def training_losses(self, model_fn: Callable[..., Tensor], x0: Tensor, t: Tensor, noise: Tensor | None = None,
                        model_kwargs: dict | None = None) -> dict[str, Tensor]:
        """Per-sample ``(B,)`` velocity MSE as ``loss`` and ``mse``; ``model_fn(x_t, t·T, **model_kwargs)``."""
        noise = torch.randn_like(x0) if noise is None else noise
        x_t = self.q_sample(x0, t, noise)
        out = model_fn(x_t, self.model_time(t), **(model_kwargs or {}))
        self._check_output(out, x_t)
        mse = mean_flat(((noise - x0).float() - out.float()) ** 2)
        return dict(loss=mse, mse=mse)

    def x0_from_output(self, model_output: Tensor, x_t: Tensor, t_model: Tensor) -> Tensor:
        """``x̂_0 = x_t − t·v`` at the backbone time ``t_model = t·T`` (self-conditioning's first pass)."""
        self._check_output(model_output, x_t)
        t = self._per_sample(t_model / self.num_timesteps, x_t)
        return x_t - t * model_output.to(x_t.dtype)

    def augment(self, z: Tensor, level: Tensor | float, generator: torch.Generator | None = None) -> Tensor:
        """``z`` moved along the path to ``t = level/T`` with fresh noise (SR noise-conditioning augmentation);
        ``level``: ``(B,)`` or a number, in backbone units ``[0, T]``."""
        level = torch.as_tensor(level, device=z.device, dtype=torch.float32).expand(z.shape[0])
        if level.min() < 0 or level.max() > self.num_timesteps:
            raise ValueError(f"RectifiedFlow.augment: level must be in [0, {self.num_timesteps}], got "
                             f"[{float(level.min())}, {float(level.max())}]")
        noise = gaussian_noise(z.shape, generator, z.device).to(z.dtype)
        return self.q_sample(z, level / self.num_timesteps, noise)

    def default_sampler(self, num_steps: int):
        """Euler on the shifted time grid (SD3 and Open-Sora sample with Euler)."""
        return SAMPLERS.build(dict(type="Euler", num_steps=num_steps))
