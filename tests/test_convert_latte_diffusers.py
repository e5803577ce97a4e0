"""The released Latte text-to-video model in the diffusers layout (walt/models/convert/latte_diffusers.py): a
randomly initialised tiny ``LatteTransformer3DModel`` saved with ``save_pretrained`` loads into walt's LAVITA and
gives diffusers' forward output (text path included); export gives back its keys and values; other layouts are
refused naming the key and both shapes."""
from pathlib import Path

import pytest
import torch
from diffusers import LatteTransformer3DModel

from walt.engine.config import load_config
from walt.models.backbones.lavita import LAVITA
from walt.models.conditioning.conditions import Conditions
from walt.models.convert import (LayoutError, detect_format, load_public, read_weights, state_dict_of,
                                 walt_to_diffusers_latte)
from walt.models.generative.build import build_backbone

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=8, num_layers=2,
            cross_attention_dim=16, attention_bias=True, sample_size=8, patch_size=2, activation_fn="gelu-approximate",
            num_embeds_ada_norm=1000, norm_type="ada_norm_single", norm_elementwise_affine=False, norm_eps=1e-6,
            caption_channels=12, video_length=3)
WALT = dict(preset=None, depth=4, dim=16, num_heads=2, patch_size=2, input_size=(3, 8, 8), in_channels=4,
            conditioning=dict(type="AdaLNSingle"), cross_attention=dict(type="TextCrossAttention"), text_dim=12,
            text_pooled=False)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A random tiny diffusers Latte T2V model, saved with save_pretrained."""
    torch.manual_seed(0)
    model = LatteTransformer3DModel(**TINY).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.2)  # the default init leaves zero and identity parts
    folder = tmp_path_factory.mktemp("latte_diffusers")
    model.save_pretrained(folder)
    return model, folder


def _inputs():
    gen = torch.Generator().manual_seed(1)
    return torch.randn(2, 4, 3, 8, 8, generator=gen), torch.tensor([3, 700]), torch.randn(2, 5, 12, generator=gen)


def _assert_same_output(model, ref):
    x, t, text = _inputs()
    with torch.no_grad():
        torch.testing.assert_close(model(x, t, Conditions(text=text)), ref(x, t, encoder_hidden_states=text).sample,
                                   rtol=0, atol=1e-5)


def _loaded(folder, **overrides):
    model = LAVITA(**{**WALT, **overrides}).eval()
    sd, config = read_weights(folder)
    sd = state_dict_of(sd)
    report = load_public(model, sd, detect_format(sd), config)
    return model, report


def test_walt_loaded_from_a_diffusers_folder_gives_the_diffusers_output(reference):
    ref, folder = reference
    model, report = _loaded(folder)
    assert report.fmt == "diffusers Latte" and not report.fresh and not report.unused
    _assert_same_output(model, ref)


def test_text_padding_equals_the_pipelines_truncated_prompt(reference):
    """LattePipeline cuts the T5 embedding to the prompt's real tokens; walt masks the padding instead."""
    ref, folder = reference
    model, _ = _loaded(folder)
    x, t, text = _inputs()
    mask = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 1, 0]], dtype=torch.bool)
    with torch.no_grad():
        out = model(x, t, Conditions(text=text, text_mask=mask))
        for b, length in enumerate((2, 4)):
            want = ref(x[b:b + 1], t[b:b + 1], encoder_hidden_states=text[b:b + 1, :length]).sample
            torch.testing.assert_close(out[b:b + 1], want, rtol=0, atol=1e-5)


def test_export_gives_back_the_diffusers_keys_values_and_config(reference):
    ref, folder = reference
    model, _ = _loaded(folder)
    sd, config = walt_to_diffusers_latte(model)
    want = ref.state_dict()
    assert set(sd) == set(want)
    assert all(torch.equal(sd[k], want[k]) for k in sd)
    assert {k: config[k] for k in TINY} == TINY


def test_a_single_safetensors_file_loads_like_the_folder(reference):
    ref, folder = reference
    model, report = _loaded(folder / "diffusion_pytorch_model.safetensors")
    assert any("no config.json" in note for note in report.notes)
    _assert_same_output(model, ref)


def test_other_layouts_are_refused_naming_the_key_and_both_shapes(reference):
    ref, folder = reference
    with pytest.raises(LayoutError, match="variant=2.*this model has variant=1"):
        _loaded(folder, variant=1)
    with pytest.raises(LayoutError, match="variant=2.*this model has variant=1"):
        walt_to_diffusers_latte(LAVITA(**WALT, variant=1))
    with pytest.raises(LayoutError, match=r"pos_embed.proj.weight has shape \(16, 4, 2, 2\).*\(16, 4, 4, 4\)"):
        _loaded(folder / "diffusion_pytorch_model.safetensors", patch_size=4)
    with pytest.raises(LayoutError, match="video_length=3, but the model has video_length=4"):
        _loaded(folder, input_size=(4, 8, 8))
    with pytest.raises(LayoutError, match=r"proj_out.bias has shape \(32,\) in the checkpoint.*\(16,\)"):
        _loaded(folder / "diffusion_pytorch_model.safetensors", learn_sigma=False)


def test_the_first_release_null_caption_buffer_is_named_not_loaded(reference):
    ref, _ = reference
    sd = ref.state_dict() | {"caption_projection.y_embedding": torch.randn(120, 12)}
    report = load_public(LAVITA(**WALT), sd, "latte_diffusers")
    assert not report.unused and any(n.startswith("caption_projection.y_embedding (120, 12) not loaded")
                                     for n in report.notes)


def test_latte1_config_has_the_parameters_of_diffusers_latte1():
    with torch.device("meta"):
        latte1 = LatteTransformer3DModel(**{**TINY, "num_attention_heads": 16, "attention_head_dim": 72,
                                            "num_layers": 28, "cross_attention_dim": 1152, "sample_size": 64,
                                            "caption_channels": 4096, "video_length": 16})
    ours = build_backbone(load_config(ROOT / "configs/pretrained/latte_t2v.py").model)
    count = sum(p.numel() for p in ours.parameters())
    assert count == sum(p.numel() for p in latte1.parameters()) == 1_057_246_880
