"""LAVITA embeddings, heads and all-tokens conditioning (lavita.md §3.2–3.5)."""
import math

import pytest
import torch

from registry import CONDITIONINGS, PATCH_EMBEDS
from walt.models.backbones.lavita import LAVITA
from walt.models.blocks.tube_final_layer import TubeFinalLayer
from walt.models.conditioning.conditions import Conditions
from walt.models.embeddings.sincos_pos_embed import SinCosPosEmbed2D, SinCosTemporalEmbed, sincos_2d
from walt.models.grid import Grid


def _sincos_reference(dim, pos):
    return [math.sin(pos / 10000 ** (i / (dim // 2))) for i in range(dim // 2)] + \
           [math.cos(pos / 10000 ** (i / (dim // 2))) for i in range(dim // 2)]


def test_sincos_2d_is_column_then_row_table():
    dim, h, w = 8, 3, 5
    table = sincos_2d(dim, h, w)
    ref = torch.tensor([_sincos_reference(dim // 2, j) + _sincos_reference(dim // 2, i)
                        for i in range(h) for j in range(w)])
    torch.testing.assert_close(table, ref.float(), rtol=0, atol=1e-6)


def test_position_tables_are_fixed_buffers_added_per_frame():
    spatial, temporal = SinCosPosEmbed2D(dim=8, grid_size=(2, 3)), SinCosTemporalEmbed(dim=8, num_frames=4)
    for module in (spatial, temporal):
        assert list(module.parameters()) == [] and module.state_dict() == {}
    grid = Grid(4, 2, 3)
    x = torch.zeros(2, grid.numel, 8)
    out = spatial(x, grid).view(2, 4, 6, 8)
    for f in range(4):
        torch.testing.assert_close(out[1, f], sincos_2d(8, 2, 3))
    image_mask = torch.tensor([[False, False, False, True]] * 2)
    out_t = temporal(x, grid, image_mask).view(2, 4, 6, 8)
    torch.testing.assert_close(out_t[0, 2, 5], torch.tensor(_sincos_reference(8, 2)).float())
    assert torch.equal(out_t[:, 3], torch.zeros_like(out_t[:, 3]))  # image frames get no temporal position
    torch.testing.assert_close(spatial(torch.zeros(1, 4 * 4, 8), Grid(1, 4, 4))[0], sincos_2d(8, 4, 4))  # other grid


def test_tube_embedding_equals_linear_map_of_tubes_and_head_restores_frames():
    embed = PATCH_EMBEDS.build(dict(type="TubeEmbed", temporal_patch=2), default_args=dict(in_channels=4, dim=32,
                                                                                           patch_size=2))
    x = torch.randn(2, 4, 16, 8, 8)  # F = 16, pt = 2, p = 2
    tokens, grid = embed(x)
    assert grid == Grid(8, 4, 4) and tokens.shape == (2, 8 * 16, 32)
    tube = x[1, :, 6:8, 2:4, 4:6].reshape(-1)  # token (t=3, h=1, w=2)
    ref = embed.proj.weight.reshape(32, -1) @ tube + embed.proj.bias
    torch.testing.assert_close(tokens[1, 3 * 16 + 1 * 4 + 2], ref, rtol=1e-5, atol=1e-5)
    head = TubeFinalLayer(32, patch_size=2, out_channels=8, temporal_patch=2)
    c = torch.randn(2, 32)
    assert head(tokens, grid, c).shape == (2, 8, 16, 8, 8)
    with pytest.raises(ValueError, match="temporal_patch 2"):
        embed(torch.randn(1, 4, 15, 8, 8))


def test_lavita_with_tube_embedding_predicts_every_frame():
    model = LAVITA(preset=None, depth=2, dim=32, num_heads=2, patch_size=2, input_size=(16, 8, 8),
                   patch_embed=dict(type="TubeEmbed", temporal_patch=2))
    assert model.patch_embed.grid(16, 8, 8) == Grid(8, 4, 4)
    assert model(torch.randn(1, 4, 16, 8, 8), torch.tensor([10])).shape == (1, 8, 16, 8, 8)


def test_all_tokens_appends_one_token_per_frame_and_removes_it():
    cond = CONDITIONINGS.build(dict(type="AllTokens"), default_args=dict(dim=8, num_layers=4))
    assert cond.modulated is False and list(cond.parameters()) == [] and cond(torch.randn(2, 8)).shape == (4, 2, 0, 8)
    grid = Grid(3, 2, 2)
    x, c = torch.randn(2, grid.numel, 8), torch.randn(2, 8)
    appended, run_grid = cond.add_tokens(x, grid, c)
    assert run_grid == Grid(3, 1, 5) and appended.shape == (2, 15, 8)
    frames = appended.view(2, 3, 5, 8)
    assert torch.equal(frames[:, :, :4], x.view(2, 3, 4, 8))
    assert torch.equal(frames[:, :, 4], c[:, None].expand(2, 3, 8))
    assert torch.equal(cond.remove_tokens(appended, grid), x)


def test_lavita_all_tokens_output_shape_and_condition_reaches_output():
    model = LAVITA(preset=None, depth=2, dim=32, num_heads=2, patch_size=2, input_size=(4, 8, 8),
                   conditioning=dict(type="AllTokens"), num_classes=3)
    assert model.final_layer.adaLN_modulation is None and model.final_layer.norm.elementwise_affine
    torch.nn.init.normal_(model.final_layer.linear.weight)
    x = torch.randn(2, 4, 4, 8, 8)
    out = model(x, torch.tensor([5, 5]), Conditions(y=torch.tensor([0, 0])))
    assert out.shape == (2, 8, 4, 8, 8)
    other = model(x, torch.tensor([5, 5]), Conditions(y=torch.tensor([1, 2])))
    assert not torch.allclose(out, other)  # the label token is attended to
