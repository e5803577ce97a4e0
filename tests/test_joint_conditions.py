"""Joint image–video batches in LatentDiffusion (walt/models/generative/frame_conditions.py): each image frame reaches
the backbone with its own label / caption (encoded once per distinct caption, or read from the text cache), the
guidance dropout draws each image's condition independently of its clip's, dropping image k's caption leaves every
other frame, and the SR stage trains on low-resolution images beside videos."""
import pytest
import torch
from torch.utils.data import Dataset

from registry import MODELS, TEXT_ENCODERS
from walt.data.collate import collate
from walt.data.super_resolution import SuperResolutionPairs
from walt.data.text_cache import CachedTextDataset, encode_text_cache
from walt.models.generative.frame_conditions import training_conditions
from walt.models.text_encoders.base import FrozenTextEncoder

DT, L = 8, 4


@TEXT_ENCODERS.register_module(force=True)
class ToyTextEncoder(FrozenTextEncoder):
    """A deterministic function of each prompt (so every caption has a distinct embedding); records its calls."""

    def __init__(self):
        super().__init__()
        self.dim, self.calls = DT, []
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def encode(self, prompts):
        self.calls.append(list(prompts))
        codes = torch.tensor([[float(ord(c)) for c in p.ljust(L * DT, "#")[: L * DT]] for p in prompts])
        tokens = torch.sin(codes.view(-1, L, DT) * 0.37)
        mask = torch.tensor([[j <= len(p) % L for j in range(L)] for p in prompts])
        return {"tokens": tokens, "mask": mask, "pooled": tokens.mean(1)}


def _embedding(prompt):
    return ToyTextEncoder().encode([prompt])


def _walt_t2v(**kw):
    model = MODELS.build(dict(
        type="LatentDiffusion", video_size=(2, 8, 8), self_condition_prob=0.0, cond_dropout_prob=0.0,
        text_encoder=dict(type="ToyTextEncoder"),
        backbone=dict(type="WALT", preset=None, depth=2, dim=32, num_heads=2, patch_size=2, text_pooled=True,
                      spatial_window=(1, 4, 4), spatiotemporal_window=(2, 2, 2)), **kw))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
    return model


def _record_backbone(model):
    calls = []
    model.backbone.register_forward_hook(
        lambda mod, args, out: calls.append(dict(args[2].tensors(), x=args[0], t=args[1], out=out)))
    return calls


def _walt_batch():
    """2 text–video clips and 1 stack of 2 images, each image with its own caption."""
    gen = torch.Generator().manual_seed(1)
    return dict(video=torch.rand(2, 3, 2, 8, 8, generator=gen) * 2 - 1, caption=["a cat", "a dog"],
                images=torch.rand(1, 3, 2, 8, 8, generator=gen) * 2 - 1, image_label=torch.zeros(1, 2).long(),
                image_caption=[["a red car", "a cat"]])


def test_each_stacked_image_cross_attends_to_its_own_caption_encoded_once_per_distinct_caption():
    model = _walt_t2v()
    calls = _record_backbone(model)
    model(_walt_batch())
    assert model.text_encoder.calls == [["a cat", "a dog", "a red car"]]  # "a cat" twice in the batch, once encoded
    kw = calls[0]
    assert kw["image_mask"].tolist() == [[False, False], [False, False], [True, True]]
    own = [["a cat"] * 2, ["a dog"] * 2, ["a red car", "a cat"]]  # what every frame is conditioned on
    for b in range(3):
        for f in range(2):
            ref = _embedding(own[b][f])
            assert torch.equal(kw["frame_text"][b, f], ref["tokens"][0])
            assert torch.equal(kw["frame_text_mask"][b, f], ref["mask"][0])
            assert torch.equal(kw["frame_text_pooled"][b, f], ref["pooled"][0])
    for b, caption in enumerate(["a cat", "a dog", "a red car"]):  # a stack's sample text: its first image's
        assert torch.equal(kw["text"][b], _embedding(caption)["tokens"][0])


def test_cached_image_captions_give_the_backbone_what_encoding_gives(tmp_path):
    batch = _walt_batch()

    class Items(Dataset):
        def __len__(self):
            return 1

        def __getitem__(self, i):
            return dict(video=batch["video"][0], caption="a cat", images=batch["images"],
                        image_label=batch["image_label"], image_caption=batch["image_caption"])

    encode_text_cache(ToyTextEncoder(), ["a cat", "a red car"], tmp_path / "text.pt")
    cached = collate([CachedTextDataset(Items(), str(tmp_path / "text.pt"))[0]])
    assert cached["image_text_tokens"].shape == (1, 2, L, DT) and "image_caption" not in cached
    model = _walt_t2v()
    calls = _record_backbone(model)
    torch.manual_seed(0)
    model(cached)
    torch.manual_seed(0)
    model(collate([Items()[0]]))
    for key in ("text", "text_mask", "text_pooled", "frame_text", "frame_text_mask", "frame_text_pooled", "x", "out"):
        assert torch.equal(calls[0][key], calls[1][key]), key


@pytest.mark.parametrize("image_frame_dropout", [None, "per_clip", "per_frame"])
def test_guidance_dropout_of_image_labels_is_drawn_per_clip_by_default_or_per_frame(image_frame_dropout):
    """Latte's latte_img.py embeds a clip's image labels as one row of its label embedder, whose dropout draws one
    decision per row: all images of a clip are dropped together, independently of the clip's own label (the
    default, "per_clip"); "per_frame" draws one decision per image frame."""
    option = {} if image_frame_dropout is None else dict(image_frame_dropout=image_frame_dropout)
    model = MODELS.build(dict(type="LatentDiffusion", video_size=(4, 8, 8), self_condition_prob=0.0,
                              cond_dropout_prob=0.5, diffusion=dict(type="GaussianDiffusion", learn_sigma=True),
                              backbone=dict(type="LAVITA", preset=None, depth=2, dim=32, num_heads=2, patch_size=2,
                                            num_classes=5), **option))
    calls = _record_backbone(model)
    b, frames = 8, 6
    image_mask = (torch.arange(frames) >= 3).expand(b, frames)
    image_label = torch.arange(3 * b).view(b, 3) % 5
    batch = dict(video=torch.rand(b, 3, frames, 8, 8) * 2 - 1, label=torch.arange(b) % 5, image_mask=image_mask,
                 image_label=image_label)
    per_frame = image_frame_dropout == "per_frame"
    torch.manual_seed(7)  # the model's two draws, in its order: the clips', then the images'
    drop, frame_drop = torch.rand(b) < 0.5, torch.rand(b, frames if per_frame else 1) < 0.5
    torch.manual_seed(7)
    model(batch)
    kw = calls[0]
    assert kw["y"].tolist() == torch.where(drop, 5, batch["label"]).tolist()
    own = torch.where(frame_drop[:, 3:] if per_frame else frame_drop.expand(b, 3), 5, image_label)
    assert torch.equal(kw["frame_y"][:, 3:], own)
    dropped = kw["frame_y"][:, 3:] == 5
    same_per_clip = (dropped == dropped[:, :1]).all(dim=1)
    assert same_per_clip.all() if not per_frame else not same_per_clip.all()
    assert (drop != dropped[:, 0]).any()  # an image kept while its clip is dropped, or the reverse


def test_image_frame_dropout_names_its_choices():
    with pytest.raises(ValueError, match="image_frame_dropout must be one of"):
        MODELS.build(dict(type="LatentDiffusion", video_size=(4, 8, 8), image_frame_dropout="per_image",
                          backbone=dict(type="LAVITA", preset=None, depth=2, dim=32, num_heads=2, patch_size=2)))


def test_dropping_the_caption_of_image_k_for_guidance_leaves_every_other_frame():
    model = _walt_t2v()
    calls = _record_backbone(model)
    model(_walt_batch())
    kw = calls[0]
    cond = training_conditions(_walt_batch(), 3, kw["image_mask"], None, ("tokens", "pooled"), model.text_encoder,
                               torch.device("cpu"))
    frame_drop = torch.zeros(3, 2, dtype=torch.bool)
    frame_drop[2, 1] = True  # the second image of the stack
    dropped_cond = cond.dropped(torch.zeros(3, dtype=torch.bool), None, frame_drop)
    dropped = dropped_cond.tensors()
    assert not dropped["frame_text_mask"][2, 1].any() and not dropped["frame_text"][2, 1].any()
    assert not dropped["frame_text_pooled"][2, 1].any()
    keep = ~frame_drop
    for key in ("frame_text", "frame_text_mask", "frame_text_pooled"):
        assert torch.equal(dropped[key][keep], kw[key][keep])
    for key in ("text", "text_mask", "text_pooled"):
        assert torch.equal(dropped[key], kw[key])
    null = cond.dropped(torch.ones(3, dtype=torch.bool), None).tensors()  # guidance's null: every frame follows
    assert not null["frame_text_mask"].any() and not null["text_mask"].any()
    with torch.no_grad():
        ref = model.backbone(kw["x"], kw["t"], cond.replace(image_mask=kw["image_mask"]))
        out = model.backbone(kw["x"], kw["t"], dropped_cond.replace(image_mask=kw["image_mask"]))
    changed = {(b, f) for b in range(3) for f in range(2) if not torch.equal(out[b, :, f], ref[b, :, f])}
    assert changed == {(2, 1)}


def test_super_resolution_stage_trains_on_low_resolution_images_beside_videos():
    class Items(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            gen = torch.Generator().manual_seed(i)
            return dict(video=torch.rand(3, 2, 8, 8, generator=gen), caption="a cat",
                        images=torch.rand(1, 3, 2, 8, 8, generator=gen), image_label=torch.zeros(1, 2).long(),
                        image_caption=[["a dog", "a red car"]])

    pairs = SuperResolutionPairs(Items(), factor=2)
    batch = collate([pairs[0], pairs[1]])
    assert batch["lowres_images"].shape == (2, 3, 2, 4, 4)
    torch.testing.assert_close(batch["lowres_images"][1, :, 0], torch.nn.functional.avg_pool2d(
        Items()[1]["images"][0, :, 0], 2))  # each image area-downsampled on its own
    model = _walt_t2v(super_resolution=True)
    calls = _record_backbone(model)
    z, _ = model.training_latents(batch)
    z_lr = model.lowres_latent(batch, z)
    assert z_lr.shape == (4, 3, 2, 4, 4)
    assert torch.equal(z_lr[2:], batch["lowres_images"]) and torch.equal(z_lr[:2], batch["lowres_video"])
    model(batch)["loss"].backward()
    assert calls[0]["x_lr"].shape == (4, 3, 2, 4, 4) and calls[0]["frame_text"].shape == (4, 2, L, DT)
