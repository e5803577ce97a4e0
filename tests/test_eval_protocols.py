"""Each protocol step written out from the public code's description and compared with walt's: the converter's
resize + JPEG bytes (StyleGAN-V / Latte ``convert_videos_to_frames.py``), the first-N sorted and random.sample
rules with the discard and offset rules (``metric_utils.py``, ``dataset.py``), label draws, uint8 conversions,
the real-statistics cache key, ADM's reference-batch layout and its precision / recall on a case computed by hand,
TGAN-v2's runs of one split."""
import dataclasses
import os
import random

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TVF
from PIL import Image

from walt.evaluation.adm_reference import load_reference_batch, precision_recall
from walt.evaluation.feature_stats import FeatureStats
from walt.evaluation.inception_score import inception_score
from walt.evaluation.pixels import JPEG_QUALITY, convert_frame, generated_to_uint8
from walt.evaluation.protocols import get_protocol
from walt.evaluation.real_data import real_data_from_folder
from walt.evaluation.runner import metric_value, real_key
from walt.evaluation.samples import draw_labels

STYLEGAN_V, LATTE = get_protocol("stylegan-v"), get_protocol("latte")


def frame(h: int = 24, w: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    smooth = np.cumsum(np.cumsum(rng.normal(size=(h, w, 3)), 0), 1)  # JPEG-friendly content, not pure noise
    return np.clip((smooth - smooth.min()) / np.ptp(smooth) * 255, 0, 255).astype(np.uint8)


def test_converter_frames_equal_the_scripts_files(tmp_path):
    """StyleGAN-V L72-76 and Latte L72-80 run as written (PIL image, TVF with Image.LANCZOS, save(..., q=95)),
    read back as the metric code reads them: equal to walt's in-memory conversion, pixel for pixel."""
    x = frame()
    img = Image.fromarray(x)
    sgv = TVF.center_crop(TVF.resize(img, size=16, interpolation=Image.LANCZOS), output_size=(16, 16))
    sgv.save(tmp_path / "sgv.jpg", q=95)
    short = min(img.size)
    latte = TVF.resize(TVF.center_crop(img, output_size=(short, short)), size=16, interpolation=Image.LANCZOS)
    latte.save(tmp_path / "latte.jpg", q=95)
    assert np.array_equal(np.array(Image.open(tmp_path / "sgv.jpg")), convert_frame(x, 16, "resize-crop"))
    assert np.array_equal(np.array(Image.open(tmp_path / "latte.jpg")), convert_frame(x, 16, "crop-resize"))
    # q=95 is ignored: the file's quantization tables are those of quality 75, not 95
    img.save(tmp_path / "q75.jpg", quality=JPEG_QUALITY)
    img.save(tmp_path / "q95.jpg", quality=95)
    img.save(tmp_path / "asked95.jpg", q=95)
    tables = {n: Image.open(tmp_path / f"{n}.jpg").quantization for n in ("q75", "q95", "asked95")}
    assert tables["asked95"] == tables["q75"] != tables["q95"]
    # without the JPEG round trip the frame is the lossless resize
    assert np.array_equal(convert_frame(x, 16, "resize-crop", jpeg=False), np.array(sgv))


def write_frame_folder(path, frames: int, seed: int) -> None:
    os.makedirs(path)
    for t in range(frames):
        Image.fromarray(frame(8, 8, seed * 100 + t)).save(os.path.join(path, f"{t:06d}.png"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """v0 ... v11, frame folders of 6 to 17 frames; v0, v1, v3 (5) and v7 (7) are too short for 4 frames at
    interval 2."""
    root = tmp_path_factory.mktemp("real")
    lengths = {f"v{i}": 6 + i for i in range(12)}
    lengths.update(v3=5, v7=7)
    for name, n in lengths.items():
        write_frame_folder(root / name, n, int(name[1:]))
    return root, lengths


def expected_clips(lengths: dict, names: list[str], seed: int, frames: int, interval: int) -> list:
    need = frames * interval
    out = []
    for name in names:  # dataset.py L403: randint(0, n - frames*interval + interval - 1), here seeded per video
        offset = random.Random(f"{seed}:{name}").randint(0, lengths[name] - need + interval - 1)
        out.append((name, [offset + k * interval for k in range(frames)]))
    return out


def test_stylegan_v_takes_the_first_n_long_videos_in_plain_sorted_order(folder):
    root, lengths = folder
    real = real_data_from_folder(str(root), 8, STYLEGAN_V)
    clips = real.select_clips(5, 4, 2, "first", seed=3)
    # sorted() of the names (v10 before v2), short videos (< 4*2 frames) discarded, then the first 5
    order = [n for n in sorted(lengths) if lengths[n] >= 8][:5]
    assert order == ["v10", "v11", "v2", "v4", "v5"]
    got = [(os.path.basename(real.dataset.samples[i].path), f) for i, f in clips]
    assert got == expected_clips(lengths, order, 3, 4, 2)
    assert all(f[-1] < lengths[n] for n, f in got)


def test_latte_takes_a_seeded_random_sample_of_the_long_videos(folder):
    root, lengths = folder
    real = real_data_from_folder(str(root), 8, LATTE)
    usable = [n for n in sorted(lengths) if lengths[n] >= 8]
    names = [usable[i] for i in random.Random(5).sample(range(len(usable)), 4)]  # metric_utils.py L233, seeded
    got = [(os.path.basename(real.dataset.samples[i].path), f) for i, f in real.select_clips(4, 4, 2, "random", 5)]
    assert got == expected_clips(lengths, names, 5, 4, 2)


def test_an_unreachable_count_names_the_available_one(folder):
    root, _ = folder
    real = real_data_from_folder(str(root), 8, STYLEGAN_V)
    with pytest.raises(ValueError, match=r"20 real clips asked for, but .* has only 8 videos of >= 8 frames"):
        real.select_clips(20, 4, 2, "first", seed=0)
    assert len(real.select_clips(20, 4, 2, "first", seed=0, allow_fewer=True)) == 8


def test_label_draws_follow_the_reference_code():
    labels, _ = draw_labels("uniform", 9, 7, num_classes=5)  # ADM image_sample.py L47-49 / DiT: randint(0, C)
    assert np.array_equal(labels, np.random.RandomState(7).randint(0, 5, size=9))
    dataset_labels = [0, 0, 0, 1, 2, 2]  # StyleGAN-V metric_utils.py L306-307: the label of a random item
    labels, _ = draw_labels("dataset", 9, 7, 3, dataset_labels)
    assert np.array_equal(labels, np.array(dataset_labels)[np.random.RandomState(7).randint(0, 6, size=9)])
    assert np.array_equal(draw_labels("balanced", 7, 0, 3)[0], [0, 1, 2, 0, 1, 2, 0])
    assert np.array_equal(draw_labels("dataset", 4, 7, 5, None)[0], draw_labels("uniform", 4, 7, 5)[0])


def test_generated_uint8_conversions_of_each_protocol():
    x = torch.tensor([-1.2, -1.0, -0.999, -0.5, 0.0, 0.0039, 0.5, 0.999, 1.0, 1.3])
    assert torch.equal(generated_to_uint8(x, "stylegan"),  # StyleGAN-V metric_utils.py L285
                       torch.tensor([0, 0, 0, 64, 128, 128, 191, 255, 255, 255], dtype=torch.uint8))
    assert torch.equal(generated_to_uint8(x, "adm"),  # ADM image_sample.py L60: ((x + 1) * 127.5) truncated
                       torch.tensor([0, 0, 0, 63, 127, 127, 191, 254, 255, 255], dtype=torch.uint8))
    assert torch.equal(generated_to_uint8(x, "round"),  # Latte sample_ddp.py L172: rounded
                       torch.tensor([0, 0, 0, 64, 128, 128, 191, 255, 255, 255], dtype=torch.uint8))
    y = torch.linspace(-1, 1, 1001)
    assert torch.equal(generated_to_uint8(y, "adm"), ((y + 1) * 127.5).clamp(0, 255).to(torch.uint8))
    assert torch.equal(generated_to_uint8(y, "round"), ((y * 0.5 + 0.5) * 255 + 0.5).clamp(0, 255).to(torch.uint8))


def test_cache_key_changes_with_the_file_list_a_file_and_the_csv(tmp_path):
    from walt.data.text_video_csv import TextVideoCSV
    from walt.evaluation.real_data import listing_digest

    for name, n in (("a", 4), ("b", 5)):
        write_frame_folder(tmp_path / name, n, n)
    detector = type("D", (), dict(sha256="0" * 64))()
    key = lambda: real_key("fvd", real_data_from_folder(str(tmp_path), 8, STYLEGAN_V), detector, STYLEGAN_V, 0)
    first = key()
    assert key() == first
    write_frame_folder(tmp_path / "c", 3, 1)                      # a video added
    second = key()
    Image.fromarray(frame(8, 8, 9)).save(tmp_path / "c" / "000000.png")  # a frame rewritten (size changes)
    third = key()
    assert len({str(first), str(second), str(third)}) == 3
    assert real_key("fvd", real_data_from_folder(str(tmp_path), 8, LATTE), detector, LATTE, 0) != third
    # a CSV dataset: another row list gives another digest, although root and arguments are the same
    (tmp_path / "captions.csv").write_text("path,caption\na,x\nb,y\n")
    one = listing_digest(TextVideoCSV(str(tmp_path), resolution=8).samples)
    (tmp_path / "captions.csv").write_text("path,caption\na,x\n")
    assert listing_digest(TextVideoCSV(str(tmp_path), resolution=8).samples) != one


def test_reference_batch_npz_in_the_evaluator_layout(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(6, 8, 8, 3), dtype=np.uint8)
    mu, sigma = rng.normal(size=4), np.eye(4)
    np.savez(tmp_path / "ref.npz", images, mu=mu, sigma=sigma, mu_s=mu[:2], sigma_s=np.eye(2))  # arr_0 + stats
    ref = load_reference_batch(str(tmp_path / "ref.npz"))
    assert np.array_equal(ref["images"], images) and np.array_equal(ref["mu"], mu) and ref["sigma_s"].shape == (2, 2)
    np.savez(tmp_path / "images_only.npz", images)
    assert set(load_reference_batch(str(tmp_path / "images_only.npz"))) == {"images"}
    np.savez(tmp_path / "bad.npz", imgs=images)
    with pytest.raises(ValueError, match="missing arr_0"):
        load_reference_batch(str(tmp_path / "bad.npz"))


def test_precision_recall_on_a_case_computed_by_hand():
    """1-d features. Reference {0,1,2,3,4}: squared distances to the 3rd neighbour 9, 4, 4, 4, 9. Samples
    {0, .5, 1, 1.25} (radii 1.5625, .5625, 1, 1.5625) and {50, 50.5, 51, 51.25}: the first cluster lies in the
    reference balls, the second does not → precision 4/8; reference points 0, 1, 2 lie in sample balls (2 is
    .5625 from 1.25), 3 and 4 do not → recall 3/5."""
    reference = np.array([[0.0], [1], [2], [3], [4]], np.float32)
    samples = np.array([[0.0], [0.5], [1], [1.25], [50], [50.5], [51], [51.25]], np.float32)
    assert precision_recall(reference, samples) == (0.5, 0.6)


def test_adm_inception_score_splits_of_5000_and_tgan_runs_of_one_split():
    probs = np.random.default_rng(1).dirichlet(np.full(4, 0.5), size=14)
    parts = [probs[0:5], probs[5:10], probs[10:14]]  # ADM evaluator L187: range(0, N, split_size)
    score = lambda p: np.exp(np.mean(np.sum(p * (np.log(p) - np.log(p.mean(0, keepdims=True))), 1)))
    assert inception_score(probs, split_size=5)[0] == pytest.approx(np.mean([score(p) for p in parts]))
    tgan = dataclasses.replace(get_protocol("tgan"), is_runs=2)
    stats = {"isv": FeatureStats(keep_rows=True).add(probs)}
    runs = [score(probs[:7] + 1e-20), score(probs[7:] + 1e-20)]  # compute_inception_score.py L55-66
    out = metric_value("isv", stats, None, tgan)
    assert (out["value"], out["std"]) == pytest.approx((np.mean(runs), np.std(runs)))


def test_adm_protocol_end_to_end_equals_the_evaluator_written_out(tmp_path, capsys):
    """tools/eval.py --protocol adm on saved images against a reference batch in the evaluator's layout, with a
    tiny walt InceptionV3 (it exposes mixed_6/conv): FID from np.cov (ddof 1) of the activations, or FID and sFID
    from the stored mu/sigma, mu_s/sigma_s; IS of one split; precision / recall of the pool features."""
    import scipy.linalg
    import torch.nn.functional as F

    from tool_loader import load_tool
    from walt.evaluation.inception import InceptionV3

    torch.manual_seed(0)
    net = InceptionV3(num_classes=10, width=0.125).eval()
    torch.save(dict(config=dict(num_classes=10, width=0.125), state_dict=net.state_dict()), tmp_path / "inc.pth")
    rng = np.random.default_rng(0)
    ref_images = rng.integers(0, 256, size=(6, 32, 32, 3), dtype=np.uint8)
    fake_images = rng.integers(0, 256, size=(5, 32, 32, 3), dtype=np.uint8)
    os.makedirs(tmp_path / "fake")
    for i, image in enumerate(fake_images):
        Image.fromarray(image).save(tmp_path / "fake" / f"{i:06d}.png")

    def activations(images):
        spatial = []
        hook = net.Mixed_6d.branch1x1.register_forward_hook(lambda m, i, o: spatial.append(o))
        x = F.interpolate(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1, size=(299, 299),
                          mode="bilinear", align_corners=False)
        with torch.no_grad():
            pool, _ = net(x)
        hook.remove()
        probs = torch.softmax(pool @ net.fc.weight.detach().T, dim=1)  # evaluator L603-614: no bias
        return pool.numpy().astype(np.float64), spatial[0][:, :7].permute(0, 2, 3, 1).reshape(len(x), -1).numpy(), \
            probs.numpy()

    def fid(a, b_mu, b_sigma):
        mu, sigma = a.mean(0), np.cov(a, rowvar=False)
        root = scipy.linalg.sqrtm(sigma @ b_sigma, disp=False)[0].real
        return float(np.sum((mu - b_mu) ** 2) + np.trace(sigma) + np.trace(b_sigma) - 2 * np.trace(root))

    ref_pool, ref_spatial, _ = activations(ref_images)
    fake_pool, fake_spatial, fake_probs = activations(fake_images)
    np.savez(tmp_path / "ref.npz", ref_images)
    args = ["--fake", str(tmp_path / "fake"), "--protocol", "adm", "--inception", str(tmp_path / "inc.pth"),
            "--num", "5", "--batch-size", "8"]
    run = lambda ref, *extra: load_tool("eval").main(  # noqa: E731
        args + ["--ref-batch", str(tmp_path / ref), "--out", str(tmp_path / "out.json"), *extra]) == 0 and \
        __import__("json").loads((tmp_path / "out.json").read_text())["metrics"]
    metrics = run("ref.npz", "--metrics", "fid", "is", "precision", "recall")
    assert metrics["fid"]["value"] == pytest.approx(fid(fake_pool, ref_pool.mean(0), np.cov(ref_pool, rowvar=False)),
                                                    rel=1e-4)
    kl = fake_probs * (np.log(fake_probs) - np.log(fake_probs.mean(0, keepdims=True)))
    assert metrics["is"]["value"] == pytest.approx(np.exp(kl.sum(1).mean()), rel=1e-5)
    assert (metrics["precision"]["value"], metrics["recall"]["value"]) == precision_recall(
        ref_pool.astype(np.float32), fake_pool.astype(np.float32))
    assert metrics["fid"]["num_real"] == 6 and metrics["fid"]["num_fake"] == 5
    # stored statistics are used for FID / sFID, as the evaluator reads them: with the samples' own spatial
    # covariance and a mean shifted by 1 in each of the 7·17·17 dimensions, sFID = 2023
    mu, sigma = np.zeros(ref_pool.shape[1]), np.eye(ref_pool.shape[1])
    np.savez(tmp_path / "stored.npz", ref_images, mu=mu, sigma=sigma, mu_s=fake_spatial.mean(0) + 1,
             sigma_s=np.cov(fake_spatial.astype(np.float64), rowvar=False))
    stored = run("stored.npz")
    assert fake_spatial.shape[1] == 7 * 17 * 17
    assert stored["fid"]["value"] == pytest.approx(fid(fake_pool, mu, sigma), rel=1e-4)
    assert stored["sfid"]["value"] == pytest.approx(7 * 17 * 17, rel=1e-4)
    # the TorchScript Inception exposes no spatial features: one error line naming it
    from walt.evaluation.standin_detectors import save_standins
    standin = save_standins(str(tmp_path / "det"))["inception"]
    capsys.readouterr()
    assert load_tool("eval").main(["--fake", str(tmp_path / "fake"), "--protocol", "adm", "--inception", standin,
                                   "--num", "5", "--ref-batch", str(tmp_path / "ref.npz")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "spatial features" in err[0]


def test_fvd_takes_the_first_clips_and_fid_the_frames_up_to_its_cap(tmp_path):
    """fid50k_full reads generated frames up to 50,000 while fvd2048_16f reads the first 2,048 clips
    (frechet_inception_distance.py L38-44, frechet_video_distance.py L47-49): here 3 clips and 20 frames."""
    from walt.evaluation.detectors import load_detector
    from walt.evaluation.runner import measure_generated
    from walt.evaluation.standin_detectors import save_standins

    paths = save_standins(str(tmp_path))
    detectors = {k: load_detector(paths[k], k) for k in ("i3d", "inception")}
    protocol = dataclasses.replace(STYLEGAN_V, num_samples=3, num_frames=4, max_fake_frames=20)
    videos = torch.randint(0, 256, (8, 3, 4, 16, 16), dtype=torch.uint8)
    total = {}
    for first in (0, 4):  # two chunks of 4 clips
        for name, stats in measure_generated(videos[first:first + 4], first, ["fvd", "fid"], detectors,
                                             protocol).items():
            total.setdefault(name, FeatureStats()).merge(stats)
    assert total["fvd"].count == 3 and total["fid"].count == 20
    with torch.no_grad():
        expected = detectors["i3d"].net(videos[:3], rescale=True, resize=True, return_features=True).double()
    np.testing.assert_allclose(total["fvd"].sum, expected.sum(0).numpy(), rtol=1e-5)
