"""Pixel metrics against independent computations: numpy, scikit-image, and the seed's own numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from vidsynth.errors import VidsynthError
from vidsynth.metrics import pixel


def noisy_pair(shape=(2, 3, 3, 24, 20), seed=0):
    torch.manual_seed(seed)
    real = torch.rand(shape)
    return (real + 0.1 * torch.randn(shape)).clamp(0, 1), real


def frames_hwc(video: torch.Tensor) -> np.ndarray:
    """[B, C, T, H, W] -> float64 numpy [B, T, H, W, C], what scikit-image takes."""
    return video.permute(0, 2, 3, 4, 1).double().numpy()


def test_table2_l2_of_zeros_against_0_1_on_a_30x64x64x3_video_is_154_825114():
    zeros = torch.zeros(1, 3, 30, 64, 64)
    tenth = torch.full((1, 3, 30, 64, 64), 0.1)
    assert pixel.l2_table2(zeros, tenth).item() == pytest.approx(154.825114, abs=1e-5)


def test_table2_l2_is_the_frobenius_norm_of_255_times_the_difference_over_100():
    generated, real = noisy_pair()
    expected = [np.linalg.norm(255 * (g - r).double().numpy()) / 100 for g, r in zip(generated, real)]
    assert np.allclose(pixel.l2_table2(generated, real).numpy(), expected, rtol=1e-6)


def test_psnr_of_0_5_against_0_6_is_20_db():
    assert pixel.psnr(torch.full((1, 3, 2, 8, 8), 0.5), torch.full((1, 3, 2, 8, 8), 0.6)).item() == pytest.approx(20.0, abs=1e-4)


def test_psnr_per_frame_matches_scikit_image():
    generated, real = noisy_pair()
    g, r = frames_hwc(generated), frames_hwc(real)
    expected = [[peak_signal_noise_ratio(r[b, t], g[b, t], data_range=1) for t in range(g.shape[1])] for b in range(g.shape[0])]
    assert np.allclose(pixel.psnr_per_frame(generated, real).numpy(), expected, atol=1e-4)


def test_psnr_of_identical_frames_is_capped_at_100_db():
    video = torch.rand(1, 1, 2, 8, 8)
    assert pixel.psnr_per_frame(video, video).tolist() == [[100.0, 100.0]]


def test_mse_per_frame_matches_numpy():
    generated, real = noisy_pair()
    expected = ((generated.double() - real.double()) ** 2).numpy().mean(axis=(1, 3, 4))
    assert np.allclose(pixel.mse_per_frame(generated, real).numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("channels", [1, 3])
def test_ssim_per_frame_matches_scikit_image_gaussian_ssim(channels):
    generated, real = noisy_pair((2, channels, 3, 24, 20))
    g, r = frames_hwc(generated), frames_hwc(real)
    expected = [
        [
            structural_similarity(g[b, t], r[b, t], gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                  data_range=1, channel_axis=-1)
            for t in range(g.shape[1])
        ]
        for b in range(g.shape[0])
    ]
    assert np.allclose(pixel.ssim_per_frame(generated, real).numpy(), expected, atol=1e-5)


def test_ssim_of_identical_frames_is_1():
    video = torch.rand(1, 3, 2, 16, 16)
    assert torch.allclose(pixel.ssim(video, video), torch.ones(1), atol=1e-6)


def test_ssim_refuses_frames_smaller_than_its_window():
    with pytest.raises(VidsynthError, match="at least 11x11"):
        pixel.ssim_per_frame(torch.rand(1, 1, 2, 8, 8), torch.rand(1, 1, 2, 8, 8))


def test_videos_of_different_shapes_are_refused():
    with pytest.raises(VidsynthError, match="same shape"):
        pixel.psnr_per_frame(torch.rand(1, 3, 4, 16, 16), torch.rand(1, 3, 5, 16, 16))
