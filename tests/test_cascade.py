"""The W.A.L.T text-to-video pipeline at demo scale (§4.4–4.5, §5.3): the demo base + SR configs train a few steps on
a tiny captioned demo set and tools/sample_cascade.py turns a prompt into a playable video at the SR resolution;
the SR stage is conditioned on exactly the base stage's latent; text-conditioned frame prediction keeps the observed
frames; long-video extension adds the expected frames (also through a causal autoencoder, 5 → 2 latent frames in
W.A.L.T); cached text embeddings train like captions; aspect-ratio finetuning checkpoints load into the 9:16 model."""
from pathlib import Path

import decord
import pytest
import torch

from walt.engine.loading import load_model

from registry import BACKBONES, DATASETS, MODELS
from walt.data.collate import collate
from walt.data.text_cache import CachedTextDataset, encode_text_cache
from walt.engine.config import load_config
from walt.models.conditioning.conditions import Conditions
from walt.models.generative.build import build_backbone
from walt.models.generative.latent_diffusion import LatentDiffusion
from walt.models.generative.long_video import extend_video
from tool_loader import load_tool

ROOT = Path(__file__).resolve().parents[1]
BASE, SR = ROOT / "configs/demo/walt_t2v_demo.py", ROOT / "configs/demo/walt_t2v_sr_demo.py"
PROMPT = "a red square moving left"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Demo data (8 captioned 16-frame 32² videos) and 2-step base and SR runs of the demo configs."""
    tmp = tmp_path_factory.mktemp("t2v")
    load_tool("make_demo_data").main(["--out", str(tmp / "demo"), "--num-per-class", "2", "--frames", "16",
                                  "--size", "32"])
    train = load_tool("train")
    common = ["max_steps=2", "ckpt_interval=2", "data.batch_size=4"]
    assert train.main([str(BASE), "--work-dir", str(tmp / "base"), "--cfg-options",
                       f"data.train.root={tmp / 'demo'}", *common]) == 0
    assert train.main([str(SR), "--work-dir", str(tmp / "sr"), "--cfg-options",
                       f"data.train.dataset.root={tmp / 'demo'}", *common]) == 0
    return tmp


def test_cascade_tool_writes_a_playable_video_at_the_sr_resolution(trained, tmp_path, capsys):
    load_tool("sample_cascade").main(["--prompt", PROMPT, "--configs", str(BASE), str(SR), "--checkpoints",
                                  str(trained / "base"), str(trained / "sr"), "--steps", "2",
                                  "--cfg-scale", "3", "2", "--out", str(tmp_path)])
    video = decord.VideoReader(str(tmp_path / "00_a_red_square_moving_left.mp4"))
    assert len(video) == 5 and video[0].shape == (32, 32, 3)  # base 5×16×16 → SR 5×32×32
    assert (tmp_path / "00_a_red_square_moving_left.gif").stat().st_size > 0
    assert "sample_cascade: 1 video(s) (5, 32, 32) through 2 stage(s) (latents 5x16x16 -> 5x32x32)" in \
        capsys.readouterr().out


def test_sr_stage_is_conditioned_on_the_base_stage_latent(trained, monkeypatch):
    seen = []
    sample = LatentDiffusion.sample

    def spy(self, num, **kwargs):
        out = sample(self, num, **kwargs)
        seen.append((kwargs.get("lowres"), kwargs.get("t_sr"), out))
        return out

    monkeypatch.setattr(LatentDiffusion, "sample", spy)
    cascade = load_tool("sample_cascade")
    video, latents = cascade.run_cascade([(str(BASE), str(trained / "base")), (str(SR), str(trained / "sr"))],
                                         [PROMPT, "two dogs"], steps=[2, 2], cfg_scales=[2.0, 2.0],
                                         sr_noise_levels=[100])
    assert [tuple(z.shape) for z in latents] == [(2, 3, 5, 16, 16), (2, 3, 5, 32, 32)]
    assert seen[0][0] is None and torch.equal(seen[1][0], latents[0]) and seen[1][1] == 100
    assert torch.equal(video, latents[1].clamp(-1, 1))  # identity autoencoder: decoding is the latent itself
    with pytest.raises(ValueError, match="super-resolution"):
        cascade.run_cascade([(str(SR), str(trained / "sr"))], [PROMPT], steps=[1], cfg_scales=[1.0],
                            sr_noise_levels=[0])


def test_text_frame_prediction_keeps_observed_frames_and_extend_adds_chunks(trained):
    model, _ = load_model(str(BASE), str(trained / "base"))
    cond = torch.rand(1, 3, 2, 16, 16) * 2 - 1
    z = model.sample(1, prompts=[PROMPT], cond_latent=cond, steps=2, cfg_scale=2.0, decode=False,
                     generator=torch.Generator().manual_seed(0))
    assert torch.equal(z[:, :, :2], cond)
    video = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    long = extend_video(model, video, num_chunks=2, num_observed=2, prompts=[PROMPT], steps=2)
    assert long.shape == (1, 3, 5 + 2 * (5 - 2), 16, 16) and torch.equal(long[:, :, :5], video)


def test_extend_through_a_causal_autoencoder_re_encodes_1_plus_k_minus_1_times_ft_frames():
    # f_t = 2: 2 observed latent frames come from the last 1 + (2 - 1)·2 = 3 pixel frames; a 9-frame chunk
    # (5 latent frames) adds 9 - 3 = 6 new frames.
    vae = dict(type="CausalVAE3D", latent_channels=4, base_channels=8, channel_multipliers=(1, 2),
               num_res_blocks=1, temporal_downsample=(True,), num_mid_blocks=1, num_groups=4)
    model = LatentDiffusion(
        backbone=dict(type="WALT", depth=2, dim=32, num_heads=2, spatial_window=(1, 4, 4),
                      spatiotemporal_window=(5, 4, 4)),
        autoencoder=vae, video_size=(9, 8, 8), frame_prediction_prob=0.5, self_condition_prob=0.0).eval()
    video = torch.rand(1, 3, 9, 8, 8) * 2 - 1
    long = extend_video(model, video, num_chunks=2, num_observed=2, steps=2)
    assert long.shape == (1, 3, 9 + 2 * 6, 8, 8) and torch.equal(long[:, :, :9], video)


def test_cached_text_embeddings_train_like_on_the_fly_captions(trained):
    cfg = load_config(BASE, [f"data.train.root={trained / 'demo'}", "data.train.temporal_sampling=center"])
    model = MODELS.build(cfg.model)
    dataset = DATASETS.build(cfg.data.train)
    encode_text_cache(model.text_encoder, [s.caption for s in dataset.samples], trained / "text.pt")
    raw, cached = collate([dataset[i] for i in range(4)]), collate(
        [CachedTextDataset(dataset, str(trained / "text.pt"))[i] for i in range(4)])
    assert "caption" not in cached and torch.equal(raw["video"], cached["video"])
    losses = []
    for batch in (raw, cached):
        torch.manual_seed(1)
        losses.append(model(batch)["loss"])
    torch.testing.assert_close(losses[0], losses[1], atol=1e-6, rtol=1e-6)


def test_super_resolution_pairs_add_the_2x2_mean_pooled_clip():
    from torch.utils.data import Dataset

    from walt.data.super_resolution import SuperResolutionPairs

    video = torch.rand(3, 5, 8, 12) * 2 - 1

    class One(Dataset):
        def __len__(self):
            return 1

        def __getitem__(self, i):
            return {"video": video, "caption": "x"}

    item = SuperResolutionPairs(One(), factor=2)[0]
    expected = video.view(3, 5, 4, 2, 6, 2).mean(dim=(3, 5))
    torch.testing.assert_close(item["lowres_video"], expected)
    assert torch.equal(item["video"], video) and item["caption"] == "x"


def test_aspect_ratio_checkpoint_loads_into_the_9x16_model(tmp_path):
    # App. A: 5×16×16 → 5×16×28 latents, windows 1×8×8 → 1×8×14 and 5×4×4 → 5×4×7 on the demo's 8×8 → 8×14 grid.
    cfg = load_config(BASE)
    square = build_backbone(cfg.model, "cpu")
    torch.save({"model": {f"backbone.{k}": v for k, v in square.state_dict().items()} | {"other.w": torch.ones(2)}},
               tmp_path / "square.pth")
    load_tool("interpolate_checkpoint").main([str(BASE), str(tmp_path / "square.pth"), "--video-size", "5", "16", "28",
                                          "--out", str(tmp_path / "wide.pth")])
    wide_cfg = load_config(BASE, ["model.video_size=(5,16,28)", "model.backbone.spatial_window=(1,8,14)",
                                  "model.backbone.spatiotemporal_window=(5,4,7)"])
    wide = build_backbone(wide_cfg.model, "cpu")
    state = torch.load(tmp_path / "wide.pth")["model"]
    assert torch.equal(state.pop("other.w"), torch.ones(2))
    wide.load_state_dict({k.removeprefix("backbone."): v for k, v in state.items()}, strict=True)
    out = wide(torch.randn(1, 3, 5, 16, 28), torch.tensor([10]),
               Conditions(text=torch.randn(1, 4, 384), x_fp=torch.zeros(1, 4, 5, 16, 28)))
    assert out.shape == (1, 3, 5, 16, 28)
