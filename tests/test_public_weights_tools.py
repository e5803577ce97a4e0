"""Public weights through the tools: tools/sample.py takes a Latte checkpoint and a diffusers folder and uses the
config's sampling setup, tools/train.py --load-from takes Latte and DiT weights (LAVITA §3.6) and logs what it left,
tools/convert_latte.py converts with the layout checked; a misfit is one ``error:`` line naming key and shapes."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from diffusers import LatteTransformer3DModel

from engine_tiny import write_config
from random_weights import randomize
from tool_loader import load_tool
from walt.engine import train_cli
from walt.engine.loading import load_model
from walt.models.backbones.lavita import LAVITA
from walt.models.conditioning.conditions import Conditions
from walt.models.convert import walt_to_diffusers_latte, walt_to_dit, walt_to_latte

REPO = Path(__file__).resolve().parents[1]
BACKBONE = dict(type="LAVITA", preset=None, depth=4, dim=16, num_heads=2, patch_size=2)
MODEL = dict(type="LatentDiffusion", video_size=(2, 4, 4), self_condition_prob=0.0,
             autoencoder=dict(type="IdentityAutoencoder", latent_channels=3),
             diffusion=dict(type="GaussianDiffusion", schedule="linear", prediction="eps", learn_sigma=True,
                            zero_terminal_snr=False), backbone=BACKBONE)
SAMPLE = dict(interval=0, num=2, sampler=dict(type="DDPM", spacing="linspace"), steps=3, cfg_scale=1.0, fps=4)
T2V_BACKBONE = dict(BACKBONE, conditioning=dict(type="AdaLNSingle"), cross_attention=dict(type="TextCrossAttention"),
                    text_pooled=False)


def _lavita(**overrides):
    args = {k: v for k, v in BACKBONE.items() if k != "type"}
    return randomize(LAVITA(**{**args, "in_channels": 3, "input_size": (2, 4, 4), **overrides}))


def _config(tmp_path, name="tiny_latte", model=None, **keys):
    return write_config(tmp_path, name=name, model=model or MODEL, sample=SAMPLE, max_steps=1, precision="fp32",
                        optimizer=dict(type="AdamW", lr=0.0), **keys)


def test_sample_tool_takes_a_latte_checkpoint_and_the_configs_sampling_setup(tmp_path, capsys):
    torch.save({"ema": walt_to_latte(_lavita())}, tmp_path / "latte.pt")
    out = tmp_path / "out"
    info = load_tool("sample").main([str(_config(tmp_path)), "--checkpoint", str(tmp_path / "latte.pt"), "--num", "2",
                                     "--out", str(out), "--no-progress"])
    assert info["weights"] == "Latte" and info["shape"] == (2, 3, 2, 4, 4)
    assert sorted(p.name for p in out.iterdir()) == ["sample_000.gif", "sample_000.mp4", "sample_001.gif",
                                                     "sample_001.mp4"]
    printed = capsys.readouterr().out
    assert "Latte weights: " in printed and "with DDPM-3 cfg 1.0" in printed.splitlines()[-1]


def test_load_model_takes_a_diffusers_latte_folder_and_samples_with_text(tmp_path):
    source = _lavita(conditioning=dict(type="AdaLNSingle"), cross_attention=dict(type="TextCrossAttention"),
                     text_dim=6, text_pooled=False)
    sd, config = walt_to_diffusers_latte(source)
    reference = LatteTransformer3DModel.from_config(config)
    reference.load_state_dict(sd)
    reference.save_pretrained(tmp_path / "latte_diffusers" / "transformer")  # a pipeline folder
    path = _config(tmp_path, model=dict(MODEL, backbone=T2V_BACKBONE, text_dim=6, cond_dropout_prob=0.1))
    model, info = load_model(str(path), tmp_path / "latte_diffusers")
    assert info["weights"] == "diffusers Latte"
    assert all(torch.equal(a, b) for a, b in zip(model.backbone.state_dict().values(), source.state_dict().values()))
    text = dict(tokens=torch.randn(2, 5, 6), mask=torch.ones(2, 5, dtype=torch.bool), pooled=torch.zeros(2, 6))
    video = model.sample(2, text=text, steps=2, cfg_scale=3.0, generator=torch.Generator().manual_seed(0))
    assert video.shape == (2, 3, 2, 4, 4) and torch.isfinite(video).all()


def test_sample_tool_misfit_is_one_error_line_naming_the_key_and_shapes(tmp_path):
    torch.save(walt_to_latte(_lavita()), tmp_path / "latte.pt")
    path = _config(tmp_path, model=dict(MODEL, autoencoder=dict(type="IdentityAutoencoder", latent_channels=4)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests")]))
    run = subprocess.run([sys.executable, str(REPO / "tools/sample.py"), str(path), "--checkpoint",
                          str(tmp_path / "latte.pt")], capture_output=True, text=True, env=env)
    err = run.stderr.strip()
    assert run.returncode != 0 and len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert "x_embedder.proj.weight has shape (16, 3, 2, 2) in the checkpoint" in err and "(16, 4, 2, 2)" in err


@pytest.mark.parametrize("source", ["latte", "dit", "dit_spatial_only"])
def test_train_load_from_public_weights_logs_what_it_left(tmp_path, source):
    options = []
    if source == "latte":
        weights, first_block = walt_to_latte(_lavita()), "blocks.0.attn.qkv.weight"
    else:  # an image DiT (blocks 0..3, 3 classes) initializing the unconditional video model (§3.6)
        weights = walt_to_dit(_lavita(variant=3, temporal=False, num_classes=3, input_size=(1, 4, 4)))
        first_block = "blocks.2.mlp.fc1.weight" if source == "dit_spatial_only" else "blocks.1.mlp.fc1.weight"
        options = ["--cfg-options", "dit_init=spatial_only"] if source == "dit_spatial_only" else []
    torch.save({"model": weights, "args": None}, tmp_path / "weights.pt")
    work = tmp_path / "w"
    assert train_cli.main([str(_config(tmp_path)), "--work-dir", str(work), "--load-from",
                           str(tmp_path / "weights.pt"), *options]) == 0
    saved = torch.load(work / "step_00000001.pth", weights_only=False)
    assert torch.equal(saved["model"][f"backbone.{first_block}"], weights[first_block])  # lr 0: the loaded weights
    log = (work / "train.log").read_text()
    assert f"{'Latte' if source == 'latte' else 'DiT'} weights: " in log
    if source == "dit":  # Latte's load by key name: temporal block 1 took DiT block 1 (checked above), none left
        assert "left at initialization" not in log
    if source == "dit_spatial_only":
        assert "left at initialization (not in the checkpoint): conditioning.weight[1], conditioning.weight[3]" in log
        assert "unused checkpoint keys (unconditional model: DiT's label embedding dropped (§3.6))" in log


def test_convert_tool_round_trips_and_refuses_a_variant_1_model(tmp_path, capsys):
    convert = load_tool("convert_latte").main
    original = walt_to_latte(_lavita())
    torch.save({"ema": original}, tmp_path / "latte.pt")
    config = str(_config(tmp_path))
    assert convert([str(tmp_path / "latte.pt"), str(tmp_path / "walt.pth"), "--config", config]) == 0
    assert convert([str(tmp_path / "walt.pth"), str(tmp_path / "back.pt"), "--to", "latte"]) == 0  # embedded config
    back = torch.load(tmp_path / "back.pt")
    assert set(back) == set(original) and all(torch.equal(back[k], original[k]) for k in back)
    assert "convert_latte: " in capsys.readouterr().out
    variant1 = str(_config(tmp_path, name="variant1", model=dict(MODEL, backbone=dict(BACKBONE, variant=1))))
    assert convert([str(tmp_path / "latte.pt"), str(tmp_path / "x.pth"), "--config", variant1]) == 1
    assert "this model has variant=1" in capsys.readouterr().err
    walt1 = {"model": {f"backbone.{k}": v for k, v in _lavita(variant=1).state_dict().items()}, "step": 0}
    torch.save(walt1, tmp_path / "walt1.pth")
    assert convert([str(tmp_path / "walt1.pth"), str(tmp_path / "x.pt"), "--to", "latte", "--config", variant1]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the Latte layout expresses LAVITA with variant=2")
    assert not (tmp_path / "x.pt").exists()


def test_convert_tool_writes_a_diffusers_folder_diffusers_reads(tmp_path):
    source = _lavita(conditioning=dict(type="AdaLNSingle"), cross_attention=dict(type="TextCrossAttention"),
                     text_dim=6, text_pooled=False)
    walt = {"model": {f"backbone.{k}": v for k, v in source.state_dict().items()}, "step": 0}
    torch.save(walt, tmp_path / "walt.pth")
    config = str(_config(tmp_path, model=dict(MODEL, backbone=T2V_BACKBONE, text_dim=6)))
    assert load_tool("convert_latte").main([str(tmp_path / "walt.pth"), str(tmp_path / "hf"), "--to",
                                            "latte-diffusers", "--config", config]) == 0
    theirs = LatteTransformer3DModel.from_pretrained(tmp_path / "hf").eval()
    x, t, text = torch.randn(1, 3, 2, 4, 4), torch.tensor([5]), torch.randn(1, 4, 6)
    with torch.no_grad():
        torch.testing.assert_close(theirs(x, t, encoder_hidden_states=text).sample,
                                   source.eval()(x, t, Conditions(text=text)),
                                   rtol=0, atol=1e-5)
