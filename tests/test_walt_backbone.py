"""The W.A.L.T backbone (§4.2–4.5): zero-init, gradient flow, config switches, input errors, aspect ratio."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from registry import BACKBONES
from walt.models.attention.needs import AttentionSlotError
from walt.models.attention.walt_windows import FullAttention, SpatialWindowAttention, SpatiotemporalWindowAttention
from walt.models.conditioning.conditions import Conditions

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(type="WALT", in_channels=4, input_size=(4, 8, 8), depth=4, dim=32, num_heads=4,
            spatial_window=(1, 4, 4), spatiotemporal_window=(2, 4, 4))


def _inputs(b=2, t=4, h=8, w=8):
    return torch.randn(b, 4, t, h, w), torch.tensor([3, 700])[:b]


def test_layers_alternate_spatial_and_spatiotemporal_windows():
    model = BACKBONES.build(TINY)
    kinds = [type(block.attn) for block in model.blocks]
    assert kinds == [SpatialWindowAttention, SpatiotemporalWindowAttention] * 2
    assert model.blocks[0].attn.window == (1, 4, 4) and model.blocks[1].attn.window == (2, 4, 4)


def test_cross_attention_window_spatial_for_joint_training_or_per_block():
    joint = BACKBONES.build(dict(TINY, text_dim=6))
    assert [b.cross_attn.window for b in joint.blocks] == [(1, 4, 4)] * 4
    video_only = BACKBONES.build(dict(TINY, text_dim=6, cross_attention_window="block"))
    assert [b.cross_attn.window for b in video_only.blocks] == [(1, 4, 4), (2, 4, 4)] * 2


def test_adaln_lora_every_layer_adds_a_low_rank_correction_to_each_layer():
    from registry import CONDITIONINGS

    cond = CONDITIONINGS.build(dict(type="AdaLNLoRA", dim=4, num_layers=3, rank=2, lora_every_layer=True))
    with torch.no_grad():
        for p in cond.parameters():
            p.copy_(torch.randn_like(p))
    c = torch.randn(2, 4)
    shared = torch.nn.functional.silu(c) @ cond.shared[1].weight.T + cond.shared[1].bias
    ref = torch.stack([shared + c @ cond.lora_a[i].T @ cond.lora_b[i].T for i in range(3)]).view(3, 2, 6, 4)
    assert tuple(cond.lora_a.shape) == (3, 2, 4) and (cond(c) - ref).abs().max().item() <= 1e-5


def test_preset_expands_and_explicit_kwargs_override():
    with torch.device("meta"):
        model = BACKBONES.build(dict(type="WALT", preset="WALT-SR-419M", depth=2))
    assert (model.depth, model.dim, model.num_heads, model.patch_size) == (2, 1024, 16, 2)


def test_fresh_model_predicts_zero():
    model = BACKBONES.build(dict(TINY, num_classes=5, text_dim=6, self_condition=True, frame_prediction=True))
    x, t = _inputs()
    out = model(x, t, Conditions(y=torch.tensor([0, 5]), text=torch.randn(2, 3, 6), x_sc=torch.randn_like(x)))
    assert out.shape == x.shape and torch.count_nonzero(out) == 0


def test_gradients_reach_every_parameter():
    model = BACKBONES.build(dict(TINY, num_classes=5, text_dim=6, self_condition=True, frame_prediction=True,
                                 super_resolution=True, learn_sigma=True))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, t = _inputs()
    cond = Conditions(y=torch.tensor([1, 5]), text=torch.randn(2, 3, 6),
                      text_mask=torch.tensor([[1, 1, 0], [1, 0, 0]]).bool(), x_sc=torch.randn_like(x),
                      x_fp=torch.randn(2, 5, 4, 8, 8), x_lr=torch.randn(2, 4, 4, 4, 4), t_sr=torch.tensor([10, 200]))
    target = torch.randn(2, 8, 4, 8, 8)
    # adaLN-Zero: step 1 moves the head, step 2 the gates, from step 3 on every branch is live
    for _ in range(4):
        opt.zero_grad()
        loss = (model(x, t, cond) - target).pow(2).mean()
        loss.backward()
        opt.step()
    dead = [n for n, p in model.named_parameters() if p.grad is None or torch.count_nonzero(p.grad) == 0]
    assert not dead, f"no gradient reached {dead}"


def test_grad_checkpointing_matches_plain_backward():
    model = BACKBONES.build(dict(TINY, num_classes=5))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))  # leave the zero init, so every block contributes
    x, t = _inputs()
    grads = []
    for flag in (False, True):
        model.grad_checkpointing = flag
        model.zero_grad()
        out = model(x, t, Conditions(y=torch.tensor([1, 2])))
        out.square().sum().backward()
        grads.append((out.detach(), [p.grad.clone() for p in model.parameters()]))
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-6)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(grads[0][1], grads[1][1]))


def test_config_override_switches_windows_and_full_attention():
    cfg = Config.fromfile(str(ROOT / "configs/_base_/models/walt_l.py"))
    cfg.merge_from_dict({"model.backbone.depth": 2, "model.backbone.spatiotemporal_window": [5, 16, 16]})
    with torch.device("meta"):
        model = BACKBONES.build(cfg.model.backbone)
    assert model.blocks[1].attn.window == (5, 16, 16)
    assert tuple(model.blocks[1].attn.rel_pos.table.shape) == (16, 9, 31, 31)
    cfg.merge_from_dict({"model.backbone.spatiotemporal_attention.type": "FullAttention"})
    stated = r"spatiotemporal_window=\(5, 16, 16\): FullAttention .* takes no window"
    with pytest.raises(AttentionSlotError, match=stated):
        BACKBONES.build(cfg.model.backbone)  # the stated window would be dropped silently
    cfg.merge_from_dict({"model.backbone.spatiotemporal_window": None})
    with torch.device("meta"):
        model = BACKBONES.build(cfg.model.backbone)
    assert isinstance(model.blocks[1].attn, FullAttention) and model.blocks[1].attn.window == (None, None, None)
    assert isinstance(model.blocks[0].attn, SpatialWindowAttention)


def test_cfg_options_strings_switch_attention_on_an_ablation_config():
    from walt.engine.config import load_config  # the --cfg-options path of tools/train.py

    cfg = load_config(ROOT / "configs/ablations/walt_l_lora_r2.py",
                      ["model.backbone.depth=2", "model.backbone.spatiotemporal_attention.type=FullAttention",
                       "model.backbone.spatial_window=[1,8,8]", "model.backbone.qk_norm=False"])
    with torch.device("meta"):
        model = BACKBONES.build(cfg.model.backbone)
    assert isinstance(model.blocks[1].attn, FullAttention) and model.blocks[0].attn.window == (1, 8, 8)
    assert isinstance(model.blocks[0].attn.q_norm, torch.nn.Identity)


def test_config_sets_position_and_class_embedding_init_scales():
    # a pos_embed dict from a config (a ConfigDict) gets the token grid as a plain tuple
    cfg = Config(dict(backbone=dict(TINY, num_classes=3, class_embed_std=1.0,
                                    pos_embed=dict(type="LearnedSpaceTimePosEmbed", init_std=0.5))))
    torch.manual_seed(0)
    model = BACKBONES.build(cfg.backbone)
    assert tuple(model.pos_embed.grid) == (4, 8, 8)
    assert 0.4 < model.pos_embed.spatial.std() < 0.6 and 0.8 < model.y_embedder.embedding_table.weight.std() < 1.2
    default = BACKBONES.build(dict(TINY, num_classes=3))
    assert default.pos_embed.spatial.std() < 0.03 and default.y_embedder.embedding_table.weight.std() < 0.03


def test_bad_inputs_raise_value_errors_naming_shapes():
    model = BACKBONES.build(dict(TINY, num_classes=5, patch_size=2, input_size=(4, 16, 16)))
    t, y = torch.tensor([1, 2]), torch.tensor([0, 1])
    with pytest.raises(ValueError, match=r"\(15, 16\) of shape \(2, 4, 4, 15, 16\) is not divisible by the patch size"):
        model(torch.randn(2, 4, 4, 15, 16), t, Conditions(y=y))
    with pytest.raises(ValueError, match=r"grid \(t, h, w\)=\(3, 8, 8\).*window \(2, 4, 4\).*multiples of \(2, 8, 8\)"):
        model(torch.randn(2, 4, 3, 16, 16), t, Conditions(y=y))
    with pytest.raises(ValueError, match=r"expected latents \(B, 4, T, H, W\), got shape \(2, 3, 4, 16, 16\)"):
        model(torch.randn(2, 3, 4, 16, 16), t, Conditions(y=y))
    with pytest.raises(ValueError, match=r"pass labels y of shape \(2,\)"):
        model(torch.randn(2, 4, 4, 16, 16), t)
    with pytest.raises(ValueError, match=r"image_mask must have shape \(2, 4\)"):
        model(torch.randn(2, 4, 4, 16, 16), t, Conditions(y=y, image_mask=torch.zeros(2, 3, dtype=torch.bool)))


def test_image_batch_and_joint_image_mask_run():
    model = BACKBONES.build(TINY)
    x, t = _inputs()
    assert model(x[:, :, :1], t).shape == (2, 4, 1, 8, 8)  # images (T = 1) pass the STW layers as 1×4×4
    assert model(x, t, Conditions(image_mask=torch.tensor([[True] * 4, [False] * 4]))).shape == x.shape


def test_aspect_ratio_interpolation_scales_windows_and_embeddings():
    model = BACKBONES.build(dict(TINY, input_size=(4, 8, 16), spatial_window=(1, 8, 8)))
    x, t = _inputs(w=16)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
        before = model(x, t)
        model.interpolate_pos_embed((4, 8, 16))  # same size: identity
        assert (model(x, t) - before).abs().max().item() <= 1e-5
        model.interpolate_pos_embed((4, 8, 28))  # 16 → 28 wide, windows 8 → 14 and 4 → 7
    assert model.blocks[0].attn.window == (1, 8, 14) and model.blocks[1].attn.window == (2, 4, 7)
    assert tuple(model.blocks[1].attn.rel_pos.table.shape) == (4, 3, 7, 13)
    assert tuple(model.pos_embed.spatial.shape) == (8, 28, 32)
    assert model(torch.randn(1, 4, 4, 8, 28), t[:1]).shape == (1, 4, 4, 8, 28)


@pytest.mark.parametrize("base", ["walt_l.py", "lavita_xl.py"])
def test_conditioning_class_defaults_are_what_the_paper_configs_state(base):
    """``--cfg-options model.backbone.conditioning.type=X`` builds X's class defaults, and a backbone without a
    conditioning key its default dict: both must be the preset's (AdaLNLoRA: r = 2 on every layer)."""
    import inspect

    from registry import CONDITIONINGS

    cfg = Config.fromfile(str(ROOT / "configs/_base_/models" / base)).model.backbone
    stated = dict(cfg.conditioning)
    params = inspect.signature(CONDITIONINGS.get(stated.pop("type"))).parameters
    assert {k: params[k].default for k in stated} == stated
    small = dict(type=cfg.type, preset=None, depth=2, dim=16, num_heads=2, patch_size=1, input_size=(2, 4, 4),
                 **(dict(spatial_window=(1, 4, 4), spatiotemporal_window=(2, 4, 4)) if cfg.type == "WALT" else {}))
    by_default = BACKBONES.build(small).conditioning
    from_config = BACKBONES.build(dict(small, conditioning=dict(cfg.conditioning))).conditioning
    assert type(by_default) is type(from_config)
    assert [p.shape for p in by_default.parameters()] == [p.shape for p in from_config.parameters()]


def test_cross_attention_without_text_is_refused_naming_the_key():
    with pytest.raises(ValueError, match="WALT: cross_attention attends to text tokens, but the model has no text width"):
        BACKBONES.build(dict(TINY, cross_attention=dict(type="WindowCrossAttention")))
