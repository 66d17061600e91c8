"""Video and image files: read with PyAV (threaded, resized in libswscale), write atomically.

Frames are always ``uint8 [T, H, W, C]`` numpy arrays (C = 3 RGB or 1 gray), the on-disk half of the
tensor convention in ``vidsynth.tensors``.

    from vidsynth.io import read_video, write_video, write_grid, read_image, probe_video

    frames, fps = read_video("in.mov", size=64, fps=8)     # center-cropped 64x64, 8 frames/s
    write_video("out.mp4", frames, fps=fps)
"""

from vidsynth.io.grid import tile_videos, write_grid
from vidsynth.io.image import read_image
from vidsynth.io.video import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, VideoReader, probe_video, read_video
from vidsynth.io.write import write_video

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "VideoReader",
    "probe_video",
    "read_image",
    "read_video",
    "tile_videos",
    "write_grid",
    "write_video",
]
