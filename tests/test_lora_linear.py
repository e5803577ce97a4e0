"""walt's LoRA nn.Linear (walt/models/adapters/lora_linear.py) computes peft's ``lora.Linear`` forward and gradients
with its sums fused into the GEMMs, and is peft's own forward wherever the plain case does not hold."""
import pytest
import torch
from peft import LoraConfig
from peft.tuners.lora import Linear as PeftLoRALinear
from torch import nn

from walt.models.adapters import LoRASettings, attach_lora
from walt.models.adapters.lora_linear import FusedLoRALinear


def _pair(bias: bool, dropout: float = 0.0, train_base: bool = False):
    """The same adapted layer (random base, random A and B) as peft's class and as walt's."""
    layers = []
    for cls in (PeftLoRALinear, FusedLoRALinear):
        torch.manual_seed(0)
        base = nn.Linear(12, 20, bias=bias)
        config = LoraConfig(r=4, lora_alpha=6, lora_dropout=dropout)
        layer = cls(base, "default", config=config, r=4, lora_alpha=6, lora_dropout=dropout)
        nn.init.normal_(layer.lora_B["default"].weight)
        base.requires_grad_(train_base)
        layers.append(layer)
    return layers


def _run(layer, x):
    x = x.clone().requires_grad_(True)
    out = layer(x)
    out.pow(2).sum().backward()
    grads = [p.grad for p in layer.parameters() if p.requires_grad]
    return out, x.grad, grads


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("train_base", [False, True])
def test_fused_forward_and_gradients_equal_peft(bias, train_base):
    peft_layer, fused = _pair(bias, train_base=train_base)
    x = torch.randn(2, 7, 12)
    (out_p, dx_p, grads_p), (out_f, dx_f, grads_f) = _run(peft_layer, x), _run(fused, x)
    torch.testing.assert_close(out_f, out_p, rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(dx_f, dx_p, rtol=1e-6, atol=1e-5)
    assert len(grads_f) == len(grads_p) == 2 + 2 * train_base - (train_base and not bias)
    for g_f, g_p in zip(grads_f, grads_p):
        torch.testing.assert_close(g_f, g_p, rtol=1e-6, atol=1e-4)


def test_scale_merge_and_disabled_adapters_follow_peft():
    peft_layer, fused = _pair(bias=True)
    x = torch.randn(3, 12)
    for layer in (peft_layer, fused):
        layer.set_scale("default", 0.5)
    torch.testing.assert_close(fused(x), peft_layer(x), rtol=1e-6, atol=1e-5)
    with torch.no_grad():
        fused.enable_adapters(False)  # peft's switch: the base layer alone
        torch.testing.assert_close(fused(x), fused.get_base_layer()(x))
        fused.enable_adapters(True)
        adapted = fused(x)
        fused.merge()
        torch.testing.assert_close(fused(x), adapted, rtol=1e-6, atol=1e-5)


def test_dropout_runs_peft_forward():
    peft_layer, fused = _pair(bias=True, dropout=0.5)
    x = torch.randn(4, 12)
    torch.manual_seed(3)
    out_p = peft_layer(x)
    torch.manual_seed(3)
    torch.testing.assert_close(fused(x), out_p)


def test_autocast_multiplies_in_the_autocast_dtype_like_peft():
    peft_layer, fused = _pair(bias=True)
    x = torch.randn(5, 12)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out_p, out_f = peft_layer(x), fused(x)
    assert out_f.dtype == out_p.dtype == torch.bfloat16
    torch.testing.assert_close(out_f.float(), out_p.float(), rtol=2e-2, atol=5e-2)


def test_attach_lora_builds_the_fused_layer():
    net = nn.Module()
    net.blocks = nn.ModuleList([nn.Module()])
    net.blocks[0].attn = nn.Module()
    net.blocks[0].attn.qkv = nn.Linear(8, 24)
    assert attach_lora(net, LoRASettings(r=2, target=("attn_qkv",))) == ["blocks.0.attn.qkv"]
    assert type(net.blocks[0].attn.qkv) is FusedLoRALinear
