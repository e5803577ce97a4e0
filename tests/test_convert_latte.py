"""The public Latte code's checkpoints (walt/models/convert/latte.py): the layout written out by hand and a Latte
forward pass written directly on its state dict (unconditional, class-conditional, text-to-video with flattened
tokens, image-joint with appended image frames) against walt's LAVITA loaded from it; the layout refusals."""
import math

import pytest
import torch
import torch.nn.functional as F

from walt.models.backbones.lavita import LAVITA
from walt.models.conditioning.conditions import Conditions
from walt.models.convert import LayoutError, latte_img_to_walt, latte_to_walt, load_public, walt_to_latte
from walt.models.convert.common import assemble

from random_weights import randomize

CFG = dict(preset=None, depth=4, dim=32, num_heads=4, patch_size=2, input_size=(4, 8, 8), num_classes=5)


def _random_model(**overrides):
    return randomize(LAVITA(**CFG | overrides))


def _official_from(model, frames=4):
    """The Latte layout written out by hand (independent of walt.models.convert)."""
    sd = model.state_dict()
    out = {"x_embedder.proj.weight": sd["patch_embed.proj.weight"], "x_embedder.proj.bias": sd["patch_embed.proj.bias"]}
    for k, v in sd.items():
        if k.startswith(("t_embedder.", "y_embedder.", "final_layer.", "blocks.")):
            out[k] = v
        elif k.startswith("latte_text_embed.linear."):
            out["text_embedding_projection.1." + k.split(".")[-1]] = v
    for i in range(4):
        out[f"blocks.{i}.adaLN_modulation.1.weight"] = sd["conditioning.weight"][i]
        out[f"blocks.{i}.adaLN_modulation.1.bias"] = sd["conditioning.bias"][i]
    d = 32
    omega = [1 / 10000 ** (j / (d // 4)) for j in range(d // 4)]
    pos = []
    for row in range(4):
        for col in range(4):
            pos.append([math.sin(col * o) for o in omega] + [math.cos(col * o) for o in omega]
                       + [math.sin(row * o) for o in omega] + [math.cos(row * o) for o in omega])
    omega_t = [1 / 10000 ** (j / (d // 2)) for j in range(d // 2)]
    temp = [[math.sin(f * o) for o in omega_t] + [math.cos(f * o) for o in omega_t] for f in range(frames)]
    out["pos_embed"] = torch.tensor([pos])
    out["temp_embed"] = torch.tensor([temp])
    return out


def _latte_reference(sd, x, t, y=None, text=None, num_images=0, y_image=None, heads=4, p=2):
    """A Latte forward pass written directly on the official state dict, (B, C, F, H, W) → (B, 2C, F, H, W):
    ``y`` class labels (extras=2), ``text`` tokens flattened into text_embedding_projection (extras=78, latte.py),
    the last ``num_images`` frames independent images that skip the temporal blocks (latte_img.py), each under its
    own label ``y_image`` (B, num_images) in the spatial blocks and the final layer when given (the clip's ``y``
    otherwise); the temporal blocks take ``t + y``."""
    b, c, f, h, w = x.shape
    lin = lambda z, name: F.linear(z, sd[name + ".weight"], sd[name + ".bias"])  # noqa: E731
    z = F.conv2d(x.transpose(1, 2).reshape(b * f, c, h, w), sd["x_embedder.proj.weight"], sd["x_embedder.proj.bias"],
                 stride=p).flatten(2).transpose(1, 2) + sd["pos_embed"]  # (B·F, S, D)
    half = 128
    freqs = torch.exp(-math.log(10000) * torch.arange(half) / half)
    args = t.float()[:, None] * freqs
    temb = torch.cat([torch.cos(args), torch.sin(args)], -1)
    c_head = lin(F.silu(lin(temb, "t_embedder.mlp.0")), "t_embedder.mlp.2")
    c_frames = c_head[:, None].expand(b, f, -1)  # per frame: spatial blocks and final layer
    if y is not None:
        table = sd["y_embedder.embedding_table.weight"]
        labels = y[:, None].expand(b, f)
        if y_image is not None:
            labels = torch.cat([labels[:, :f - num_images], y_image], 1)
        c_head, c_frames = c_head + table[y], c_frames + table[labels]
    c_text = 0 if text is None else lin(F.silu(text.flatten(1)), "text_embedding_projection.1")
    c_blocks = c_head + c_text
    c_spatial = (c_frames if text is None else c_frames + c_text[:, None]).reshape(b * f, -1)
    s, d, fv = z.shape[1], z.shape[2], f - num_images

    def block(z, i, cond):
        shift1, scale1, gate1, shift2, scale2, gate2 = lin(F.silu(cond), f"blocks.{i}.adaLN_modulation.1").chunk(6, -1)
        n = F.layer_norm(z, (d,), eps=1e-6) * (1 + scale1[:, None]) + shift1[:, None]
        qkv = lin(n, f"blocks.{i}.attn.qkv").view(z.shape[0], z.shape[1], 3, heads, d // heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        a = ((q @ k.transpose(-1, -2)) / math.sqrt(d // heads)).softmax(-1) @ v
        z = z + gate1[:, None] * lin(a.transpose(1, 2).reshape(z.shape), f"blocks.{i}.attn.proj")
        n = F.layer_norm(z, (d,), eps=1e-6) * (1 + scale2[:, None]) + shift2[:, None]
        mlp = lin(F.gelu(lin(n, f"blocks.{i}.mlp.fc1"), approximate="tanh"), f"blocks.{i}.mlp.fc2")
        return z + gate2[:, None] * mlp

    for i in range(0, 4, 2):
        z = block(z, i, c_spatial)
        z = z.view(b, f, s, d).transpose(1, 2).reshape(b * s, f, d)
        video, images = z[:, :fv], z[:, fv:]
        if i == 0:
            video = video + sd["temp_embed"]
        video = block(video, i + 1, c_blocks.repeat_interleave(s, 0))
        z = torch.cat([video, images], dim=1).view(b, s, f, d).transpose(1, 2).reshape(b * f, s, d)
    shift, scale = lin(F.silu(c_frames.reshape(b * f, -1)), "final_layer.adaLN_modulation.1").chunk(2, -1)
    z = lin(F.layer_norm(z, (d,), eps=1e-6) * (1 + scale[:, None]) + shift[:, None], "final_layer.linear")
    hp, wp, co = h // p, w // p, z.shape[-1] // (p * p)
    z = z.view(b, f, hp, wp, p, p, co).permute(0, 6, 1, 2, 4, 3, 5)
    return z.reshape(b, co, f, h, w)


def _load(model, official, **kwargs):
    return load_public(model, official, "latte", **kwargs)


X, T = torch.randn(2, 4, 4, 8, 8, generator=torch.Generator().manual_seed(3)), torch.tensor([7, 640])


def test_round_trip_ours_to_official_to_ours_is_lossless():
    model = _random_model()
    official = walt_to_latte(model)
    assert "blocks.3.adaLN_modulation.1.weight" in official and official["pos_embed"].shape == (1, 16, 32)
    assert official["temp_embed"].shape == (1, 4, 32) and official["y_embedder.embedding_table.weight"].shape[0] == 6
    assert set(official) == set(_official_from(model))
    other = LAVITA(**CFG)
    report = _load(other, official)
    assert not report.fresh and not report.unused
    for k, v in model.state_dict().items():
        assert torch.equal(other.state_dict()[k], v), k


KINDS = {  # backbone overrides and forward inputs of the three latte.py checkpoint kinds (extras = 2, 1, 78)
    "class": (dict(), dict(y=torch.tensor([1, 5]))),
    "unconditional": (dict(num_classes=None), dict()),
    "text_tokens": (dict(num_classes=None, text_dim=6, text_pooled=False, latte_text="tokens", text_length=3),
                    dict(text=torch.randn(2, 3, 6))),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_official_layout_loads_and_matches_a_latte_forward(kind):
    overrides, inputs = KINDS[kind]
    native = _random_model(**overrides)
    official = _official_from(native)
    loaded = LAVITA(**CFG | overrides).eval()
    _load(loaded, official)
    out = loaded(X, T, Conditions(**inputs))
    assert torch.equal(native(X, T, Conditions(**inputs)), out)
    torch.testing.assert_close(out, _latte_reference(official, X, T, **inputs), rtol=1e-4, atol=1e-5)


def test_image_joint_checkpoint_matches_latte_img_with_appended_image_frames():
    """latte_img.py: 4 video frames then 2 independent images (temporal blocks and temporal position skip them);
    walt marks them with image_mask."""
    native = _random_model()
    official = _official_from(native)
    model = LAVITA(**CFG).eval()
    state, report = assemble(model, latte_img_to_walt(official, model), "Latte")
    model.load_state_dict(state)
    x = torch.randn(2, 4, 6, 8, 8)
    image_mask = torch.tensor([[False] * 4 + [True] * 2] * 2)
    y = torch.tensor([0, 3])
    torch.testing.assert_close(model(x, T, Conditions(y=y, image_mask=image_mask)),
                               _latte_reference(official, x, T, y=y, num_images=2), rtol=1e-4, atol=1e-5)


def test_image_joint_checkpoint_conditions_each_appended_image_on_its_own_label():
    """latte_img.py in training: every appended image takes its own class (``y_image``) in the spatial blocks and
    the final layer; walt's per-frame labels (``frame_y``, conditioning/image_frames.py) give the same output."""
    official = _official_from(_random_model())
    model = LAVITA(**CFG).eval()
    _load(model, official)
    x = torch.randn(2, 4, 6, 8, 8, generator=torch.Generator().manual_seed(4))
    y, y_image = torch.tensor([1, 3]), torch.tensor([[2, 0], [3, 4]])
    image_mask = (torch.arange(6) >= 4).expand(2, 6)
    frame_y = torch.cat([y[:, None].expand(2, 4), y_image], 1)
    out = model(x, T, Conditions(y=y, image_mask=image_mask, frame_y=frame_y))
    torch.testing.assert_close(out, _latte_reference(official, x, T, y=y, num_images=2, y_image=y_image),
                               rtol=1e-4, atol=1e-5)
    clip_label = _latte_reference(official, x, T, y=y, num_images=2)  # the images under their clip's label
    differs = (out - clip_label).abs().amax(dim=(1, 3, 4)) > 1e-3  # (B, F)
    assert differs.tolist() == [[False] * 4 + [True, True], [False] * 4 + [False, True]]  # y_image[1, 0] = y[1]


def test_text_projection_source_must_match_the_checkpoint_kind():
    tokens = _random_model(num_classes=None, text_dim=6, text_pooled=False, latte_text="tokens", text_length=3)
    pooled = LAVITA(**CFG | dict(num_classes=None, text_dim=18, text_pooled=False, latte_text="pooled"))
    official = _official_from(tokens)  # text_embedding_projection.1: (32, 18), latte.py flattens 3 × 6 tokens
    with pytest.raises(LayoutError, match=r"text_embedding_projection.1.weight \(32, 18\).*latte_text='tokens'"):
        latte_img_to_walt(official, tokens)
    assert latte_img_to_walt(official, pooled).tensors["latte_text_embed.linear.weight"].shape == (32, 18)
    assert latte_to_walt(official, tokens).sources["latte_text_embed.linear.weight"] == \
        "text_embedding_projection.1.weight"


@pytest.mark.parametrize("overrides,fact", [(dict(variant=1), "variant=1"), (dict(variant=4), "variant=4"),
                                            (dict(temporal_position="rope"), "temporal_position='rope'")])
def test_other_layouts_are_refused_both_ways(overrides, fact):
    model = LAVITA(**CFG | overrides)
    with pytest.raises(LayoutError, match=f"this model has {fact}"):
        walt_to_latte(model)
    with pytest.raises(LayoutError, match=f"this model has {fact}"):
        _load(model, _official_from(_random_model()))


def test_fixed_tables_of_another_size_or_value_are_refused():
    official = _official_from(_random_model(), frames=8)
    with pytest.raises(LayoutError, match=r"temp_embed has shape \(1, 8, 32\).*\(1, 4, 32\).*number of frames"):
        _load(LAVITA(**CFG), official)
    official = _official_from(_random_model())
    official["temp_embed"] = official["temp_embed"] * 2
    with pytest.raises(LayoutError, match="temp_embed .* other values"):
        _load(LAVITA(**CFG), official)


def test_image_mode_takes_the_spatial_blocks_of_a_video_checkpoint_and_says_so():
    official = _official_from(_random_model())
    image = LAVITA(**CFG, temporal=False)
    with pytest.raises(LayoutError, match="blocks.1.attn.qkv.weight"):
        _load(image, official)
    report = _load(image, official, strict=False)
    assert not report.fresh and report.unused["temp_embed"] == "image-mode model: no temporal position"
    assert report.unused["blocks.3.adaLN_modulation.1.weight"] == "not in this model"
    torch.testing.assert_close(image.conditioning.weight[1], official["blocks.2.adaLN_modulation.1.weight"])


def test_a_spatial_attention_with_another_window_is_refused():
    """W.A.L.T's spatial windows without qk-norm and relative bias keep the keys of Latte's spatial attention; the
    layout check reads the window (``spatial_attention``, any attention in any slot)."""
    windows = dict(type="SpatialWindowAttention", window=(1, 2, 2), qk_norm=False, rel_pos_bias=False)
    model = _random_model(spatial_attention=windows)
    assert set(model.state_dict()) == set(LAVITA(**CFG).state_dict())
    refusal = r"attention='spatial/temporal'.*block 0: SpatialWindowAttention with window \(1, 2, 2\)"
    with pytest.raises(LayoutError, match=refusal):
        walt_to_latte(model)
    with pytest.raises(LayoutError, match=refusal):
        _load(model, _official_from(_random_model()))
