"""Checkpoint compatibility with the public Latte layout (lavita.md; walt/models/backbones/latte_convert.py), for the
video model and the image-joint model (per-image labels, walt/models/conditioning/image_frames.py)."""
import math

import pytest
import torch
import torch.nn.functional as F

from walt.models.backbones.latte_convert import load_latte_state_dict, to_latte_state_dict
from walt.models.backbones.lavita import LAVITA
from tool_loader import load_tool

convert_main = load_tool("convert_latte").main

CFG = dict(preset=None, depth=4, dim=32, num_heads=4, patch_size=2, input_size=(4, 8, 8), num_classes=5)


def _random_model(seed=0):
    model = LAVITA(**CFG)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    return model.eval()


def _official_from(model):
    """The Latte layout written out by hand (independent of latte_convert)."""
    sd = model.state_dict()
    out = {"x_embedder.proj.weight": sd["patch_embed.proj.weight"], "x_embedder.proj.bias": sd["patch_embed.proj.bias"]}
    for k, v in sd.items():
        if k.startswith(("t_embedder.", "y_embedder.", "final_layer.")):
            out[k] = v
        elif k.startswith("blocks."):
            out[k] = v
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
    temp = [[math.sin(f * o) for o in omega_t] + [math.cos(f * o) for o in omega_t] for f in range(4)]
    out["pos_embed"] = torch.tensor([pos])
    out["temp_embed"] = torch.tensor([temp])
    return out


def _latte_reference(sd, x, t, y, heads=4, p=2, y_image=None):
    """A Latte forward pass written directly on the official state dict (B, C, F, H, W) → (B, 2C, F, H, W). With
    ``y_image`` (B, n) the last n frames are appended images (Latte's ``models/latte_img.py`` in training mode, label
    dropout off): the spatial blocks and the final layer condition each frame on ``t + y`` (clip frames) or
    ``t + y_image[k]`` (image k); the temporal blocks run on the clip frames only, conditioned on ``t + y``."""
    b, c, f, h, w = x.shape
    fv = f - (0 if y_image is None else y_image.shape[1])  # the clip's frames
    lin = lambda z, name: F.linear(z, sd[name + ".weight"], sd[name + ".bias"])  # noqa: E731
    z = F.conv2d(x.transpose(1, 2).reshape(b * f, c, h, w), sd["x_embedder.proj.weight"], sd["x_embedder.proj.bias"],
                 stride=p).flatten(2).transpose(1, 2) + sd["pos_embed"]  # (B·F, S, D)
    half = 128
    freqs = torch.exp(-math.log(10000) * torch.arange(half) / half)
    args = t.float()[:, None] * freqs
    temb = torch.cat([torch.cos(args), torch.sin(args)], -1)
    temb = lin(F.silu(lin(temb, "t_embedder.mlp.0")), "t_embedder.mlp.2")
    table = sd["y_embedder.embedding_table.weight"]
    labels = y[:, None].expand(b, fv) if y_image is None else torch.cat([y[:, None].expand(b, fv), y_image], 1)
    c_frames = (temb[:, None] + table[labels]).reshape(b * f, -1)  # per frame: spatial blocks, final layer
    c_clip = temb + table[y]  # temporal blocks
    s, d = z.shape[1], z.shape[2]

    def block(z, i, cond):
        shift1, scale1, gate1, shift2, scale2, gate2 = lin(F.silu(cond), f"blocks.{i}.adaLN_modulation.1").chunk(6, -1)
        n = F.layer_norm(z, (d,), eps=1e-6) * (1 + scale1[:, None]) + shift1[:, None]
        q, k, v = lin(n, f"blocks.{i}.attn.qkv").view(z.shape[0], z.shape[1], 3, heads, d // heads).permute(2, 0, 3, 1, 4)
        a = ((q @ k.transpose(-1, -2)) / math.sqrt(d // heads)).softmax(-1) @ v
        z = z + gate1[:, None] * lin(a.transpose(1, 2).reshape(z.shape), f"blocks.{i}.attn.proj")
        n = F.layer_norm(z, (d,), eps=1e-6) * (1 + scale2[:, None]) + shift2[:, None]
        mlp = lin(F.gelu(lin(n, f"blocks.{i}.mlp.fc1"), approximate="tanh"), f"blocks.{i}.mlp.fc2")
        return z + gate2[:, None] * mlp

    for i in range(0, 4, 2):
        z = block(z, i, c_frames)
        z = z.view(b, f, s, d).transpose(1, 2)  # (B, S, F, D)
        video, images = z[:, :, :fv].reshape(b * s, fv, d), z[:, :, fv:]
        if i == 0:
            video = video + sd["temp_embed"]
        video = block(video, i + 1, c_clip.repeat_interleave(s, 0))
        z = torch.cat([video.view(b, s, fv, d), images], 2).transpose(1, 2).reshape(b * f, s, d)
    shift, scale = lin(F.silu(c_frames), "final_layer.adaLN_modulation.1").chunk(2, -1)
    z = lin(F.layer_norm(z, (d,), eps=1e-6) * (1 + scale[:, None]) + shift[:, None], "final_layer.linear")
    hp, wp, co = h // p, w // p, z.shape[-1] // (p * p)
    z = z.view(b, f, hp, wp, p, p, co).permute(0, 6, 1, 2, 4, 3, 5)
    return z.reshape(b, co, f, h, w)


def test_round_trip_ours_to_official_to_ours_is_lossless():
    model = _random_model()
    official = to_latte_state_dict(model)
    assert "blocks.3.adaLN_modulation.1.weight" in official and official["pos_embed"].shape == (1, 16, 32)
    assert official["temp_embed"].shape == (1, 4, 32) and official["y_embedder.embedding_table.weight"].shape[0] == 6
    other = LAVITA(**CFG)
    assert load_latte_state_dict(other, official) == ([], [])
    for k, v in model.state_dict().items():
        assert torch.equal(other.state_dict()[k], v), k


def test_official_layout_loads_to_identical_outputs_and_matches_a_latte_forward():
    native = _random_model()
    official = _official_from(native)
    loaded = LAVITA(**CFG).eval()
    load_latte_state_dict(loaded, official)
    x, t, y = torch.randn(2, 4, 4, 8, 8), torch.tensor([7, 640]), torch.tensor([1, 5])
    out = native(x, t, y=y)
    assert torch.equal(loaded(x, t, y=y), out)
    torch.testing.assert_close(out, _latte_reference(official, x, t, y), rtol=1e-4, atol=1e-5)


def test_image_joint_layout_loads_and_conditions_each_appended_image_on_its_own_label():
    """Latte's image-joint model (``models/latte_img.py``) stores the video model's keys; its ``temp_embed`` covers
    the clip's frames only (appended images get no temporal position), so it loads into LAVITA built for the clip."""
    official = _official_from(_random_model())
    loaded = LAVITA(**CFG).eval()
    assert load_latte_state_dict(loaded, official) == ([], [])
    x, t = torch.randn(2, 4, 4 + 2, 8, 8), torch.tensor([7, 640])
    y, y_image = torch.tensor([1, 3]), torch.tensor([[2, 0], [3, 4]])
    image_mask = (torch.arange(6) >= 4).expand(2, 6)
    frame_y = torch.cat([y[:, None].expand(2, 4), y_image], 1)
    out = loaded(x, t, y=y, image_mask=image_mask, frame_y=frame_y)
    torch.testing.assert_close(out, _latte_reference(official, x, t, y, y_image=y_image), rtol=1e-4, atol=1e-5)
    # the images' own labels matter: under the clip's label the reference differs exactly at the image frames
    clip_label = _latte_reference(official, x, t, y, y_image=y[:, None].expand(2, 2))
    differs = (out - clip_label).abs().amax(dim=(1, 3, 4)) > 1e-3  # (B, F)
    assert differs.tolist() == [[False] * 4 + [True, True], [False] * 4 + [False, True]]  # y_image[1, 0] = y[1]


def test_wrong_fixed_tables_and_layouts_are_rejected():
    model = _random_model()
    official = _official_from(model)
    official["temp_embed"] = official["temp_embed"] * 2
    with pytest.raises(ValueError, match="temp_embed"):
        load_latte_state_dict(LAVITA(**CFG), official)
    with pytest.raises(ValueError, match="variant=2"):
        to_latte_state_dict(LAVITA(**CFG | dict(variant=1)))


def test_image_mode_takes_the_spatial_blocks_of_a_video_checkpoint():
    official = _official_from(_random_model())
    image = LAVITA(**CFG, temporal=False)
    with pytest.raises(ValueError, match="strict=False"):
        load_latte_state_dict(image, official)
    assert load_latte_state_dict(image, official, strict=False) == ([], [])
    torch.testing.assert_close(image.conditioning.weight[1], official["blocks.2.adaLN_modulation.1.weight"])


def test_convert_tool_round_trip(tmp_path, capsys):
    model = _random_model()
    torch.save({"ema": to_latte_state_dict(model)}, tmp_path / "latte.pt")
    convert_main([str(tmp_path / "latte.pt"), str(tmp_path / "walt.pth"), "--to", "walt"])
    convert_main([str(tmp_path / "walt.pth"), str(tmp_path / "back.pt"), "--to", "latte", "--num-frames", "4",
                  "--input-size", "8"])
    assert "convert_latte:" in capsys.readouterr().out
    back = torch.load(tmp_path / "back.pt")
    for k, v in to_latte_state_dict(model).items():
        assert torch.equal(back[k], v), k
