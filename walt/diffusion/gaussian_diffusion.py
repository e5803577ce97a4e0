"""Discrete Gaussian diffusion: forward process, posterior, model-output conversions and training losses.

DDPM (Ho et al. 2020) with the improvements both papers train with:
* W.A.L.T (§3, App. A): linear β 1e-4 → 0.02, T = 1000, v-prediction, zero terminal SNR (Table 3e).
* LAVITA (§3.1): ε-prediction with a learned covariance Σ_θ (improved DDPM): the model returns ``2C`` channels,
  the second half ``v ∈ [−1, 1]`` interpolates the log-variance between ``log β̃_t`` and ``log β_t``, and the loss is
  ``L_simple + λ·L_vlb`` with a stop-gradient on the mean inside ``L_vlb`` (Nichol & Dhariwal 2021 §3.1, λ = 0.001).
"""
from __future__ import annotations

import copy
import math
from typing import Callable, Sequence

import torch
from torch import Tensor

from registry import DIFFUSIONS, SAMPLERS
from walt.diffusion.losses import (discretized_gaussian_log_likelihood, loss_weight, mean_flat, normal_kl,
                                   LOSS_WEIGHTINGS)
from walt.diffusion.noise import gaussian_noise
from walt.diffusion.parameterization import check_prediction, target, x0_eps_from_prediction
from walt.diffusion.schedules import make_betas

VARIANCES = ("fixed_small", "fixed_large")


@DIFFUSIONS.register_module()
class GaussianDiffusion:
    """The diffusion of W.A.L.T (§3; v-prediction, zero terminal SNR) and LAVITA (§3.1; learned Σ, L_vlb).

    ``prediction``: ``"v"`` | ``"eps"`` | ``"x0"``. ``learn_sigma``: the model outputs ``2C`` channels (learned
    log-variance interpolation); otherwise ``variance`` is ``"fixed_small"`` (β̃_t) or ``"fixed_large"`` (β_t).
    ``loss_weighting``: ``"none"`` or ``"min_snr"`` (with ``min_snr_gamma``). ``vlb_weight`` is λ of L_hybrid,
    multiplied by T as in improved DDPM (so ``L_vlb`` is the per-step term scaled to the full sum).
    """

    def __init__(self, num_timesteps: int = 1000, schedule: str = "linear", beta_start: float = 1e-4,
                 beta_end: float = 0.02, zero_terminal_snr: bool = True, prediction: str = "v",
                 learn_sigma: bool = False, variance: str = "fixed_small", loss_weighting: str = "none",
                 min_snr_gamma: float = 5.0, vlb_weight: float = 0.001):
        self.prediction = check_prediction(prediction)
        if variance not in VARIANCES:
            raise ValueError(f"unknown variance {variance!r}; valid fixed variances are: {', '.join(VARIANCES)} "
                             f"(set learn_sigma=True for the learned range)")
        if loss_weighting not in LOSS_WEIGHTINGS:
            raise ValueError(f"unknown loss_weighting {loss_weighting!r}; valid: {', '.join(LOSS_WEIGHTINGS)}")
        if zero_terminal_snr and prediction == "eps":
            raise ValueError("zero_terminal_snr=True needs prediction 'v' or 'x0': at ᾱ_T = 0 an ε-prediction "
                             "carries no information about x_0 (Lin et al. 2024 §3.2)")
        self.schedule, self.zero_terminal_snr = schedule, zero_terminal_snr
        self.learn_sigma, self.variance = learn_sigma, variance
        self.loss_weighting, self.min_snr_gamma = loss_weighting, min_snr_gamma
        betas = make_betas(schedule, num_timesteps, beta_start, beta_end, zero_terminal_snr)
        self.vlb_weight = vlb_weight * num_timesteps
        self._set_alphas_cumprod(torch.cumprod(1 - betas, dim=0))
        self.timestep_map = torch.arange(num_timesteps)

    # ----------------------------------------------------------------------------------------------------------
    # Tables (float64 on the CPU; gathered per call and cast to the input's device and dtype)
    # ----------------------------------------------------------------------------------------------------------
    def _set_alphas_cumprod(self, alphas_cumprod: Tensor) -> None:
        ab = alphas_cumprod.double()
        ab_prev = torch.cat([ab.new_ones(1), ab[:-1]])
        self.num_timesteps = ab.shape[0]
        self.alphas_cumprod, self.alphas_cumprod_prev = ab, ab_prev
        self.betas = 1 - ab / ab_prev
        self.sqrt_alphas_cumprod = ab.sqrt()                    # α_t
        self.sqrt_one_minus_alphas_cumprod = (1 - ab).sqrt()    # σ_t
        self.snr = ab / (1 - ab)
        self.posterior_variance = self.betas * (1 - ab_prev) / (1 - ab)   # β̃_t
        # β̃_0 = 0: improved DDPM replaces it by β̃_1 inside the log
        first = self.posterior_variance[1:2] if self.num_timesteps > 1 else self.posterior_variance[:1]
        self.posterior_log_variance_clipped = torch.log(
            torch.cat([first, self.posterior_variance[1:]]).clamp(min=1e-20))
        self.log_betas = torch.log(self.betas.clamp(min=1e-20))
        self.log_betas_clipped = torch.log(torch.cat([first, self.betas[1:]]).clamp(min=1e-20))
        self.posterior_mean_coef1 = self.betas * ab_prev.sqrt() / (1 - ab)
        self.posterior_mean_coef2 = (1 - ab_prev) * (1 - self.betas).sqrt() / (1 - ab)

    @staticmethod
    def extract(table: Tensor, t: Tensor, x: Tensor) -> Tensor:
        """``table[t]`` shaped ``(B, 1, …, 1)`` to broadcast against ``x``, in ``x``'s device and dtype."""
        out = table.to(t.device)[t].to(x.dtype)
        return out.view(-1, *([1] * (x.dim() - 1)))

    def respace(self, timesteps: Sequence[int]) -> "GaussianDiffusion":
        """The diffusion restricted to the increasing original timesteps ``timesteps`` (improved DDPM §4):
        ``β'_i = 1 − ᾱ_{s_i}/ᾱ_{s_{i−1}}``; ``timestep_map`` maps each new index to the original timestep, which is
        what the model is called with."""
        ts = torch.as_tensor(list(timesteps), dtype=torch.long)
        if ts.numel() == 0 or (ts[1:] <= ts[:-1]).any() or ts[0] < 0 or ts[-1] >= self.num_timesteps:
            raise ValueError(f"respace: timesteps must be increasing in [0, {self.num_timesteps - 1}], "
                             f"got {ts.tolist()}")
        spaced = copy.copy(self)
        spaced._set_alphas_cumprod(self.alphas_cumprod[ts])
        spaced.timestep_map = self.timestep_map[ts]
        return spaced

    # ----------------------------------------------------------------------------------------------------------
    # Forward process and posterior
    # ----------------------------------------------------------------------------------------------------------
    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """``x_t = α_t x_0 + σ_t ε`` (W.A.L.T Eq. 1)."""
        return (self.extract(self.sqrt_alphas_cumprod, t, x0) * x0
                + self.extract(self.sqrt_one_minus_alphas_cumprod, t, x0) * noise)

    def q_posterior_mean_variance(self, x0: Tensor, x_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Mean, variance and clipped log-variance of ``q(x_{t−1} | x_t, x_0)`` (DDPM Eq. 6–7)."""
        mean = (self.extract(self.posterior_mean_coef1, t, x_t) * x0
                + self.extract(self.posterior_mean_coef2, t, x_t) * x_t)
        return (mean, self.extract(self.posterior_variance, t, x_t),
                self.extract(self.posterior_log_variance_clipped, t, x_t))

    # ----------------------------------------------------------------------------------------------------------
    # Model output → x0, ε, reverse-process mean and variance
    # ----------------------------------------------------------------------------------------------------------
    def split_output(self, model_output: Tensor, x_t: Tensor) -> tuple[Tensor, Tensor | None]:
        """``(prediction, variance values or None)``; a learned-Σ model returns ``2C`` channels."""
        channels = x_t.shape[1] * (2 if self.learn_sigma else 1)
        if model_output.shape[1] != channels or model_output.shape[2:] != x_t.shape[2:]:
            raise ValueError(f"GaussianDiffusion(learn_sigma={self.learn_sigma}): model output of shape "
                             f"{tuple(model_output.shape)} does not match x_t {tuple(x_t.shape)}; expected "
                             f"{channels} channels")
        if self.learn_sigma:
            pred, var_values = model_output.chunk(2, dim=1)
            return pred, var_values
        return model_output, None

    def predict_x0_eps(self, pred: Tensor, x_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """``(x̂_0, ε̂)`` from a prediction of kind ``self.prediction``."""
        return x0_eps_from_prediction(self.prediction, x_t, pred, self.extract(self.sqrt_alphas_cumprod, t, x_t),
                                      self.extract(self.sqrt_one_minus_alphas_cumprod, t, x_t))

    def model_log_variance(self, var_values: Tensor | None, x_t: Tensor, t: Tensor) -> Tensor:
        """log Σ_θ: learned ``frac·log β_t + (1 − frac)·log β̃_t`` with ``frac = (v + 1)/2``, or the fixed one."""
        min_log = self.extract(self.posterior_log_variance_clipped, t, x_t)
        if var_values is not None:
            max_log = self.extract(self.log_betas, t, x_t)
            frac = (var_values + 1) / 2
            return frac * max_log + (1 - frac) * min_log
        if self.variance == "fixed_large":
            return self.extract(self.log_betas_clipped, t, x_t).expand_as(x_t)
        return min_log.expand_as(x_t)

    def p_mean_variance(self, model_output: Tensor, x_t: Tensor, t: Tensor) -> dict[str, Tensor]:
        """Reverse step ``p_θ(x_{t−1} | x_t)``: ``mean``, ``log_variance``, ``pred_x0``, ``pred_eps``."""
        pred, var_values = self.split_output(model_output, x_t)
        x0, eps = self.predict_x0_eps(pred, x_t, t)
        mean, _, _ = self.q_posterior_mean_variance(x0, x_t, t)
        return dict(mean=mean, log_variance=self.model_log_variance(var_values, x_t, t), pred_x0=x0, pred_eps=eps)

    # ----------------------------------------------------------------------------------------------------------
    # Losses
    # ----------------------------------------------------------------------------------------------------------
    def vlb_terms(self, x0: Tensor, x_t: Tensor, t: Tensor, mean: Tensor, log_variance: Tensor) -> Tensor:
        """``L_{t−1}`` per sample in bits/dim: KL to the true posterior for ``t > 0``, the discretized decoder NLL
        ``−log p(x_0 | x_1)`` at ``t = 0``."""
        true_mean, _, true_log_var = self.q_posterior_mean_variance(x0, x_t, t)
        kl = mean_flat(normal_kl(true_mean, true_log_var, mean, log_variance)) / math.log(2.0)
        nll = -mean_flat(discretized_gaussian_log_likelihood(x0, mean, 0.5 * log_variance)) / math.log(2.0)
        return torch.where(t == 0, nll, kl)

    def training_losses(self, model_fn: Callable[..., Tensor], x0: Tensor, t: Tensor, noise: Tensor | None = None,
                        model_kwargs: dict | None = None) -> dict[str, Tensor]:
        """Per-sample losses ``(B,)``: ``loss`` = weighted target MSE (``mse``) + λT·``vlb`` when Σ is learned.

        ``model_fn(x_t, t, **model_kwargs)`` is called with the original timesteps."""
        noise = torch.randn_like(x0) if noise is None else noise
        x_t = self.q_sample(x0, t, noise)
        out = model_fn(x_t, self.model_time(t), **(model_kwargs or {}))
        pred, var_values = self.split_output(out, x_t)
        alpha = self.extract(self.sqrt_alphas_cumprod, t, x0)
        sigma = self.extract(self.sqrt_one_minus_alphas_cumprod, t, x0)
        weight = loss_weight(self.loss_weighting, self.prediction, self.snr.to(t.device)[t].float(),
                             self.min_snr_gamma)
        mse = mean_flat((target(self.prediction, x0, noise, alpha, sigma) - pred.float()) ** 2) * weight
        losses = dict(mse=mse, loss=mse)
        if var_values is not None:
            # stop-gradient on the mean: L_vlb trains only Σ_θ (improved DDPM §3.1)
            frozen = self.p_mean_variance(torch.cat([pred.detach(), var_values], dim=1), x_t, t)
            vlb = self.vlb_terms(x0, x_t, t, frozen["mean"], frozen["log_variance"])
            losses.update(vlb=vlb, loss=mse + self.vlb_weight * vlb)
        return losses

    # ----------------------------------------------------------------------------------------------------------
    # The diffusion protocol shared with RectifiedFlow (what LatentDiffusion, the samplers and SR augmentation call)
    # ----------------------------------------------------------------------------------------------------------
    def sample_t(self, batch: int, device: torch.device | str = "cpu",
                 generator: torch.Generator | None = None) -> Tensor:
        """Training timesteps ``(B,)``, uniform over ``{0, …, T − 1}``, drawn on the generator's device."""
        return torch.randint(self.num_timesteps, (batch,), generator=generator,
                             device=generator.device if generator is not None else device).to(device)

    def model_time(self, t: Tensor) -> Tensor:
        """The original timesteps the backbone is called with at indices ``t`` (the identity unless respaced)."""
        return self.timestep_map.to(t.device)[t]

    def _index(self, t_model: Tensor) -> Tensor:
        """Indices of the original timesteps ``t_model`` (the inverse of :meth:`model_time`)."""
        return torch.searchsorted(self.timestep_map.to(t_model.device), t_model.long())

    def x0_from_output(self, model_output: Tensor, x_t: Tensor, t_model: Tensor) -> Tensor:
        """``x̂_0`` implied by a model output at the original timesteps ``t_model`` (self-conditioning)."""
        pred, _ = self.split_output(model_output, x_t)
        return self.predict_x0_eps(pred.to(x_t.dtype), x_t, self._index(t_model))[0]

    def augment(self, z: Tensor, level: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """A draw of ``q(z_level | z)`` at the original timesteps ``level`` ``(B,)`` (SR noise augmentation)."""
        noise = gaussian_noise(z.shape, generator, z.device).to(z.dtype)
        return self.q_sample(z, self._index(torch.as_tensor(level, device=z.device).expand(z.shape[0])), noise)

    def default_sampler(self, num_steps: int):
        """DDIM, η = 0 (W.A.L.T App. A samples with 50 DDIM steps)."""
        return SAMPLERS.build(dict(type="DDIM", num_steps=num_steps))
