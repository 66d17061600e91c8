"""Bouncing-balls physics metrics, checked against the simulator's true trajectories."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vidsynth.data.bouncing_balls import BOX, make_clip, render, simulate
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


def rendered(n: int, balls: int = 3, radius: float = 1.2, size: int = SIZE, frames: int = FRAMES):
    """``n`` test clips of ``balls`` balls of ``radius`` (box units) as float [n, 1, T, H, W], and their trajectories."""
    made = [make_clip(frames, size, balls, seed=0, split="test", index=i, radius=radius) for i in range(n)]
    video = torch.from_numpy(np.stack([m[0] for m in made])).permute(0, 4, 1, 2, 3).float() / 255
    return video, [m[1] for m in made]


def told(balls: int) -> dict:
    """What the engine passes a data-aware metric about builtin:bouncing-balls?balls=N."""
    return {"description": {"source": "builtin:bouncing-balls", "balls": balls}}


@pytest.mark.parametrize("balls, radius, size", [(2, 1.2, 32), (4, 1.2, 32), (3, 0.8, 32), (3, 1.6, 32), (4, 0.8, 64)])
def test_real_clips_show_their_true_ball_count_in_nearly_every_frame(balls, radius, size):
    video, _ = rendered(8, balls, radius, size)
    accuracy = physics.ball_count_accuracy(video, None, told(balls))
    assert accuracy.shape == (8, FRAMES) and accuracy.mean() > 0.9  # touching balls still count apart
    assert physics.ball_count_accuracy(video, None, told(balls + 1)).mean() < 0.1


def test_ball_radius_follows_the_rendered_radius_and_roundness_is_near_one():
    small, _ = rendered(4, radius=0.8)
    large, _ = rendered(4, radius=1.6)
    # the 0.25 contour of exp(-(d/r)^8) is at 1.04 r; r in box units of 10 -> frame widths
    for video, radius in ((small, 0.8), (large, 1.6)):
        assert physics.ball_radius(video).mean().item() == pytest.approx(1.04 * radius / BOX, rel=0.15)
        assert physics.ball_roundness(video).mean() > 0.8


def corrupted(kind: str, n: int = 8) -> torch.Tensor:
    """Rendered 3-ball clips spoiled the way a generator spoils them."""
    video, trajectories = rendered(n)
    out = video.clone()
    for i, traj in enumerate(trajectories):
        p = traj.positions.copy()
        if kind == "missing":  # one ball gone in every frame
            frames = render(p[:, :2], SIZE)
        elif kind == "merged":  # two balls melted into one blob that moves with the first
            p[:, 1] = p[:, 0] + np.array([1.3, 0.0])
            frames = render(p, SIZE)
        elif kind == "ghost":  # a faint extra ball (40% intensity) drifting through
            extra = simulate(FRAMES, 1, seed=100 + i).positions
            frames = np.minimum(render(p, SIZE) + 0.4 * render(extra, SIZE), 1.0)
        elif kind == "flicker":  # a ball that vanishes every other frame
            frames = render(p, SIZE)
            frames[1::2] = render(p[1::2, :2], SIZE)
        else:
            raise ValueError(kind)
        out[i, 0] = torch.from_numpy(frames)
    return out


@pytest.mark.parametrize("kind", ["missing", "merged", "ghost", "flicker"])
def test_count_accuracy_drops_on_corrupted_clips(kind):
    real = physics.ball_count_accuracy(rendered(8)[0], None, told(3)).mean()
    spoiled = physics.ball_count_accuracy(corrupted(kind), None, told(3)).mean()
    assert spoiled < real - 0.2, (kind, spoiled, real)


def test_merged_balls_are_less_round_and_larger_and_flicker_changes_the_count():
    real = rendered(8)[0]
    merged = corrupted("merged")
    assert physics.ball_roundness(merged).mean() < physics.ball_roundness(real).mean() - 0.05
    assert physics.ball_radius(merged).mean() > physics.ball_radius(real).mean()
    assert physics.ball_count_changes(corrupted("flicker")).mean() > 3 * physics.ball_count_changes(real).mean()
    assert physics.ball_count_changes(corrupted("flicker")).min() >= FRAMES - 3  # a change at nearly every frame


def test_the_true_count_comes_from_the_description_else_from_the_real_clips():
    four, _ = rendered(3, balls=4)
    assert physics.true_ball_count(told(2)) == 2
    assert physics.true_ball_count({"description": {"source": "builtin:bouncing-balls"}}) == 3  # its default
    # a folder of real clips: the count most frames show
    assert physics.true_ball_count({"description": {"source": "clips/"}, "reference": four}) == 4
    assert physics.true_ball_count({}) is None
    assert torch.isnan(physics.ball_count_accuracy(four, None, {})).all()
