"""``compile=True`` (torch.compile of every transformer block, CPU here) compiles (dynamo captured graphs, counted)
and gives the eager outputs within 1e-5 and the eager gradients for a tiny W.A.L.T and a tiny LAVITA, image frames
included; the state-dict keys are those of the eager model."""
import pytest
import torch
from torch._dynamo.utils import counters

from registry import BACKBONES
from walt.models.conditioning.conditions import Conditions

TINY = {
    "WALT": dict(type="WALT", preset=None, depth=2, dim=32, num_heads=2, patch_size=2, in_channels=3,
                 input_size=(4, 8, 8), spatial_window=(1, 4, 4), spatiotemporal_window=(4, 2, 2), num_classes=3),
    "LAVITA": dict(type="LAVITA", preset=None, depth=2, dim=32, num_heads=2, patch_size=2, in_channels=3,
                   input_size=(4, 8, 8), num_classes=3),
}


def _call(model, x, t, y, image_mask):
    """The backbone call, in one place."""
    return model(x, t, Conditions(y=y, image_mask=image_mask))


@pytest.mark.parametrize("name", sorted(TINY))
def test_compiled_blocks_compile_and_give_the_eager_outputs_and_gradients(name):
    torch.manual_seed(0)
    eager = BACKBONES.build(TINY[name])
    for p in eager.parameters():  # leave the zero-initialized gates: every block contributes
        torch.nn.init.normal_(p, std=0.1)
    compiled = BACKBONES.build(dict(TINY[name], compile=True))
    assert compiled.state_dict().keys() == eager.state_dict().keys()
    compiled.load_state_dict(eager.state_dict())
    x, t, y = torch.randn(2, 3, 4, 8, 8), torch.tensor([3, 700]), torch.tensor([0, 2])
    image_mask = torch.tensor([[False, False, True, True], [False] * 4])
    torch._dynamo.reset()
    counters.clear()
    # one training-mode call each (compiling is slow on a shared CPU): a sample with image frames and one without
    out = _call(compiled, x, t, y, image_mask)
    want = _call(eager, x, t, y, image_mask)
    torch.testing.assert_close(out, want, rtol=1e-5, atol=1e-5)
    assert counters["stats"]["unique_graphs"] >= 1 and counters["frames"]["ok"] >= 1, dict(counters["frames"])
    out.square().mean().backward()
    want.square().mean().backward()
    assert counters["aot_autograd"]["total"] >= 1  # forward and backward went through AOT autograd
    for (key, p), q in zip(eager.named_parameters(), compiled.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6, msg=key)


def test_compile_cache_is_kept_per_cpu_isa(monkeypatch):
    """Graphs compiled under one ATen CPU capability are not loaded under another (a crash in torch 2.14.1)."""
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    from walt.utils.compile_cache import CACHE_ENV, use_isa_cache_dir

    want = default_cache_dir() + "_" + torch.backends.cpu.get_cpu_capability()
    monkeypatch.delenv(CACHE_ENV, raising=False)
    assert use_isa_cache_dir() == want
    monkeypatch.setenv(CACHE_ENV, default_cache_dir())  # what torch writes there itself on first use
    assert use_isa_cache_dir() == want
    monkeypatch.setenv(CACHE_ENV, "/elsewhere")  # a directory the user chose is kept
    assert use_isa_cache_dir() == "/elsewhere"
