"""benchmarks/gemm_floor.py records exactly the GEMMs of a forward + backward and replays them."""
import torch
import torch.nn.functional as F
from torch import nn

from tool_loader import load_benchmark


def test_records_every_linear_gemm_forward_and_backward():
    floor = load_benchmark("gemm_floor")
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 4))
    x = torch.randn(5, 8)  # no grad: the first linear's input gradient is never computed
    gemms = floor.record_gemms(lambda: net(x).square().sum().backward())
    fwd1, fwd2 = 2 * 5 * 8 * 16, 2 * 5 * 16 * 4
    assert len(gemms) == 5  # 2 forward, dX + dW of the second linear, dW of the first
    assert sum(g.flops for g in gemms) == 2 * fwd1 + 3 * fwd2
    assert sum(g.a_t or g.b_t for g in gemms) >= 2  # weights enter transposed


def test_attention_counts_as_two_forward_and_four_backward_gemms():
    floor = load_benchmark("gemm_floor")
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 7, 4, requires_grad=True) for _ in range(3))
    one = 2 * (2 * 3) * 7 * 4 * 7  # one (7, 4) @ (4, 7) per batch and head
    fused = floor.record_gemms(lambda: F.scaled_dot_product_attention(q, k, v).sum().backward())
    assert len(fused) == 6 and sum(g.flops for g in fused) == 6 * one
    # written out (softmax(QKᵀ)V): the same four products forward and backward would need, as plain bmm's
    math = floor.record_gemms(lambda: torch.matmul(torch.matmul(q, k.transpose(-2, -1)).softmax(-1), v).sum().backward())
    assert sum(g.flops for g in math) == 6 * one


def test_replay_and_floor_report_positive_times():
    floor = load_benchmark("gemm_floor")
    net = nn.Linear(32, 64)
    x = torch.randn(16, 32)
    r = floor.floor(lambda: net(x).sum().backward(), repeats=1)
    assert r["gemms"] == 2 and r["gflop"] == 2 * 2 * 16 * 32 * 64 / 1e9
    assert r["seconds"] > 0 and r["gflops"] > 0
