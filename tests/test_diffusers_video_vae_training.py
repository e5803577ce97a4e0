"""W.A.L.T trained on a public video VAE's latents through the tools: tools/train.py on pixels, tools/encode_latents.py
into a cache (with statistics) and LatentDataset training from it, tools/flops.py on the meta device, and the bad
inputs (a clip off the VAE's frame grid, a folder of another class) as one ``error:`` line."""
from pathlib import Path

import pytest
import torch

from walt.engine import train_cli as train_tool

from tool_loader import load_benchmark, load_tool

REPO = Path(__file__).resolve().parents[1]
tiny = load_benchmark("tiny_video_vaes")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("walt_vae")
    load_tool("make_demo_data").main(["--out", str(root / "demo"), "--num-per-class", "1", "--frames", "9",
                                      "--size", "32"])
    return root, tiny.save_tiny("wan", root / "wan")


def write_config(root: Path, vae: Path, frames: int = 9, vae_model: str | None = None, **extra: str) -> Path:
    """The CPU demo's W.A.L.T (configs/demo/walt_demo.py) on the tiny Wan VAE's 3×8×8×4 latents of 9×32² clips."""
    lines = [
        f"_base_ = [{str(REPO / 'configs/demo/walt_demo.py')!r}]",
        "model = dict(backbone=dict(depth=2, dim=32, num_heads=2, patch_size=2, spatial_window=(1, 4, 4), "
        "spatiotemporal_window=(3, 2, 2), conditioning=dict(type='AdaLNLoRA', rank=2)), "
        f"autoencoder=dict(_delete_=True, type='DiffusersVideoVAE', pretrained={str(vae)!r}, model={vae_model!r}), "
        f"video_size=({frames}, 32, 32))",
        f"data = dict(train=dict(root={str(root / 'demo')!r}, num_frames={frames}, frame_interval=1, resolution=32, "
        "keep_decoded=False), batch_size=2)",
        "max_steps = 1", "log_interval = 1", "ckpt_interval = 1", "precision = 'fp32'",
        "lr_schedule = dict(warmup_steps=0)",
    ] + [f"{k} = {v}" for k, v in extra.items()]
    path = root / f"walt_vae_{frames}_{vae_model}_{len(extra)}.py"
    path.write_text("\n".join(lines) + "\n")
    return path


def _one_error_line(capsys, *fragments):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


def test_walt_trains_a_step_on_the_tiny_vae_latents(setup, capsys):
    root, vae = setup
    assert train_tool.main([str(write_config(root, vae)), "--work-dir", str(root / "w")]) == 0
    assert "trained steps 0->1 of 1" in capsys.readouterr().out
    state = torch.load(root / "w" / "step_00000001.pth", weights_only=False)
    assert not any(k.startswith("autoencoder.") for k in state["model"])  # the frozen VAE is not saved


def test_cached_latents_with_statistics_train_through_latent_dataset(setup, capsys):
    root, vae = setup
    config = write_config(root, vae)
    result = load_tool("encode_latents").main([str(config), "--out", str(root / "cache"), "--no-progress",
                                               "--device", "cpu"])
    assert result["items"] == 4 and len(result["stats"]["mean"]) == 4
    from walt.data.latent_dataset import LatentDataset
    from walt.models.autoencoders.diffusers_video_vae import DiffusersVideoVAE
    item = LatentDataset(str(root / "cache"))[0]
    assert tuple(item["latent"].shape) == (4, 3, 8, 8)
    cached = write_config(root, vae, latent_norm=repr(dict(stats=str(root / "cache" / "latent_stats.json"))),
                          data=repr(dict(_delete_=True, train=dict(type="LatentDataset", root=str(root / "cache")),
                                         batch_size=2, num_workers=0)))
    capsys.readouterr()
    assert train_tool.main([str(cached), "--work-dir", str(root / "wc")]) == 0
    assert "trained steps 0->1 of 1" in capsys.readouterr().out
    assert DiffusersVideoVAE(str(vae)).decode(item["latent"][None]).shape == (1, 3, 9, 32, 32)


def test_a_clip_off_the_frame_grid_is_one_error_line(setup, capsys):
    root, vae = setup
    assert train_tool.main([str(write_config(root, vae, frames=8)), "--work-dir", str(root / "bad")]) == 1
    _one_error_line(capsys, "AutoencoderKLWan", "8x32x32", "frames must be 1 + 4k")


def test_a_folder_of_another_class_is_one_error_line(setup, capsys):
    root, _ = setup
    cog = tiny.save_tiny("cogvideox", root / "cog")
    config = write_config(root, cog, vae_model="AutoencoderKLWan")
    assert train_tool.main([str(config), "--work-dir", str(root / "bad2")]) == 1
    _one_error_line(capsys, "holds a diffusers AutoencoderKLCogVideoX, not AutoencoderKLWan")


def test_flops_counts_the_vae_on_the_meta_device(setup, capsys):
    root, vae = setup
    assert load_tool("flops").main([str(write_config(root, vae)), "--component", "autoencoder"]) == 0
    out = capsys.readouterr().out
    assert "flops (torch)" in out and f"{sum(p.numel() for p in tiny.build_tiny('wan').parameters()) / 1e6:.2f}M" in out


def test_sample_tool_decodes_with_tiling(setup, monkeypatch, capsys):
    root, vae = setup
    from diffusers import AutoencoderKLWan
    calls, tiled_decode = [], AutoencoderKLWan.tiled_decode
    monkeypatch.setattr(AutoencoderKLWan, "tiled_decode", lambda self, *a, **k: calls.append(1) or tiled_decode(
        self, *a, **k))
    config = write_config(root, vae)
    assert train_tool.main([str(config), "--work-dir", str(root / "ws")]) == 0
    tiles = dict(tile_sample_min_height=16, tile_sample_min_width=16, tile_sample_stride_height=12,
                 tile_sample_stride_width=12)
    config.write_text(config.read_text().replace("model=None)", f"model=None, tiling={tiles!r})"))
    result = load_tool("sample").main([str(config), "--checkpoint", str(root / "ws"), "--num", "1", "--steps", "2",
                                       "--device", "cpu", "--no-progress", "--out", str(root / "samples")])
    assert result["shape"] == (1, 3, 9, 32, 32) and calls
