"""Fréchet distance against closed forms and SciPy; FVD plumbing through a TorchScript detector file."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from vidsynth.errors import VidsynthError
from vidsynth.metrics import frechet


class FakeI3D(torch.nn.Module):
    """Same call signature as StyleGAN-V's i3d_torchscript.pt; records how it was called in its output.

    Features: per-channel means of the uint8 input (3), then T, then the three flags as 0/1.
    """

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False,
                return_features: bool = False) -> torch.Tensor:
        if x.dtype != torch.uint8:
            raise RuntimeError("expected uint8 videos")
        b = x.shape[0]
        flags = torch.tensor([float(rescale), float(resize), float(return_features)]).expand(b, 3)
        frames = torch.full((b, 1), float(x.shape[2]))
        return torch.cat([x.float().mean(dim=(2, 3, 4)), frames, flags], dim=1)


class FakeInception(torch.nn.Module):
    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        return torch.cat([x.float().mean(dim=(2, 3)), torch.full((x.shape[0], 1), float(return_features))], dim=1)


def scipy_frechet(mu1, s1, mu2, s2):
    root = scipy.linalg.sqrtm(s1 @ s2)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * np.real(root)))


def random_spd(rng, d):
    a = rng.standard_normal((d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_2x2_closed_form():
    s1 = np.array([[2.0, 1.0], [1.0, 2.0]])
    s2 = np.diag([1.0, 4.0])
    expected = 9 - 2 * math.sqrt(10 + 4 * math.sqrt(3))
    assert frechet.frechet_distance(np.zeros(2), s1, np.zeros(2), s2) == pytest.approx(0.7712204476543416, abs=1e-12)
    assert expected == pytest.approx(0.7712204476543416, abs=1e-15)


def test_400_dimensional_standard_normal_against_mean_1_variance_4_is_800():
    d = 400
    value = frechet.frechet_distance(np.zeros(d), np.eye(d), np.ones(d), 4 * np.eye(d))
    assert value == pytest.approx(800.0, abs=1e-8)


def test_matches_scipy_sqrtm_on_random_spd_matrices():
    rng = np.random.default_rng(0)
    for d in (3, 16, 64):
        mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
        s1, s2 = random_spd(rng, d), random_spd(rng, d)
        assert frechet.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(scipy_frechet(mu1, s1, mu2, s2), rel=1e-9, abs=1e-9)


def test_distance_of_a_distribution_to_itself_is_zero_even_when_rank_deficient():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((5, 20))
    s = a.T @ a  # rank 5 in 20 dimensions (fewer clips than feature dimensions), trace ~73
    # the square roots of the 15 round-off eigenvalues (~1e-14) leave ~1e-6: negligible, never NaN
    assert abs(frechet.frechet_distance(np.ones(20), s, np.ones(20), s)) < 1e-5


def test_feature_statistics_use_the_population_covariance_in_float64():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((50, 4)).astype(np.float32)
    mean, cov = frechet.feature_statistics(x)
    assert cov.dtype == np.float64
    assert np.allclose(mean, x.astype(np.float64).mean(axis=0))
    assert np.allclose(cov, np.cov(x.astype(np.float64), rowvar=False, bias=True))


def test_i3d_features_call_the_detector_like_stylegan_v(tmp_path):
    path = tmp_path / "i3d.pt"
    torch.jit.script(FakeI3D()).save(str(path))
    detector = frechet.load_detector(path, "cpu", "fvd")
    gray = torch.full((2, 1, 20, 8, 8), 0.5)  # [0, 1], one channel, 20 frames
    feats = frechet.i3d_features(detector, gray, frames=16)
    assert feats.shape == (2, 7) and feats.dtype == np.float64
    assert np.allclose(feats[:, :3], 128.0)  # 0.5 -> uint8 128, repeated to 3 channels
    assert np.all(feats[:, 3] == 16)  # the first 16 frames
    assert np.all(feats[:, 4:] == 1)  # rescale=True, resize=True, return_features=True


def test_inception_features_treat_every_frame_as_an_image(tmp_path):
    path = tmp_path / "inception.pt"
    torch.jit.script(FakeInception()).save(str(path))
    detector = frechet.load_detector(path, "cpu", "fid")
    feats = frechet.inception_features(detector, torch.zeros(2, 3, 5, 8, 8))
    assert feats.shape == (10, 4) and np.all(feats[:, 3] == 1)


def test_fvd_of_sets_with_different_features_is_positive_and_of_equal_sets_zero(tmp_path):
    path = tmp_path / "i3d.pt"
    torch.jit.script(FakeI3D()).save(str(path))
    detector = frechet.load_detector(path, "cpu")
    torch.manual_seed(0)
    dark, bright = torch.rand(8, 3, 4, 8, 8) * 0.5, 0.5 + torch.rand(8, 3, 4, 8, 8) * 0.5
    a, b = frechet.i3d_features(detector, dark), frechet.i3d_features(detector, bright)
    assert frechet.frechet_distance_of_features(a, b) > 1000
    assert frechet.frechet_distance_of_features(a, a) == pytest.approx(0.0, abs=1e-6)


def test_a_missing_detector_file_says_which_file_to_get_and_how_to_pass_it(tmp_path):
    with pytest.raises(VidsynthError) as info:
        frechet.load_detector(tmp_path / "i3d_torchscript.pt", "cpu", "fvd")
    message = str(info.value)
    assert "does not exist" in message and "i3d_torchscript.pt" in message and "--detector" in message
    assert "\n" not in message


def test_a_file_that_is_not_torchscript_is_a_one_line_error(tmp_path):
    path = tmp_path / "i3d.pt"
    path.write_bytes(b"not a model")
    with pytest.raises(VidsynthError, match="is not a TorchScript detector file") as info:
        frechet.load_detector(path, "cpu")
    assert "\n" not in str(info.value)
