"""Any self-attention in any slot (walt/models/attention/needs.py): every registered self-attention in every
self-attention slot of both backbones builds, runs forward and backward, and keeps the image frames of a joint batch
independent of the video frames, each image frame under its own class (per-frame conditioning,
walt/models/conditioning/image_frames.py), while mixing all tokens of its own frame (one changed token of an image
frame changes every token of that frame after the model and no token of another frame); the combinations that cannot
work are refused with the documented one-line error, also through tools/train.py, tools/compare.py and tools/flops.py
(an ``error:`` line, no traceback)."""
import inspect
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from registry import ATTENTIONS, BACKBONES, registered_names
from walt.models.attention.needs import AttentionSlotError
from walt.models.attention.window import WindowSelfAttention
from walt.models.conditioning.conditions import Conditions

ROOT = Path(__file__).resolve().parents[1]
# every registered self-attention, the ones added later included (cross-attentions take a text context)
SELF_ATTENTIONS = [name for name in registered_names(ATTENTIONS)
                   if "context" not in inspect.signature(ATTENTIONS.get(name).forward).parameters]
T, HW = 6, 4  # 4 video frames + 2 image frames of 4×4 latents
IMAGE_MASK = torch.tensor([[False] * 4 + [True] * 2, [True] * 6])  # a LAVITA clip + images, a W.A.L.T image stack
TINY = dict(in_channels=4, input_size=(T, HW, HW), preset=None, depth=2, dim=16, num_heads=2, patch_size=1,
            num_classes=3)
WALT = dict(TINY, type="WALT")
WALT_WINDOWS = dict(spatial_attention=("spatial_window", (1, HW, HW)),  # the SW window is the whole frame
                    spatiotemporal_attention=("spatiotemporal_window", (2, 2, 2)))
# LAVITA offers no window: the W.A.L.T window attentions in its slots state their own
LAVITA_WINDOWS = {"SpatialWindowAttention": (1, HW, HW), "SpatiotemporalWindowAttention": (2, HW, HW)}
# (backbone, slot key, LAVITA variant whose blocks hold that slot)
SLOTS = [("WALT", "spatial_attention", None), ("WALT", "spatiotemporal_attention", None),
         ("LAVITA", "spatial_attention", 2), ("LAVITA", "temporal_attention", 2),
         ("LAVITA", "temporal_attention", 3), ("LAVITA", "spatiotemporal_attention", 4)]
PER_FRAME = "needs the per-frame token grid"
NO_SPACE, NO_TIME = "mixes no tokens within a frame", "mixes no frames"
ONE_FRAME = {"SpatialAttention", "SpatialWindowAttention"}


def _walt_slot(slot: str, name: str) -> dict:
    """``slot=dict(type=name)`` and the slot's window where that attention takes one (its one place)."""
    window_key, window = WALT_WINDOWS[slot]
    takes = "window" in inspect.signature(ATTENTIONS.get(name)).parameters
    return {slot: dict(type=name), **({window_key: window} if takes else {})}


def _config(backbone: str, slot: str, variant: int | None, name: str, all_tokens: bool) -> dict:
    attn = dict(type=name)
    if backbone == "WALT":
        cfg = dict(WALT, **_walt_slot(slot, name))
        other = ({"spatial_attention", "spatiotemporal_attention"} - {slot}).pop()
        if all_tokens:  # the other slot holds an attention that runs on any grid (and does that slot's job)
            cfg.update({other: dict(type="SpatialAttention" if other == "spatial_attention" else "TemporalAttention")},
                       rel_pos_bias=False)
        else:
            cfg.update(_walt_slot(other, "SpatialWindowAttention" if other == "spatial_attention"
                                  else "SpatiotemporalWindowAttention"))
    else:
        if name in LAVITA_WINDOWS:
            attn["window"] = LAVITA_WINDOWS[name]
        cfg = dict(TINY, type="LAVITA", variant=variant, **{slot: attn})
    if all_tokens:
        cfg["conditioning"] = dict(type="AllTokens")
    return cfg


def _expected_refusal(backbone: str, slot: str, name: str, all_tokens: bool) -> str | None:
    """The documented refusals of the matrix, written out (an attention added later is expected to fit)."""
    if backbone == "WALT" and slot == "spatiotemporal_attention" and name == "SpatialWindowAttention":
        return "a spatial window spans one latent frame"  # offered the 2×2×2 STW window of the slot
    # all tokens: concrete spatial windows, and (LAVITA, where W.A.L.T's class default keeps it on) a bias table
    walt_windows = {"SpatialWindowAttention", "SpatiotemporalWindowAttention"}
    if all_tokens and name in walt_windows | ({"FullAttention"} if backbone == "LAVITA" else set()):
        return PER_FRAME
    # the slot's job (rule 7): spatial slots mix a frame's tokens, temporal slots frames, variant 4's both
    if name == "TemporalAttention" and slot in ("spatial_attention", "spatiotemporal_attention") and (
            backbone == "LAVITA" or slot == "spatial_attention"):
        return NO_SPACE
    if name in ONE_FRAME and slot != "spatial_attention":
        return NO_TIME
    return None


def _randomize(model: torch.nn.Module) -> torch.nn.Module:
    """Non-zero weights everywhere (adaLN-Zero and the zero-init head would hide every dependence)."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
    return model


@pytest.mark.parametrize("all_tokens", [False, True], ids=["per_frame_grid", "all_tokens"])
@pytest.mark.parametrize("name", SELF_ATTENTIONS)
@pytest.mark.parametrize("backbone, slot, variant", SLOTS, ids=[f"{b}-{s}-v{v}" for b, s, v in SLOTS])
def test_attention_in_slot_runs_and_keeps_image_frames_independent(backbone, slot, variant, name, all_tokens):
    cfg = _config(backbone, slot, variant, name, all_tokens)
    refusal = _expected_refusal(backbone, slot, name, all_tokens)
    if refusal is not None:
        with pytest.raises(ValueError, match=refusal) as err:
            BACKBONES.build(cfg)
        assert name in str(err.value) and "\n" not in str(err.value)
        return
    model = _randomize(BACKBONES.build(cfg))
    held = [m for m in model.modules() if type(m).__name__ == name]
    assert held, f"{name} is not in the {backbone} model"
    gen = torch.Generator().manual_seed(1)
    x, t = torch.randn(2, 4, T, HW, HW, generator=gen), torch.tensor([5, 700])
    y, frame_y = torch.tensor([0, 1]), torch.tensor([[0, 0, 0, 0, 1, 2], [2, 0, 1, 1, 2, 0]])
    out = model(x, t, Conditions(y=y, image_mask=IMAGE_MASK, frame_y=frame_y))
    out.square().mean().backward()
    grads = [p.grad for m in held for p in m.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)

    def frame_4(x_, y_, frame_y_):
        return model(x_, t, Conditions(y=y_, image_mask=IMAGE_MASK, frame_y=frame_y_))[:, :, 4]

    with torch.no_grad():  # image frame 4: independent of the video frames 0-3, their class, and the other image
        x2, frame_y2 = x.clone(), frame_y.clone()
        x2[:, :, [0, 1, 2, 3, 5]] = torch.randn(2, 4, 5, HW, HW, generator=gen)
        frame_y2[:, 5] = (frame_y2[:, 5] + 1) % 3
        torch.testing.assert_close(frame_4(x2, (y + 1) % 3, frame_y2), out[:, :, 4], rtol=0, atol=1e-5)
        frame_y2[:, 4] = (frame_y2[:, 4] + 1) % 3  # its own class reaches it, in both samples
        change = (frame_4(x2, y, frame_y2) - out[:, :, 4]).abs().amax(dim=(1, 2, 3))
        assert change.min() > 1e-5
        # one token of image frame 4 reaches every token of its frame (spatial mixing) and no token of another frame
        x3 = x.clone()
        x3[:, :, 4, 1, 2] += 1.0
        change = (model(x3, t, Conditions(y=y, image_mask=IMAGE_MASK, frame_y=frame_y)) - out).abs().amax(dim=1)  # (B, T, H, W)
        assert change[:, 4].min() > 1e-5, f"tokens of the image frame left unmixed: {(change[:, 4] <= 1e-5).sum()}"
        assert change[:, [0, 1, 2, 3, 5]].max() <= 1e-5


class _Undeclared(torch.nn.Module):
    """A self-attention without ``needs()``."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.proj = torch.nn.Linear(dim, dim)

    def forward(self, x, grid, image_mask=None):
        return self.proj(x)


class _LeaksImages(WindowSelfAttention):
    """A full attention that says nothing about image frames."""

    def needs(self):
        return replace(super().needs(), image_frames=None)


LAVITA = dict(TINY, type="LAVITA", variant=2)
REFUSED = {
    "space slot": (dict(WALT, spatiotemporal_window=(2, 2, 2), spatial_attention=dict(type="TemporalAttention")),
                   r"WALT layer 0 \(spatial_attention\): TemporalAttention mixes no tokens within a frame "
                   r".*\(W.A.L.T §4.2"),
    "time slot": (dict(LAVITA, temporal_attention=dict(type="SpatialAttention")),
                  r"LAVITA block 1 \(temporal_attention\): SpatialAttention mixes no frames .*\(LAVITA §3.2"),
    "variant 4 slot": (dict(LAVITA, variant=4, spatiotemporal_attention=dict(type="SpatioTemporalSplitHeadAttention",
                                                                           spatial_heads=2)),
                       r"LAVITA block 0 \(spatiotemporal_attention\): SpatioTemporalSplitHeadAttention mixes no "
                       r"frames"),
    "one place per window": (dict(WALT, spatiotemporal_attention=dict(type="SpatiotemporalWindowAttention",
                                                                      window=(2, 2, 2))),
                             r"WALT spatiotemporal_attention.window=\(2, 2, 2\): the window of this slot is "
                             r"model.backbone.spatiotemporal_window; set it there"),
    "stated window not taken": (dict(WALT, spatiotemporal_window=(2, 2, 2),
                                     spatiotemporal_attention=dict(type="FullAttention")),
                                r"WALT spatiotemporal_window=\(2, 2, 2\): FullAttention in spatiotemporal_attention "
                                r"takes no window"),
    "stated spatial_heads not taken": (dict(LAVITA, spatial_heads=1),
                                       r"LAVITA spatial_heads=1: no attention of this model takes it"),
    "slot not built": (dict(LAVITA, spatiotemporal_attention=dict(type="FullAttention")),
                       r"LAVITA spatiotemporal_attention: this model \(variant 2, .*\) has no spatiotemporal_attention "
                       r"slot"),
    "declared": (dict(WALT, spatiotemporal_attention=dict(type=_Undeclared)),
                 r"WALT layer 1 \(spatiotemporal_attention\): _Undeclared declares no needs\(\)"),
    "per-frame grid": (dict(LAVITA, conditioning=dict(type="AllTokens"), spatial_attention=dict(
        type="SpatialAttention", rel_pos_bias=True)), r"LAVITA block 0 \(spatial_attention\): SpatialAttention lays "
                                                      r".* AllTokens conditioning runs the blocks on the grid "
                                                      r"\(6, 1, 17\)"),
    "window fits": (dict(LAVITA, temporal_attention=dict(type="SpatiotemporalWindowAttention", window=(4, 2, 2))),
                    r"LAVITA block 1 \(temporal_attention\): SpatiotemporalWindowAttention window \(4, 2, 2\) does "
                    r"not divide the token grid \(t, h, w\)=\(6, 4, 4\)"),
    "images keep to themselves": (dict(LAVITA, temporal_attention=dict(type=_LeaksImages)),
                                  r"_LeaksImages mixes time .* declares no way to keep image frames"),
    "independent frames": (dict(LAVITA, temporal=False, spatial_attention=dict(type="FullAttention")),
                           r"LAVITA block 0 \(spatial_attention\): FullAttention mixes time .* temporal=False"),
    "temporal position": (dict(LAVITA, temporal_position="rope", temporal_attention=dict(
        type="TemporalAttention", rope=False)), r"TemporalAttention mixes time without temporal RoPE, but "
                                                r"temporal_position='rope'"),
}


@pytest.mark.parametrize("rule", REFUSED)
def test_each_rule_refuses_with_one_line_naming_slot_and_type(rule):
    cfg, message = REFUSED[rule]
    with pytest.raises(AttentionSlotError, match=message) as err:
        BACKBONES.build(cfg)
    assert "\n" not in str(err.value)


def test_unusual_combinations_are_allowed_and_move_the_temporal_table():
    """Time mixing in LAVITA's spatial blocks is allowed: the absolute temporal table enters before the first block
    that mixes time (block 0 here instead of the first temporal block), and RoPE reaches every time-mixing attention
    while attentions within one frame drop it (it would be the identity there)."""
    mixed = BACKBONES.build(dict(LAVITA, spatial_attention=dict(type="FullAttention")))
    assert mixed.first_temporal == "0" and BACKBONES.build(LAVITA).first_temporal == "1"
    rope = BACKBONES.build(dict(LAVITA, temporal_position="rope", spatial_attention=dict(
        type="SpatiotemporalWindowAttention", window=(2, 2, 2))))
    assert rope.blocks["0"].attn.rope is not None and rope.blocks["1"].attn.rope is not None
    assert BACKBONES.build(dict(LAVITA, temporal_position="rope")).blocks["0"].attn.rope is None


@pytest.mark.parametrize("name", SELF_ATTENTIONS)
def test_every_attention_follows_walt_aspect_ratio_finetuning(name):
    slot = "spatial_attention" if name in ONE_FRAME else "spatiotemporal_attention"
    model = BACKBONES.build(_config("WALT", slot, None, name, False))
    attn = model.blocks[0 if slot == "spatial_attention" else 1].attn
    before = attn.needs().windows
    model.interpolate_pos_embed((T, HW, 2 * HW))  # 4×4 → 4×8 latents (W.A.L.T App. A)
    out = model(torch.randn(1, 4, T, HW, 2 * HW), torch.tensor([3]),
                Conditions(y=torch.tensor([1]), image_mask=IMAGE_MASK[:1]))
    assert out.shape == (1, 4, T, HW, 2 * HW)
    whole_axes = [[w is None for w in window] for window in attn.needs().windows]
    assert whole_axes == [[w is None for w in window] for window in before]  # whole-axis windows stay whole-axis


def _tool(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "tools" / f"{name}.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_tools_print_one_error_line_for_a_refused_combination():
    spec = "configs/ablations/cross/lavita_xl2_walt_windows.py::model.backbone.temporal_attention.window=[5,8,8]"
    compare = _tool("compare", spec)
    assert compare.returncode == 1 and "Traceback" not in compare.stderr
    assert compare.stderr.strip().splitlines() == [
        "error: LAVITA block 1 (temporal_attention): SpatiotemporalWindowAttention window (5, 8, 8) does not divide "
        "the token grid (t, h, w)=(16, 16, 16); give it a window whose entries divide the grid (None = whole axis)"]
    backbone = dict(LAVITA, conditioning=dict(type="AllTokens"), spatial_attention=dict(type="SpatialWindowAttention"))
    flops = _tool("flops", "--backbone", json.dumps(backbone))
    assert flops.returncode == 1 and "Traceback" not in flops.stderr
    lines = flops.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: LAVITA block 0 (spatial_attention): SpatialWindowAttention")
    assert PER_FRAME in lines[0] and "AllTokens" in lines[0]


LAVITA_TOOL = dict(type="LAVITA", preset=None, depth=2, dim=16, num_heads=2, patch_size=1, input_size=(4, 4, 4))
# (tool, arguments, the start of its one error line): one refusal of each new kind through each tool
TOOL_REFUSALS = {
    "train: one place per window": (("train", "configs/demo/walt_demo.py", "--cfg-options",
                                     "model.backbone.spatiotemporal_attention.window=[8,2,2]"),
                                    "WALT spatiotemporal_attention.window=(8, 2, 2): the window of this slot is "
                                    "model.backbone.spatiotemporal_window; set it there"),
    "train: stated window not taken": (("train", "configs/demo/walt_demo.py", "--cfg-options",
                                        "model.backbone.spatiotemporal_attention.type=FullAttention"),
                                       "WALT spatiotemporal_window=(8, 2, 2): FullAttention in "
                                       "spatiotemporal_attention takes no window"),
    "flops: space slot": (("flops", "--backbone", json.dumps(dict(
        LAVITA_TOOL, type="WALT", spatiotemporal_window=(2, 2, 2), spatial_attention=dict(type="TemporalAttention")))),
        "WALT layer 0 (spatial_attention): TemporalAttention mixes no tokens within a frame"),
    "flops: time slot": (("flops", "--backbone", json.dumps(dict(LAVITA_TOOL, temporal_attention=dict(
        type="SpatialAttention")))), "LAVITA block 1 (temporal_attention): SpatialAttention mixes no frames"),
    "flops: spatial_heads not taken": (("flops", "--backbone", json.dumps(dict(LAVITA_TOOL, spatial_heads=1))),
                                       "LAVITA spatial_heads=1: no attention of this model takes it"),
}


@pytest.mark.parametrize("case", TOOL_REFUSALS)
def test_train_and_flops_refuse_with_one_error_line(case, tmp_path):
    (tool, *args), start = TOOL_REFUSALS[case]
    extra = ["--work-dir", str(tmp_path / "run")] if tool == "train" else []
    result = _tool(tool, *args[:1], *extra, *args[1:])
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and start in lines[0], lines


def test_relative_bias_sized_for_the_video_serves_appended_image_frames():
    """LAVITA+IMG with W.A.L.T windows: a model built for 4 latent frames whose temporal slot holds a whole-time STW
    window with a relative position bias runs on 4 video + 2 appended image frames (its table covers every pair of
    frames that may attend to each other), its video frames as the clip alone; 6 video frames are a longer clip, its table resampled."""
    stw = dict(type="SpatiotemporalWindowAttention", window=(None, 2, 2))
    model = _randomize(BACKBONES.build(dict(LAVITA, input_size=(4, HW, HW), temporal_attention=stw)))
    assert model.blocks["1"].attn.rel_pos.window == (4, 2, 2)
    gen = torch.Generator().manual_seed(3)
    x, t, y = torch.randn(2, 4, T, HW, HW, generator=gen), torch.tensor([5, 700]), torch.tensor([0, 1])
    with torch.no_grad():
        joint = model(x, t, Conditions(y=y, image_mask=IMAGE_MASK[:1].expand(2, T)))
        alone = model(x[:, :, :4], t, Conditions(y=y))
        torch.testing.assert_close(joint[:, :, :4], alone, rtol=1e-5, atol=1e-5)
        # 6 video frames are a longer clip, not appended images: the table follows the grid as for a shape bucket
        # (resampled to 6 frames, tests/test_bucket_grids.py), so the first 4 frames no longer equal the 4-frame clip
        longer = model(x, t, Conditions(y=y))
        assert longer.shape[2] == T and torch.isfinite(longer).all()
        assert not torch.allclose(longer[:, :, :4], alone, rtol=1e-3, atol=1e-3)


def test_a_space_slot_refuses_the_stw_identity_mask_and_offers_own_frame():
    """W.A.L.T §4.2's identity mask (images pass an STW layer as is) is the STW slot's; in a slot that mixes a frame's
    tokens an image must mix its own tokens: the slot offers ``image_frames="own_frame"``, and refuses a stated
    ``"identity"``."""
    stw = dict(type="SpatiotemporalWindowAttention", window=(None, 2, 2))
    model = BACKBONES.build(dict(LAVITA, spatial_attention=stw))
    assert {model.blocks[k].attn.image_frames for k, kind in model.kinds.items() if kind == "spatial"} == {"own_frame"}
    walt = BACKBONES.build(dict(WALT, spatial_window=(1, HW, HW), spatiotemporal_window=(2, 2, 2)))
    assert [block.attn.image_frames for block in walt.blocks[:2]] == ["own_frame", "identity"]
    with pytest.raises(AttentionSlotError, match="passes image frames through .* this slot mixes space"):
        BACKBONES.build(dict(LAVITA, spatial_attention=dict(stw, image_frames="identity")))
