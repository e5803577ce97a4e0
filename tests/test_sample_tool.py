"""tools/sample.py on a trainer-format checkpoint of a tiny W.A.L.T model: playable mp4/gif files (read back with
decord), EMA vs raw weights, autoregressive extension, and the one-line summary."""

import decord
import pytest
import torch

from walt.engine.loading import load_model
from walt.models.generative.long_video import extend_video

from registry import MODELS
from walt.engine.errors import CheckpointError
from walt.data.video_io import read_video
from tool_loader import load_tool

CONFIG = """
model = dict(
    type="LatentDiffusion", video_size=(4, 32, 32), cond_dropout_prob=0.1, frame_prediction_prob=0.5,
    autoencoder=dict(type="IdentityAutoencoder", latent_channels=3),
    backbone=dict(type="WALT", depth=2, dim=32, num_heads=2, patch_size=2,
                  spatial_window=(1, 8, 8), spatiotemporal_window=(2, 8, 8), num_classes=3))
"""


@pytest.fixture()
def checkpoint(tmp_path):
    cfg_path = tmp_path / "tiny_walt.py"
    cfg_path.write_text(CONFIG)
    from mmengine.config import Config
    cfg = Config.fromfile(str(cfg_path))
    model = MODELS.build(cfg.model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))  # leave the zero init so the output depends on the weights
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    ema = {n: p.detach() + 0.01 * torch.randn_like(p) for n, p in trainable.items()}
    state = dict(model={k: v for k, v in model.state_dict().items() if k in trainable or "autoencoder" not in k},
                 ema=ema, optimizer={}, scheduler={}, step=7, rng=None, config=cfg.to_dict())
    torch.save(state, tmp_path / "step_00000007.pth")
    (tmp_path / "latest").write_text("step_00000007.pth\n")
    return cfg_path, tmp_path / "step_00000007.pth", model, ema


def test_sample_tool_writes_playable_mp4_and_gif(checkpoint, tmp_path, capsys):
    cfg_path, ckpt, _, _ = checkpoint
    out = tmp_path / "out"
    info = load_tool("sample").main([str(cfg_path), "--checkpoint", str(tmp_path), "--num", "2", "--steps", "3", "--class", "1",
                         "--extend", "1", "--grid", "--out", str(out), "--seed", "0", "--no-progress"])
    assert info["shape"] == (2, 3, 6, 32, 32)  # 4 frames + one chunk of 4 conditioned on 2 (2 new)
    assert info["weights"] == "ema" and info["step"] == 7 and info["path"] == str(ckpt)
    for i in range(2):
        reader = decord.VideoReader(str(out / f"sample_{i:03d}.mp4"))
        assert len(reader) == 6 and reader[0].shape == (32, 32, 3)
        assert read_video(out / f"sample_{i:03d}.gif").shape == (6, 32, 32, 3)
    assert read_video(out / "grid.mp4").shape == (6, 36, 70, 3)  # 2 videos in one row, 2-pixel padding
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith("sampled 2 videos of 6x32x32 with DDIM-3") and "ema weights" in summary


def test_sample_tool_loads_ema_or_raw_weights(checkpoint):
    cfg_path, ckpt, model, ema = checkpoint
    tool = load_tool("sample")
    with_ema, _ = load_model(str(cfg_path), str(ckpt), use_ema=True)
    raw, info = load_model(str(cfg_path), str(ckpt), use_ema=False)
    assert info["weights"] == "model"
    for name, p in with_ema.named_parameters():
        assert torch.equal(p, ema[name])
    for (name, p), (_, q) in zip(raw.named_parameters(), model.named_parameters()):
        assert torch.equal(p, q), name
    same_seed = dict(num=1, y=[0], steps=2, generator=None)
    torch.manual_seed(0)
    a = with_ema.sample(**same_seed)
    torch.manual_seed(0)
    assert not torch.allclose(a, raw.sample(**same_seed))


def test_sample_tool_rejects_mismatched_checkpoint_and_bad_arguments(checkpoint, tmp_path):
    cfg_path, ckpt, _, _ = checkpoint
    tool = load_tool("sample")
    other = tmp_path / "other.py"
    other.write_text(CONFIG.replace("depth=2", "depth=4"))
    with pytest.raises(CheckpointError, match="does not fit"):
        load_model(str(other), str(ckpt))
    other.write_text(CONFIG.replace("dim=32", "dim=16"))
    with pytest.raises(CheckpointError, match="size mismatch"):
        load_model(str(other), str(ckpt))
    with pytest.raises(ValueError, match="one per video"):
        tool.main([str(cfg_path), "--checkpoint", str(ckpt), "--num", "3", "--class", "0", "1", "--steps", "1",
                   "--out", str(tmp_path / "o")])
    assert tool.parse_args(["c.py", "--checkpoint", "x", "--no-ema"]).use_ema is False
    assert tool.parse_args(["c.py", "--checkpoint", "x"]).use_ema is True
    with pytest.raises(SystemExit):
        tool.parse_args(["--help"])


def test_video_io_grid_layout_and_odd_sizes(tmp_path):
    from walt.data.video_io import make_grid, to_uint8_frames, write_video
    videos = torch.arange(3.0).view(3, 1, 1, 1, 1).expand(3, 3, 2, 4, 5) / 3
    grid = make_grid(videos, nrow=2, padding=1)
    assert grid.shape == (3, 2, 1 + 2 * 5, 1 + 2 * 6)
    assert torch.equal(grid[:, :, 6:10, 1:6], videos[2]) and grid[0, 0, 0, 0] == -1.0  # row 2, column 1; padding
    assert to_uint8_frames(torch.ones(3, 1, 2, 2)).max() == 255 and to_uint8_frames(-torch.ones(3, 1, 2, 2)).max() == 0
    write_video(tmp_path / "odd.mp4", torch.zeros(3, 3, 15, 17))  # yuv420p needs even sizes: padded by one pixel
    assert read_video(tmp_path / "odd.mp4").shape == (3, 16, 18, 3)
    with pytest.raises(ValueError, match="3, T, H, W"):
        to_uint8_frames(torch.zeros(4, 2, 2, 2))


def test_sample_tool_upscales_the_written_videos(checkpoint, tmp_path):
    cfg_path, _, _, _ = checkpoint
    out = tmp_path / "big"
    info = load_tool("sample").main([str(cfg_path), "--checkpoint", str(tmp_path), "--num", "1", "--steps", "2",
                                     "--class", "0", "--upscale", "2", "--out", str(out), "--no-progress"])
    assert info["shape"] == (1, 3, 4, 64, 64)
    video = read_video(out / "sample_000.gif")
    assert video.shape == (4, 64, 64, 3)
    assert (video[:, ::2, ::2] == video[:, 1::2, 1::2]).all()  # nearest neighbour: 2×2 blocks of one pixel
    with pytest.raises(ValueError, match="--upscale must be >= 1"):
        load_tool("sample").main([str(cfg_path), "--checkpoint", str(tmp_path), "--upscale", "0", "--no-progress"])


def test_sample_tool_takes_any_registered_sampler_with_only_its_own_options(checkpoint, tmp_path):
    cfg_path, _, _, _ = checkpoint
    tool = load_tool("sample")
    assert tool.parse_args(["c.py", "--checkpoint", "x", "--sampler", "Heun", "--shift", "3"]).shift == 3.0
    with pytest.raises(SystemExit):
        tool.parse_args(["c.py", "--checkpoint", "x", "--sampler", "NoSuchSampler"])
    assert tool.sampler_config("Heun", 10, shift=2.0) == dict(type="Heun", num_steps=10, shift=2.0)
    assert tool.sampler_config("DDIM", 5, eta=0.5) == dict(type="DDIM", num_steps=5, eta=0.5)
    with pytest.raises(ValueError, match="--shift does not apply to the DDIM sampler"):
        tool.sampler_config("DDIM", 5, shift=2.0)
    with pytest.raises(ValueError, match="--eta does not apply to the Euler sampler"):
        tool.sampler_config("Euler", 5, eta=1.0)
    # a flow sampler on this GaussianDiffusion model: one error naming both
    with pytest.raises(ValueError, match="Euler.*GaussianDiffusion"):
        tool.main([str(cfg_path), "--checkpoint", str(tmp_path), "--num", "1", "--steps", "2", "--class", "0",
                   "--sampler", "Euler", "--out", str(tmp_path / "o"), "--no-progress"])


def test_sample_tool_extend_without_class_keeps_one_class_for_the_whole_video(checkpoint, tmp_path, monkeypatch):
    cfg_path, _, _, _ = checkpoint
    from walt.models.generative.latent_diffusion import LatentDiffusion

    calls, sample = [], LatentDiffusion.sample

    def spy(self, num, **kwargs):
        out = sample(self, num, **kwargs)
        calls.append((kwargs["y"].clone(), out))
        return out

    monkeypatch.setattr(LatentDiffusion, "sample", spy)
    load_tool("sample").main([str(cfg_path), "--checkpoint", str(tmp_path), "--num", "2", "--steps", "2",
                              "--extend", "2", "--out", str(tmp_path / "o"), "--seed", "5", "--no-progress"])
    assert len(calls) == 3  # the first chunk and two extensions, all with the same classes
    classes = torch.randint(3, (2,), generator=torch.Generator().manual_seed(5))  # what model.sample would draw
    assert all(torch.equal(y, classes) for y, _ in calls)
    monkeypatch.setattr(LatentDiffusion, "sample", sample)
    model, _ = load_model(str(cfg_path), str(tmp_path))
    unchanged = model.sample(2, steps=2, generator=torch.Generator().manual_seed(5), progress=False)
    assert torch.equal(calls[0][1], unchanged)  # the first chunk is what sampling without --class gave before
    with pytest.raises(ValueError, match="class-conditional"):
        extend_video(model, unchanged, num_chunks=1, steps=2)
