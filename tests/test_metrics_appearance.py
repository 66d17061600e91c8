"""Motion and appearance statistics of any video, on clips whose answers are known."""

from __future__ import annotations

import pytest
import torch

from vidsynth.metrics import appearance


def test_a_still_clip_has_no_motion_energy_and_full_coherence():
    frame = torch.rand(2, 3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    still = frame.expand(2, 3, 5, 8, 8)
    assert torch.equal(appearance.motion_energy(still), torch.zeros(2))
    assert appearance.temporal_coherence(still) == pytest.approx(torch.ones(2))


def test_motion_energy_is_the_mean_absolute_frame_difference():
    video = torch.zeros(1, 1, 3, 4, 4)
    video[:, :, 1] = 0.5  # 0 -> 0.5 -> 0: two changes of 0.5 everywhere
    assert appearance.motion_energy(video).item() == pytest.approx(0.5)


def test_independent_noise_frames_are_uncorrelated_and_blank_frames_have_no_correlation():
    noise = torch.rand(1, 3, 6, 32, 32, generator=torch.Generator().manual_seed(1))
    assert abs(appearance.temporal_coherence(noise).item()) < 0.1
    assert torch.isnan(appearance.temporal_coherence(torch.zeros(1, 1, 4, 8, 8))).all()


def test_appearance_distance_is_zero_for_the_reference_distribution_and_one_for_disjoint_intensities():
    dark = torch.full((1, 3, 2, 8, 8), 0.1)
    bright = torch.full((1, 3, 2, 8, 8), 0.9)
    data = {"reference": dark}
    assert torch.equal(appearance.appearance_distance(dark, None, data), torch.zeros(1, 2))
    assert torch.equal(appearance.appearance_distance(bright, None, data), torch.ones(1, 2))
