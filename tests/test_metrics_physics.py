"""Bouncing-balls physics metrics, checked against the simulator's true trajectories."""

from __future__ import annotations

import math

import numpy as np
import torch

from vidsynth.data.bouncing_balls import BOX, make_clip
from vidsynth.metrics import physics
from vidsynth.metrics.baselines import shuffle_frames

SIZE, FRAMES = 32, 20


def clips(n: int, size: int = SIZE, frames: int = FRAMES):
    """``n`` rendered test clips as float [n, 1, T, H, W] in [0, 1], and their true positions [n, T, 3, 2]."""
    made = [make_clip(frames, size, 3, seed=0, split="test", index=i) for i in range(n)]
    video = torch.from_numpy(np.stack([m[0] for m in made])).permute(0, 4, 1, 2, 3).float() / 255
    return video, np.stack([m[1].positions for m in made])


def test_centroids_match_the_true_ball_positions_when_balls_are_apart():
    video, truth = clips(6)
    balls = physics.detect_balls(video)
    pixels = truth * SIZE / BOX - 0.5  # box units (x, y) -> pixel index (col, row): centre of pixel k is k
    checked = 0
    for b in range(truth.shape[0]):
        for t in range(FRAMES):
            p = truth[b, t]
            gaps = [np.linalg.norm(p[i] - p[j]) for i in range(3) for j in range(i)]
            if min(gaps) < 3.0:  # touching or nearly touching balls form one blob
                continue
            assert balls.counts[b, t] == 3
            found = balls.positions[b, t, :3].numpy()[:, ::-1]  # (row, col) -> (col, row)
            error = np.linalg.norm(pixels[b, t][:, None] - found[None], axis=-1).min(axis=1)
            assert error.max() < 0.3, (b, t, error)
            checked += 1
    assert checked > 60


def test_ball_speed_matches_the_true_displacement_per_frame():
    video, truth = clips(6)
    true_speed = np.linalg.norm(np.diff(truth, axis=1), axis=-1).mean(axis=(1, 2)) / BOX  # frame widths per frame
    ratio = physics.ball_speed(video).numpy() / true_speed
    assert abs(ratio.mean() - 1) < 0.05  # what a report compares: the mean over clips
    assert np.all(np.abs(ratio - 1) < 0.25)  # each clip (collisions make single clips noisier)


def test_real_clips_move_coherently_and_shuffled_frames_do_not():
    video, _ = clips(8)
    real = physics.motion_coherence(video)
    shuffled = physics.motion_coherence(shuffle_frames(video, torch.Generator().manual_seed(0)))
    assert real.mean() > 0.7 and shuffled.mean() < 0.3
    assert bool((real > shuffled).all())


def test_counts_per_frame_of_a_rendered_clip_are_at_most_the_number_of_balls():
    video, _ = clips(4)
    counts = physics.ball_count_per_frame(video)
    assert counts.shape == (4, FRAMES) and counts.max() == 3 and counts.min() >= 1


def test_a_black_video_has_no_balls_and_no_speed_or_coherence():
    black = torch.zeros(2, 1, 5, 16, 16)
    assert physics.ball_count_per_frame(black).sum() == 0
    assert torch.isnan(physics.ball_speed(black)).all() and torch.isnan(physics.motion_coherence(black)).all()


def test_a_frozen_ball_has_zero_speed_and_full_coherence():
    frame = torch.zeros(1, 1, 1, 16, 16)
    frame[..., 4:8, 6:10] = 1.0
    frozen = frame.expand(1, 1, 6, 16, 16).contiguous()
    assert physics.ball_speed(frozen).item() == 0.0
    assert physics.motion_coherence(frozen).item() == 1.0
    balls = physics.detect_balls(frozen)
    assert balls.positions[0, 0, 0].tolist() == [5.5, 7.5]


def test_specks_below_the_minimum_area_are_not_balls():
    frame = torch.zeros(1, 1, 1, 32, 32)
    frame[..., 3, 3] = 1.0  # one pixel: noise, not a ball
    frame[..., 10:16, 10:16] = 1.0
    assert physics.ball_count_per_frame(frame).item() == 1


def test_rgb_frames_are_averaged_to_gray():
    video, _ = clips(1)
    assert torch.equal(physics.ball_count_per_frame(video.expand(1, 3, FRAMES, SIZE, SIZE)),
                       physics.ball_count_per_frame(video))
    assert not math.isnan(physics.ball_speed(video.expand(1, 3, FRAMES, SIZE, SIZE)).item())
