"""What the public Latte sampling setups need besides weights: the timestep spacings of improved DDPM (Latte's
``create_diffusion("250")``) and of diffusers' DDIM (the T2V pipeline), the empty prompt as the null text (the
pipeline's negative prompt), the configs that state them, and refusing a walt checkpoint of another variant."""
from pathlib import Path

import pytest
import torch
from diffusers import DDIMScheduler

from registry import MODELS, TEXT_ENCODERS
from walt.diffusion.respacing import space_timesteps
from walt.engine.config import load_config
from walt.engine.errors import CheckpointError
from walt.engine.loading import check_trained_layout, saved_model_config
from walt.models.conditioning.conditions import Conditions
from walt.models.text_encoders.base import FrozenTextEncoder

ROOT = Path(__file__).resolve().parents[1]


@TEXT_ENCODERS.register_module(force=True)
class PromptLengthEncoder(FrozenTextEncoder):
    """Test encoder: token j of a prompt of n words is (n + 1) * (j + 1) in every channel; real tokens: n + 1."""

    def __init__(self, dim: int = 6, max_length: int = 5):
        super().__init__()
        self.dim, self.max_length = dim, max_length
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.freeze()

    def encode(self, prompts):
        n = torch.tensor([len(p.split()) for p in prompts])
        j = torch.arange(self.max_length)
        tokens = ((n[:, None] + 1) * (j + 1)).float()[..., None].expand(-1, -1, self.dim)
        return dict(tokens=tokens, mask=j[None] <= n[:, None], pooled=tokens.mean(1))


def test_linspace_spacing_is_improved_ddpm_respacing():
    """iDDPM space_timesteps(1000, [250]): start + round(i · 999/249), written out here."""
    stride = 999 / 249
    assert space_timesteps(1000, 250, "linspace").tolist() == [round(i * stride) for i in range(250)]


def test_leading_spacing_is_diffusers_ddim_default():
    scheduler = DDIMScheduler(num_train_timesteps=1000)
    scheduler.set_timesteps(50)
    assert space_timesteps(1000, 50, "leading").tolist() == sorted(scheduler.timesteps.tolist())


def test_dropped_text_can_be_the_empty_prompt_under_the_prompts_mask():
    encoder = PromptLengthEncoder()
    text = encoder(["a red fox", "snow"])
    null = encoder([""])
    cond = Conditions(text=text["tokens"], text_mask=text["mask"])
    dropped = cond.dropped(torch.tensor([True, False]), None, null_text=null)
    assert torch.equal(dropped.text[0], null["tokens"][0]) and torch.equal(dropped.text[1], text["tokens"][1])
    assert torch.equal(dropped.text_mask, text["mask"])  # LattePipeline: the negative prompt cut to the prompt's length
    zeros = cond.dropped(torch.tensor([True, False]), None)
    assert not zeros.text_mask[0].any() and torch.equal(zeros.text[0], torch.zeros(5, 6))


def test_guided_sampling_uses_the_empty_prompt_as_null_text():
    model = MODELS.build(dict(
        type="LatentDiffusion", video_size=(2, 4, 4), self_condition_prob=0.0, cond_dropout_prob=0.1,
        null_text="empty_prompt", autoencoder=dict(type="IdentityAutoencoder", latent_channels=3),
        text_encoder=dict(type="PromptLengthEncoder"),
        backbone=dict(type="LAVITA", preset=None, depth=2, dim=16, num_heads=2, patch_size=2,
                      conditioning=dict(type="AdaLNSingle"), cross_attention=dict(type="TextCrossAttention"),
                      text_pooled=False)))
    seen = []
    model.backbone.register_forward_pre_hook(lambda m, args: seen.append(args[2].tensors()))
    model.sample(1, prompts=["a red fox"], steps=1, cfg_scale=2.0)
    tokens, mask = seen[0]["text"], seen[0]["text_mask"]
    assert torch.equal(tokens[1], PromptLengthEncoder()([""])["tokens"][0]) and torch.equal(mask[0], mask[1])
    with pytest.raises(ValueError, match="'empty_prompt' needs a text_encoder"):
        MODELS.build(dict(type="LatentDiffusion", video_size=(2, 4, 4), null_text="empty_prompt",
                          autoencoder=dict(type="IdentityAutoencoder", latent_channels=3),
                          backbone=dict(type="LAVITA", preset=None, depth=2, dim=16, num_heads=2, patch_size=2)))


@pytest.mark.parametrize("name,sampler,steps,cfg_scale", [
    ("latte_ffs", dict(type="DDPM", spacing="linspace"), 250, 1.0),
    ("latte_sky", dict(type="DDPM", spacing="linspace"), 250, 1.0),
    ("latte_taichi", dict(type="DDPM", spacing="linspace"), 250, 1.0),
    ("latte_ucf", dict(type="DDPM", spacing="linspace"), 250, 7.0),
    ("latte_t2v", dict(type="DDIM", spacing="leading"), 50, 7.5)])
def test_pretrained_configs_state_the_public_sampling_setup(name, sampler, steps, cfg_scale):
    cfg = load_config(ROOT / f"configs/pretrained/{name}.py")
    sample = cfg.sample
    assert (sample.sampler, sample.steps, sample.cfg_scale, sample.fps) == (sampler, steps, cfg_scale, 8)
    assert cfg.model.diffusion.learn_sigma and cfg.model.autoencoder.type == "SDVAE"


def test_a_walt_checkpoint_of_another_variant_is_refused():
    cfg = load_config(ROOT / "configs/lavita_ffs.py")
    trained = cfg.to_dict()
    trained["model"]["backbone"]["variant"] = 1
    with pytest.raises(CheckpointError, match="trained with model.backbone.variant=1, the config has 2"):
        check_trained_layout(trained, cfg, Path("ckpt.pth"))
    trained["model"]["backbone"].pop("variant")  # stated nowhere: the class default, 2
    check_trained_layout(trained, cfg, Path("ckpt.pth"))


def test_the_trainers_config_text_is_checked_without_running_it():
    cfg = load_config(ROOT / "configs/lavita_ffs.py")
    variant1 = load_config(ROOT / "configs/lavita_ffs.py", ["model.backbone.variant=1"])
    assert saved_model_config(variant1.pretty_text)["model"]["backbone"] == variant1.to_dict()["model"]["backbone"]
    with pytest.raises(CheckpointError, match="trained with model.backbone.variant=1, the config has 2"):
        check_trained_layout(variant1.pretty_text, cfg, Path("ckpt.pth"))
    # anything but literals and dict(...) is not evaluated: such a model entry is not read at all
    assert saved_model_config("import os\nmodel = dict(type=os.getcwd())\n") == {}
