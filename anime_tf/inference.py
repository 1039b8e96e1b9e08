"""Stylize images with the Keras generator: whole when memory allows, tiled otherwise.

Tiled runs go through `anime_tf.tiling.run_tiled`, as the edge runner's do;
here every tile is normalised with the layer-norm moments of the whole image
(`Generator.norm_moments` on a downscaled copy), so tiles keep its tone.
"""
from __future__ import annotations

import math
import os

import numpy as np
import tensorflow as tf
from PIL import Image

from anime_tf import config
from anime_tf.errors import ConfigError
from anime_tf.imageio import from_model_range, match_brightness, stylize_image, to_model_range
from anime_tf.tiling import run_tiled


def available_memory():
    """Bytes of memory available now (MemAvailable on Linux), or None if unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def default_max_whole_pixels():
    """The largest image (in pixels) stylized in one piece within the memory budget."""
    memory = available_memory() or 8 << 30
    return int(memory * config.MEMORY_FRACTION / config.BYTES_PER_PIXEL)


class Stylizer:
    """Photo to anime with one loaded generator, reused for every image.

    >>> stylizer = Stylizer(weights="hayao.weights.h5")
    >>> anime = stylizer.stylize(PIL.Image.open("photo.jpg"))

    `weights`: anything `anime_tf.weights.load_generator` takes, or a Generator.
    `max_side`: scale images down so their longer side is at most this.
    `keep_brightness`: match the output's mean luminance to the input's.
    `tile_size`, `tile_overlap`: tiling of images above `max_whole_pixels`
    (default: what half the available memory holds).
    """

    def __init__(self, weights="hayao", *, keep_brightness=True, max_side=None,
                 tile_size=config.DEFAULT_TILE_SIZE, tile_overlap=config.DEFAULT_TILE_OVERLAP,
                 max_whole_pixels=None, progress=False):
        from anime_tf.weights import load_generator

        self.generator = load_generator(weights) if isinstance(weights, (str, os.PathLike)) else weights
        self.keep_brightness = keep_brightness
        self.max_side = max_side
        self.tile_size = _multiple_of_4(tile_size)
        self.tile_overlap = tile_overlap
        if self.tile_size <= 2 * tile_overlap:
            raise ConfigError(f"tile size {tile_size} must exceed twice the overlap {tile_overlap}")
        self.max_whole_pixels = max_whole_pixels or default_max_whole_pixels()
        self.progress = progress
        image = tf.TensorSpec([1, None, None, 3], tf.float32)
        # Traced once: the whole image through the generator, and every layer norm's moments of it.
        self.run_whole = tf.function(self.generator.__call__, input_signature=[image])
        self.norm_moments = tf.function(self.generator.norm_moments, input_signature=[image])
        self._tile = tf.function(lambda x, moments: self.generator(x, norm_moments=moments),
                                 reduce_retracing=True)

    def warm_up(self):
        """Trace the whole-image graphs now on a small image, so the first real photo does not pay for
        it (tracing holds Python's lock for seconds: a server would stop answering meanwhile)."""
        x = tf.zeros([1, config.MIN_SIDE, config.MIN_SIDE, 3])
        self.run_whole(x)
        self.norm_moments(x)
        return self

    def stylize(self, image):
        """PIL image (any mode, EXIF-rotated or not) to stylized PIL image; alpha is kept."""
        return stylize_image(image, self.stylize_array, self.max_side)

    def stylize_array(self, rgb, on_progress=None):
        """uint8 RGB array (HxWx3) to stylized uint8 RGB array of the same size.

        `on_progress(done, total)` is called after each tile of a tiled run.
        """
        height, width = rgb.shape[:2]
        work = rgb
        if min(height, width) < config.MIN_SIDE:
            scale = config.MIN_SIDE / min(height, width)
            size = (math.ceil(width * scale), math.ceil(height * scale))
            work = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BICUBIC))
        out = from_model_range(self.run(to_model_range(work), on_progress))
        if out.shape[:2] != (height, width):
            out = np.asarray(Image.fromarray(out).resize((width, height), Image.Resampling.LANCZOS))
        return match_brightness(out, rgb) if self.keep_brightness else out

    def run(self, x, on_progress=None):
        """Model-range image (1xHxWx3 in [-1, 1]) through the generator, whole or tiled."""
        height, width = x.shape[1:3]
        if height * width <= self.max_whole_pixels:
            return self.run_whole(x).numpy()
        return self.run_tiled(x, on_progress=on_progress)

    def run_tiled(self, x, moments=None, on_progress=None):
        """Tiled run (`anime_tf.tiling.run_tiled`): every tile uses the whole image's layer-norm
        moments, `moments` if given, else measured on the image scaled down to fit."""
        measure = (lambda _: moments) if moments is not None else self.norm_moments
        return run_tiled(x, lambda tile, given: self._tile(tile, given), self.tile_size, self.tile_overlap,
                         measure=measure, moments_pixels=min(self.max_whole_pixels, config.MOMENTS_PIXELS),
                         progress=self.progress, on_progress=on_progress)


def _multiple_of_4(n):
    return max(64, int(n) // 4 * 4)
