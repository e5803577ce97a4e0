"""``compile=True`` (torch.compile of every transformer block, CPU here) gives the eager outputs within 1e-5 for a
tiny W.A.L.T and a tiny LAVITA, image frames included; the state-dict keys are those of the eager model."""
import pytest
import torch

from registry import BACKBONES
from walt.models.conditioning.conditions import Conditions

TINY = {
    "WALT": dict(type="WALT", preset=None, depth=2, dim=32, num_heads=2, patch_size=2, in_channels=3,
                 input_size=(4, 8, 8), spatial_window=(1, 4, 4), spatiotemporal_window=(4, 2, 2), num_classes=3),
    "LAVITA": dict(type="LAVITA", preset=None, depth=2, dim=32, num_heads=2, patch_size=2, in_channels=3,
                   input_size=(4, 8, 8), num_classes=3),
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_compiled_blocks_give_the_eager_outputs(name):
    torch.manual_seed(0)
    eager = BACKBONES.build(TINY[name])
    for p in eager.parameters():  # leave the zero-initialized gates: every block contributes
        torch.nn.init.normal_(p, std=0.1)
    compiled = BACKBONES.build(dict(TINY[name], compile=True))
    assert compiled.state_dict().keys() == eager.state_dict().keys()
    compiled.load_state_dict(eager.state_dict())
    x, t, y = torch.randn(2, 3, 4, 8, 8), torch.tensor([3, 700]), torch.tensor([0, 2])
    image_mask = torch.tensor([[False, False, True, True], [False] * 4])
    with torch.no_grad():
        for mask in (None, image_mask):
            cond = Conditions(y=y, image_mask=mask)
            torch.testing.assert_close(compiled(x, t, cond), eager(x, t, cond), rtol=1e-5, atol=1e-5)


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
