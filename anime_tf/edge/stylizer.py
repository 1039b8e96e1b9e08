"""Photo to anime with an exported model (`edge.model.open_model`): NumPy and Pillow, no TensorFlow.

The image handling is `anime_tf.Stylizer`'s (`imageio.stylize_image`,
brightness matching), and large images go through the same tiling driver
(`anime_tf.tiling.run_tiled`). A fixed-size model sees each image scaled to
fit and reflect-padded, or, with `tile=True`, tiles of its size across the
full image. An exported model cannot take given layer-norm moments, so its
tiles are normalised on their own.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from anime_tf.imageio import from_model_range, match_brightness, stylize_image, to_model_range
from anime_tf.tiling import run_tiled


class EdgeStylizer:
    """Photo to anime with a `LiteRTModel` or `OnnxModel`; the same image handling as `anime_tf.Stylizer`."""

    def __init__(self, model, *, tile=False, tile_overlap=32, max_side=None, keep_brightness=True):
        self.model = model
        self.tile = tile
        self.tile_overlap = tile_overlap
        self.max_side = max_side
        self.keep_brightness = keep_brightness

    def stylize(self, image):
        """PIL image (any mode, EXIF-rotated or not) to stylized PIL image; alpha is kept."""
        return stylize_image(image, self.stylize_array, self.max_side)

    def stylize_array(self, pixels, on_progress=None):
        """uint8 RGB array to stylized uint8 RGB (at the fitted size for fixed-size models)."""
        if self.model.fixed_size and not self.tile:
            pixels = np.asarray(fit_inside(Image.fromarray(pixels), self.model.fixed_size))
        out = from_model_range(self.run(to_model_range(pixels), on_progress))
        return match_brightness(out, pixels) if self.keep_brightness else out

    def run(self, x, on_progress=None):
        """Model-range image (1xHxWx3 in [-1, 1]) through the model: whole, or in tiles of its fixed size."""
        if self.model.fixed_size is None:
            return self.model(x)
        return run_tiled(x, lambda tile, _: self.model(tile), self.model.fixed_size, self.tile_overlap,
                         fixed=True, on_progress=on_progress)


def fit_inside(image, size):
    """Scale a PIL image so it just fits (height, width), keeping its aspect ratio."""
    height, width = size
    scale = min(height / image.height, width / image.width)
    new = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(new, Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC)
