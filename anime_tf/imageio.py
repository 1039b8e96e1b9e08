"""Reading and writing images the way users hand them to us (no TensorFlow here).

Inputs come in every mode and orientation: EXIF rotation is applied; RGBA, LA
and transparent palettes are composited on white for stylizing, and their alpha
is returned so the output can keep it; grayscale, CMYK and 16-bit images become
8-bit RGB. Anything unreadable raises `ImageError` with the reason.
"""
from __future__ import annotations

import glob
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from anime_tf import config
from anime_tf.errors import AnimeTFError
from anime_tf.files import atomic_path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
ALPHA_FORMATS = {"PNG", "WEBP", "TIFF"}
FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP"}
WIDE_GRAY_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


class ImageError(AnimeTFError, ValueError):
    """An input that is not a usable image."""


class ImageTooLarge(ImageError):
    """An image above the pixel limit (a decompression bomb, or just too big to stylize)."""


def load_image(path, max_pixels=config.MAX_IMAGE_PIXELS):
    """Read and decode an image file fully, upright per EXIF; any mode (see `split_alpha`)."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: empty file")
    try:
        with warnings.catch_warnings():
            # Our own pixel limit below replaces Pillow's warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
            width, height = image.size
            if width * height > max_pixels:
                raise ImageTooLarge(f"{path}: {width}x{height} is {width * height / 1e6:.3g} megapixels, "
                                 f"above the limit of {max_pixels / 1e6:.3g} (a decompression bomb?)")
            image.load()
    except ImageError:
        raise
    except Image.DecompressionBombError as err:
        raise ImageTooLarge(f"{path}: refused as a decompression bomb ({err})") from err
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image, or a format Pillow cannot read") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageError(f"{path}: cannot decode ({err}); truncated or corrupt?") from err
    return ImageOps.exif_transpose(image)


def split_alpha(image):
    """(RGB image composited on white, alpha or None) from a PIL image of any mode."""
    if image.mode in WIDE_GRAY_MODES:
        image = _wide_gray_to_8bit(image)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        alpha = rgba.getchannel("A")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB"), alpha
    return image.convert("RGB"), None


def stylize_image(image, stylize_rgb, max_side=None):
    """Apply `stylize_rgb` (uint8 RGB array to uint8 RGB array) to a PIL image of any mode.

    EXIF rotation is applied, the image is scaled down to `max_side`, alpha is
    set aside (the RGB composited on white) and put back on the result.
    """
    rgb, alpha = split_alpha(ImageOps.exif_transpose(image))
    rgb = shrink_to(rgb, max_side)
    result = Image.fromarray(stylize_rgb(np.asarray(rgb)))
    if alpha is not None:
        result.putalpha(alpha.resize(result.size, Image.Resampling.LANCZOS))
    return result


def shrink_to(image, max_side=None):
    """A PIL image scaled down (Lanczos) so its longer side is at most `max_side`; else itself."""
    if not max_side or max(image.size) <= max_side:
        return image
    image = image.copy()
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


def _wide_gray_to_8bit(image):
    """16-bit and float grayscale to 8 bits by scaling (Pillow's convert would clip at 255)."""
    values = np.asarray(image, dtype=np.float64)
    if image.mode == "F":
        top = 1.0 if values.max(initial=0) <= 1.0 else 255.0
    else:
        top = 65535.0 if values.max(initial=0) > 255 else 255.0
    return Image.fromarray(np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")


def save_image(image, dest, overwrite=False, quality=95):
    """Write an RGB or RGBA PIL image atomically; alpha is dropped where the format cannot hold it."""
    dest = Path(dest)
    fmt = FORMATS.get(dest.suffix.lower().lstrip("."))
    if fmt is None:
        raise ImageError(f"{dest}: unsupported output format (use {', '.join(FORMATS)})")
    if image.mode == "RGBA" and fmt not in ALPHA_FORMATS:
        image = image.convert("RGB")
    options = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    with atomic_path(dest, overwrite=overwrite) as tmp:
        image.save(tmp, format=fmt, **options)
    return dest


def to_model_range(rgb):
    """uint8 RGB (HxWx3) to float32 in [-1, 1] with a batch axis."""
    return (np.asarray(rgb, dtype=np.float32) / 127.5 - 1.0)[None]


def from_model_range(x):
    """Model output in [-1, 1] (1xHxWx3 or HxWx3) to uint8 RGB."""
    x = np.asarray(x)
    x = x[0] if x.ndim == 4 else x
    return np.clip((x + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)


def match_brightness(stylized, original):
    """Scale the output so its mean luminance equals the input's (the official test.py does this)."""
    weights = np.array([0.299, 0.587, 0.114])
    source = float(np.mean(original[..., :3].reshape(-1, 3) @ weights))
    result = float(np.mean(stylized[..., :3].reshape(-1, 3) @ weights))
    if result <= 0:
        return stylized
    return np.clip(stylized.astype(np.float32) * (source / result) + 0.5, 0, 255).astype(np.uint8)


def find_images(inputs, recursive=False):
    """Expand files, folders and globs into (image path, path relative to its root) pairs.

    Files named explicitly are kept whatever their suffix, so that a mistake
    is reported rather than skipped; folders contribute their image files.
    Returns (pairs, problems), where problems names inputs that matched nothing.
    """
    pairs, problems = [], []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            found = sorted(p for p in path.glob(pattern)
                           if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                problems.append(f"{item}: no images in this folder"
                                + ("" if recursive else " (use --recursive for subfolders)"))
            pairs += [(p, p.relative_to(path)) for p in found]
        elif path.is_file():
            pairs.append((path, Path(path.name)))
        elif any(c in item for c in "*?["):
            matches = sorted(Path(p) for p in glob.glob(item, recursive=recursive) if Path(p).is_file())
            if not matches:
                problems.append(f"{item}: the pattern matched no files")
            pairs += [(p, Path(p.name)) for p in matches]
        else:
            problems.append(f"{item}: no such file or folder")
    return pairs, problems
