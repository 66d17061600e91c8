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
