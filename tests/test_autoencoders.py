"""Autoencoders (W.A.L.T §4.1 causal 3-D VAE, LAVITA §3 SD VAE), their training losses and the latent norm."""
import logging

import pytest
import torch
import torch.nn.functional as F
from torchvision.models.vgg import cfgs, make_layers

from registry import AUTOENCODERS, MODELS
from walt.models.autoencoders.autoencoder_losses import PerceptualLoss, hinge_discriminator_loss
from walt.models.autoencoders.causal_conv import CausalConv3d
from walt.models.autoencoders.causal_vae import CausalVAE3D, DiagonalGaussian
from walt.models.autoencoders.latent_norm import LatentNorm
from walt.models.autoencoders.sd_vae import SDVAE

# Same layout as the default (multipliers (1, 2, 2, 4), temporal downsampling (F, T, T): f_s = 8, f_t = 4), tiny widths.
TINY = dict(type="CausalVAE3D", base_channels=4, num_res_blocks=1, num_mid_blocks=1, num_groups=2)
DEFAULT_PARAMS = 313_742_227  # CausalVAE3D() : encoder 116,560,784 + decoder 197,181,443
SD_VAE_PARAMS = 83_653_863    # the Stable Diffusion VAE (AutoencoderKL, SD layout)


def tiny_vae(**kw) -> CausalVAE3D:
    return AUTOENCODERS.build({**TINY, **kw}).eval()


# --------------------------------------------------------------------------------------------------- causal VAE
def test_causal_conv_equals_conv_on_replicate_padded_past():
    conv = CausalConv3d(3, 5, 3)
    x = torch.randn(2, 3, 6, 7, 7)
    padded = torch.cat([x[:, :, :1], x[:, :, :1], x], dim=2)           # k_t - 1 = 2 copies of the first frame
    ref = F.conv3d(F.pad(padded, (1, 1, 1, 1)), conv.conv.weight, conv.conv.bias)
    torch.testing.assert_close(conv(x), ref)


def test_changing_frame_k_leaves_earlier_latent_frames_unchanged():
    vae = tiny_vae()
    x = torch.randn(1, 3, 17, 32, 32)
    z = vae.encode(x)
    for k in (1, 5, 9, 16):
        x2 = x.clone()
        x2[:, :, k] += 1.0
        z2 = vae.encode(x2)
        first_affected = (k + vae.temporal_factor - 1) // vae.temporal_factor   # latent frame j sees frames <= 4j
        assert torch.equal(z2[:, :, :first_affected], z[:, :, :first_affected]), k
        assert not torch.allclose(z2[:, :, first_affected], z[:, :, first_affected]), k


def test_image_encodes_like_the_first_frame_of_a_video_starting_with_it():
    vae = tiny_vae()
    video = torch.randn(2, 3, 9, 16, 16)
    z_video, z_image = vae.encode(video), vae.encode(video[:, :, :1])
    assert z_image.shape == (2, 8, 1, 2, 2)
    torch.testing.assert_close(z_image, z_video[:, :, :1], rtol=0, atol=1e-6)
    # the decoder is causal too: the first latent frame decodes to the first frame alone
    torch.testing.assert_close(vae.decode(z_video[:, :, :1]), vae.decode(z_video)[:, :, :1], rtol=0, atol=1e-6)


def test_default_config_shapes_and_parameter_count_on_meta():
    with torch.device("meta"):
        vae = CausalVAE3D()
        z = vae.encode(torch.empty(1, 3, 17, 128, 128))
        x = vae.decode(z)
    assert (vae.latent_channels, vae.spatial_factor, vae.temporal_factor, vae.causal) == (8, 8, 4, True)
    assert vae.latent_grid(17, 128, 128) == (5, 16, 16)
    assert tuple(z.shape) == (1, 8, 5, 16, 16) and tuple(x.shape) == (1, 3, 17, 128, 128)
    assert sum(p.numel() for p in vae.parameters()) == DEFAULT_PARAMS


def test_tiny_widths_give_the_default_latent_shape():
    vae = tiny_vae()
    assert tuple(vae.encode(torch.randn(1, 3, 17, 128, 128)).shape) == (1, 8, 5, 16, 16)


def test_bad_frame_count_raises_value_error_naming_the_shape():
    with pytest.raises(ValueError, match="T=16"):
        tiny_vae().encode(torch.randn(1, 3, 16, 16, 16))


def test_chunked_encode_equals_whole_batch():
    vae = tiny_vae()
    x = torch.randn(3, 3, 5, 16, 16)
    whole = vae.encode(x)
    vae.chunk_size = 1
    torch.testing.assert_close(vae.encode(x), whole, rtol=1e-5, atol=1e-5)


def test_gaussian_kl_equals_torch_distributions():
    moments = torch.randn(2, 6, 2, 3, 3)
    posterior = DiagonalGaussian(moments)
    q = torch.distributions.Normal(moments[:, :3], torch.exp(0.5 * moments[:, 3:]))
    ref = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).flatten(1).sum(1)
    torch.testing.assert_close(posterior.kl(), ref)


def test_pretrained_loads_a_trainer_checkpoint(tmp_path):
    model = MODELS.build(dict(type="AutoencoderTraining", autoencoder=TINY, discriminator=None))
    torch.save(dict(model=model.state_dict(), step=3), tmp_path / "step_00000003.pth")
    (tmp_path / "latest").write_text("step_00000003.pth\n")
    x = torch.randn(1, 3, 5, 16, 16)
    for pretrained in (tmp_path, tmp_path / "step_00000003.pth"):
        loaded = tiny_vae(pretrained=str(pretrained))
        torch.testing.assert_close(loaded.encode(x), model.autoencoder.eval().encode(x), rtol=0, atol=0)


# --------------------------------------------------------------------------------------------------- training
def moving_blobs(n: int, seed: int, t: int = 5, size: int = 16) -> torch.Tensor:
    """Demo-like clips: a coloured Gaussian blob moving in a random direction on a dark background."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    clips = []
    for _ in range(n):
        cx, cy, vx, vy = (torch.rand(4, generator=g) * 2 - 1).tolist()
        colour = torch.rand(3, 1, 1, generator=g) * 2 - 1
        frames = []
        for k in range(t):
            blob = torch.exp(-((xx - cx - 0.15 * vx * k) ** 2 + (yy - cy - 0.15 * vy * k) ** 2) / 0.1)
            frames.append(colour * blob - 0.5 * (1 - blob))
        clips.append(torch.stack(frames, 1))
    return torch.stack(clips)


@pytest.fixture
def one_thread():
    """One intra-op thread: the GAN phase is chaotic, so keep float reduction order fixed."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_training_lowers_reconstruction_error_at_least_8x(one_thread):
    """150 Adam steps (L1 + KL, the 3-D discriminator from step 100) on demo-like moving blobs, 5×16×16 clips."""
    model = MODELS.build(dict(
        type="AutoencoderTraining",
        autoencoder=dict(type="CausalVAE3D", latent_channels=4, base_channels=8, channel_multipliers=(1, 2, 2),
                         num_res_blocks=1, temporal_downsample=(False, True), num_mid_blocks=1, num_groups=4),
        discriminator=dict(base_channels=8, num_layers=2), disc_start=100))
    train, held_out = moving_blobs(64, seed=0), moving_blobs(8, seed=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def error() -> float:
        return (model.reconstruct(held_out) - held_out).abs().mean().item()

    before = error()
    for _ in range(150):
        out = model(dict(video=train[torch.randint(0, 64, (8,))]))
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
    after = error()
    assert "disc_loss" in out and int(model.step) == 150
    assert before / after >= 8.0, (before, after)   # measured: 0.582 -> 0.043 (13.4x)


def test_each_gan_player_gets_only_its_own_gradient():
    model = MODELS.build(dict(type="AutoencoderTraining", autoencoder=TINY, kl_weight=1e-3,
                              discriminator=dict(base_channels=4, num_layers=2), disc_start=0, adversarial_weight=0.3,
                              adaptive_weight=False))
    ae, disc = model.autoencoder, model.discriminator
    x = torch.rand(2, 3, 5, 16, 16) * 2 - 1
    torch.manual_seed(1)
    model(dict(video=x))["loss"].backward()
    got_ae = [p.grad.clone() for p in ae.parameters()]
    got_d = [p.grad.clone() for p in disc.parameters()]
    model.zero_grad()

    # reference: the autoencoder's loss with a frozen copy of D, and D's hinge loss on a detached reconstruction
    torch.manual_seed(1)
    posterior = ae.encode_posterior(x)
    x_rec = ae.decode(posterior.sample())
    frozen = [p.detach().clone() for p in disc.parameters()]
    d_copy = type(disc)(base_channels=4, num_layers=2)
    for p, v in zip(d_copy.parameters(), frozen):
        p.data.copy_(v)
    kl = posterior.kl().mean() / x[0].numel()
    gen = (x_rec - x).abs().mean() + 1e-3 * kl + 0.3 * -d_copy(x_rec).mean()
    torch.autograd.backward(gen, inputs=list(ae.parameters()))
    disc_loss = hinge_discriminator_loss(disc(x), disc(x_rec.detach()))
    torch.autograd.backward(disc_loss, inputs=list(disc.parameters()))
    for got, p in zip(got_ae, ae.parameters()):
        torch.testing.assert_close(got, p.grad)
    for got, p in zip(got_d, disc.parameters()):
        torch.testing.assert_close(got, p.grad)


def test_adaptive_adversarial_weight_is_the_vqgan_gradient_ratio():
    model = MODELS.build(dict(type="AutoencoderTraining", autoencoder=TINY, discriminator=dict(base_channels=4),
                              disc_start=0, adversarial_weight=0.3))
    x = torch.rand(2, 3, 5, 16, 16) * 2 - 1
    torch.manual_seed(1)
    weight = model(dict(video=x))["adv_weight"]
    torch.manual_seed(1)
    x_rec = model.autoencoder.decode(model.autoencoder.encode_posterior(x).sample())
    last = model.autoencoder.decoder.conv_out.conv.weight
    g_rec = torch.autograd.grad((x_rec - x).abs().mean(), last, retain_graph=True)[0]
    g_gan = torch.autograd.grad(-model.discriminator(x_rec).mean(), last)[0]
    torch.testing.assert_close(weight, 0.3 * g_rec.norm() / (g_gan.norm() + 1e-4))


def test_perceptual_loss_equals_lpips_formula_and_is_off_without_weights(tmp_path, caplog):
    features = make_layers(cfgs["D"])
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, tmp_path / "vgg16.pth")
    heads = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate((64, 128, 256, 512, 512))}
    torch.save(heads, tmp_path / "lpips.pth")
    loss = PerceptualLoss(str(tmp_path / "vgg16.pth"), str(tmp_path / "lpips.pth"))
    x, y = torch.rand(1, 3, 2, 16, 16) * 2 - 1, torch.rand(1, 3, 2, 16, 16) * 2 - 1

    shift, scale = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1), torch.tensor([0.458, 0.448, 0.450])
    fx, fy = [(v.transpose(1, 2).flatten(0, 1) - shift) / scale.view(1, 3, 1, 1) for v in (x, y)]
    ref, layer = 0.0, 0
    for i, module in enumerate(features[:30]):   # the last max-pool is not used
        fx, fy = module(fx), module(fy)
        if i in (3, 8, 15, 22, 29):   # relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
            nx, ny = fx / (fx.norm(dim=1, keepdim=True) + 1e-10), fy / (fy.norm(dim=1, keepdim=True) + 1e-10)
            w = heads[f"lin{layer}.model.1.weight"]
            ref = ref + ((nx - ny) ** 2 * w).sum(1).mean()
            layer += 1
    torch.testing.assert_close(loss(x, y), ref, rtol=1e-4, atol=1e-6)
    assert loss(x, x).item() == 0.0

    with caplog.at_level(logging.WARNING):
        model = MODELS.build(dict(type="AutoencoderTraining", autoencoder=TINY, discriminator=None))
    assert model.perceptual is None and "perceptual loss is OFF" in caplog.text
    assert "perceptual_loss" not in model(dict(video=torch.rand(1, 3, 5, 16, 16)))


# --------------------------------------------------------------------------------------------------- SD VAE
TINY_SD = dict(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
               up_block_types=("UpDecoderBlock2D",) * 2, layers_per_block=1, norm_num_groups=4)


def test_sd_vae_round_trip_chunking_and_reference():
    vae = SDVAE(config=TINY_SD, chunk_size=2).eval()
    x = torch.rand(2, 3, 3, 16, 16) * 2 - 1
    z = vae.encode(x)
    assert tuple(z.shape) == (2, 4, 3, 8, 8) and vae.latent_grid(3, 16, 16) == (3, 8, 8)
    frames = x.permute(0, 2, 1, 3, 4).reshape(6, 3, 16, 16)   # reference: every frame at once, then scaled
    ref = (vae.vae.encode(frames).latent_dist.mean * 0.18215).reshape(2, 3, 4, 8, 8).permute(0, 2, 1, 3, 4)
    torch.testing.assert_close(z, ref, rtol=1e-5, atol=1e-5)
    decoded = vae.decode(z)
    assert tuple(decoded.shape) == (2, 3, 3, 16, 16)
    vae.chunk_size = 100
    torch.testing.assert_close(vae.encode(x), z, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(vae.decode(z), decoded, rtol=1e-5, atol=1e-5)


def test_sd_vae_loads_a_local_save_pretrained_directory(tmp_path):
    vae = SDVAE(config=TINY_SD).eval()
    vae.vae.save_pretrained(tmp_path / "model")
    vae.vae.save_pretrained(tmp_path / "pipeline" / "vae")
    x = torch.rand(1, 3, 2, 16, 16) * 2 - 1
    for path in (tmp_path / "model", tmp_path / "pipeline"):
        loaded = AUTOENCODERS.build(dict(type="SDVAE", pretrained=str(path))).eval()
        torch.testing.assert_close(loaded.encode(x), vae.encode(x), rtol=0, atol=0)
    with pytest.raises(FileNotFoundError, match="config.json"):
        SDVAE(pretrained=str(tmp_path))


def test_sd_vae_default_is_the_sd_architecture():
    with torch.device("meta"):
        vae = SDVAE()
    assert (vae.latent_channels, vae.spatial_factor, vae.temporal_factor, vae.scale_factor) == (4, 8, 1, 0.18215)
    assert sum(p.numel() for p in vae.parameters()) == SD_VAE_PARAMS


# --------------------------------------------------------------------------------------------------- latent norm
def test_latent_norm_normalizes_per_channel_and_inverts(tmp_path):
    (tmp_path / "stats.json").write_text('{"mean": [1.0, -2.0], "std": [2.0, 0.5]}')
    norm = LatentNorm.from_file(tmp_path / "stats.json")
    z = torch.randn(3, 2, 2, 4, 4)
    ref = (z - torch.tensor([1.0, -2.0]).view(1, 2, 1, 1, 1)) / torch.tensor([2.0, 0.5]).view(1, 2, 1, 1, 1)
    torch.testing.assert_close(norm.normalize(z), ref)
    torch.testing.assert_close(norm.denormalize(norm.normalize(z)), z)
    with pytest.raises(ValueError, match="2 channels"):
        norm.normalize(torch.randn(1, 3, 1, 2, 2))
