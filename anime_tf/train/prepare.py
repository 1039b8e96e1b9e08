"""`anime-tf prepare-style`: a style folder ready for training (style/ and smooth/).

Style frames are scaled so their shorter side is the training size (crops then
see whole shots, as the official 256x256 data did) and saved under style/;
their edge-smoothed copies under smooth/. Edge smoothing is the official one:
Canny edges (100, 200) on the grayscale frame, dilated with a 5x5 kernel, and
a 5x5 Gaussian blur applied on those pixels only. It is done once here, never
in the training step.
"""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from tqdm import tqdm

from anime_tf.files import OutputExistsError
from anime_tf.imageio import ImageError, find_images, load_image, save_image, split_alpha

KERNEL = 5


def edge_smooth(rgb):
    """The official edge smoothing of a uint8 RGB array."""
    edges = cv2.Canny(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), 100, 200)
    dilated = cv2.dilate(edges, np.ones((KERNEL, KERNEL), np.uint8)) > 0
    blurred = cv2.GaussianBlur(rgb, (KERNEL, KERNEL), 0, borderType=cv2.BORDER_REFLECT_101)
    return np.where(dilated[..., None], blurred, rgb)


def scaled_to(image, size):
    """Scale down so the shorter side is `size` (smaller images are kept as they are)."""
    scale = size / min(image.size)
    if scale >= 1:
        return image
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)


def prepare_style(source, out, size=256, overwrite=False, recursive=False):
    """Write out/style and out/smooth; returns (written, failed) counts."""
    pairs, problems = find_images([str(source)], recursive=recursive)
    for problem in problems:
        print(f"prepare-style: error: {problem}", file=sys.stderr)
    out = Path(out)
    written = failed = 0
    for path, relative in tqdm(pairs, desc="prepare-style", unit="img", file=sys.stderr):
        name = relative.with_suffix(".png")
        try:
            rgb = np.asarray(scaled_to(split_alpha(load_image(path))[0], size))
            save_image(Image.fromarray(rgb), out / "style" / name, overwrite=overwrite)
            save_image(Image.fromarray(edge_smooth(rgb)), out / "smooth" / name, overwrite=overwrite)
            written += 1
        except OutputExistsError:
            continue  # already prepared: a second run only adds what is new
        except ImageError as err:
            failed += 1
            tqdm.write(f"prepare-style: error: {err}", file=sys.stderr)
    return written, failed + len(problems)
