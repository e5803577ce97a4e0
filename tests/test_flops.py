"""FLOP/param counting: hand-computed MACs, fvcore == meta-device counter, LAVITA Table 3, a 3B preset on meta."""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from torch import nn

from registry import BACKBONES
from walt.models.attention.window import WindowSelfAttention
from walt.models.grid import Grid
from walt.analysis.flop_handles import einsum_macs, matmul_macs
from walt.analysis.flops import backbone_inputs, count_flops, flops_table, param_counts, reference_adaln_macs

ROOT = Path(__file__).resolve().parents[1]


class _Attn(nn.Module):
    def __init__(self, dim: int, heads: int, window: tuple, grid: Grid):
        super().__init__()
        self.attn, self.grid = WindowSelfAttention(dim, heads, window=window, qk_norm=False), grid

    def forward(self, x):
        return self.attn(x, self.grid)


@pytest.mark.parametrize("window", [(None, None, None), (1, 2, 2)])
def test_fvcore_counts_attention_layer_as_hand_computed_macs(window):
    b, d, heads, grid = 2, 16, 4, Grid(2, 4, 4)
    n = grid.numel
    length = n if window[0] is None else 4  # tokens per window
    layer = _Attn(d, heads, window, grid)
    report = count_flops(layer, {"x": torch.randn(b, n, d)}, backend="fvcore")
    linear = b * n * (3 * d * d + d * d)  # qkv + proj
    scores_values = b * n * length * d * 2  # per query: L·d for q·k and L·d for a·v
    assert report.by_operator["linear"] == linear
    assert report.by_operator["scaled_dot_product_attention"] == scores_values  # SDPA counted, not skipped
    assert report.total() == linear + scores_values and not report.skipped
    assert report.total(attention_matmuls=False) == linear
    assert report.total("flop") == 2 * (linear + scores_values)


def test_op_formulas_match_independent_counts():
    assert matmul_macs([5, 1, 3, 4], [7, 4, 6]) == 5 * 7 * 3 * 4 * 6  # broadcast batch
    assert matmul_macs([4], [4, 6]) == 24
    assert einsum_macs("bd,led->lbe", [[2, 8], [3, 12, 8]]) == 2 * 8 * 3 * 12
    assert einsum_macs("ij,jk,kl->il", [[2, 3], [3, 4], [4, 5]]) == 2 * 3 * 4 + 2 * 4 * 5


def _tiny_lavita(**kw):
    return BACKBONES.build(dict(type="LAVITA", preset=None, depth=2, dim=32, num_heads=4, patch_size=2,
                                input_size=(4, 8, 8), num_classes=5, **kw))


def test_meta_counter_equals_fvcore_on_tiny_backbone():
    model = _tiny_lavita()
    fv = count_flops(model, backbone_inputs(model, (2, 4, 4, 8, 8), device="cpu"), backend="fvcore")
    with torch.device("meta"):
        meta_model = _tiny_lavita()
    tm = count_flops(meta_model, backbone_inputs(meta_model, (2, 4, 4, 8, 8)), backend="torch")
    assert fv.by_operator == tm.by_operator and not fv.skipped and not tm.skipped
    for name in ("blocks", "conditioning", "patch_embed", "final_layer", "t_embedder"):
        assert fv.by_module[name] == tm.by_module[name] > 0
    rows = flops_table(model, (2, 4, 4, 8, 8))
    assert rows[-1]["module"] == "total" and rows[-1]["gflops"] == pytest.approx(fv.total() / 1e9)
    assert rows[-1]["params"] == sum(p.numel() for p in model.parameters())


def test_meta_counter_equals_fvcore_on_tiny_walt_with_text_and_extra_inputs():
    cfg = dict(type="WALT", depth=2, dim=32, num_heads=4, input_size=(3, 4, 4), in_channels=4, num_classes=5,
               spatial_window=(1, 4, 4), spatiotemporal_window=(3, 2, 2), text_dim=16, self_condition=True,
               frame_prediction=True)
    model = BACKBONES.build(cfg)
    inputs = backbone_inputs(model, (2, 4, 3, 4, 4), device="cpu", text_length=5)
    assert set(inputs) == {"x", "t", "cond"} and set(inputs["cond"].tensors()) == {"y", "text", "text_mask"}
    fv, tm = count_flops(model, inputs, backend="fvcore"), count_flops(model, inputs, backend="torch")
    assert fv.by_operator == tm.by_operator and not fv.skipped and not tm.skipped
    assert fv.by_module["blocks"] == tm.by_module["blocks"] and fv.by_module["text_proj"] == 2 * 5 * 16 * 32


class _Unknown(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        y = self.fc(x)
        return torch.cdist(y, y)  # an op with no formula that is not free


@pytest.mark.parametrize("backend", ["fvcore", "torch"])
def test_ops_without_formula_are_reported_as_skipped(backend):
    report = count_flops(_Unknown(), {"x": torch.randn(2, 5, 4)}, backend=backend)
    assert report.skipped == {"cdist": 1} and report.total() == 2 * 5 * 4 * 3


def test_lavita_xl2_variant2_matches_paper_table3():
    """LAVITA App. A.1 Table 3: 673.68M parameters, 5572.69 GFLOPs on a (3, 16, 4, 32, 32) latent, counting one
    MAC of each linear/conv layer (no attention matmuls, no norms), with Latte's per-sequence adaLN."""
    with torch.device("meta"):
        model = BACKBONES.build(dict(type="LAVITA", preset="LAVITA-XL/2", variant=2))
    shape = (3, 4, 16, 32, 32)
    report = count_flops(model, backbone_inputs(model, shape))
    linear_conv = report.total(attention_matmuls=False, norms=False)
    d, tokens, depth = 1152, 3 * 16 * 16 * 16, 28
    hand_blocks = 12 * d * d * tokens * depth  # qkv 3d² + proj d² + MLP 8d² per token per block
    assert report.module_total("blocks", attention_matmuls=False, norms=False) == hand_blocks
    paper = report.total(attention_matmuls=False, norms=False) + reference_adaln_macs(model, shape)
    assert abs(paper / 5572.69e9 - 1) < 0.005
    assert abs(linear_conv / 5572.69e9 - 1) < 0.02  # walt's single adaLN regression per sample
    assert param_counts(model)["total"] == 673_681_568


def test_walt_t2v_3b_reports_on_meta_with_little_memory():
    args = ["--backbone", json.dumps(dict(type="WALT", preset="WALT-T2V-3B", text_dim=4096)), "--json"]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, str(ROOT / "tools" / "flops.py"), *args], cwd=ROOT, text=True,
                                stdout=subprocess.PIPE, stderr=err)
        stdout = proc.stdout.read()
        # this child's own peak (RUSAGE_CHILDREN would be the largest of every child the test session ran so far)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.stdout.close()
        assert os.waitstatus_to_exitcode(status) == 0, err.seek(0) or err.read().decode()
    rss_gb = usage.ru_maxrss / 2**20  # ru_maxrss is KiB on Linux
    report = json.loads(stdout)
    assert report["params_total"] > 2.5e9 and report["flops"] > 0 and not report["skipped_ops"]
    assert report["params_trainable"] == report["params_total"]
    assert rss_gb < 2.0, f"FLOP count of a 3B preset used {rss_gb:.2f} GB"


def test_flops_tool_counts_a_first_stage_autoencoder_like_a_direct_count(capsys):
    """A config without a backbone (the causal VAE demo) counts its autoencoder: encode + decode of a clip of the
    training data's size, equal to counting the module directly; an unknown component is one error line."""
    from tool_loader import load_tool
    from walt.engine.config import load_config
    from walt.models.generative.build import build_model

    config = str(ROOT / "configs/demo/causal_vae_demo.py")
    load_tool("flops").main([config, "--json"])
    report = json.loads(capsys.readouterr().out)
    with torch.device("meta"):
        autoencoder = build_model(load_config(config)).autoencoder
    direct = count_flops(autoencoder, {"x": torch.zeros(1, 3, 9, 32, 32, device="meta")}, backend="torch")
    assert report["component"] == "autoencoder" and report["input_shape"] == [1, 3, 9, 32, 32]
    assert report["flops"] == direct.total() > 0 and report["params_total"] == param_counts(autoencoder)["total"]
    with pytest.raises(SystemExit, match="no countable component 'text_encoder'"):
        load_tool("flops").main([config, "--component", "text_encoder"])
