"""Latent cache (tools/encode_latents.py → walt/data/latent_dataset.py) and latent statistics (W.A.L.T §5.3)."""
import json
from pathlib import Path

import torch
from torch.utils.data import Dataset

from registry import AUTOENCODERS, DATASETS
from walt.models.autoencoders.latent_norm import LatentNorm
from tool_loader import load_tool

VAE = dict(type="CausalVAE3D", latent_channels=4, base_channels=4, channel_multipliers=(1, 2), num_res_blocks=1,
           temporal_downsample=(True,), num_mid_blocks=1, num_groups=2)


@DATASETS.register_module(force=True)
class TinyClipsForLatentCacheTest(Dataset):
    """Deterministic random clips (5×8×8) with labels and captions."""

    def __init__(self, num: int = 7):
        self.num = num

    def __len__(self) -> int:
        return self.num

    def __getitem__(self, i: int) -> dict:
        video = torch.rand(3, 5, 8, 8, generator=torch.Generator().manual_seed(i)) * 2 - 1
        return dict(video=video, label=i % 3, caption=f"clip {i}", path=f"clip_{i}.mp4")


def write_cache(tmp_path: Path, *extra: str) -> tuple[dict, torch.nn.Module, Path]:
    torch.manual_seed(0)
    vae = AUTOENCODERS.build(VAE).eval()
    torch.save(vae.state_dict(), tmp_path / "vae.pth")
    config = tmp_path / "config.py"
    config.write_text(f"model = dict(type='AutoencoderTraining', autoencoder={VAE!r})\n"
                      f"data = dict(train=dict(type='TinyClipsForLatentCacheTest', num=7))\n")
    out = tmp_path / "cache"
    result = load_tool("encode_latents").main([str(config), "--out", str(out), "--checkpoint",
                                                str(tmp_path / "vae.pth"), "--shard-size", "3", "--batch-size", "2",
                                                "--no-progress", *extra])
    return result, vae, out


def test_cached_latents_equal_on_the_fly_encoding(tmp_path):
    result, vae, out = write_cache(tmp_path)
    assert (result["items"], result["shards"], result["skipped"]) == (7, 3, 0)
    cached = DATASETS.build(dict(type="LatentDataset", root=str(out)))
    source = TinyClipsForLatentCacheTest(7)
    assert len(cached) == 7
    with torch.no_grad():
        for i in range(7):
            item = cached[i]
            expected = vae.encode(source[i]["video"][None])[0]
            assert item["latent"].shape == (4, 3, 4, 4)
            torch.testing.assert_close(item["latent"], expected, rtol=1e-5, atol=1e-5)
            assert (item["label"], item["caption"]) == (i % 3, f"clip {i}")


def test_latent_stats_equal_direct_per_channel_mean_and_std(tmp_path):
    _, _, out = write_cache(tmp_path)
    cached = DATASETS.build(dict(type="LatentDataset", root=str(out)))
    latents = torch.stack([cached[i]["latent"] for i in range(len(cached))]).double()
    per_channel = latents.transpose(0, 1).reshape(4, -1)
    stats = json.loads((out / "latent_stats.json").read_text())
    torch.testing.assert_close(torch.tensor(stats["mean"], dtype=torch.float64), per_channel.mean(1))
    torch.testing.assert_close(torch.tensor(stats["std"], dtype=torch.float64), per_channel.std(1, unbiased=False))
    assert stats["count"] == per_channel.shape[1] == 7 * 3 * 4 * 4
    # tools/latent_stats.py recomputes the same numbers from the shards
    again = load_tool("latent_stats").main([str(out), "--out", str(tmp_path / "again.json"), "--no-progress"])
    torch.testing.assert_close(torch.tensor(again["std"]), torch.tensor(stats["std"]))
    # and LatentNorm built from the file whitens the cache per channel
    z = LatentNorm.from_file(out / "latent_stats.json").normalize(latents.float()).transpose(0, 1).reshape(4, -1)
    torch.testing.assert_close(z.mean(1), torch.zeros(4), rtol=0, atol=1e-5)
    torch.testing.assert_close(z.std(1, unbiased=False), torch.ones(4), rtol=0, atol=1e-5)


def test_rerun_skips_finished_shards_and_redoes_unfinished_ones(tmp_path):
    _, _, out = write_cache(tmp_path)
    index = (out / "index.json").read_text()
    stats = (out / "latent_stats.json").read_text()
    first = (out / "shard_00000.pt").stat().st_mtime_ns
    (out / "shard_00001.json").unlink()          # shard 1 interrupted after its latents, before its metadata
    (out / "shard_00002.pt").unlink()            # shard 2 never written
    (out / "shard_00002.json").unlink()
    result, _, _ = write_cache(tmp_path)
    assert (result["items"], result["shards"], result["skipped"]) == (7, 3, 1)
    assert (out / "shard_00000.pt").stat().st_mtime_ns == first
    assert (out / "index.json").read_text() == index
    torch.testing.assert_close(torch.tensor(json.loads((out / "latent_stats.json").read_text())["std"]),
                               torch.tensor(json.loads(stats)["std"]))
