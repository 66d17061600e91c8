"""Reading still images (conditions for ``sample``, frames of a frame folder) into ``uint8 [H, W, C]``.

Any format Pillow opens works (jpg, png, webp, bmp, tiff, gif's first frame, ...). Modes are normalised:

* EXIF orientation is applied, so a phone photo comes out the way it is shown;
* 16-bit and 32-bit grayscale (``I;16``, ``I``, ``F``) are scaled to 8 bits by their full range
  (65535 for 16-bit; a float image is taken as 0..1 when its values fit, else its own min..max);
* palette images become RGB (or RGBA when the palette has transparency);
* transparency is composited onto a **black** background by default (``background="white"`` on
  request): black because training clips, letterbox bars and bouncing balls all use a black field;
* ``channels=1`` gives luma (ITU-R 601, Pillow's ``L``), ``channels=3`` RGB.

With ``size`` the image is center-cropped to a square, then resized (Lanczos) to ``size x size``.

Photos for a model that samples at any size keep their own size instead: ``photo_size`` picks the video's
``W x H`` (a chosen size, or the photo's own, shrunk to a cap on its long side, made even for the mp4
encoder) and ``fit_image`` brings a photo to it (center-cropped to its aspect ratio, then Lanczos).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vidsynth.errors import VidsynthError

BACKGROUNDS = {"black": 0, "white": 255}


def _to_8bit(img):
    """Bring a high-bit-depth grayscale image to ``L`` by its value range."""
    from PIL import Image

    array = np.asarray(img)
    if img.mode.startswith("I;16") or (img.mode == "I" and array.max(initial=0) <= 65535 and array.min(initial=0) >= 0
                                       and array.max(initial=0) > 255):
        scaled = array.astype(np.float64) / 65535.0
    elif img.mode == "F":
        lo, hi = float(array.min(initial=0)), float(array.max(initial=0))
        scaled = array if (lo >= 0 and hi <= 1) else (array - lo) / max(hi - lo, 1e-12)
    else:  # "I" already in 0..255
        scaled = np.clip(array, 0, 255) / 255.0
    return Image.fromarray(np.round(np.clip(scaled, 0, 1) * 255).astype(np.uint8), "L")


def image_to_array(img, channels: int = 3, background: str = "black") -> np.ndarray:
    """A PIL image in any mode -> ``uint8 [H, W, channels]`` (see the module docstring for the rules)."""
    from PIL import Image, ImageOps

    if channels not in (1, 3):
        raise VidsynthError(f"channels must be 1 or 3, got {channels}")
    if background not in BACKGROUNDS:
        raise VidsynthError(f"background must be 'black' or 'white', got {background!r}")
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        img = _to_8bit(img)
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("LA", "La", "PA", "RGBa") or (img.mode == "L" and "transparency" in img.info):
        img = img.convert("RGBA")
    if img.mode == "RGB" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        field = Image.new("RGBA", img.size, (*(BACKGROUNDS[background],) * 3, 255))
        img = Image.alpha_composite(field, img)
    img = img.convert("L" if channels == 1 else "RGB")
    array = np.asarray(img, dtype=np.uint8)
    return array[:, :, None] if array.ndim == 2 else array


def center_square(img):
    """The largest centered square of a PIL image."""
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return img.crop((left, top, left + side, top + side))


def read_image(path: str | Path, size: int | None = None, channels: int = 3, *, background: str = "black") -> np.ndarray:
    """Read an image file into ``uint8 [H, W, C]``; with ``size``, center-cropped and resized to a square.

        first = read_image("first.jpg", size=64)   # [64, 64, 3]

    Raises VidsynthError naming the file when it is missing or not a readable image.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if size is not None and (not isinstance(size, (int, np.integer)) or size < 1):
        raise VidsynthError(f"size must be a positive integer, got {size!r}")
    if not path.exists():
        raise VidsynthError(f"cannot read image {path.name}: no such file")
    if path.is_dir():
        raise VidsynthError(f"cannot read image {path.name}: it is a folder")
    try:
        with Image.open(path) as img:
            if size is not None and img.format == "JPEG":
                img.draft("RGB", (size, size))  # let libjpeg decode at a reduced scale: much faster
            array = image_to_array(img, channels, background)
    except UnidentifiedImageError:
        raise VidsynthError(f"cannot read image {path.name}: not an image format Pillow knows") from None
    except Image.DecompressionBombError as exc:
        raise VidsynthError(f"cannot read image {path.name}: too large ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise VidsynthError(f"cannot read image {path.name}: {reason}") from None
    if size is not None and array.shape[:2] != (size, size):
        # Resize after compositing (resizing RGBA first would bleed the hidden colour into the edges).
        mode = "L" if channels == 1 else "RGB"
        square = center_square(Image.fromarray(array[:, :, 0] if channels == 1 else array, mode))
        resized = np.asarray(square.resize((size, size), Image.Resampling.LANCZOS))
        array = resized[:, :, None] if resized.ndim == 2 else resized
    return array


#: The long side of a video made at a photo's own size, unless ``--max-side`` says otherwise: 1024 pixels
#: keep a phone photo's in-between video a few seconds' work and a few hundred MB of memory.
DEFAULT_MAX_SIDE = 1024


def parse_frame_size(text: str) -> tuple[int, int]:
    """``WxH`` (or ``N`` for N x N) in pixels -> ``(W, H)``; anything else is a one-line error."""
    parts = text.lower().replace(" ", "").split("x")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) not in (1, 2) or min(numbers) < 2:
        raise VidsynthError(f"--size takes WxH (or N for NxN) in pixels, each at least 2, e.g. 640x480; got {text!r}")
    return (numbers[0], numbers[-1])


def photo_size(width: int, height: int, size: tuple[int, int] | None = None,
               max_side: int = DEFAULT_MAX_SIDE) -> tuple[int, int]:
    """The ``(W, H)`` of a video made from a ``width x height`` photo: ``size`` when given, else the photo's
    own, scaled down (never up) so that its long side is at most ``max_side``. Sides are even, as libx264's
    yuv420p needs: a scaled side is rounded to the nearest even number, a photo's own or a chosen odd side
    loses one pixel (one edge row or column is cut, not resampled)."""
    if max_side < 2:
        raise VidsynthError(f"--max-side must be at least 2 pixels, got {max_side}")
    if size is not None:
        w, h = size
    elif max(width, height) > max_side:
        scale = max_side / max(width, height)
        return max(2, 2 * round(width * scale / 2)), max(2, 2 * round(height * scale / 2))
    else:
        w, h = width, height
    return max(2, w - w % 2), max(2, h - h % 2)


def fit_image(array: np.ndarray, width: int, height: int) -> np.ndarray:
    """``uint8 [H0, W0, C]`` -> ``[height, width, C]``: center-cropped to the target's aspect ratio, then
    resized (Lanczos). A photo at most one pixel larger on each side (an odd size made even) is cropped
    only, so its pixels stay exactly as they were."""
    from PIL import Image

    h0, w0, channels = array.shape
    if (h0, w0) == (height, width):
        return array
    if 0 <= w0 - width <= 1 and 0 <= h0 - height <= 1:
        return array[:height, :width]
    img = Image.fromarray(array[:, :, 0] if channels == 1 else array, "L" if channels == 1 else "RGB")
    if w0 * height > h0 * width:  # wider than the target: crop the sides
        crop_w, crop_h = max(1, round(h0 * width / height)), h0
    else:
        crop_w, crop_h = w0, max(1, round(w0 * height / width))
    left, top = (w0 - crop_w) // 2, (h0 - crop_h) // 2
    img = img.crop((left, top, left + crop_w, top + crop_h))
    resized = np.asarray(img.resize((width, height), Image.Resampling.LANCZOS))
    return resized[:, :, None] if resized.ndim == 2 else resized
