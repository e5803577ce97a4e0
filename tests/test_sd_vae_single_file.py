"""The SD VAE from one weights file (walt/models/autoencoders/sd_vae.py): the original LDM layout (alone, or inside
a whole Stable Diffusion .ckpt) and the diffusers layout give the VAE a save_pretrained folder gives, offline."""
import re

import pytest
import torch
from diffusers import AutoencoderKL
from safetensors.torch import save_file

from walt.models.autoencoders.sd_vae import SD_VAE_CONFIG, SDVAE

TINY_SD = dict(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
               up_block_types=("UpDecoderBlock2D",) * 2, layers_per_block=1, norm_num_groups=4)


def _to_ldm(key: str, value: torch.Tensor, num_up: int) -> tuple[str, torch.Tensor]:
    """diffusers AutoencoderKL key → the original (CompVis) key, written out here independently of diffusers."""
    key = key.replace("conv_shortcut", "nin_shortcut").replace("conv_norm_out", "norm_out")
    key = re.sub(r"down_blocks\.(\d+)\.resnets\.(\d+)", r"down.\1.block.\2", key)
    key = re.sub(r"down_blocks\.(\d+)\.downsamplers\.0", r"down.\1.downsample", key)
    up = re.match(r"decoder\.up_blocks\.(\d+)\.(.*)", key)
    if up:
        rest = re.sub(r"resnets\.(\d+)", r"block.\1", up[2]).replace("upsamplers.0", "upsample")
        key = f"decoder.up.{num_up - 1 - int(up[1])}.{rest}"
    key = re.sub(r"mid_block\.resnets\.(\d+)", lambda m: f"mid.block_{int(m[1]) + 1}", key)
    if "mid_block.attentions.0" in key:
        for new, old in (("mid_block.attentions.0", "mid.attn_1"), ("group_norm", "norm"), ("to_q", "q"),
                         ("to_k", "k"), ("to_v", "v"), ("to_out.0", "proj_out")):
            key = key.replace(new, old)
        value = value[:, :, None, None] if value.dim() == 2 else value  # 1×1 convolutions in the original
    return key, value.contiguous()


@pytest.fixture(scope="module")
def vae(tmp_path_factory):
    torch.manual_seed(0)
    reference = AutoencoderKL(**{**SD_VAE_CONFIG, **TINY_SD}).eval()
    root = tmp_path_factory.mktemp("sd_vae")
    reference.save_pretrained(root / "folder")
    ldm = dict(_to_ldm(k, v, 2) for k, v in reference.state_dict().items())
    save_file(ldm, str(root / "vae-ldm.safetensors"))
    whole = {f"first_stage_model.{k}": v for k, v in ldm.items()} | {"model.diffusion_model.out.weight": torch.ones(2)}
    torch.save({"state_dict": whole}, root / "sd-whole.ckpt")
    return reference, root


def _same_as_folder(path, root, x):
    ours = SDVAE(pretrained=str(path), config=TINY_SD).eval()
    folder = SDVAE(pretrained=str(root / "folder")).eval()
    with torch.no_grad():
        z = ours.encode(x)
        torch.testing.assert_close(z, folder.encode(x), rtol=0, atol=1e-5)
        torch.testing.assert_close(ours.decode(z), folder.decode(z), rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["vae-ldm.safetensors", "sd-whole.ckpt", "folder/diffusion_pytorch_model.safetensors"])
def test_a_single_file_gives_the_vae_of_the_save_pretrained_folder(vae, name):
    _, root = vae
    _same_as_folder(root / name, root, torch.rand(1, 3, 2, 16, 16) * 2 - 1)


def test_diffusers_from_single_file_agrees_offline_given_a_local_config(vae):
    """The documented fact behind walt's own conversion: diffusers reads the file offline only with a config folder."""
    reference, root = vae
    theirs = AutoencoderKL.from_single_file(str(root / "vae-ldm.safetensors"), config=str(root / "folder"),
                                            local_files_only=True).eval()
    ours = SDVAE(pretrained=str(root / "vae-ldm.safetensors"), config=TINY_SD).vae
    assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), theirs.state_dict().values()))


def test_a_file_of_another_architecture_is_refused_naming_it(vae):
    _, root = vae
    with pytest.raises(ValueError, match="vae-ldm.safetensors does not hold an AutoencoderKL"):
        SDVAE(pretrained=str(root / "vae-ldm.safetensors"), config=dict(TINY_SD, layers_per_block=2))
