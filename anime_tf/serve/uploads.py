"""What a client sends, checked by its content with the same image I/O as `anime-tf stylize`.

Nothing a client sends becomes part of a path: an upload is stored under its
job's random id, and its file name is kept only as text (for the page and
the names inside a zip).
"""
from __future__ import annotations

import dataclasses
import shutil
import unicodedata
from pathlib import PurePosixPath, PureWindowsPath

from anime_tf.files import atomic_path
from anime_tf.imageio import ImageError, ImageTooLarge, load_image
from anime_tf.serve.cache import pixels_digest

MAX_NAME = 120


@dataclasses.dataclass
class CheckedUpload:
    """One uploaded file after checking: its pixels' digest, or why it was refused."""

    name: str
    pixels: str | None = None
    error: str | None = None
    too_large: bool = False


def display_name(filename) -> str:
    """A client's file name made safe to show and to use inside a zip: no folders, no control characters."""
    name = PureWindowsPath(PurePosixPath(filename or "").name).name
    name = "".join(ch for ch in unicodedata.normalize("NFC", name) if unicodedata.category(ch)[0] != "C")
    name = name.strip().lstrip(".") or "image"
    if len(name) > MAX_NAME:
        stem, dot, suffix = name.rpartition(".")
        name = (stem[:MAX_NAME - len(suffix) - 1] + dot + suffix) if dot and len(suffix) < 10 else name[:MAX_NAME]
    return name


def result_name(name, fmt) -> str:
    """The download name of a result: the photo's name with the output's suffix."""
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return f"{stem}.{fmt}"


def save_and_check(stream, dest, name, max_pixels) -> CheckedUpload:
    """Write an upload to `dest` (atomically) and decode it fully; a refused upload leaves no file."""
    checked = CheckedUpload(name)
    with atomic_path(dest, overwrite=True) as tmp:
        with open(tmp, "wb") as out:
            shutil.copyfileobj(stream, out, 1 << 20)
    try:
        image = load_image(dest, max_pixels=max_pixels)
        checked.pixels = pixels_digest(image)
    except ImageError as err:
        dest.unlink(missing_ok=True)
        checked.error = client_message(err, dest, name)
        checked.too_large = isinstance(err, ImageTooLarge)
    return checked


def client_message(err, path, name):
    """An ImageError names the file it read; the client knows it by its own name."""
    return str(err).replace(str(path), name)
