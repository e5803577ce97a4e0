"""Every joint image–video config trains 2 steps on the demo data (tools/make_demo_data.py output) at CPU size: each
config file as it is, with only sizes shrunk and weight files swapped out on the command line (a tiny backbone,
the pixel-space identity autoencoder instead of the SD / causal VAE, MiniLM instead of T5-XL / CLIP, no latent
statistics). The batches reach the backbone with their image frames' own conditions where the model has any."""
from pathlib import Path

import pytest

import walt.models.generative.latent_diffusion as latent_diffusion
from walt.engine import train_cli
from tool_loader import load_tool

ROOT = Path(__file__).resolve().parents[1]
FRAME_KEYS = {"frame_y", "frame_text", "frame_text_mask", "frame_text_pooled"}
RUN = ["max_steps=2", "precision=fp32", "ckpt_interval=2", "log_interval=1", "sample.interval=0", "data.batch_size=2",
       "data.num_workers=0", "lr_schedule.warmup_steps=1",
       "model.autoencoder.type=IdentityAutoencoder", "model.autoencoder.latent_channels=3"]
MINILM = ["model.text_encoder.type=MiniLMTextEncoder", "model.text_encoder.max_length=8"]
LAVITA = ["model.backbone.preset=None", "model.backbone.depth=2", "model.backbone.dim=32", "model.backbone.num_heads=2",
          "model.backbone.patch_size=2", "model.video_size=[4,16,16]", "data.train.num_images=2"]


def _clips(prefix, root, frames, resolution, csv=True):
    keys = [f"{prefix}.root={root}", f"{prefix}.num_frames={frames}", f"{prefix}.resolution={resolution}"]
    keys += [f"{prefix}.csv=captions.csv"] if csv else []
    return keys + ([f"{prefix}.frame_interval=2"] if frames > 1 else [])


def _walt(video, hw, windows):
    return ["model.backbone.preset=None", "model.backbone.depth=2", "model.backbone.dim=32",
            "model.backbone.num_heads=2", "model.backbone.patch_size=2", f"model.video_size=[{video},{hw}]",
            f"model.backbone.spatial_window=[1,{windows}]", f"model.backbone.spatiotemporal_window=[5,{windows}]",
            "latent_norm=None", *MINILM]


def _walt_joint(data, hw, resolution, windows, root):
    return (_walt(5, hw, windows) + _clips(f"{data}.video", root, 5, resolution)
            + _clips(f"{data}.image", root, 1, resolution))


# config → (its overrides, what its image frames are conditioned on: per-frame inputs the backbone receives)
CONFIGS = {
    "lavita_ucf_img.py": (lambda r: LAVITA + _clips("data.train.dataset", r, 4, 16, csv=False), {"frame_y"}),
    "lavita_ffs_img.py": (lambda r: LAVITA + _clips("data.train.dataset", r, 4, 16, csv=False), set()),
    "lavita_sky_img.py": (lambda r: LAVITA + _clips("data.train.dataset", r, 4, 16, csv=False), set()),
    "lavita_taichi_img.py": (lambda r: LAVITA + _clips("data.train.dataset", r, 4, 16, csv=False), set()),
    "lavita_t2v.py": (lambda r: LAVITA + MINILM + _clips("data.train.dataset", r, 4, 16), {"frame_text_pooled"}),
    "walt_t2v_l.py": (lambda r: _walt_joint("data.train", "16,16", 16, "8,8", r), {"frame_text", "frame_text_mask"}),
    "walt_t2v_base.py": (lambda r: _walt_joint("data.train", "16,16", 16, "8,8", r), {"frame_text", "frame_text_mask"}),
    "walt_t2v_base_9x16.py": (lambda r: _walt_joint("data.train", "16,32", "[16,32]", "8,16", r),
                              {"frame_text", "frame_text_mask"}),
    "walt_t2v_sr1.py": (lambda r: _walt_joint("data.train.dataset", "16,16", 16, "8,8", r),
                        {"frame_text", "frame_text_mask"}),
    "walt_t2v_sr2.py": (lambda r: _walt_joint("data.train.dataset", "16,16", 16, "8,8", r),
                        {"frame_text", "frame_text_mask"}),
}


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    load_tool("make_demo_data").main(["--out", str(out), "--num-per-class", "1", "--frames", "12", "--size", "32"])
    return str(out)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_joint_config_trains_two_steps_on_demo_data(name, demo_root, tmp_path, monkeypatch, capsys):
    overrides, per_frame = CONFIGS[name]
    seen = []
    conditions = latent_diffusion.training_conditions

    def record(batch, b, image_mask, *args):
        cond = conditions(batch, b, image_mask, *args)
        seen.append((image_mask is not None and bool(image_mask.any()), set(cond.tensors()) & FRAME_KEYS))
        return cond

    monkeypatch.setattr(latent_diffusion, "training_conditions", record)
    code = train_cli.main([str(ROOT / "configs" / name), "--work-dir", str(tmp_path / "w"),
                           "--cfg-options", *RUN, *overrides(demo_root)])
    assert code == 0, capsys.readouterr().err
    assert "trained steps 0->2 of 2" in capsys.readouterr().out
    assert (tmp_path / "w" / "latest").read_text() == "step_00000002.pth\n"
    assert seen == [(True, per_frame)] * 2  # every batch had image frames, conditioned on their own label / caption

