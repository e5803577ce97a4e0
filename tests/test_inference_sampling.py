"""Sampling-time execution (walt.models.generative.inference, step_cache): the frozen-weight inference compile gives
the eager samples; TeaCache off (or at threshold 0) is bit-identical to no cache, its indicator is the first block's
modulated input, and above the threshold it reuses the last computed residual — for W.A.L.T and LAVITA."""
import platform

import pytest
import torch

from registry import BACKBONES as BACKBONE_REGISTRY
from registry import MODELS, STEP_CACHES
from walt.models.conditioning.conditions import Conditions
from walt.models.generative.step_cache import TeaCache, modulated_input

BACKBONES = {
    "WALT": dict(type="WALT", preset=None, depth=2, dim=32, num_heads=2, patch_size=2, spatial_window=(1, 4, 4),
                 spatiotemporal_window=(4, 2, 2), num_classes=3),
    "LAVITA": dict(type="LAVITA", preset=None, depth=2, dim=32, num_heads=2, patch_size=2, num_classes=3),
}


def _model(name: str, **kwargs):
    torch.manual_seed(0)
    model = MODELS.build(dict(type="LatentDiffusion", backbone=BACKBONES[name], video_size=(4, 8, 8),
                              autoencoder=dict(type="IdentityAutoencoder", latent_channels=3),
                              self_condition_prob=0.5, cond_dropout_prob=0.1, **kwargs)).eval()
    with torch.no_grad():
        for p in model.backbone.parameters():  # leave the zero-initialized gates: every block contributes
            p.normal_(std=0.1)
    return model


def _sample(model, **kwargs):
    return model.sample(2, y=[0, 2], steps=4, cfg_scale=2.0, generator=torch.Generator().manual_seed(0),
                        decode=False, **kwargs)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_cache_off_and_threshold_zero_are_bit_identical_to_no_cache(name):
    model = _model(name)
    plain = _sample(model)
    cache = TeaCache(threshold=0.0)
    assert torch.equal(_sample(model, cache=None), plain)
    assert torch.equal(_sample(model, cache=cache), plain)
    assert (cache.calls, cache.skipped) == (4, 0)
    assert not hasattr(model.backbone, "run_blocks") or "run_blocks" not in vars(model.backbone)  # detached again


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_above_the_threshold_the_blocks_are_skipped_and_their_last_residual_reused(name):
    model = _model(name)
    seen = []
    blocks = model.backbone.run_blocks

    def reference(tokens, grid, mods, *rest):  # TeaCache by hand: compute on the first call, then reuse its residual
        if not seen:
            out = blocks(tokens, grid, mods, *rest)
            seen.append(out - tokens)
            return out
        return tokens + seen[0]

    cache = STEP_CACHES.build(dict(type="TeaCache", threshold=float("inf")))
    cached = _sample(model, cache=cache)
    model.backbone.run_blocks = reference
    try:
        expected = _sample(model)
    finally:
        del model.backbone.run_blocks
    assert (cache.calls, cache.skipped) == (4, 3) and "3 of 4" in cache.report()
    torch.testing.assert_close(cached, expected, rtol=0, atol=0)
    assert not torch.allclose(cached, _sample(model))


def test_a_threshold_between_skips_some_calls_and_restarts_the_sum():
    model = _model("WALT")
    changes = []
    blocks = model.backbone.run_blocks

    def record(tokens, grid, mods, *rest):
        changes.append(modulated_input(tokens, mods[0]))
        return blocks(tokens, grid, mods, *rest)

    model.backbone.run_blocks = record
    try:
        _sample(model)
    finally:
        del model.backbone.run_blocks
    rel = [float((b - a).abs().mean() / a.abs().mean()) for a, b in zip(changes[:-1], changes[1:])]
    cache = TeaCache(threshold=rel[0] + rel[1] * 0.5)  # call 2 skips (rel₀ < δ), call 3 computes (rel₀ + rel₁ ≥ δ)
    _sample(model, cache=cache)
    assert cache.computed[:3] == [True, False, True]


def test_indicator_is_the_layer_normed_input_modulated_by_the_first_blocks_shift_and_scale():
    tokens, mod = torch.randn(2, 5, 8), torch.randn(2, 6, 8)
    mean, var = tokens.mean(-1, keepdim=True), tokens.var(-1, unbiased=False, keepdim=True)
    normed = (tokens - mean) / torch.sqrt(var + 1e-6)
    torch.testing.assert_close(modulated_input(tokens, mod), normed * (1 + mod[:, None, 1]) + mod[:, None, 0])
    torch.testing.assert_close(modulated_input(tokens, torch.zeros(2, 0, 8)), normed)
    with pytest.raises(ValueError, match="threshold must be >= 0"):
        TeaCache(threshold=-1)


def test_inference_compile_equals_eager_and_is_kept_until_the_weights_change():
    model = _model("WALT")
    eager = _sample(model)
    compiled = _sample(model, compile=True)
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-5)
    runner = model.__dict__["_inference_runners"][True]
    assert runner._compiled is not None and "_inference_runners" not in model.state_dict()
    if torch._C.has_mkl:  # x86: the frozen graph holds its linear weights packed for MKL, copies of the weights
        with torch.no_grad():
            for block in model.backbone.blocks:
                block.mlp.fc2.weight.data.zero_()  # through .data: the version counter does not move
        assert torch.equal(_sample(model, compile=True), compiled)  # the folded weights, not the parameters
    with torch.no_grad():
        model.backbone.final_layer.linear.bias.add_(0.5)  # new weights: the folded constants are stale
    torch.testing.assert_close(_sample(model, compile=True), _sample(model), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="sample.compile must be one of"):
        _sample(model, compile="fast")
    from torch._dynamo.utils import counters
    graphs = counters["stats"]["unique_graphs"]
    _sample(model)
    _sample(model, compile=True)  # eager sampling in between costs no recompile
    assert counters["stats"]["unique_graphs"] == graphs
    first = model.__dict__.pop("_inference_runners")[True]  # a new runner (another mode): its own graph, not cached
    _sample(model, compile=True)
    assert counters["stats"]["unique_graphs"] == graphs + 1
    model.__dict__["_inference_runners"][True] = first  # the first runner again: dynamo holds the other's graph now
    _sample(model, compile=True)
    assert counters["stats"]["unique_graphs"] == graphs + 2


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_eager_sampling_runs_the_eager_inference_path(name):
    """``LatentDiffusion.sample`` without ``compile`` calls the backbone through ``InferenceBackbone`` (the fused
    inference MLP where the CPU has it), not as the training graph."""
    from walt.models.blocks.mlp import Mlp
    from walt.models.cpu_inference import FUSABLE

    model = _model(name)
    fused = []
    for module in model.backbone.modules():
        if isinstance(module, Mlp):
            module.register_forward_pre_hook(lambda mlp, args: fused.append(mlp._fused(args[0])))
    _sample(model)
    assert fused and set(fused) == {FUSABLE}


def test_eager_cpu_inference_fuses_the_mlp_gelu_and_equals_the_plain_mlp():
    """Inside ``cpu_inference`` without gradients the MLP's fc1 + GELU is one oneDNN GEMM: within fp32
    rounding of the plain modules; with gradients, or a LoRA-adapted fc1, it is the plain modules bit for bit."""
    from peft import LoraConfig
    from peft.tuners.lora import Linear as PeftLoRALinear

    from walt.models.blocks.mlp import Mlp
    from walt.models.cpu_inference import X86, cpu_inference

    torch.manual_seed(0)
    mlp, x = Mlp(16, 64), torch.randn(2, 10, 16)
    with torch.no_grad():
        plain = mlp(x)
        with cpu_inference():
            assert mlp._fused(x) == (torch.backends.mkldnn.is_available() and platform.machine().lower() in X86)
            torch.testing.assert_close(mlp(x), plain, rtol=1e-5, atol=1e-6)
    with cpu_inference():
        assert not mlp._fused(x)
        out = mlp(x)
    assert out.requires_grad and torch.equal(out.detach(), plain)
    mlp.fc1 = PeftLoRALinear(mlp.fc1, "default", config=LoraConfig(r=2), r=2, lora_alpha=2)
    with torch.no_grad(), cpu_inference():
        assert not mlp._fused(x) and torch.equal(mlp(x), plain)


def test_qkv_projection_writes_one_reused_buffer_only_on_the_inference_path():
    """Inside ``cpu_inference`` without gradients a q/k/v projection equals the layer's own output, written into the
    buffer every projection of that size reuses; elsewhere (gradients, outside, a hooked or LoRA layer) it is the
    layer's own call."""
    from peft import LoraConfig
    from peft.tuners.lora import Linear as PeftLoRALinear

    from walt.models.cpu_inference import cpu_inference, qkv_projection

    torch.manual_seed(0)
    first, second, x = torch.nn.Linear(8, 24), torch.nn.Linear(8, 24, bias=False), torch.randn(2, 5, 8)
    with torch.no_grad():
        plain = first(x), second(x)
        with cpu_inference():
            a = qkv_projection(first, x)
            assert torch.equal(a, plain[0])
            b = qkv_projection(second, x)
            assert torch.equal(b, plain[1]) and b.data_ptr() == a.data_ptr()  # a is overwritten: one buffer
        assert qkv_projection(first, x).data_ptr() != b.data_ptr()  # outside: a fresh output
    with cpu_inference():
        assert qkv_projection(first, x).requires_grad
    calls = []
    first.register_forward_hook(lambda *args: calls.append(1))
    lora = PeftLoRALinear(torch.nn.Linear(8, 24), "default", config=LoraConfig(r=2), r=2, lora_alpha=2)
    with torch.no_grad(), cpu_inference():
        assert torch.equal(qkv_projection(first, x), plain[0]) and calls == [1]
        assert torch.equal(qkv_projection(lora, x), lora(x))


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_eager_inference_shares_the_qkv_buffer_across_blocks(name, monkeypatch):
    """Every self-attention of an eager inference forward writes q/k/v into the same buffer, and the forward equals
    the plain one (up to the fused MLP's rounding)."""
    import walt.models.attention.window as window
    from walt.models.generative.inference import InferenceBackbone

    model = _model(name)
    pointers = []

    def spy(layer, x):
        out = projection(layer, x)
        pointers.append(out.data_ptr())
        return out

    projection = window.qkv_projection
    monkeypatch.setattr(window, "qkv_projection", spy)
    x, t, cond = torch.randn(2, 3, 4, 8, 8), torch.tensor([10, 500]), Conditions(y=torch.tensor([0, 2]))
    with torch.inference_mode():
        plain = model.backbone(x, t, cond)
        pointers.clear()
        eager = InferenceBackbone(model.backbone)(x, t, cond)
    assert len(pointers) >= 2 and len(set(pointers)) == 1
    torch.testing.assert_close(eager, plain, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", [*sorted(BACKBONES), "LAVITA-T2V"])
def test_the_backbone_forward_traces_as_one_graph(name):
    """The inference compile sees the whole forward: a graph break would split it (a data-dependent check) or make
    dynamo run the whole forward eagerly (``super()`` inside a property did)."""
    t2v = name == "LAVITA-T2V"
    cfg = dict(BACKBONES["LAVITA" if t2v else name], input_size=(4, 8, 8), in_channels=3)
    cond = Conditions(y=torch.tensor([0, 3]))
    if t2v:
        cfg.update(num_classes=None, text_dim=8, conditioning=dict(type="AdaLNSingle"),
                   cross_attention=dict(type="TextCrossAttention"), text_pooled=False)
        cond = Conditions(text=torch.randn(2, 5, 8), text_mask=torch.tensor([[True] * 5, [True] * 2 + [False] * 3]))
    from walt.models.blocks.mlp import Mlp
    from walt.models.cpu_inference import FUSABLE, cpu_inference

    torch.manual_seed(0)
    backbone = BACKBONE_REGISTRY.build(cfg).eval()
    with torch.inference_mode(), cpu_inference():  # as InferenceBackbone compiles it
        explained = torch._dynamo.explain(backbone.forward)(torch.randn(2, 3, 4, 8, 8), torch.tensor([3, 9]), cond)
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1
    fused = [n for g in explained.graphs for n in g.graph.nodes if n.target is torch.ops.mkldnn._linear_pointwise]
    mlps = [m for m in backbone.modules() if isinstance(m, Mlp)]  # the blocks' and T2V's caption projection
    assert len(fused) == (len(mlps) if FUSABLE else 0) and mlps  # every fc1 + GELU, one oneDNN GEMM
