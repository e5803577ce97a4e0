"""LatentDiffusion (walt/models/generative/latent_diffusion.py): the training loss against an independent
computation, latent normalization, self-conditioning, condition dropout, frame prediction, super-resolution noise
augmentation, guided sampling, autoregressive extension, and the errors for bad inputs."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from registry import AUTOENCODERS, BACKBONES, MODELS
from walt.diffusion.samplers import DDIM
from walt.models.backbones.denoiser import LatentDenoiser
from walt.models.conditioning.conditions import Conditions
from walt.models.generative.long_video import extend_video


@BACKBONES.register_module(force=True)
class TinyConvDenoiser(LatentDenoiser):
    """Test backbone with the documented call signature: one conv in, ``c`` added, one conv out."""

    def __init__(self, in_channels: int = 3, dim: int = 8, input_size=None, **kwargs):
        super().__init__(in_channels, dim, **kwargs)
        self.input_size = input_size
        self.conv_in = nn.Conv3d(self.input_channels, dim, 3, padding=1)
        self.conv_out = nn.Conv3d(dim, self.out_channels, 3, padding=1)
        self.text_proj = nn.Linear(self.text_dim, dim) if self.text_dim else None

    @property
    def text_inputs(self):
        return (("tokens",) if self.text_proj is not None else ()) + super().text_inputs

    def forward(self, x, t, cond=None):
        cond = cond or Conditions()
        c = self.condition(t, cond.y, cond.text_pooled, cond.t_sr)
        if self.text_proj is not None:
            c = c + (self.text_proj(cond.text) * cond.text_mask[..., None]).sum(1)
        h = F.silu(self.conv_in(self.concat_inputs(x, cond.x_sc, cond.x_fp, cond.x_lr)) + c[:, :, None, None, None])
        return self.conv_out(h)


@AUTOENCODERS.register_module(force=True)
class TinyFrameAutoencoder(nn.Module):
    """Test autoencoder with weights: per-frame 2× spatial conv encoder / transposed-conv decoder, 4 channels."""

    causal, spatial_factor, temporal_factor, latent_channels = False, 2, 1, 4

    def __init__(self):
        super().__init__()
        self.enc = nn.Conv3d(3, 4, (1, 2, 2), stride=(1, 2, 2))
        self.dec = nn.ConvTranspose3d(4, 3, (1, 2, 2), stride=(1, 2, 2))

    def latent_grid(self, t, h, w):
        return t, h // 2, w // 2

    def encode(self, x):
        return self.enc(x)

    def decode(self, z):
        return self.dec(z)


def _model(**kwargs):
    cfg = dict(type="LatentDiffusion", backbone=dict(type="TinyConvDenoiser", num_classes=5),
               video_size=(4, 8, 8), self_condition_prob=0.0, cond_dropout_prob=0.0)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def _batch(b=2, **extra):
    return dict(video=torch.rand(b, 3, 4, 8, 8) * 2 - 1, label=torch.arange(b) % 5, **extra)


def _record_calls(model):
    calls = []
    model.backbone.register_forward_hook(
        lambda mod, args, out: calls.append(dict(args[2].tensors(), x=args[0], t=args[1], out=out)))
    return calls


def _alpha_sigma(t):
    ab = np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))  # W.A.L.T default: linear, zero terminal SNR
    s = np.sqrt(ab)
    ab = ((s - s[-1]) * s[0] / (s[0] - s[-1])) ** 2
    a = torch.tensor(np.sqrt(ab)[t.numpy()], dtype=torch.float32).view(-1, 1, 1, 1, 1)
    return a, (1 - a ** 2).sqrt()


def test_builds_backbone_from_model_settings_and_freezes_the_autoencoder():
    m = _model(autoencoder=dict(type="TinyFrameAutoencoder"), self_condition_prob=0.9, frame_prediction_prob=0.5)
    assert m.backbone.in_channels == 4 and m.backbone.input_channels == 4 + 4 + 5  # x, x_sc, c_fp = (m∘z, m)
    assert all(not p.requires_grad for p in m.autoencoder.parameters())
    assert not any(name.startswith("autoencoder") for name, p in m.named_parameters() if p.requires_grad)
    m.train()
    assert m.training and not m.autoencoder.training
    assert isinstance(m.diffusion.prediction, str) and m.diffusion.prediction == "v"


def test_training_loss_equals_independent_v_prediction_mse(tmp_path):
    mean, std = [0.1, -0.2, 0.3, 0.0], [0.5, 2.0, 1.0, 1.5]
    m = _model(autoencoder=dict(type="TinyFrameAutoencoder"), latent_norm=dict(mean=mean, std=std))
    batch = _batch()
    torch.manual_seed(3)
    loss = m(batch)["loss"]
    torch.manual_seed(3)
    t = torch.randint(0, 1000, (2,))
    with torch.no_grad():
        shift, scale = torch.tensor(mean).view(1, 4, 1, 1, 1), torch.tensor(std).view(1, 4, 1, 1, 1)
        z = (m.autoencoder.enc(batch["video"]) - shift) / scale
        noise = torch.randn_like(z)
        a, s = _alpha_sigma(t)
        out = m.backbone(a * z + s * noise, t, Conditions(y=batch["label"]))
        expected = ((a * noise - s * z - out) ** 2).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    # the same statistics from a JSON stats file give the same loss
    (tmp_path / "stats.json").write_text(json.dumps(dict(mean=mean, std=std)))
    m2 = _model(autoencoder=dict(type="TinyFrameAutoencoder"), latent_norm=dict(stats=str(tmp_path / "stats.json")))
    m2.load_state_dict(m.state_dict())
    torch.manual_seed(3)
    assert m2(batch)["loss"].item() == pytest.approx(loss.item(), rel=1e-6)
    loss.backward()
    assert all(p.grad is not None for p in m.backbone.parameters())


def test_self_conditioning_feeds_the_stopgrad_x0_estimate_of_a_first_pass():
    m = _model(self_condition_prob=1.0)
    calls = _record_calls(m)
    m(_batch())
    assert len(calls) == 2 and torch.count_nonzero(calls[0]["x_sc"]) == 0
    a, s = _alpha_sigma(calls[0]["t"])
    x0_estimate = a * calls[0]["x"] - s * calls[0]["out"]  # x0 = α z_t − σ v
    assert torch.allclose(calls[1]["x_sc"], x0_estimate, atol=1e-6) and not calls[1]["x_sc"].requires_grad
    calls.clear()
    m.self_condition_prob = 0.5
    torch.manual_seed(1)
    m(_batch(b=16))
    used = calls[-1]["x_sc"].flatten(1).abs().sum(1) > 0
    assert 0 < int(used.sum()) < 16  # a per-sample p_sc share


def test_condition_dropout_gives_null_class_and_zero_text():
    m = _model(backbone=dict(type="TinyConvDenoiser", num_classes=5, text_pooled=True), text_dim=6,
               cond_dropout_prob=1.0)
    calls = _record_calls(m)
    text = dict(text_tokens=torch.randn(2, 3, 6), text_mask=torch.ones(2, 3, dtype=torch.bool),
                text_pooled=torch.randn(2, 6))
    m(_batch(**text))
    kw = calls[0]
    assert kw["y"].tolist() == [5, 5] and not kw["text_mask"].any()
    assert torch.count_nonzero(kw["text"]) == 0 and torch.count_nonzero(kw["text_pooled"]) == 0
    m.cond_dropout_prob = 0.0
    m(_batch(**text))
    assert calls[1]["y"].tolist() == [0, 1] and torch.equal(calls[1]["text"], text["text_tokens"])


def test_frame_prediction_training_condition_is_masked_clean_latent():
    m = _model(frame_prediction_prob=1.0, latent_norm=dict(mean=[0.5] * 3, std=[2.0] * 3))
    calls = _record_calls(m)
    batch = _batch(b=8)
    torch.manual_seed(0)
    out = m(batch)
    x_fp = calls[0]["x_fp"]
    z = (batch["video"] - 0.5) / 2.0
    for i in range(8):
        mask = x_fp[i, 3, :, 0, 0]
        k = int(mask.sum())
        assert k in (1, 2) and mask.tolist() == [1.0] * k + [0.0] * (4 - k)
        assert torch.equal(x_fp[i, :3, :k], z[i, :, :k]) and torch.count_nonzero(x_fp[i, :3, k:]) == 0
    assert {int(x_fp[i, 3, :, 0, 0].sum()) for i in range(8)} == {1, 2}
    assert out["frame_prediction_rate"].item() == 1.0


def test_frame_prediction_sampling_keeps_the_observed_frames_exactly():
    m = _model(frame_prediction_prob=0.5, cond_dropout_prob=0.1, latent_norm=dict(mean=[0.1] * 3, std=[0.7] * 3))
    cond = torch.randn(2, 3, 2, 8, 8)
    for scale in (1.0, 3.0):  # 3.0 guides c_fp against the zero null c_fp (W.A.L.T §4.4)
        z = m.sample(2, y=[1, 2], cond_latent=cond, steps=4, cfg_scale=scale, decode=False,
                     generator=torch.Generator().manual_seed(0))
        assert torch.equal(z[:, :, :2], cond) and z.shape == (2, 3, 4, 8, 8)
    with pytest.raises(ValueError, match="observed"):
        m.sample(2, cond_latent=torch.randn(2, 3, 5, 8, 8), steps=2)
    with pytest.raises(ValueError, match="frame_prediction_prob"):
        _model().sample(2, cond_latent=cond, steps=2)


def test_super_resolution_noise_augmentation_follows_the_schedule():
    m = _model(super_resolution=True, sr_noise_t_max=999)
    calls = _record_calls(m)
    z_lr = torch.randn(64, 3, 4, 4, 4)
    batch = dict(latent=torch.randn(64, 3, 4, 8, 8), lowres_latent=z_lr, label=torch.zeros(64, dtype=torch.long))
    m(batch)
    t_sr, x_lr = calls[0]["t_sr"], calls[0]["x_lr"]
    assert t_sr.min() >= 0 and t_sr.max() <= 999 and len(set(t_sr.tolist())) > 30
    a, s = _alpha_sigma(t_sr)
    residual = ((x_lr - a * z_lr) / s).flatten(1)  # the injected noise: standard normal for each sample
    assert residual.mean().abs() < 0.05 and (residual.std() - 1).abs() < 0.05
    m.sr_noise_t_max = 0
    calls.clear()
    m(batch)
    assert calls[0]["t_sr"].eq(0).all() and (calls[0]["x_lr"] - z_lr).abs().mean() < 0.02
    out = m.sample(2, y=[0, 1], lowres=torch.randn(2, 3, 4, 4, 4), t_sr=100, steps=2, decode=False)
    assert out.shape == (2, 3, 4, 8, 8) and calls[-1]["t_sr"].eq(100).all()
    with pytest.raises(ValueError, match="lowres"):
        m.sample(2, steps=2)
    with pytest.raises(KeyError, match="lowres_latent"):
        m(_batch())


def test_guided_sampling_scale_one_is_the_conditional_sampler_and_scale_above_one_differs():
    m = _model(cond_dropout_prob=0.1, self_condition_prob=0.9)
    y = torch.tensor([1, 3])
    got = m.sample(2, y=y, steps=5, generator=torch.Generator().manual_seed(0), decode=False)
    ref = DDIM(num_steps=5).sample(m.diffusion, lambda x, t, **kw: m.backbone(x, t, Conditions(y=y, **kw)),
                                   (2, 3, 4, 8, 8),
                                   generator=torch.Generator().manual_seed(0), self_condition=True)
    assert torch.equal(got, ref)
    guided = m.sample(2, y=y, steps=5, cfg_scale=4.0, generator=torch.Generator().manual_seed(0), decode=False)
    assert not torch.allclose(guided, got)
    video = m.sample(2, steps=3, progress=False)
    assert video.shape == (2, 3, 4, 8, 8) and video.abs().max() <= 1.0


def test_guidance_without_a_trained_null_condition_raises():
    with pytest.raises(ValueError, match="cond_dropout_prob"):
        _model(cond_dropout_prob=0.0).sample(2, steps=2, cfg_scale=2.0)
    with pytest.raises(ValueError, match="null condition"):
        _model(backbone=dict(type="TinyConvDenoiser"), cond_dropout_prob=0.1).sample(2, steps=2, cfg_scale=2.0)
    with pytest.raises(ValueError, match="null condition"):
        _model(frame_prediction_prob=1.0).sample(2, cond_latent=torch.randn(2, 3, 1, 8, 8), steps=2, cfg_scale=2.0)


def test_extend_video_conditions_each_chunk_on_the_last_generated_frames(monkeypatch):
    m = _model(frame_prediction_prob=0.5)
    video = torch.rand(1, 3, 4, 8, 8) * 2 - 1
    seen = []
    sample = m.sample

    def spy(num, **kwargs):
        out = sample(num, **kwargs)
        seen.append((kwargs["cond_latent"], out))
        return out

    monkeypatch.setattr(m, "sample", spy)
    long = extend_video(m, video, num_chunks=2, num_observed=2, y=[2], steps=3)
    assert long.shape == (1, 3, 8, 8, 8) and torch.equal(long[:, :, :4], video)
    assert torch.equal(seen[0][0], video[:, :, -2:]) and torch.equal(seen[0][1][:, :, :2], video[:, :, -2:])
    assert torch.equal(seen[1][0], long[:, :, 4:6]) and torch.equal(long[:, :, 4:6], seen[0][1][:, :, 2:])
    with pytest.raises(ValueError, match="pixel frames"):
        extend_video(m, video[:, :, :1], num_observed=2)


def test_extend_video_with_a_causal_vae_reencodes_the_last_1_plus_ft_frames(monkeypatch):
    # W.A.L.T: the last 5 frames → 2 latent frames (f_t = 4); here a tiny causal VAE with f_t = 2: 3 frames → 2
    m = _model(frame_prediction_prob=0.5, video_size=(5, 8, 8),
               autoencoder=dict(type="CausalVAE3D", latent_channels=4, base_channels=8, channel_multipliers=(1, 2),
                                num_res_blocks=1, temporal_downsample=(True,), num_mid_blocks=1, num_groups=4))
    video = torch.rand(1, 3, 5, 8, 8) * 2 - 1
    seen = []
    sample = m.sample
    monkeypatch.setattr(m, "sample", lambda num, **kw: seen.append(kw["cond_latent"]) or sample(num, **kw))
    long = extend_video(m, video, num_chunks=1, num_observed=2, y=[0], steps=2)
    assert long.shape == (1, 3, 7, 8, 8) and torch.equal(long[:, :, :5], video)  # 1 + 2·(3 − 1) − 3 = 2 new frames
    with torch.no_grad():
        assert torch.equal(seen[0], m.autoencoder.encode(video[:, :, -3:]))


def test_tiny_walt_backbone_trains_and_samples():
    m = MODELS.build(dict(type="LatentDiffusion", video_size=(2, 8, 8), cond_dropout_prob=0.1,
                          backbone=dict(type="WALT", depth=2, dim=32, num_heads=2,
                                        spatial_window=(1, 8, 8), spatiotemporal_window=(2, 4, 4), num_classes=3)))
    assert m.backbone.self_condition and m.backbone.input_channels == 6
    out = m(dict(video=torch.rand(2, 3, 2, 8, 8) * 2 - 1, label=torch.tensor([0, 2])))
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and m.backbone.final_layer.linear.weight.grad.abs().sum() > 0
    video = m.sample(2, y=[1, 2], steps=2, cfg_scale=2.0, generator=torch.Generator().manual_seed(0))
    assert video.shape == (2, 3, 2, 8, 8)


def test_joint_image_video_batch_appends_per_frame_encoded_images_with_image_mask():
    m = _model(autoencoder=dict(type="TinyFrameAutoencoder"), frame_prediction_prob=1.0)
    calls = _record_calls(m)
    images = torch.rand(1, 3, 4, 8, 8) * 2 - 1
    m(dict(_batch(), images=images, label=torch.tensor([0, 1, 2])))
    kw = calls[0]
    assert kw["image_mask"].tolist() == [[False] * 4, [False] * 4, [True] * 4] and kw["y"].tolist() == [0, 1, 2]
    assert torch.count_nonzero(kw["x_fp"][2]) == 0  # no frame prediction on a stack of independent images
    a, s = _alpha_sigma(kw["t"][2:])
    with torch.no_grad():
        z_img = torch.cat([m.autoencoder.encode(images[:, :, i:i + 1]) for i in range(4)], dim=2)
    x_t = kw["x"][2:]
    assert x_t.shape == z_img.shape and ((x_t - a * z_img) / s).std().item() == pytest.approx(1.0, abs=0.3)
    with pytest.raises(ValueError, match="label"):
        m(dict(_batch(), images=images))


def test_bad_batches_and_settings_raise():
    m = _model()
    with pytest.raises(KeyError, match="'video' or 'latent'"):
        m(dict(label=torch.zeros(2, dtype=torch.long)))
    with pytest.raises(KeyError, match="label"):
        m(dict(video=torch.zeros(2, 3, 4, 8, 8)))
    with pytest.raises(ValueError, match="self_condition_prob"):
        _model(self_condition_prob=1.5)
    with pytest.raises(ValueError, match="self_condition"):
        _model(backbone=dict(type="TinyConvDenoiser", self_condition=True))
    with pytest.raises(ValueError, match="not class-conditional"):
        _model(backbone=dict(type="TinyConvDenoiser")).sample(1, y=[0], steps=2)
