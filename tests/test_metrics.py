"""Fréchet distance and Inception Score against closed forms and a scipy reference; running feature statistics
against numpy; feature-net key names."""
import numpy as np
import pytest
import scipy.linalg
import torch

from walt.evaluation.i3d import InceptionI3d
from walt.evaluation.inception import InceptionV3
from walt.evaluation.feature_stats import FeatureStats
from walt.evaluation.frechet import frechet_distance, frechet_distance_from_features, gaussian_stats
from walt.evaluation.inception_score import inception_score


def test_frechet_distance_of_identical_features_is_zero():
    feats = np.random.default_rng(0).normal(size=(40, 6))
    assert frechet_distance_from_features(feats, feats) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_matches_scipy_sqrtm_formula():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(80, 5)), rng.normal(size=(70, 5)) @ rng.normal(size=(5, 5)) + 0.7
    mu1, s1 = gaussian_stats(a)
    mu2, s2 = gaussian_stats(b)
    reference = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(reference, rel=1e-8)


def test_frechet_distance_of_diagonal_gaussians_has_closed_form():
    mu1, mu2 = np.array([0.0, 1.0]), np.array([2.0, -1.0])
    v1, v2 = np.array([1.0, 4.0]), np.array([9.0, 1.0])
    closed = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)  # = 8 + 4 + 1
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(closed) == 13.0


def test_inception_score_of_uniform_prediction_is_one_and_of_confident_distinct_classes_is_k():
    assert inception_score(np.full((20, 7), 1 / 7), splits=2)[0] == pytest.approx(1.0)
    onehot = np.eye(5)[np.arange(50) % 5]  # every split sees all 5 classes equally, each with certainty
    assert inception_score(onehot, splits=10)[0] == pytest.approx(5.0)


def test_inception_score_splits_at_i_n_over_splits_after_the_seeded_shuffle():
    probs = np.random.default_rng(3).dirichlet(np.full(4, 0.3), size=23)
    shuffled = probs.copy()
    np.random.RandomState(42).shuffle(shuffled)
    bounds = [0, 7, 15, 23]  # i * 23 // 3: sizes 7, 8, 8 (np.array_split would give 8, 8, 7)
    scores = []
    for lo, hi in zip(bounds, bounds[1:]):
        part = shuffled[lo:hi]
        scores.append(np.exp(np.mean(np.sum(part * np.log(part / part.mean(axis=0)), axis=1))))
    assert inception_score(probs, splits=3, shuffle_seed=42) == pytest.approx((np.mean(scores), np.std(scores)))
    assert inception_score(probs, splits=3)[0] != pytest.approx(np.mean(scores))  # order matters


def test_feature_stats_merged_in_chunks_equal_numpy_mean_and_covariance():
    x = np.random.default_rng(2).normal(size=(30, 5)).astype(np.float32)
    stats = FeatureStats(keep_rows=True)
    for chunk in (x[:7], x[7:8], x[8:]):
        stats.merge(FeatureStats(keep_rows=True).add(chunk))
    for ddof in (0, 1):
        mean, cov = stats.mean_cov(ddof)
        np.testing.assert_allclose(mean, x.astype(np.float64).mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(cov, np.cov(x.astype(np.float64), rowvar=False, ddof=ddof), rtol=1e-10)
    assert stats.count == 30 and np.array_equal(stats.all_rows(), x)


def test_feature_nets_have_checkpoint_key_names_and_real_sizes():
    import torchvision

    ours = InceptionV3(num_classes=1000, fid_variant=False)
    tv = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False)
    assert set(ours.state_dict()) == set(tv.state_dict()) and ours.feature_dim == 2048
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in tv.parameters())
    i3d = InceptionI3d(width=0.125).eval()
    assert i3d.feature_dim == 128 and "Mixed_5c.b3b.conv3d.weight" in i3d.state_dict()
    assert i3d(torch.zeros(1, 3, 8, 32, 32)).shape == (1, 400)
    assert InceptionI3d().feature_dim == 1024
