"""builtin:camera-motion: a virtual camera over real stills, split by source video."""

import numpy as np
import pytest

from vidsynth.data import open_clips
from vidsynth.data.camera_motion import MARGIN, MovingObject, add_objects, render_path
from vidsynth.errors import VidsynthError


def _open(split="test", size=24, frames=8, **options):
    query = "&".join(f"{k}={v}" for k, v in options.items())
    return open_clips("builtin:camera-motion" + ("?" + query if query else ""), frames=frames, size=size, split=split)


def test_the_same_seed_and_index_give_the_same_clip_and_another_seed_another():
    a, b = _open(seed=3), _open(seed=3)
    assert np.array_equal(a[5].numpy(), b[5].numpy())
    assert not np.array_equal(a[5].numpy(), _open(seed=4)[5].numpy())
    assert not np.array_equal(a[5].numpy(), a[6].numpy())


def test_a_pan_moves_the_picture_by_the_velocity_each_frame():
    from scipy import ndimage

    ds = _open(size=32, frames=4, motion="pan", speed=4)
    for index in range(3):
        path = ds.camera(index)
        clip = ds[index].numpy().astype(np.float64).mean(-1)
        assert path.motions == ("pan",) and np.allclose(np.diff(path.centres, axis=0), path.velocity * path.scales[0])

        def error(t, velocity):  # frame t+1 against frame t moved back by velocity, away from the borders
            moved = ndimage.shift(clip[t], (-velocity[1], -velocity[0]), order=3)
            return np.abs(clip[t + 1] - moved)[8:24, 8:24].mean()

        for t in range(3):
            exact = error(t, path.velocity)
            assert exact < 3.0  # gray levels: resampling error only
            for off in ([0.5, 0], [-0.5, 0], [0, 0.5], [0, -0.5]):  # half a pixel off is clearly worse
                assert exact < 0.5 * error(t, path.velocity + off)


def test_render_path_shifts_exactly_for_a_whole_pixel_pan_at_scale_one():
    image = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    centres = np.array([[15.3, 18.7], [17.3, 19.7]])
    clip = render_path(image, centres, np.ones(2), np.zeros(2), 12)
    assert np.array_equal(clip[1, :-1, :-2], clip[0, 1:, 2:])


def _disk_image(size=200):
    yy, xx = np.mgrid[:size, :size] + 0.5
    disk = ((xx - size / 2) ** 2 + (yy - size / 2) ** 2 < 20**2) * 255
    return np.repeat(disk[..., None], 3, -1).astype(np.uint8)


def test_a_zoom_in_grows_a_centred_disk_frame_by_frame():
    scales = np.geomspace(2.0, 1.0, 6)  # fewer still pixels per clip pixel: zooming in
    clip = render_path(_disk_image(), np.full((6, 2), 100.0), scales, np.zeros(6), 40)
    areas = (clip[..., 0] > 127).sum(axis=(1, 2))
    assert np.all(np.diff(areas) > 0)


def test_a_rotation_turns_a_bar_by_the_path_angle():
    yy, xx = np.mgrid[:200, :200] + 0.5
    bar = ((np.abs(yy - 100) < 4) & (np.abs(xx - 100) < 60)) * 255
    image = np.repeat(bar[..., None], 3, -1).astype(np.uint8)
    angles = np.linspace(0, 30, 4)
    clip = render_path(image, np.full((4, 2), 100.0), np.ones(4), angles, 100)
    seen = []
    for frame in clip[..., 0].astype(np.float64):
        y, x = np.nonzero(frame > 127)
        cov = np.cov(np.stack([x, -y]))  # y flipped: angles counter-clockwise as seen
        vals, vecs = np.linalg.eigh(cov)
        major = vecs[:, -1]
        seen.append(np.degrees(np.arctan2(major[1], major[0])) % 180)
    # the camera turns counter-clockwise, so the bar turns clockwise in the picture by the same angle
    wrapped = (np.array(seen) + angles + 90) % 180 - 90
    assert np.abs(wrapped).max() < 1.0


def test_zoom_and_rotate_clips_change_scale_and_angle_monotonically_and_stay_inside_the_still():
    for motion in ("zoom", "rotate"):
        ds = _open(motion=motion, frames=10)
        for index in range(4):
            path = ds.camera(index)
            changing = path.scales if motion == "zoom" else path.angles
            steps = np.diff(changing)
            assert np.all(steps > 0) or np.all(steps < 0)
            steady = path.angles if motion == "zoom" else path.scales
            assert np.ptp(steady) == 0 and np.ptp(path.centres, axis=0).max() == 0
    ds = _open(motion="mixed", frames=10, size=32)
    from vidsynth.data.camera_motion import stills

    for index in range(10):
        path = ds.camera(index)
        height, width = stills(path.file)[1].shape[1:3]
        # the view's half-extent on each axis at its angle: every frame stays inside the still
        half = path.scales * 16 * (np.abs(np.cos(np.radians(path.angles))) + np.abs(np.sin(np.radians(path.angles))))
        assert np.all(path.centres - half[:, None] >= MARGIN - 1e-6)
        assert np.all(path.centres[:, 0] + half <= width - MARGIN + 1e-6)
        assert np.all(path.centres[:, 1] + half <= height - MARGIN + 1e-6)


def _object_mask(path, size, margin=1.5):
    """Pixels an object of ``path`` touches in any frame (ellipses grown by ``margin`` pixels)."""
    grid = np.arange(size) + 0.5 - size / 2
    u, w = np.meshgrid(grid, grid)
    mask = np.zeros((size, size), bool)
    for obj in path.objects:
        theta = np.radians(obj.orientation)
        for x, y in obj.positions:
            a = ((u - x) * np.cos(theta) + (w - y) * np.sin(theta)) / (obj.radii[0] + margin)
            b = (-(u - x) * np.sin(theta) + (w - y) * np.cos(theta)) / (obj.radii[1] + margin)
            mask |= a * a + b * b <= 1
    return mask


def test_objects_move_over_a_still_background_that_never_changes_elsewhere():
    ds = _open(size=32, frames=8, motion="objects", speed=2)
    counts = set()
    for index in range(6):
        path = ds.camera(index)
        clip = ds[index].numpy().astype(int)
        assert path.motions == ("objects",) and np.ptp(path.scales) == 0 and np.ptp(path.centres, axis=0).max() == 0
        counts.add(len(path.objects))
        for obj in path.objects:  # constant velocity, at most `speed` pixels per frame
            steps = np.diff(obj.positions, axis=0)
            assert np.allclose(steps, steps[0]) and 0.5 - 1e-9 <= np.hypot(*steps[0]) <= 2 + 1e-9
        still = ~_object_mask(path, 32)
        assert still.any() and np.array_equal(clip[:, still], np.broadcast_to(clip[0, still], clip[:, still].shape))
        assert np.abs(np.diff(clip, axis=0)).max() > 30  # and the objects do move
    assert counts <= {1, 2, 3} and len(counts) > 1


def test_an_objects_texture_travels_with_it_and_covers_the_background():
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (60, 60, 3), dtype=np.uint8)
    background = np.zeros((3, 20, 20, 3), np.uint8)
    positions = np.array([[-2.0, 0.0], [-1.0, 0.0], [0.0, 0.0]])  # one pixel right per frame
    obj = MovingObject(0, np.array([30.0, 30.0]), positions, (6.0, 6.0), 0.0)
    clip = add_objects(background, (obj,), texture[None], 1.0).astype(int)
    assert clip[:, :2].max() == 0 and clip[:, -2:].max() == 0  # the background beyond the object
    # inside the ellipse (3 px from its edge) frame t+1 is frame t moved right by one pixel
    assert np.abs(clip[1, 8:12, 8:13] - clip[0, 8:12, 7:12]).max() <= 1
    assert np.abs(clip[2, 8:12, 8:13] - clip[1, 8:12, 7:12]).max() <= 1
    # frame 0's pixel (r, c) shows the still at (30, 30) + its offset from the object's centre (-2, 0):
    # the still's pixel (r + 20, c + 22), sampled at its centre
    assert np.abs(clip[0, 7:13, 6:12] - texture[27:33, 28:34]).max() <= 1


def test_the_test_split_films_only_carphone_and_the_train_split_never_does():
    test, train = _open("test"), _open("train")
    assert {test.camera(i).file for i in range(30)} == {"carphone_pristine.mp4"}
    assert {train.camera(i).file for i in range(30)} == {"bigbuckbunny.mp4", "bikes.mp4"}
    assert test.describe()["stills_from"] == {"test": ["carphone_pristine.mp4"]}


def test_describe_records_the_options_and_a_source_that_reopens_the_same_clips():
    ds = _open(motion="zoom", speed=2, zoom=2, seed=7, test_clips=5)
    info = ds.describe()
    assert (info["motion"], info["zoom"], info["seed"], info["clips"]) == ("zoom", 2.0, 7, 5)
    again = open_clips(info["source"], frames=8, size=24, split="test")
    assert np.array_equal(again[4].numpy(), ds[4].numpy())


@pytest.mark.parametrize("query, words", [
    ("motion=dolly", "motion must be one of pan, zoom, rotate, mixed"),
    ("speed=0", "speed must be a number in 0.5..8"),
    ("zoom=10", "zoom must be a number in 1.2..3"),
    ("angle=x", "angle must be a number"),
    ("test_clips=-1", "test_clips must be a whole number"),
    ("balls=3", "has no option 'balls'"),
])
def test_a_bad_option_is_one_line_naming_it(query, words):
    with pytest.raises(VidsynthError) as caught:
        open_clips(f"builtin:camera-motion?{query}", frames=8, size=24, split="test")
    assert words in str(caught.value) and "\n" not in str(caught.value)
