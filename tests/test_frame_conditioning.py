"""Per-frame conditions of joint image–video training in the backbones (walt/models/conditioning/image_frames.py):
an image frame's own caption (W.A.L.T) or class (W.A.L.T, LAVITA) reaches that frame and no other, video frames
included; LAVITA's temporal blocks keep the clip's condition; the per-frame path equals the per-sample one when
every frame carries its sample's condition; bad per-frame inputs fail naming the input."""
import pytest
import torch

from walt.models.backbones.lavita import LAVITA
from walt.models.backbones.walt import WALT
from walt.models.conditioning.conditions import Conditions
from walt.models.conditioning.image_frames import per_frame

B, T, L, DT = 2, 3, 4, 8
# sample 0: a clip with an appended image frame (LAVITA layout); sample 1: a stack of images (W.A.L.T layout)
IMAGE_MASK = torch.tensor([[False, False, True], [True, True, True]])


def _randomized(model, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.2)  # past the zero inits: every condition matters
    return model.eval()


def _walt(**kw):
    return _randomized(WALT(in_channels=3, input_size=(T, 8, 8), preset=None, depth=2, dim=32, num_heads=2,
                            patch_size=2, spatial_window=(1, 4, 4), spatiotemporal_window=(3, 2, 2), **kw))


def _lavita(**kw):
    return _randomized(LAVITA(in_channels=3, input_size=(T, 8, 8), preset=None, depth=4, dim=32, num_heads=2,
                              patch_size=2, learn_sigma=False, **kw))


def _inputs(gen=None):
    gen = gen or torch.Generator().manual_seed(1)
    return dict(x=torch.randn(B, 3, T, 8, 8, generator=gen), t=torch.tensor([10, 700]), image_mask=IMAGE_MASK)


def _text(gen):
    text = dict(text=torch.randn(B, L, DT, generator=gen), text_pooled=torch.randn(B, DT, generator=gen),
                text_mask=torch.tensor([[True] * 4, [True, True, False, False]]))
    text["frame_text"] = torch.randn(B, T, L, DT, generator=gen)
    text["frame_text_mask"] = torch.rand(B, T, L, generator=gen) > 0.3
    text["frame_text_mask"][..., 0] = True  # every frame keeps a token to attend to
    text["frame_text_pooled"] = torch.randn(B, T, DT, generator=gen)
    return text


def _call(model, x, t, **cond):
    return model(x, t, Conditions(**cond))


def _changed_frames(out, ref):
    """(sample, frame) pairs whose output differs; every other frame must be bit-identical."""
    return {(b, f) for b in range(B) for f in range(T) if not torch.equal(out[b, :, f], ref[b, :, f])}


@pytest.mark.parametrize("b, k", [(0, 2), (1, 0), (1, 2)])
def test_walt_caption_of_image_frame_k_changes_frame_k_only(b, k):
    model = _walt(text_dim=DT, text_pooled=True)
    gen = torch.Generator().manual_seed(2)
    inputs, text = _inputs(gen), _text(gen)
    ref = _call(model, **inputs, **text)
    for changed in ("frame_text", "frame_text_pooled", "frame_text_mask"):
        other = {k_: v.clone() for k_, v in text.items()}
        if changed == "frame_text_mask":
            other[changed][b, k, 1:] = ~other[changed][b, k, 1:]
        else:
            other[changed][b, k] = torch.randn(other[changed][b, k].shape, generator=gen)
        assert _changed_frames(_call(model, **inputs, **other), ref) == {(b, k)}, changed


def test_walt_and_lavita_class_of_image_frame_k_changes_frame_k_only():
    for model in (_walt(num_classes=5), _lavita(num_classes=5)):
        inputs = _inputs()
        frame_y = torch.tensor([[1, 1, 3], [4, 0, 2]])
        ref = _call(model, **inputs, y=torch.tensor([1, 4]), frame_y=frame_y)
        for b, k in ((0, 2), (1, 1)):
            other = frame_y.clone()
            other[b, k] = (other[b, k] + 1) % 5
            out = _call(model, **inputs, y=torch.tensor([1, 4]), frame_y=other)
            assert _changed_frames(out, ref) == {(b, k)}, type(model).__name__


def test_lavita_video_frames_keep_the_clips_class_and_image_frames_do_not_see_it():
    model = _lavita(num_classes=5)
    inputs, frame_y = _inputs(), torch.tensor([[1, 1, 3], [4, 0, 2]])
    ref = _call(model, **inputs, y=torch.tensor([1, 4]), frame_y=frame_y)
    out = _call(model, **inputs, y=torch.tensor([2, 4]), frame_y=frame_y)  # the clip of sample 0 changes class
    assert _changed_frames(out, ref) == {(0, 0), (0, 1)}  # its video frames, not its image frame


def test_lavita_pooled_text_of_image_frame_k_changes_frame_k_only():
    model = _lavita(text_dim=DT, text_pooled=True)
    gen = torch.Generator().manual_seed(3)
    inputs = _inputs(gen)
    pooled, frames = torch.randn(B, DT, generator=gen), torch.randn(B, T, DT, generator=gen)
    ref = _call(model, **inputs, text_pooled=pooled, frame_text_pooled=frames)
    other = frames.clone()
    other[0, 2] = torch.randn(DT, generator=gen)
    assert _changed_frames(_call(model, **inputs, text_pooled=pooled, frame_text_pooled=other), ref) == {(0, 2)}


@pytest.mark.parametrize("variant, conditioning", [(2, "SAdaLN"), (3, "SAdaLN"), (4, "SAdaLN"), (2, "AllTokens")])
def test_lavita_per_frame_path_equals_the_per_sample_one_when_frames_carry_their_samples_class(variant, conditioning):
    model = _lavita(num_classes=5, variant=variant, conditioning=dict(type=conditioning))
    inputs, y = _inputs(), torch.tensor([1, 4])
    per_sample = _call(model, **inputs, y=y)
    per_frame_out = _call(model, **inputs, y=y, frame_y=y[:, None].expand(B, T))
    torch.testing.assert_close(per_frame_out, per_sample, rtol=1e-5, atol=1e-5)
    other = torch.tensor([[1, 1, 3], [4, 0, 2]])  # frames (0, 2), (1, 1), (1, 2) take another class
    assert _changed_frames(_call(model, **inputs, y=y, frame_y=other), per_frame_out) == {(0, 2), (1, 1), (1, 2)}


def test_walt_per_frame_path_equals_the_per_sample_one_when_frames_carry_their_samples_text():
    model = _walt(text_dim=DT, text_pooled=True, num_classes=5)
    gen = torch.Generator().manual_seed(4)
    inputs, text = _inputs(gen), _text(gen)
    y = torch.tensor([1, 4])
    sample_text = dict(text=text["text"], text_mask=text["text_mask"], text_pooled=text["text_pooled"])
    per_sample = _call(model, **inputs, y=y, **sample_text)
    same = dict(frame_y=y[:, None].expand(B, T), frame_text=text["text"][:, None].expand(B, T, L, DT),
                frame_text_mask=text["text_mask"][:, None].expand(B, T, L),
                frame_text_pooled=text["text_pooled"][:, None].expand(B, T, DT))
    out = _call(model, **inputs, y=y, **sample_text, **same)
    torch.testing.assert_close(out, per_sample, rtol=1e-5, atol=1e-5)


def test_per_frame_scatters_image_rows_in_image_mask_order():
    sample = torch.tensor([[10.0], [20.0]])
    rows = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    out = per_frame(sample, rows, IMAGE_MASK)
    assert out[..., 0].tolist() == [[10.0, 10.0, 1.0], [2.0, 3.0, 4.0]]
    layered = per_frame(torch.stack([sample, -sample]), torch.stack([rows, -rows]), IMAGE_MASK, dim=1)
    assert layered.shape == (2, B, T, 1) and torch.equal(layered[1], -out)


def test_bad_per_frame_inputs_fail_naming_the_input():
    walt, inputs = _walt(num_classes=5), _inputs()
    y = torch.tensor([1, 4])
    with pytest.raises(ValueError, match="need image_mask"):
        walt(inputs["x"], inputs["t"], Conditions(y=y, frame_y=torch.zeros(B, T, dtype=torch.long)))
    with pytest.raises(ValueError, match=r"frame_y must have shape \(2, 3\)"):
        _call(walt, **inputs, y=y, frame_y=torch.zeros(B, T + 1, dtype=torch.long))
    with pytest.raises(ValueError, match="frame_text_pooled given"):
        _call(walt, **inputs, y=y, frame_text_pooled=torch.zeros(B, T, DT))
    block_windows = _walt(text_dim=DT, cross_attention_window="block")
    gen = torch.Generator().manual_seed(5)
    text = _text(gen)
    with pytest.raises(ValueError, match="windows of one frame"):
        _call(block_windows, **inputs, text=text["text"], text_mask=text["text_mask"], frame_text=text["frame_text"])
