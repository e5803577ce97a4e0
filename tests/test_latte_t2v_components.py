"""The released Latte T2V architecture's components (PixArt-α): text-only cross-attention, adaLN-single, the table
output head, and the LAVITA text paths built from them; checked against computations written out here."""
import math

import pytest
import torch
import torch.nn.functional as F

from registry import ATTENTIONS, CONDITIONINGS
from walt.models.backbones.lavita import LAVITA
from walt.models.blocks.final_layer import FinalLayer
from walt.models.conditioning.conditions import Conditions
from walt.models.grid import Grid

from random_weights import randomize

T2V = dict(preset=None, depth=4, dim=16, num_heads=2, patch_size=2, input_size=(3, 4, 4), in_channels=4,
           conditioning=dict(type="AdaLNSingle"), cross_attention=dict(type="TextCrossAttention"), text_dim=12,
           text_pooled=False)


def _randomize(module):
    return randomize(module, scale=0.3)


def test_text_cross_attention_is_softmax_over_the_real_text_tokens_only():
    attn = _randomize(ATTENTIONS.build(dict(type="TextCrossAttention", dim=16, num_heads=2)))
    x, text = torch.randn(2, 12, 16), torch.randn(2, 5, 16)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    out = attn(x, Grid(3, 2, 2), text, mask)
    for b, length in enumerate((3, 5)):  # padding never attended = the text cut to its real tokens
        q = F.linear(x[b], attn.q.weight, attn.q.bias).view(12, 2, 8).transpose(0, 1)
        k, v = F.linear(text[b, :length], attn.kv.weight, attn.kv.bias).view(length, 2, 2, 8).permute(1, 2, 0, 3)
        a = ((q @ k.transpose(-1, -2)) / math.sqrt(8)).softmax(-1) @ v
        ref = F.linear(a.transpose(0, 1).reshape(12, 16), attn.proj.weight, attn.proj.bias)
        torch.testing.assert_close(out[b], ref, rtol=1e-5, atol=1e-5)


def test_text_cross_attention_gives_no_update_without_text_and_finite_gradients():
    attn = _randomize(ATTENTIONS.build(dict(type="TextCrossAttention", dim=16, num_heads=2)))
    x = torch.randn(2, 4, 16, requires_grad=True)
    text = torch.randn(2, 3, 16)
    mask = torch.tensor([[0, 0, 0], [1, 0, 0]], dtype=torch.bool)
    out = attn(x, Grid(1, 2, 2), text, mask)
    assert torch.equal(out[0], torch.zeros(4, 16)) and out[1].abs().sum() > 0
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and all(torch.isfinite(p.grad).all() for p in attn.parameters())


def test_adaln_single_is_a_shared_regression_plus_a_table_per_layer():
    cond = _randomize(CONDITIONINGS.build(dict(type="AdaLNSingle", dim=8, num_layers=3)))
    c = torch.randn(2, 8)
    shared = F.linear(F.silu(c), cond.linear.weight, cond.linear.bias).view(2, 6, 8)
    out = cond(c)
    assert out.shape == (3, 2, 6, 8)
    for layer in range(3):
        torch.testing.assert_close(out[layer], shared + cond.table[layer])


def test_table_head_adds_the_condition_itself_to_its_table():
    head = _randomize(FinalLayer(8, 2, 3, table=True))
    assert head.adaLN_modulation is None and head.scale_shift_table.shape == (2, 8)
    x, c = torch.randn(1, 4, 8), torch.randn(1, 8)
    shift, scale = head.scale_shift_table[0] + c[0], head.scale_shift_table[1] + c[0]
    tokens = F.linear(F.layer_norm(x, (8,), eps=1e-6) * (1 + scale) + shift, head.linear.weight, head.linear.bias)
    out = head(x, Grid(1, 2, 2), c)
    torch.testing.assert_close(out[0, :, 0, 0, 0], tokens[0, 0, :3])  # token (0, 0), pixel (0, 0): channels first


def test_latte_t2v_lavita_cross_attends_in_spatial_blocks_only_and_reads_tokens():
    model = LAVITA(**T2V)
    assert model.text_inputs == ("tokens",)
    kinds = {key: block.cross_attn is not None for key, block in model.blocks.items()}
    assert kinds == {"0": True, "1": False, "2": True, "3": False}
    assert type(model.blocks["0"].norm_cross).__name__ == "Identity"  # PixArt-α: no norm before cross-attention
    assert model.final_layer.scale_shift_table is not None and model.final_layer.adaLN_modulation is None
    assert torch.equal(model.blocks["0"].cross_attn.proj.weight, torch.zeros(16, 16))  # starts as a no-op
    x, t = torch.randn(2, 4, 3, 4, 4), torch.tensor([1, 500])
    with pytest.raises(ValueError, match="per-token text"):
        model(x, t)
    assert model(x, t, Conditions(text=torch.randn(2, 5, 12))).shape == (2, 8, 3, 4, 4)


def test_latte_text_projection_conditions_the_blocks_but_not_the_head():
    base = dict(preset=None, depth=2, dim=16, num_heads=2, patch_size=2, input_size=(2, 4, 4), in_channels=4,
                text_dim=6, text_pooled=False)
    pooled = _randomize(LAVITA(**base, latte_text="pooled"))
    assert pooled.text_inputs == ("pooled",) and pooled.latte_text_embed.linear.in_features == 6
    tokens = LAVITA(**base, latte_text="tokens", text_length=3)
    assert tokens.text_inputs == ("tokens",) and tokens.latte_text_embed.linear.in_features == 18
    x, t, e = torch.randn(1, 4, 2, 4, 4), torch.tensor([10]), torch.randn(1, 6)
    seen = {}
    pooled.final_layer.register_forward_pre_hook(lambda m, args: seen.update(head=args[2]))
    pooled.conditioning.register_forward_pre_hook(lambda m, args: seen.update(blocks=args[0]))
    pooled(x, t, Conditions(text_pooled=e))
    c = pooled.t_embedder(t)
    torch.testing.assert_close(seen["head"], c)
    torch.testing.assert_close(seen["blocks"], c + F.linear(F.silu(e), pooled.latte_text_embed.linear.weight,
                                                             pooled.latte_text_embed.linear.bias))
    with pytest.raises(ValueError, match="text_pooled=False"):
        LAVITA(**{**base, "text_pooled": True}, latte_text="pooled")


def test_adaln_single_image_frames_take_their_own_label_in_blocks_and_table_head():
    """Joint training (image_frames.py) with adaLN-single: an appended image skips the temporal blocks, so under
    its own label it equals the same frame computed with that label as the sample's."""
    model = _randomize(LAVITA(**{**T2V, "cross_attention": None, "text_dim": None, "num_classes": 5})).eval()
    x, t = torch.randn(2, 4, 3, 4, 4), torch.tensor([9, 400])
    image_mask = torch.tensor([[False, False, True]] * 2)
    y, own = torch.tensor([0, 1]), torch.tensor([3, 4])
    out = model(x, t, Conditions(y=y, image_mask=image_mask, frame_y=torch.stack([y, y, own], 1)))
    own_out, clip_out = (model(x, t, Conditions(y=labels, image_mask=image_mask)) for labels in (own, y))
    torch.testing.assert_close(out[:, :, 2], own_out[:, :, 2], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out[:, :, :2], clip_out[:, :, :2], rtol=1e-5, atol=1e-5)


def _latte_t2v_image_joint_cross_attention(attn, projection, x, captions, mask, video_frames, heads):
    """The spatial blocks' cross-attention of models/latte_t2v.py in image-joint training, written out: ``captions``
    ``(B, 1 + K, L, Dt)`` (the clip's caption, then one per appended image) pass the caption projection; the clip's
    row is repeated over the ``video_frames`` video frames and the images' rows follow; the 3-D ``mask``
    ``(B, 1 + K, L)`` becomes the bias ``(1 − m)·(−10000)`` with the same layout; every frame's tokens ``x``
    ``(B, F, S, D)`` attend to their own row (to_q / to_k / to_v, then to_out)."""
    b, frames, s, d = x.shape
    hd = d // heads
    tokens = projection(captions)
    rows = torch.cat([tokens[:, :1].expand(b, video_frames, -1, -1), tokens[:, 1:]], dim=1).flatten(0, 1)
    bias = (1 - mask.float()) * -10000.0
    bias = torch.cat([bias[:, :1].expand(b, video_frames, -1), bias[:, 1:]], dim=1).flatten(0, 1)[:, None, None]
    (to_k, to_v), (bias_k, bias_v) = attn.kv.weight.chunk(2), attn.kv.bias.chunk(2)
    q = F.linear(x.flatten(0, 1), attn.q.weight, attn.q.bias).view(b * frames, s, heads, hd).transpose(1, 2)
    k = F.linear(rows, to_k, bias_k).view(b * frames, -1, heads, hd).transpose(1, 2)
    v = F.linear(rows, to_v, bias_v).view(b * frames, -1, heads, hd).transpose(1, 2)
    weights = (q @ k.transpose(-1, -2) / math.sqrt(hd) + bias).softmax(-1)
    out = (weights @ v).transpose(1, 2).reshape(b, frames, s, d)
    return F.linear(out, attn.proj.weight, attn.proj.bias)


def test_per_image_captions_on_the_t2v_path_equal_latte_t2v_written_out():
    """An appended image's caption tokens and its row of the 3-D mask reach its frame's cross-attention (Latte T2V
    image-joint training); the clip's frames attend to the clip's caption."""
    model = _randomize(LAVITA(**T2V))
    attn, b, frames, length = model.blocks["0"].cross_attn, 2, 3, 5
    gen = torch.Generator().manual_seed(3)
    captions = torch.randn(b, 2, length, 12, generator=gen)  # (B, 1 + K, L, Dt), K = 1 appended image
    mask = torch.ones(b, 2, length, dtype=torch.bool)
    mask[0, 0, 3:], mask[0, 1, 1:], mask[1, 1, 4:] = False, False, False
    image_mask = torch.tensor([[False, False, True]] * b)
    cond = Conditions(text=captions[:, 0], text_mask=mask[:, 0], image_mask=image_mask,
                      frame_text=captions[:, [0, 0, 1]], frame_text_mask=mask[:, [0, 0, 1]])
    frames_cond = cond.image_frames(model, torch.tensor([3, 800]))
    x = torch.randn(b, frames, 4, 16, generator=gen)  # (B, F, S, D) tokens of the 3 × 2 × 2 grid
    with torch.no_grad():
        own = frames_cond.cross_attention_text(model.caption_projection, x.dtype)
        out = attn(x.flatten(1, 2), Grid(3, 2, 2), model.caption_projection(cond.text), cond.text_mask, own)
        ref = _latte_t2v_image_joint_cross_attention(attn, model.caption_projection, x, captions, mask, 2, heads=2)
    torch.testing.assert_close(out.view(b, frames, 4, 16), ref, rtol=1e-5, atol=1e-5)


def test_image_caption_on_the_t2v_path_changes_its_frame_only():
    model = _randomize(LAVITA(**T2V)).eval()
    gen = torch.Generator().manual_seed(4)
    x, t = torch.randn(2, 4, 3, 4, 4, generator=gen), torch.tensor([5, 600])
    text, frame_text = torch.randn(2, 5, 12, generator=gen), torch.randn(2, 3, 5, 12, generator=gen)
    image_mask = torch.tensor([[False, False, True], [False, True, True]])
    with torch.no_grad():
        ref = model(x, t, Conditions(text=text, image_mask=image_mask, frame_text=frame_text))
        other = frame_text.clone()
        other[0, 2] = torch.randn(5, 12, generator=gen)  # image frame 2 of clip 0
        other[0, 0] = torch.randn(5, 12, generator=gen)  # a video frame: reads its clip's caption, not this
        out = model(x, t, Conditions(text=text, image_mask=image_mask, frame_text=other))
    changed = {(b, f) for b in range(2) for f in range(3) if not torch.equal(out[b, :, f], ref[b, :, f])}
    assert changed == {(0, 2)}


def test_per_frame_conditions_are_refused_by_the_latte_text_projection():
    model = LAVITA(preset=None, depth=2, dim=16, num_heads=2, patch_size=2, input_size=(3, 4, 4), in_channels=4,
                   text_dim=6, text_pooled=False, latte_text="pooled")
    with pytest.raises(ValueError, match="per-frame conditions"):
        model(torch.randn(1, 4, 3, 4, 4), torch.tensor([5]), Conditions(
            text_pooled=torch.randn(1, 6), image_mask=torch.tensor([[False, False, True]]),
            frame_text_pooled=torch.randn(1, 3, 6)))
