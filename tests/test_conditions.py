"""The backbone call's one conditions object (walt/models/conditioning/conditions.py): guidance's null version and
the batch of a condition with its null, the per-frame method, each checked against a computation written out here."""
import pytest
import torch

from walt.diffusion.guidance import classifier_free_guidance
from walt.models.backbones.walt import WALT
from walt.models.conditioning.conditions import Conditions

from random_weights import randomize

B, T, L, DT = 2, 3, 4, 6


def _cond(gen):
    return Conditions(y=torch.tensor([1, 2]), text=torch.randn(B, L, DT, generator=gen),
                      text_mask=torch.tensor([[True] * 4, [True, True, False, False]]),
                      text_pooled=torch.randn(B, DT, generator=gen), x_sc=torch.randn(B, 3, T, 4, 4, generator=gen),
                      image_mask=torch.tensor([[False, False, True], [True, True, True]]),
                      frame_y=torch.tensor([[1, 1, 0], [3, 4, 0]]), frame_text=torch.randn(B, T, L, DT, generator=gen),
                      frame_text_mask=torch.ones(B, T, L, dtype=torch.bool),
                      frame_text_pooled=torch.randn(B, T, DT, generator=gen))


def test_dropped_nulls_labels_and_text_where_drawn_and_keeps_task_inputs():
    cond = _cond(torch.Generator().manual_seed(0))
    drop, frame_drop = torch.tensor([True, False]), torch.tensor([[False, True, False], [False, False, True]])
    null = cond.dropped(drop, num_classes=5, frame_drop=frame_drop)
    assert null.y.tolist() == [5, 2]
    assert torch.equal(null.text[0], torch.zeros(L, DT)) and torch.equal(null.text[1], cond.text[1])
    assert not null.text_mask[0].any() and torch.equal(null.text_mask[1], cond.text_mask[1])
    assert torch.equal(null.text_pooled[0], torch.zeros(DT)) and torch.equal(null.text_pooled[1], cond.text_pooled[1])
    assert null.frame_y.tolist() == [[1, 5, 0], [3, 4, 5]]
    for b, f in [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]:
        dropped = bool(frame_drop[b, f])
        assert torch.equal(null.frame_text[b, f], torch.zeros(L, DT) if dropped else cond.frame_text[b, f])
        assert bool(null.frame_text_mask[b, f].any()) != dropped
        assert torch.equal(null.frame_text_pooled[b, f], torch.zeros(DT) if dropped else cond.frame_text_pooled[b, f])
    assert null.x_sc is cond.x_sc and null.image_mask is cond.image_mask
    every = cond.dropped(torch.tensor([True, True]), num_classes=5)  # guidance's null: frames follow their sample
    assert (every.frame_y == 5).all() and not every.frame_text_mask.any()


def test_dropped_with_the_empty_prompt_keeps_the_prompts_mask():
    cond = _cond(torch.Generator().manual_seed(1))
    empty = dict(tokens=torch.full((1, L, DT), 7.0), mask=torch.ones(1, L, dtype=torch.bool),
                 pooled=torch.full((1, DT), 3.0))
    null = cond.dropped(torch.tensor([False, True]), 5, null_text=empty)
    assert torch.equal(null.text[1], empty["tokens"][0]) and torch.equal(null.text[0], cond.text[0])
    assert torch.equal(null.text_mask, cond.text_mask)
    assert torch.equal(null.text_pooled[1], empty["pooled"][0])


def test_concat_batches_every_given_field_and_names_a_field_given_in_one_half_only():
    gen = torch.Generator().manual_seed(2)
    a, b = _cond(gen), _cond(gen)
    both = a.concat(b)
    for name, value in both.tensors().items():
        assert torch.equal(value, torch.cat([getattr(a, name), getattr(b, name)])), name
    assert both.x_fp is None and set(both.tensors()) == set(a.tensors())
    with pytest.raises(ValueError, match="x_lr is given in one half only"):
        a.concat(b.replace(x_lr=torch.zeros(B, 3, T, 2, 2)))


def _walt():
    return randomize(WALT(in_channels=3, input_size=(T, 4, 4), preset=None, depth=2, dim=16, num_heads=2,
                          patch_size=2, spatial_window=(1, 2, 2), spatiotemporal_window=(3, 2, 2), num_classes=5,
                          text_dim=DT, text_pooled=True, self_condition=True), scale=0.2)


def test_guidance_batch_of_a_condition_and_its_null_equals_two_separate_calls():
    model = _walt()
    gen = torch.Generator().manual_seed(3)
    cond = _cond(gen)
    null = cond.dropped(torch.ones(B, dtype=torch.bool), 5)
    x, t, x_sc = torch.randn(B, 3, T, 4, 4, generator=gen), torch.tensor([4, 900]), torch.randn(B, 3, T, 4, 4)
    with torch.no_grad():
        guided = classifier_free_guidance(model, cond, null, 2.5)(x, t, x_sc=x_sc)
        c, u = model(x, t, cond.replace(x_sc=x_sc)), model(x, t, null.replace(x_sc=x_sc))
    torch.testing.assert_close(guided, u + 2.5 * (c - u), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(c, u)  # the null condition reaches the model


def test_image_frames_condition_each_image_frame_on_its_own_label_and_caption():
    model = _walt()
    cond = _cond(torch.Generator().manual_seed(4))
    t = torch.tensor([10, 300])
    frames = cond.image_frames(model, t)
    rows = cond.image_mask.nonzero()  # image frames in order: (0, 2), (1, 0), (1, 1), (1, 2)
    sample = rows[:, 0]
    expected_c = (model.t_embedder(t[sample]) + model.y_embedder(cond.frame_y[rows[:, 0], rows[:, 1]])
                  + model.text_pooled_proj(cond.frame_text_pooled[rows[:, 0], rows[:, 1]]))
    torch.testing.assert_close(frames.c, expected_c)
    assert torch.equal(frames.text, cond.frame_text[rows[:, 0], rows[:, 1]])
    assert torch.equal(frames.text_mask, cond.frame_text_mask[rows[:, 0], rows[:, 1]])
    per_frame_c = frames.condition(model.condition(t, cond.y, cond.text_pooled))
    assert per_frame_c.shape == (B, T, 16) and torch.equal(per_frame_c[0, 2], frames.c[0])
    assert Conditions(y=cond.y).image_frames(model, t) is None  # no per-frame inputs: the per-sample path
    assert cond.replace(image_mask=torch.zeros(B, T, dtype=torch.bool)).image_frames(model, t) is None


@pytest.mark.parametrize("change, message", [
    (dict(image_mask=None), "need image_mask"),
    (dict(frame_y=torch.zeros(B, T + 1, dtype=torch.long)), r"frame_y must have shape \(2, 3\)"),
    (dict(frame_text=torch.zeros(B, T, L + 1, DT)), r"frame_text must have shape \(2, 3, 4, 6\)"),
    (dict(frame_text=None), "frame_text_mask given without frame_text"),
])
def test_image_frames_errors_name_the_input(change, message):
    with pytest.raises(ValueError, match=message):
        _cond(torch.Generator().manual_seed(5)).replace(**change).image_frames(_walt(), torch.tensor([1, 2]))
