"""DiffusersVideoVAE: walt's contract over the five public diffusers video VAEs, checked against the diffusers objects
themselves and the latent scaling their pipelines apply (tiny random instances, benchmarks/tiny_video_vaes.py)."""
import pytest
import torch
from safetensors.torch import save_file

from registry import AUTOENCODERS
from walt.models.autoencoders.diffusers_video_vae import VIDEO_VAES, DiffusersVideoVAE

from tool_loader import load_benchmark

tiny = load_benchmark("tiny_video_vaes")
NAMES = list(tiny.TINY)
# diffusers' own tiling check (tests/models/autoencoders/testing_utils.py, test_enable_disable_tiling) accepts a
# decoded difference below 0.5. Random tiny weights are the worst case for tile seams (nothing learned makes tiles
# agree, and the GroupNorm statistics of a tile are not the clip's): the differences measured here (max |tiled -
# untiled| of the decoded 5x64x64 clip, 9 frames for CogVideoX; docs/video_vaes.md) exceed 0.5 for all but Mochi.
MEASURED_TILING_DIFFERENCE = dict(cogvideox=1.20, wan=0.649, hunyuanvideo=3.01, ltx=1.57, mochi=0.37)
TILES = dict(tile_sample_min_height=32, tile_sample_min_width=32, tile_sample_stride_height=24,
             tile_sample_stride_width=24)
COGVIDEOX_TILES = dict(tile_sample_min_height=48, tile_sample_min_width=40)  # overlaps exact at f_s = 4


def _view(values, z):
    return torch.as_tensor(values, dtype=z.dtype).view(1, -1, 1, 1, 1)


def pipeline_scale(name, vae, z):
    """What each pipeline feeds its transformer, from the encoder's latents (diffusers/pipelines/*)."""
    cfg = vae.config
    if name in ("cogvideox", "hunyuanvideo"):  # pipeline_cogvideox_video2video.py: scaling_factor * latents
        return cfg.scaling_factor * z
    if name == "wan":  # pipeline_wan_video2video.py: (latents - mean) * (1 / std)
        return (z - _view(cfg.latents_mean, z)) * (1.0 / _view(cfg.latents_std, z))
    if name == "ltx":  # pipeline_ltx.py _normalize_latents with the VAE's buffers
        return (z - _view(vae.latents_mean, z)) * cfg.scaling_factor / _view(vae.latents_std, z)
    return (z - _view(cfg.latents_mean, z)) * cfg.scaling_factor / _view(cfg.latents_std, z)  # mochi (inverse)


def pipeline_unscale(name, vae, z):
    """What each pipeline hands ``vae.decode`` (the lines before ``self.vae.decode`` in pipeline ``__call__``)."""
    cfg = vae.config
    if name in ("cogvideox", "hunyuanvideo"):  # 1 / scaling_factor * latents
        return 1 / cfg.scaling_factor * z
    if name == "wan":  # latents / (1 / std) + mean
        return z / (1.0 / _view(cfg.latents_std, z)) + _view(cfg.latents_mean, z)
    if name == "ltx":  # _denormalize_latents
        return z * _view(vae.latents_std, z) / cfg.scaling_factor + _view(vae.latents_mean, z)
    return z * _view(cfg.latents_std, z) / cfg.scaling_factor + _view(cfg.latents_mean, z)  # pipeline_mochi.py


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("vaes")
    return {name: tiny.save_tiny(name, root / name) for name in NAMES}


def _clip(frames=9, size=32, seed=0):
    return torch.rand(1, 3, frames, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("name", NAMES)
def test_encode_decode_equal_diffusers_with_the_pipeline_scaling(name, folders):
    torch.set_num_threads(1)
    ours = AUTOENCODERS.build(dict(type="DiffusersVideoVAE", pretrained=str(folders[name]), tiling=False))
    ref = type(ours.vae).from_pretrained(str(folders[name])).eval()
    assert ours.model == tiny.TINY[name][0]
    x = _clip()
    with torch.no_grad():
        z = ours.encode(x)
        z_ref = pipeline_scale(name, ref, ref.encode(x).latent_dist.mode())
        y, y_ref = ours.decode(z_ref), ref.decode(pipeline_unscale(name, ref, z_ref)).sample
    assert tuple(z.shape) == (1, ours.latent_channels, *ours.latent_grid(9, 32, 32))
    assert tuple(y.shape) == (1, 3, *ours.pixel_grid(*z.shape[2:])) == tuple(x.shape)
    assert (z - z_ref).abs().max() <= 1e-5 and z.abs().max() > 1e-2
    assert (y - y_ref).abs().max() <= 1e-5


@pytest.mark.parametrize("name", NAMES)
def test_tiled_equals_untiled_within_the_diffusers_tolerance(name, folders):
    torch.set_num_threads(1)
    tiles = COGVIDEOX_TILES if name == "cogvideox" else TILES
    plain = DiffusersVideoVAE(str(folders[name]), tiling=False)
    tiled = DiffusersVideoVAE(str(folders[name]), tiling=tiles)
    ref = type(plain.vae).from_pretrained(str(folders[name])).eval()
    ref.enable_tiling(**tiles)
    assert tiled.vae.use_tiling and not plain.vae.use_tiling
    x = _clip(frames=5 if name != "cogvideox" else 9, size=64)
    with torch.no_grad():
        z, z_tiled = plain.encode(x), tiled.encode(x)
        y, y_tiled = plain.decode(z), tiled.decode(z)
        z_ref = pipeline_scale(name, ref, ref.encode(x).latent_dist.mode())
        y_ref = ref.decode(pipeline_unscale(name, ref, z)).sample
    # walt's tiling is diffusers' own (decode up to 1.7e-5 apart: HunyuanVideo's tile blending reorders the sums)
    assert (z_tiled - z_ref).abs().max() <= 1e-5 and (y_tiled - y_ref).abs().max() <= 1e-4
    assert 0 < (y_tiled - y).abs().max() <= 1.01 * MEASURED_TILING_DIFFERENCE[name]


def test_tiling_defaults_follow_the_spec(folders):
    for name in NAMES:
        vae = DiffusersVideoVAE(str(folders[name]))
        assert vae.vae.use_tiling == VIDEO_VAES[vae.model].tiling and vae.vae.use_slicing


def test_slicing_equals_whole_batch(folders):
    x = torch.cat([_clip(seed=1), _clip(seed=2)])
    sliced, whole = DiffusersVideoVAE(str(folders["wan"])), DiffusersVideoVAE(str(folders["wan"]), slicing=False)
    with torch.no_grad():
        assert (sliced.encode(x) - whole.encode(x)).abs().max() <= 1e-5


def test_pipeline_scaling_off_gives_the_raw_posterior_mode(folders):
    vae = DiffusersVideoVAE(str(folders["mochi"]), pipeline_scaling=False)
    x = _clip()
    with torch.no_grad():
        assert (vae.encode(x) - vae.vae.encode(x).latent_dist.mode()).abs().max() == 0


@pytest.mark.parametrize("frames", [8, 10, 13])
def test_a_clip_off_the_temporal_grid_is_one_error(folders, frames):
    vae = DiffusersVideoVAE(str(folders["cogvideox"]), tiling=False)  # CogVideoX: 1 + 8k frames
    with pytest.raises(ValueError, match=r"frames must be 1 \+ 8k \(e\.g\. 9, 17, 33\)"):
        vae.encode(_clip(frames=frames))
    with pytest.raises(ValueError, match="latent frames are off its grid"):
        vae.decode(torch.zeros(1, 4, 4, 8, 8))


def test_a_folder_of_another_class_is_one_error(folders, tmp_path):
    with pytest.raises(ValueError, match="holds a diffusers AutoencoderKLCogVideoX, not AutoencoderKLWan"):
        DiffusersVideoVAE(str(folders["cogvideox"]), model="AutoencoderKLWan")
    from diffusers import AutoencoderKL
    AutoencoderKL(block_out_channels=(8,), norm_num_groups=4, latent_channels=4).save_pretrained(str(tmp_path / "sd"))
    with pytest.raises(ValueError, match="holds a diffusers AutoencoderKL, not one of AutoencoderKLCogVideoX"):
        DiffusersVideoVAE(str(tmp_path / "sd"))


@pytest.mark.parametrize("name", ["wan", "ltx"])
def test_single_safetensors_file_loads_as_the_folder(name, folders, tmp_path):
    cls_name, config, _ = tiny.TINY[name]
    folder = DiffusersVideoVAE(str(folders[name]), tiling=False)
    path = tmp_path / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in folder.vae.state_dict().items()}, str(path))
    single = DiffusersVideoVAE(str(path), model=cls_name, config=config, tiling=False)
    from_folder_config = DiffusersVideoVAE(str(path), model=cls_name, config=str(folders[name]), tiling=False)
    x = _clip()
    with torch.no_grad():
        z = folder.encode(x)
        assert (single.encode(x) - z).abs().max() == 0 and (from_folder_config.encode(x) - z).abs().max() == 0


def test_single_file_of_a_class_diffusers_cannot_load_is_one_error(tmp_path):
    with pytest.raises(ValueError, match="no single-file loader for AutoencoderKLMochi"):
        DiffusersVideoVAE(str(tmp_path / "mochi.safetensors"), model="AutoencoderKLMochi")


@pytest.mark.parametrize("name", NAMES)
def test_meta_build_reads_no_weights_and_runs(name, folders, tmp_path):
    only_config = tmp_path / name
    only_config.mkdir()
    (only_config / "config.json").write_text((folders[name] / "config.json").read_text())  # no weights file
    with torch.device("meta"):
        vae = DiffusersVideoVAE(str(only_config))
        out = vae(torch.empty(1, 3, 9, 32, 32))
    assert out.shape == (1, 3, 9, 32, 32) and vae.latent_channels == tiny.TINY[name][1].get(
        "latent_channels", tiny.TINY[name][1].get("z_dim"))


def test_ltx_timestep_conditioned_decoder_gets_the_pipeline_timestep(tmp_path):
    cls_name, config, _ = tiny.TINY["ltx"]
    import diffusers
    torch.manual_seed(0)
    # equal decoder widths, as in LTX-Video 0.9.1 (a width-changing up block hands its resnet the raw timestep)
    ref = getattr(diffusers, cls_name).from_config(
        {**config, "timestep_conditioning": True, "decoder_block_out_channels": (16, 16, 16)}).eval()
    ref.save_pretrained(str(tmp_path / "ltx"))
    ours = DiffusersVideoVAE(str(tmp_path / "ltx"), decode_timestep=0.05, decode_noise_scale=0.0)
    z = torch.randn(1, config["latent_channels"], 3, 4, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y_ref = ref.decode(z * ref.latents_std.view(1, -1, 1, 1, 1) + ref.latents_mean.view(1, -1, 1, 1, 1),
                           temb=torch.tensor([0.05])).sample
        other = ref.decode(z, temb=torch.tensor([0.5])).sample
        assert (ours.decode(z) - y_ref).abs().max() <= 1e-5 < (other - y_ref).abs().max()


def test_benchmark_counts_the_peak_of_live_tensors():
    bench = load_benchmark("vae_encode").harness

    def fn():
        a = torch.ones(256, 1024)  # 1 MiB
        b = torch.ones(512, 1024)  # 2 MiB: 3 live
        view = b[:10]  # a view allocates nothing
        del a
        c = torch.ones(256, 1024)  # 3 live again, not 4
        return view.sum() + c.sum()

    assert bench.peak_mib(fn) == pytest.approx(3.0, abs=1e-3)


def test_benchmark_memory_count_on_meta_equals_the_count_on_cpu(folders):
    """The released sizes in docs/video_vaes.md are counted on the meta device: the same count as running on the CPU."""
    bench = load_benchmark("vae_encode").harness
    x = _clip()
    with torch.inference_mode():
        cpu = DiffusersVideoVAE(str(folders["wan"]), tiling=False, slicing=False)
        z = cpu.encode(x)
        on_cpu = bench.peak_mib(lambda: cpu.encode(x)), bench.peak_mib(lambda: cpu.decode(z))
        with torch.device("meta"):
            meta = DiffusersVideoVAE(str(folders["wan"]), tiling=False, slicing=False)
            xm, zm = torch.empty(x.shape), torch.empty(z.shape)
            on_meta = bench.peak_mib(lambda: meta.encode(xm)), bench.peak_mib(lambda: meta.decode(zm))
    assert on_cpu == pytest.approx(on_meta, rel=1e-4) and on_cpu[0] > 0.5
