"""``LatentDenoiser.initialize_weights`` sets every initial value of a backbone (DiT's ``initialize_weights``).

For every backbone config under configs/ (cross W.A.L.T ↔ LAVITA ablations included) at tiny size: after every
parameter is filled with NaN, ``initialize_weights`` under a seed gives no NaN and exactly the values it gives the
untouched model under that seed, so no initial value is left to a module's constructor. Then the distributions: zero layers are zero, a fresh adaLN-Zero
block is the identity and a fresh model predicts 0, xavier weights within ±√(6 / (fan_in + fan_out)), the normal
draws at their standard deviations."""
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from registry import BACKBONES
from walt.engine.config import load_config
from walt.models.backbones.lavita import LAVITA
from walt.models.backbones.walt import WALT
from walt.models.conditioning.conditions import Conditions
from walt.models.generative.build import build_model

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "configs").rglob("*.py") if "_base_" not in p.parts)
TINY = dict(preset=None, depth=2, dim=32, num_heads=2)


def _tiny_backbone(path: str) -> nn.Module:
    cfg = load_config(ROOT / path)
    if "backbone" not in cfg.model:
        pytest.skip("a first-stage config: no backbone")
    with torch.device("meta"):
        model = build_model(cfg)
    backbone_cfg = dict(cfg.model.backbone, **TINY, patch_size=model.backbone.patch_size)
    if backbone_cfg.get("spatial_heads"):
        backbone_cfg["spatial_heads"] = 1
    torch.manual_seed(0)
    return BACKBONES.build(backbone_cfg, default_args=model.backbone_args)


@pytest.mark.parametrize("path", CONFIGS)
def test_initialize_weights_sets_every_parameter(path):
    backbone = _tiny_backbone(path)
    torch.manual_seed(0)
    backbone.initialize_weights()
    first = {k: v.clone() for k, v in backbone.state_dict().items()}
    with torch.no_grad():
        for p in backbone.parameters():
            p.fill_(float("nan"))
    torch.manual_seed(0)
    backbone.initialize_weights()
    again = backbone.state_dict()
    assert [k for k, v in again.items() if v.isnan().any()] == []
    assert [k for k in first if not torch.equal(first[k], again[k])] == []


def _xavier_bound(linear: nn.Module) -> float:
    fan_out, fan_in = linear.weight.shape[0], linear.weight[0].numel()
    return math.sqrt(6.0 / (fan_in + fan_out))


WALT_BASE = dict(type="WALT", **TINY, patch_size=1, in_channels=4, input_size=(2, 8, 8))
WALT_TINY = dict(WALT_BASE, spatial_window=(1, 8, 8), spatiotemporal_window=(2, 4, 4))
LAVITA_TINY = dict(type="LAVITA", **TINY, patch_size=2, in_channels=4, input_size=(4, 8, 8))
FRESH = {
    "walt_adaln_lora": dict(WALT_TINY, num_classes=5),
    "walt_adaln": dict(WALT_TINY, num_classes=5, conditioning=dict(type="AdaLN")),
    "walt_lavita_attention": dict(WALT_BASE, spatial_attention=dict(type="SpatialAttention"),
                                  spatiotemporal_attention=dict(type="TemporalAttention")),
    "walt_sr": dict(WALT_TINY, num_classes=5, super_resolution=True),
    "walt_text": dict(WALT_TINY, text_dim=16, text_pooled=True),
    "lavita_sadaln": dict(LAVITA_TINY, num_classes=5),
    "lavita_variant3": dict(LAVITA_TINY, variant=3),
    "lavita_variant4": dict(LAVITA_TINY, variant=4),
    "lavita_tube": dict(LAVITA_TINY, patch_embed=dict(type="TubeEmbed", temporal_patch=2)),
    "lavita_walt_windows": dict(LAVITA_TINY, spatial_attention=dict(type="SpatialWindowAttention", window=(1, 4, 4)),
                                temporal_attention=dict(type="SpatiotemporalWindowAttention", window=(4, 2, 2))),
}


def _inputs(backbone: nn.Module) -> tuple[torch.Tensor, torch.Tensor, Conditions]:
    gen = torch.Generator().manual_seed(1)
    t_, h, w = backbone.input_size
    x = torch.randn(2, backbone.in_channels, t_, h, w, generator=gen)
    fields = {}
    if backbone.y_embedder is not None:
        fields["y"] = torch.tensor([0, 3])
    if "tokens" in backbone.text_inputs:
        fields["text"] = torch.randn(2, 3, backbone.text_dim, generator=gen)
    if "pooled" in backbone.text_inputs:
        fields["text_pooled"] = torch.randn(2, backbone.text_dim, generator=gen)
    if backbone.super_resolution:
        fields["x_lr"] = torch.randn(2, backbone.in_channels, t_, h // 2, w // 2, generator=gen)
    return x, torch.tensor([10, 700]), Conditions(**fields)


@pytest.mark.parametrize("case", sorted(FRESH))
def test_a_fresh_model_is_the_identity_in_every_block_and_predicts_zero(case):
    backbone = BACKBONES.build(FRESH[case])
    blocks = backbone.blocks.values() if isinstance(backbone.blocks, nn.ModuleDict) else backbone.blocks
    # W.A.L.T's text cross-attention is an ungated residual (xavier, not zero): only its self-attention and MLP are
    # gated by adaLN-Zero, so a block with text is checked through its output layer alone.
    gated = [block for block in blocks if getattr(block, "cross_attn", None) is None]
    seen = []
    for block in gated:
        block.register_forward_hook(lambda m, args, out: seen.append(torch.equal(args[0], out)))
    with torch.no_grad():
        out = backbone(*_inputs(backbone))
    assert seen == [True] * len(gated)  # adaLN-Zero: every gate starts at 0
    assert torch.count_nonzero(out) == 0  # zero output layer (and zero tube bias)


@pytest.mark.parametrize("case", sorted(FRESH))
def test_initial_values_follow_dit(case):
    backbone = BACKBONES.build(FRESH[case])
    zero = [backbone.final_layer.decoder if case == "lavita_tube" else backbone.final_layer]
    xavier = []
    for name, module in backbone.named_modules():
        if isinstance(module, nn.Linear):
            if name.startswith(("final_layer", "conditioning", "t_embedder", "sr_embedder")):
                continue
            xavier.append((name, module))
        if isinstance(module, nn.LayerNorm) and module.elementwise_affine:
            assert torch.equal(module.weight, torch.ones_like(module.weight)), name
            assert torch.count_nonzero(module.bias) == 0, name
    xavier.append(("patch_embed.proj", backbone.patch_embed.proj))
    for name, module in xavier:  # DiT's _basic_init, and the patch embedding like an nn.Linear
        bound = _xavier_bound(module)
        assert module.weight.abs().max() <= bound, name
        assert module.weight.abs().max() > 0.5 * bound, name
        assert torch.count_nonzero(module.bias) == 0, name
    for module in zero:
        assert all(torch.count_nonzero(p) == 0 for p in module.parameters())
    for embedder in (backbone.t_embedder, backbone.sr_embedder):
        if embedder is not None:  # normal(0.02) weights, zero biases (DiT's apply(_basic_init) then normal_)
            weights = torch.cat([embedder.mlp[0].weight.flatten(), embedder.mlp[2].weight.flatten()])
            assert weights.std().item() == pytest.approx(0.02, rel=0.1)
            assert torch.count_nonzero(embedder.mlp[0].bias) + torch.count_nonzero(embedder.mlp[2].bias) == 0
    cond = backbone.conditioning
    if hasattr(cond, "lora_a"):  # W.A.L.T Eq. 3: W_a ~ N(0, 1/d), zero W_b and shared regression
        assert cond.lora_a.std().item() == pytest.approx(backbone.dim ** -0.5, rel=0.2)
        assert torch.count_nonzero(cond.lora_b) + torch.count_nonzero(cond.shared[1].weight) == 0
    if isinstance(backbone, WALT):
        tables = [backbone.pos_embed.spatial.flatten(), backbone.pos_embed.temporal.flatten()]
        tables += [m.table.flatten() for n, m in backbone.named_modules() if n.endswith("rel_pos")]
        assert torch.cat(tables).std().item() == pytest.approx(0.02, rel=0.15)


def test_class_table_and_pixart_values():
    """The class table at ``class_embed_std``; PixArt-α / Latte T2V: adaLN-single regression normal(0.02), tables
    N(0, 1/d), zero cross-attention output projections (LAVITA), while W.A.L.T's cross-attention keeps xavier."""
    walt = BACKBONES.build(dict(WALT_TINY, num_classes=200, class_embed_std=1.0, text_dim=16))
    assert walt.y_embedder.embedding_table.weight.std().item() == pytest.approx(1.0, rel=0.05)
    assert all(torch.count_nonzero(block.cross_attn.proj.weight) > 0 for block in walt.blocks)
    lavita = BACKBONES.build(dict(LAVITA_TINY, dim=64, text_dim=16, text_pooled=False,
                                  cross_attention=dict(type="TextCrossAttention"), conditioning=dict(type="AdaLNSingle")))
    assert isinstance(lavita, LAVITA)
    assert lavita.conditioning.linear.weight.std().item() == pytest.approx(0.02, rel=0.05)
    tables = torch.cat([lavita.conditioning.table.flatten(), lavita.final_layer.scale_shift_table.flatten()])
    assert tables.std().item() == pytest.approx(64 ** -0.5, rel=0.1)
    crossed = [block.cross_attn for block in lavita.blocks.values() if getattr(block, "cross_attn", None) is not None]
    assert crossed and all(torch.count_nonzero(c.proj.weight) + torch.count_nonzero(c.proj.bias) == 0 for c in crossed)


def test_a_component_with_unlisted_weights_is_refused():
    """A conditioning / position embedding whose initial values are not listed in initialize_weights is a TypeError
    naming it (no parameter is left at a constructor's draw)."""
    from walt.models.conditioning.base import Conditioning

    class Unlisted(Conditioning):
        def __init__(self):
            super().__init__(32, 2)
            self.extra = nn.Parameter(torch.zeros(3))

    class UnlistedPos(nn.Module):
        def __init__(self):
            super().__init__()
            self.table = nn.Parameter(torch.zeros(3))

    backbone = BACKBONES.build(WALT_TINY)
    backbone.conditioning = Unlisted()
    with pytest.raises(TypeError, match="conditioning Unlisted"):
        backbone.initialize_weights()
    backbone = BACKBONES.build(WALT_TINY)
    backbone.pos_embed = UnlistedPos()
    with pytest.raises(TypeError, match="position embedding UnlistedPos"):
        backbone.initialize_weights()
