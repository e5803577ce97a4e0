"""DiT checkpoints (walt/models/convert/dit.py): an image-mode LAVITA loaded from a random tiny diffusers
``DiTTransformer2DModel`` gives its forward output, export gives back its keys and values, and LAVITA §3.6's
initialization of a video model copies exactly the documented tensors."""
import pytest
import torch
from diffusers import DiTTransformer2DModel

from walt.models.backbones.lavita import LAVITA
from walt.models.conditioning.conditions import Conditions
from walt.models.convert import (LayoutError, dit_diffusers_config, dit_diffusers_to_dit, dit_to_dit_diffusers,
                                 load_public, read_weights, walt_to_dit)
from walt.models.convert.latte import fixed_table
from walt.models.grid import Grid

TINY = dict(num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=8, num_layers=4, sample_size=8,
            patch_size=2, num_embeds_ada_norm=10, norm_eps=1e-6)
IMAGE = dict(preset=None, depth=4, dim=16, num_heads=2, patch_size=2, input_size=(1, 8, 8), in_channels=4,
             variant=3, temporal=False, num_classes=10)
VIDEO = dict(preset=None, depth=4, dim=16, num_heads=2, patch_size=2, input_size=(3, 8, 8), in_channels=4, variant=2)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A random tiny diffusers DiT whose blocks share one timestep/class embedder (as converted DiT weights do),
    saved with save_pretrained. diffusers' DiT embeds timesteps with frequencies 10000^(-i/(half-1))
    (downscale_freq_shift=1); the original DiT, whose weights it converts, and walt use 10000^(-i/half): the
    reference is set to the original's."""
    torch.manual_seed(0)
    model = DiTTransformer2DModel(**TINY).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
        shared = model.transformer_blocks[0].norm1.emb.state_dict()
        for block in model.transformer_blocks:
            block.norm1.emb.load_state_dict(shared)
            block.norm1.emb.time_proj.downscale_freq_shift = 0
    folder = tmp_path_factory.mktemp("dit_diffusers")
    model.save_pretrained(folder)
    return model, folder


def test_image_mode_lavita_loaded_from_diffusers_dit_gives_its_output(reference):
    ref, folder = reference
    model = LAVITA(**IMAGE).eval()
    sd, config = read_weights(folder)
    report = load_public(model, sd, "dit_diffusers", config)
    assert not report.fresh and not report.unused and any("10000^(-i/half)" in note for note in report.notes)
    x, t, y = torch.randn(2, 4, 1, 8, 8), torch.tensor([3, 700]), torch.tensor([1, 10])
    with torch.no_grad():
        torch.testing.assert_close(model(x, t, Conditions(y=y))[:, :, 0], ref(x[:, :, 0], t, class_labels=y).sample,
                                   rtol=0, atol=1e-5)
    original = dit_diffusers_to_dit(ref.state_dict())  # the same weights in the original DiT layout
    again = LAVITA(**IMAGE).eval()
    load_public(again, original, "dit")
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), model.state_dict().values()))


def test_export_gives_back_the_diffusers_dit_keys_values_and_config(reference):
    ref, folder = reference
    model = LAVITA(**IMAGE).eval()
    load_public(model, ref.state_dict(), "dit_diffusers")
    sd, want = dit_to_dit_diffusers(walt_to_dit(model)), ref.state_dict()
    assert set(sd) == set(want) and all(torch.equal(sd[k], want[k]) for k in sd)
    config = dit_diffusers_config(model)
    assert {k: config[k] for k in TINY} == TINY


def test_dit_initialization_copies_exactly_the_documented_tensors(reference):
    """LAVITA §3.6 with dit_init='spatial_only': spatial block i ← DiT block i, temporal blocks fresh, patch/timestep/
    output layers copied, DiT's position table added to every frame, the label embedding dropped (unconditional) or
    zeroed (other classes)."""
    ref, _ = reference
    dit = dit_diffusers_to_dit(ref.state_dict())
    torch.manual_seed(1)
    model = LAVITA(**VIDEO)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    report = load_public(model, ref.state_dict(), "dit_diffusers", strict=False, dit_init="spatial_only")
    sd = model.state_dict()
    for key in ("patch_embed.proj.weight", "t_embedder.mlp.0.weight", "t_embedder.mlp.2.bias",
                "final_layer.linear.weight", "final_layer.adaLN_modulation.1.weight"):
        assert torch.equal(sd[key], dit[key.replace("patch_embed", "x_embedder")]), key
    for i in (0, 2):  # spatial blocks: DiT's block of the same index, adaLN regression included
        for name in ("attn.qkv.weight", "attn.proj.bias", "mlp.fc1.weight", "mlp.fc2.bias"):
            assert torch.equal(sd[f"blocks.{i}.{name}"], dit[f"blocks.{i}.{name}"])
        assert torch.equal(sd["conditioning.weight"][i], dit[f"blocks.{i}.adaLN_modulation.1.weight"])
    for i in (1, 3):  # temporal blocks: untouched
        assert all(torch.equal(sd[k], fresh[k]) for k in sd if k.startswith(f"blocks.{i}."))
        assert torch.equal(sd["conditioning.weight"][i], fresh["conditioning.weight"][i])
    assert sorted(report.fresh) == sorted(k for k in fresh if k.startswith(("blocks.1.", "blocks.3."))) + [
        "conditioning.bias[1]", "conditioning.bias[3]", "conditioning.weight[1]", "conditioning.weight[3]"]
    assert report.unused["y_embedder.embedding_table.weight"].startswith("unconditional model")
    per_frame = model.pos_embed(torch.zeros(1, 3 * 16, 16), Grid(3, 4, 4)).view(3, 16, 16)
    dit_table = fixed_table(model, "pos_embed")[0]
    assert all(torch.equal(per_frame[f], dit_table) for f in range(3))
    classes = LAVITA(**VIDEO, num_classes=5)
    report = load_public(classes, ref.state_dict(), "dit_diffusers", strict=False)
    assert torch.equal(classes.y_embedder.embedding_table.weight, torch.zeros(6, 16))
    assert any("initialized with zeros (§3.6)" in note for note in report.notes)


def test_latte_default_gives_temporal_block_j_dit_block_2j_plus_1(reference):
    """The default, as Latte's train.py loads DiT by key name: spatial block j (index 2j) equals DiT block 2j and
    temporal block j (index 2j + 1) equals DiT block 2j + 1, tensor by tensor (adaLN rows included)."""
    ref, _ = reference
    dit = dit_diffusers_to_dit(ref.state_dict())
    model = LAVITA(**VIDEO)
    report = load_public(model, dit, "dit", strict=False)
    assert not report.fresh
    sd = model.state_dict()
    for j in range(2):
        for kind, index in (("spatial", 2 * j), ("temporal", 2 * j + 1)):
            assert model.kinds[str(index)] == kind
            block = {k[len(f"blocks.{index}."):]: v for k, v in dit.items() if k.startswith(f"blocks.{index}.")}
            assert len(block) == 10  # qkv, proj, fc1, fc2 (weight + bias) and the adaLN regression
            for name, value in block.items():
                if name.startswith("adaLN_modulation.1."):
                    assert torch.equal(sd[f"conditioning.{name.split('.')[-1]}"][index], value), (kind, j, name)
                else:
                    assert torch.equal(sd[f"blocks.{index}.{name}"], value), (kind, j, name)


def test_dit_layouts_refuse_what_they_cannot_express(reference):
    ref, _ = reference
    with pytest.raises(LayoutError, match="variant 3"):
        load_public(LAVITA(**VIDEO | dict(variant=3)), ref.state_dict(), "dit_diffusers", strict=False)
    with pytest.raises(LayoutError, match="temporal_blocks=False"):
        walt_to_dit(LAVITA(**VIDEO, num_classes=10))
    larger = LAVITA(**VIDEO | dict(input_size=(3, 16, 16)))
    with pytest.raises(LayoutError, match=r"pos_embed has shape \(1, 16, 16\).*\(1, 64, 16\)"):
        load_public(larger, walt_to_dit(LAVITA(**IMAGE)), "dit", strict=False)
    with pytest.raises(LayoutError, match="sample_size=8, but the model has sample_size=16"):
        load_public(larger, ref.state_dict(), "dit_diffusers", dict(ref.config), strict=False)
    sd = dict(ref.state_dict())
    sd["transformer_blocks.2.norm1.emb.timestep_embedder.linear_1.weight"] = torch.zeros(16, 256)
    with pytest.raises(LayoutError, match="transformer_blocks.2.norm1.emb.timestep_embedder.linear_1.weight differs"):
        dit_diffusers_to_dit(sd)
