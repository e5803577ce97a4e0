"""Backbones on any allowed token grid at run time (shape buckets): W.A.L.T's learned position and relative-position
tables resampled and its windows following the grid exactly as ``tools/interpolate_checkpoint.py`` does it once for
a new size, and a W.A.L.T and a LAVITA training step on two bucket shapes through ``LatentDiffusion``'s loss."""
import pytest
import torch

from registry import BACKBONES, MODELS
from tool_loader import load_tool
from walt.models.conditioning.conditions import Conditions

WALT_TINY = dict(type="WALT", preset=None, in_channels=3, input_size=(3, 8, 8), depth=2, dim=32, num_heads=4,
                 patch_size=1, spatial_window=(1, 8, 8), spatiotemporal_window=(3, 4, 4), text_dim=6)


def _perturbed(model):
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))  # the zero-initialized output layers would hide any difference
    return model


@pytest.mark.parametrize("grid", [(3, 8, 12), (3, 12, 8), (6, 4, 16)])
def test_walt_on_another_grid_equals_the_interpolate_checkpoint_model(grid):
    model = _perturbed(BACKBONES.build(WALT_TINY)).eval()
    state = {f"backbone.{k}": v.clone() for k, v in model.state_dict().items()}
    moved = load_tool("interpolate_checkpoint").interpolate_weights(BACKBONES.build(WALT_TINY), state, grid)
    reference = BACKBONES.build(dict(WALT_TINY, input_size=grid, spatial_window=(1, grid[1], grid[2]),
                                     spatiotemporal_window=(grid[0], grid[1] // 2, grid[2] // 2)))
    reference.load_state_dict({k[len("backbone."):]: v for k, v in moved.items()})
    x, t = torch.randn(2, 3, *grid), torch.tensor([5, 900])
    text, mask = torch.randn(2, 4, 6), torch.tensor([[True] * 4, [True, True, False, False]])
    with torch.no_grad():
        out = model(x, t, Conditions(text=text, text_mask=mask))
        expected = reference(x, t, Conditions(text=text, text_mask=mask))
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    assert tuple(model.pos_embed.spatial.shape) == (8, 8, 32)  # the built tables stay; they are resampled per call


def test_resampled_tables_get_the_gradient_of_a_bucket_step():
    model = _perturbed(BACKBONES.build(WALT_TINY))
    out = model(torch.randn(1, 3, 3, 8, 12), torch.tensor([3]), Conditions(text=torch.randn(1, 2, 6)))
    out.square().mean().backward()
    assert model.pos_embed.spatial.grad.abs().sum() > 0 and model.blocks[1].attn.rel_pos.table.grad.abs().sum() > 0


def _latent_diffusion(backbone, video_size):
    return MODELS.build(dict(type="LatentDiffusion", video_size=video_size, backbone=backbone,
                             autoencoder=dict(type="IdentityAutoencoder", latent_channels=3)))


@pytest.mark.parametrize("backbone", [
    dict(type="WALT", preset=None, depth=2, dim=32, num_heads=4, patch_size=2, spatial_window=(1, 4, 4),
         spatiotemporal_window=(4, 2, 2)),
    dict(type="LAVITA", preset=None, depth=2, dim=32, num_heads=4, patch_size=2, variant=2),
], ids=["WALT", "LAVITA"])
def test_one_training_step_on_each_of_two_bucket_shapes(backbone):
    model = _perturbed(_latent_diffusion(backbone, (4, 8, 8)))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for shape in [(4, 8, 8), (2, 8, 16)]:  # the built shape, then a shorter, twice as wide bucket
        before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
        loss = model(dict(video=torch.rand(2, 3, *shape) * 2 - 1))["loss"]
        assert torch.isfinite(loss)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        changed = [k for k, v in model.backbone.state_dict().items() if not torch.equal(v, before[k])]
        assert any("blocks" in k for k in changed), shape
