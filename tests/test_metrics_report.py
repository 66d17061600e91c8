"""The report files: the comparison video names its columns."""

from __future__ import annotations

import av
import numpy as np

from vidsynth.metrics import report as reporting

REPORT = {"task": "keyframes", "systems": ["model", "linear", "flow"]}


def clips(value: int, n: int = 2, frames: int = 3, size: int = 16) -> np.ndarray:
    return np.full((n, frames, size, size, 3), value, dtype=np.uint8)


def videos() -> dict[str, np.ndarray]:
    return {"ground truth": clips(200), "linear": clips(150), "flow": clips(100), "model": clips(50)}


def test_the_comparison_video_has_a_header_naming_each_column():
    frames, columns = reporting.comparison_frames(REPORT, videos())
    assert columns == ["ground truth", "linear", "flow", "model"]
    header = frames[:, : reporting.HEADER_HEIGHT]
    assert (header == header[:1]).all()  # the same strip on every frame
    # the tiles are enlarged until "ground truth" fits: the columns split the width evenly
    width = (frames.shape[2] - reporting.GRID_PAD) // len(columns)
    strips = [header[0, :, reporting.GRID_PAD + i * width : (i + 1) * width] for i in range(len(columns))]
    assert all(strip.max() > 0 for strip in strips)  # text in every column
    assert len({strip.tobytes() for strip in strips}) == len(columns)  # a different label over each
    assert width - reporting.GRID_PAD >= reporting._text_width("ground truth")


def test_the_tiles_below_the_header_are_the_videos_of_their_columns():
    frames, columns = reporting.comparison_frames(REPORT, videos())
    width = (frames.shape[2] - reporting.GRID_PAD) // len(columns)
    row = reporting.HEADER_HEIGHT + reporting.GRID_PAD + 1
    values = [int(frames[0, row, reporting.GRID_PAD + i * width + 1, 0]) for i in range(len(columns))]
    assert values == [200, 150, 100, 50]


def test_the_written_video_holds_the_header_strip(tmp_path):
    written = reporting.write_comparison_video(REPORT, videos(), tmp_path, fps=4)
    assert written is not None and written[1] == ["ground truth", "linear", "flow", "model"]
    with av.open(str(written[0])) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    header = first[: reporting.HEADER_HEIGHT].astype(int)
    tiles = first[reporting.HEADER_HEIGHT + 4 :].astype(int)
    assert header.max() > 128 and tiles.shape[0] > 2 * 16  # bright text above two rows of enlarged tiles
