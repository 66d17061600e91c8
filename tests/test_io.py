"""Video and image IO: what goes in comes back out (shape, timing, pixels within codec error), bad files
become one clear VidsynthError, and writes are all-or-nothing."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest
from PIL import Image

from fixtures_media import audio_only, bad_files, encode, pattern_frames, video
from vidsynth.errors import VidsynthError
from vidsynth.io import probe_video, read_image, read_video, tile_videos, write_grid, write_video


def moving_frames(t=10, h=32, w=48):
    """A smooth colour pattern that moves: compressible, and every frame differs."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack(
        [np.stack([(x * 4 + i * 8) % 256, (y * 6) % 256, np.full_like(x, 90 + 10 * i)], -1) for i in range(t)]
    ).astype(np.uint8)


def mean_abs_error(a, b):
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


# -- round trips ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, fps, tolerance", [("v.mp4", 8.0, 4.0), ("v.webm", 8.0, 5.0), ("v.gif", 10.0, 8.0)])
def test_encoded_round_trip_keeps_shape_fps_and_pixels(tmp_path, name, fps, tolerance):
    frames = moving_frames()
    path = write_video(tmp_path / name, frames, fps=fps)
    back, back_fps = read_video(path, fit="none")
    assert back.shape == frames.shape and back.dtype == np.uint8
    assert back_fps == pytest.approx(fps)
    assert mean_abs_error(back, frames) < tolerance


def test_png_folder_round_trip_is_lossless_and_keeps_fps(tmp_path):
    frames = moving_frames(t=5)
    out = write_video(tmp_path / "frames", frames, fps=12.5)
    assert sorted(p.name for p in out.glob("*.png")) == [f"frame_{i:04d}.png" for i in range(5)]
    assert json.loads((out / "video.json").read_text())["fps"] == 12.5
    back, fps = read_video(out, fit="none")
    assert fps == 12.5 and np.array_equal(back, frames)


def test_a_trailing_slash_means_a_folder_of_frames(tmp_path):
    out = write_video(str(tmp_path / "out") + "/", moving_frames(t=2))
    assert (tmp_path / "out" / "frame_0001.png").is_file()
    assert out.is_dir()


def test_gif_of_a_grayscale_video_is_exact(tmp_path):
    gray = np.stack([np.full((16, 16, 1), 10 * i, np.uint8) for i in range(12)])
    gray[:, 4:8, 4:8] = 255
    back, fps = read_video(write_video(tmp_path / "g.gif", gray, fps=10), fit="none", channels=1)
    assert fps == pytest.approx(10.0)
    assert np.array_equal(back, gray)


def test_odd_sized_mp4_is_padded_by_repeating_the_edge(tmp_path):
    frames = moving_frames(t=4, h=33, w=47)
    back, _ = read_video(write_video(tmp_path / "odd.mp4", frames), fit="none")
    assert back.shape == (4, 34, 48, 3)
    assert mean_abs_error(back[:, :33, :47], frames) < 4.0
    assert mean_abs_error(back[:, 33, :47], frames[:, 32]) < 6.0  # the added row repeats the last one


def test_odd_sized_webm_keeps_its_size(tmp_path):
    back, _ = read_video(write_video(tmp_path / "odd.webm", moving_frames(t=3, h=33, w=47)), fit="none")
    assert back.shape == (3, 33, 47, 3)


def test_grayscale_frames_are_written_as_gray(tmp_path):
    gray = moving_frames(t=4)[..., :1]
    back, _ = read_video(write_video(tmp_path / "g.mp4", gray), fit="none")
    assert back.shape == (4, 32, 48, 3)
    assert mean_abs_error(back[..., 0], gray[..., 0]) < 4.0
    assert mean_abs_error(back[..., 0], back[..., 2]) < 2.0


def test_torch_uint8_tensors_are_accepted(tmp_path):
    import torch

    torch.manual_seed(0)
    clip = torch.randint(0, 255, (2, 8, 8, 3), dtype=torch.uint8)
    back, _ = read_video(write_video(tmp_path / "t", clip))
    assert np.array_equal(back, clip.numpy())


# -- writing refuses bad requests and never leaves half a file --------------------------------------
def test_unknown_extension_is_refused(tmp_path):
    with pytest.raises(VidsynthError, match=r"unknown video format '\.avi'"):
        write_video(tmp_path / "out.avi", moving_frames(t=2))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("frames, words", [
    (np.zeros((2, 8, 8, 3), np.float32), "uint8"),
    (np.zeros((2, 8, 8, 4), np.uint8), "C = 1 or 3"),
    (np.zeros((0, 8, 8, 3), np.uint8), "shape"),
])
def test_bad_frames_are_refused(tmp_path, frames, words):
    with pytest.raises(VidsynthError, match=words):
        write_video(tmp_path / "out.mp4", frames)


def test_failed_encode_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "keep.mp4"
    target.write_bytes(b"previous contents")
    real = av.VideoFrame.from_ndarray
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk on fire")
        return real(*args, **kwargs)

    monkeypatch.setattr(av.VideoFrame, "from_ndarray", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_video(target, moving_frames(t=6))
    assert target.read_bytes() == b"previous contents"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.mp4"]


def test_failed_frame_folder_write_keeps_the_previous_folder(tmp_path, monkeypatch):
    out = write_video(tmp_path / "frames", moving_frames(t=2))
    before = sorted(p.name for p in out.iterdir())
    real_save = Image.Image.save
    calls = []

    def failing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("no space left on device")
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", failing)
    with pytest.raises(VidsynthError, match="no space left"):
        write_video(out, moving_frames(t=5))
    assert sorted(p.name for p in out.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]


# -- reading: geometry, timing, metadata --------------------------------------------------------------
def three_band_video(tmp_path):
    """64x32 landscape: left quarter red, middle half green, right quarter blue."""
    frame = np.zeros((32, 64, 3), np.uint8)
    frame[:, :16, 0] = 255
    frame[:, 16:48, 1] = 255
    frame[:, 48:, 2] = 255
    return encode(tmp_path / "bands.mp4", np.repeat(frame[None], 3, 0))


def test_default_fit_center_crops_to_a_square(tmp_path):
    frames, _ = read_video(three_band_video(tmp_path), size=16)
    assert frames.shape == (3, 16, 16, 3)
    assert frames[0, :, :, 1].mean() > 200 and frames[0, :, :, [0, 2]].max() < 60  # only the green middle


def test_letterbox_keeps_everything_and_pads_with_black(tmp_path):
    frames, _ = read_video(three_band_video(tmp_path), size=16, fit="letterbox")
    assert frames.shape == (3, 16, 16, 3)
    assert frames[0, :4].max() == 0 and frames[0, 12:].max() == 0  # bars above and below
    middle = frames[0, 6:10]
    assert middle[:, 0, 0].min() > 200 and middle[:, -1, 2].min() > 200  # red left edge, blue right edge


def test_fit_none_keeps_the_aspect_ratio(tmp_path):
    assert read_video(three_band_video(tmp_path), size=16, fit="none")[0].shape == (3, 16, 32, 3)
    assert read_video(three_band_video(tmp_path), fit="none")[0].shape == (3, 32, 64, 3)


def test_portrait_video_is_cropped_to_a_square(tmp_path):
    path = encode(tmp_path / "portrait.mp4", pattern_frames(2, 80, 32))
    assert read_video(path, size=16)[0].shape == (2, 16, 16, 3)


def test_rotation_metadata_is_applied(tmp_path):
    frame = np.zeros((32, 64, 3), np.uint8)
    frame[:8, :8] = 255  # a white mark top-left
    path = encode(tmp_path / "rot.mp4", np.repeat(frame[None], 2, 0), rotation=90)
    shown, _ = read_video(path, fit="none")
    assert shown.shape == (2, 64, 32, 3)  # stored landscape, shown portrait
    assert shown[0, -8:, :8].mean() > 200 and shown[0, :8, :8].mean() < 30  # turned counter-clockwise
    assert probe_video(path)["rotation"] == 90 and probe_video(path)["height"] == 64


def test_rotated_video_is_rotated_before_the_center_crop(tmp_path):
    frame = np.zeros((32, 64, 3), np.uint8)
    frame[:8, 28:36] = 255  # stored: top edge, middle
    path = encode(tmp_path / "rot.mp4", np.repeat(frame[None], 2, 0), rotation=90)
    square, _ = read_video(path)
    assert square.shape == (2, 32, 32, 3)  # the middle of the 32-wide, 64-tall picture
    assert square[0, 12:20, :8].mean() > 200 and square[0, 12:20, -8:].mean() < 30  # now at the left edge


def test_center_crop_of_an_odd_sized_video_is_exact(tmp_path):
    frames = moving_frames(t=3, h=33, w=47)
    path = write_video(tmp_path / "odd.webm", frames)
    full, _ = read_video(path, fit="none")
    square, _ = read_video(path)
    assert square.shape == (3, 33, 33, 3)
    assert mean_abs_error(square, full[:, :, 7:40]) < 3  # an odd offset shifts the half-size chroma a little


def test_fps_picks_the_frame_on_screen_at_each_tick_of_a_variable_rate_file(tmp_path):
    frames = np.stack([np.full((16, 16, 3), 30 + 60 * i, np.uint8) for i in range(4)])
    path = encode(tmp_path / "vfr.mp4", frames, times=[0.0, 0.1, 0.5, 0.6])
    picked, fps = read_video(path, fps=10)
    which = [int(round((f.mean() - 30) / 60)) for f in picked]
    assert fps == 10.0
    assert which[:7] == [0, 1, 1, 1, 1, 2, 3]


def test_fps_halves_and_doubles_a_constant_rate_file(tmp_path):
    path = video(tmp_path / "v.mp4", n=20, fps=10)
    assert read_video(path, fps=5)[0].shape[0] == 10
    assert read_video(path, fps=20)[0].shape[0] == 40
    levels = [f.mean() for f in read_video(path, fps=5)[0]]
    assert levels == sorted(levels)  # time runs forward


def test_max_frames_stops_early(tmp_path):
    assert read_video(video(tmp_path / "v.mp4", n=20), max_frames=7)[0].shape[0] == 7


def test_probe_reports_frames_fps_size_and_duration(tmp_path):
    info = probe_video(video(tmp_path / "v.mp4", n=20, height=24, width=40, fps=10))
    assert (info["frames"], info["fps"], info["width"], info["height"]) == (20, 10.0, 40, 24)
    assert info["duration"] == pytest.approx(2.0, abs=0.11)


def test_animated_gif_from_pillow_reads_as_a_video(tmp_path):
    images = [Image.fromarray(np.full((12, 12), 50 * i, np.uint8)) for i in range(4)]
    images[0].save(tmp_path / "a.gif", save_all=True, append_images=images[1:], duration=100, loop=0)
    frames, fps = read_video(tmp_path / "a.gif")
    assert frames.shape == (4, 12, 12, 3) and fps == pytest.approx(10.0)


# -- reading bad files ------------------------------------------------------------------------------
def test_every_bad_file_is_one_clear_error_naming_it(tmp_path):
    good = video(tmp_path / "good.mp4")
    expected = bad_files(tmp_path / "bad", good)
    for name, words in expected.items():
        if name in ("image.avi", "short.mp4"):
            continue  # decodable: the data layer rejects these as clips, see test_data_cache.py
        with pytest.raises(VidsynthError, match=rf"cannot read video {name}: ") as info:
            read_video(tmp_path / "bad" / name)
        assert "\n" not in str(info.value)
        assert any(w in str(info.value).lower() for w in words.split("|"))


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(VidsynthError, match="nope.mp4: no such file"):
        read_video(tmp_path / "nope.mp4")
    with pytest.raises(VidsynthError, match="nope.mp4: no such file"):
        probe_video(tmp_path / "nope.mp4")


def test_audio_only_file_says_so(tmp_path):
    with pytest.raises(VidsynthError, match="no video stream"):
        probe_video(audio_only(tmp_path / "a.m4a"))


def test_truncated_file_with_header_first_fails_while_decoding(tmp_path):
    path = encode(tmp_path / "fs.mp4", pattern_frames(40, 32, 32), faststart=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(VidsynthError, match="fs.mp4: decoding failed"):
        read_video(path)


# -- grids ------------------------------------------------------------------------------------------
def test_grid_tiles_videos_row_by_row_with_padding():
    videos = np.stack([np.full((3, 4, 4, 3), 40 * (i + 1), np.uint8) for i in range(3)])
    grid = tile_videos(videos, ncols=2, pad=1)
    assert grid.shape == (3, 1 + 4 + 1 + 4 + 1, 1 + 4 + 1 + 4 + 1, 3)
    assert grid[0, 1, 1, 0] == 40 and grid[0, 1, 6, 0] == 80 and grid[0, 6, 1, 0] == 120
    assert grid[0, 0, 0, 0] == 255 and grid[0, 6, 6, 0] == 255  # padding and the empty cell


def test_grid_holds_the_last_frame_of_shorter_videos_and_mixes_gray_with_colour():
    grid = tile_videos([np.full((4, 2, 2, 3), 10, np.uint8), np.full((2, 2, 2, 1), 20, np.uint8)], pad=0)
    assert grid.shape == (4, 2, 4, 3)
    assert (grid[3, :, 2:] == 20).all()


def test_write_grid_writes_one_video(tmp_path):
    videos = np.zeros((4, 3, 8, 8, 3), np.uint8)
    frames, _ = read_video(write_grid(tmp_path / "grid", videos, pad=2), fit="none")
    assert frames.shape == (3, 2 * 8 + 3 * 2, 2 * 8 + 3 * 2, 3)


# -- images -----------------------------------------------------------------------------------------
def test_grayscale_image_becomes_three_equal_channels(tmp_path):
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(tmp_path / "g.png")
    rgb = read_image(tmp_path / "g.png")
    assert rgb.shape == (8, 8, 3) and (rgb[..., 0] == rgb[..., 2]).all()
    assert read_image(tmp_path / "g.png", channels=1).shape == (8, 8, 1)


def test_transparency_is_composited_on_black_by_default_or_white(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 255  # red, fully transparent on the left half
    rgba[:, 2:, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    black = read_image(tmp_path / "a.png")
    white = read_image(tmp_path / "a.png", background="white")
    assert (black[:, :2] == 0).all() and (white[:, :2] == 255).all()
    assert (black[:, 2:] == [255, 0, 0]).all()


def test_palette_image_with_transparency(tmp_path):
    img = Image.new("P", (4, 4), 1)
    img.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    img.info["transparency"] = 0
    img.putpixel((0, 0), 0)
    img.save(tmp_path / "p.png", transparency=0)
    out = read_image(tmp_path / "p.png", background="white")
    assert (out[0, 0] == 255).all() and (out[1, 1] == [0, 255, 0]).all()


def test_sixteen_bit_image_is_scaled_to_eight_bits(tmp_path):
    Image.fromarray(np.array([[0, 32896, 65535]], np.uint16)).save(tmp_path / "deep.png")
    assert read_image(tmp_path / "deep.png", channels=1)[0, :, 0].tolist() == [0, 128, 255]


def test_image_is_center_cropped_then_resized(tmp_path):
    wide = np.zeros((20, 60, 3), np.uint8)
    wide[:, 20:40] = 200  # the centered square
    Image.fromarray(wide).save(tmp_path / "wide.bmp")
    out = read_image(tmp_path / "wide.bmp", size=10)
    assert out.shape == (10, 10, 3) and out.min() >= 190


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (30, 10), (0, 0, 0))
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    img.save(tmp_path / "phone.jpg", exif=exif)
    assert read_image(tmp_path / "phone.jpg").shape == (30, 10, 3)


@pytest.mark.parametrize("content, words", [(b"", "cannot read image"), (b"not an image at all", "not an image")])
def test_unreadable_image_is_one_error(tmp_path, content, words):
    (tmp_path / "bad.png").write_bytes(content)
    with pytest.raises(VidsynthError, match=words):
        read_image(tmp_path / "bad.png")
    with pytest.raises(VidsynthError, match="no such file"):
        read_image(tmp_path / "missing.png")
