"""Text encoders (W.A.L.T §4.5 T5, LAVITA §4.4 CLIP pooled, MiniLM for demos): outputs equal independent reference
computations, are frozen, independent of batch composition, and the SD1.4 CLIP text tower has its known size."""
import pytest
import torch

from registry import TEXT_ENCODERS

PROMPTS = ["a red car drives along a coastal road at sunset", "two dogs"]


def test_minilm_pooled_equals_sentence_transformers():
    from sentence_transformers import SentenceTransformer

    from walt.models.text_encoders.minilm import bundled_minilm_path

    enc = TEXT_ENCODERS.build(dict(type="MiniLMTextEncoder", max_length=32))
    out = enc(PROMPTS)
    ref = SentenceTransformer(bundled_minilm_path(), device="cpu").encode(PROMPTS, convert_to_tensor=True)
    assert enc.dim == 384 and out["tokens"].shape == (2, 32, 384) and out["pooled"].shape == (2, 384)
    torch.testing.assert_close(out["pooled"], ref, atol=1e-5, rtol=1e-5)
    ids = enc.tokenizer(PROMPTS[1])["input_ids"]  # [CLS] two dogs [SEP]
    assert out["mask"].sum(1).tolist()[1] == len(ids) == 4


def test_minilm_is_frozen_and_stays_in_eval_mode():
    enc = TEXT_ENCODERS.build(dict(type="MiniLMTextEncoder"))
    enc.train()
    assert not enc.training and not any(m.training for m in enc.modules())
    assert not any(p.requires_grad for p in enc.parameters())


def test_embedding_does_not_depend_on_the_rest_of_the_batch():
    enc = TEXT_ENCODERS.build(dict(type="MiniLMTextEncoder"))
    alone, batched = enc(PROMPTS[1:]), enc(PROMPTS)
    # GEMMs over another batch size may round differently (up to 3.2e-6 measured on an AVX-512 Xeon)
    for k in ("tokens", "mask", "pooled"):
        torch.testing.assert_close(alone[k][0], batched[k][1], atol=1e-5, rtol=1e-5)


def _tiny_clip():
    from open_clip.model import CLIP

    text_cfg = dict(width=32, heads=2, layers=2)
    clip = CLIP(embed_dim=16, vision_cfg=dict(image_size=32, layers=1, width=32, patch_size=16, head_width=16),
                text_cfg=text_cfg, quick_gelu=True).eval()
    return clip, text_cfg


def test_openclip_loads_text_tower_and_pooled_matches_encode_text(tmp_path):
    import open_clip

    clip, text_cfg = _tiny_clip()
    torch.save(clip.state_dict(), tmp_path / "clip.pt")
    enc = TEXT_ENCODERS.build(dict(type="OpenCLIPTextEncoder", pretrained=str(tmp_path / "clip.pt"),
                                   text_cfg=text_cfg))
    out = enc(PROMPTS)
    ids = open_clip.get_tokenizer("ViT-L-14")(PROMPTS)
    with torch.no_grad():
        ref = clip.encode_text(ids)  # open_clip's own path: EOT feature @ text_projection
    torch.testing.assert_close(out["pooled"] @ clip.text_projection, ref, atol=1e-5, rtol=1e-5)
    assert out["tokens"].shape == (2, 77, 32)
    assert out["mask"].sum(1).tolist() == (ids != 0).sum(1).tolist()  # <sot> words <eot>, padding is id 0
    torch.testing.assert_close(out["pooled"], out["tokens"][torch.arange(2), ids.argmax(-1)])


def test_openclip_vit_l14_text_tower_has_sd14_parameter_count():
    # SD1.4's text encoder (HF CLIPTextModel of openai/clip-vit-large-patch14) has 123,060,480 parameters.
    with torch.device("meta"):
        enc = TEXT_ENCODERS.build(dict(type="OpenCLIPTextEncoder"))
    assert enc.dim == 768
    assert sum(p.numel() for p in enc.parameters()) == 123_060_480


def test_openclip_missing_checkpoint_names_the_file():
    with pytest.raises(FileNotFoundError, match="nowhere.pt"):
        TEXT_ENCODERS.build(dict(type="OpenCLIPTextEncoder", pretrained="nowhere.pt", text_cfg=dict(width=8, heads=1,
                                                                                                     layers=1)))


def _save_tiny_t5(directory):
    """A tiny T5 encoder plus a word-level tokenizer built offline with `tokenizers` (a real T5 sentencepiece
    tokenizer cannot be made without downloading one); both in save_pretrained layout."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel

    words = sorted({w for p in PROMPTS for w in p.split()})
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(words)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                            ).save_pretrained(directory)
    cfg = T5Config(vocab_size=len(vocab), d_model=16, d_kv=8, d_ff=32, num_layers=2, num_heads=2)
    T5EncoderModel(cfg).save_pretrained(directory)
    return T5EncoderModel.from_pretrained(directory).eval()


def test_t5_tokens_equal_direct_model_call_and_pooled_is_masked_mean(tmp_path):
    model = _save_tiny_t5(tmp_path)
    enc = TEXT_ENCODERS.build(dict(type="T5TextEncoder", path=str(tmp_path), max_length=16))
    out = enc(PROMPTS)
    assert enc.dim == 16 and out["tokens"].shape == (2, 16, 16)
    lengths = [len(p.split()) + 1 for p in PROMPTS]  # words + </s>
    assert out["mask"].sum(1).tolist() == lengths
    for i, p in enumerate(PROMPTS):
        ids = torch.tensor([[enc.tokenizer.convert_tokens_to_ids(w) for w in p.split()] + [1]])
        with torch.no_grad():
            ref = model(input_ids=ids).last_hidden_state[0]  # unpadded
        torch.testing.assert_close(out["tokens"][i, : lengths[i]], ref, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out["pooled"][i], ref.mean(0), atol=1e-5, rtol=1e-5)


def test_t5_missing_directory_names_it():
    with pytest.raises(FileNotFoundError, match="no_such_t5"):
        TEXT_ENCODERS.build(dict(type="T5TextEncoder", path="no_such_t5"))


def test_prompt_must_be_a_list():
    enc = TEXT_ENCODERS.build(dict(type="MiniLMTextEncoder"))
    with pytest.raises(TypeError, match="list of prompt strings"):
        enc("a single string")


def test_cached_text_embeddings_equal_on_the_fly_encoding(tmp_path):
    from torch.utils.data import Dataset

    from walt.data.text_cache import CachedTextDataset, TextEmbeddingCache, encode_text_cache

    captions = ["a red car", "two dogs play in snow", "a red car", "waves at night"]

    class Captions(Dataset):
        def __len__(self):
            return len(captions)

        def __getitem__(self, i):
            return {"latent": torch.full((2, 1, 2, 2), float(i)), "caption": captions[i]}

    enc = TEXT_ENCODERS.build(dict(type="MiniLMTextEncoder", max_length=16))
    stored = encode_text_cache(enc, captions, tmp_path / "text.pt", batch_size=2)
    assert stored == 3 and len(TextEmbeddingCache(tmp_path / "text.pt")) == 3  # keyed by caption, repeats once
    ds = CachedTextDataset(Captions(), cache=str(tmp_path / "text.pt"))
    fly = enc(captions)  # one batch of 4: a different batch composition than the cache's batches of 2
    for i in range(len(captions)):
        item = ds[i]
        assert "caption" not in item and torch.equal(item["latent"], torch.full((2, 1, 2, 2), float(i)))
        torch.testing.assert_close(item["text_tokens"], fly["tokens"][i], atol=1e-5, rtol=1e-5)  # batch-size rounding
        torch.testing.assert_close(item["text_pooled"], fly["pooled"][i], atol=1e-5, rtol=1e-5)
        assert torch.equal(item["text_mask"], fly["mask"][i])
    with pytest.raises(KeyError, match="not cached"):
        TextEmbeddingCache(tmp_path / "text.pt").lookup(["an unseen caption"])
