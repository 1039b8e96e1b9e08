"""The tiling driver: one image through a model in overlapping tiles, blended without seams.

NumPy only, so that the Keras `Stylizer` and the edge runner's `EdgeStylizer`
run large images through the same code and give the same pixels by
construction. The catch it handles: every layer norm of the generator takes
its statistics over the whole image, so a tile normalised on its own drifts
in tone from its neighbours. A model that can take given statistics
(`Generator.norm_moments`) measures them once on a downscaled copy of the
whole image and runs every tile with them.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image
from tqdm import tqdm

from anime_tf.config import MOMENTS_PIXELS, SIZE_MULTIPLE
from anime_tf.errors import ConfigError


def run_tiled(x, run_tile, tile, overlap, *, measure=None, fixed=False,
              moments_pixels=MOMENTS_PIXELS, progress=False, on_progress=None):
    """x (1xHxWx3 in [-1, 1]) through `run_tile` in overlapping tiles; the blended 1xHxWx3 result.

    `tile`: the tile edge, or (height, width). The image is reflect-padded to a
    multiple of `SIZE_MULTIPLE` (and, with `fixed`, to at least one tile, for
    models of one fixed size), and tiles start on multiples of it, so each tile
    sees the whole image's sampling grid through the strided convs and resizes.
    `measure(small)` returns what every tile is run with, from the image scaled
    down to at most `moments_pixels`: `run_tile(tile, measured)` (None without
    `measure`). `on_progress(done, total)` is called after each tile.
    """
    height, width = x.shape[1:3]
    tile_h, tile_w = (tile, tile) if isinstance(tile, int) else tile
    measured = measure(downscaled(x, moments_pixels)) if measure else None
    min_h, min_w = (tile_h, tile_w) if fixed else (0, 0)
    x = reflect_pad_to(x, max(min_h, _round_up(height)), max(min_w, _round_up(width)))
    blender = TileBlender(x.shape[1], x.shape[2], x.shape[3], overlap)
    boxes = tile_boxes(x.shape[1], x.shape[2], (tile_h, tile_w), overlap, SIZE_MULTIPLE)
    for done, (top, left, h, w) in enumerate(tqdm(boxes, desc="tiles", leave=False, disable=not progress), 1):
        out = np.asarray(run_tile(x[:, top:top + h, left:left + w], measured))
        blender.add((top, left, h, w), out[0])
        if on_progress:
            on_progress(done, len(boxes))
    return blender.result()[None, :height, :width]


def downscaled(x, max_pixels):
    """x (1xHxWxC floats) area-averaged down to at most `max_pixels`, keeping its aspect ratio."""
    height, width = x.shape[1:3]
    scale = min(1.0, math.sqrt(max_pixels / (height * width)))
    if scale == 1.0:
        return x
    size = (max(8, round(width * scale)), max(8, round(height * scale)))
    channels = [np.asarray(Image.fromarray(np.ascontiguousarray(x[0, ..., c], np.float32), "F")
                           .resize(size, Image.Resampling.BOX)) for c in range(x.shape[3])]
    return np.stack(channels, axis=-1)[None]


def reflect_pad_to(x, height, width):
    """Pad bottom and right to (height, width) by reflection, as the generator pads."""
    pad_h, pad_w = height - x.shape[1], width - x.shape[2]
    if not (pad_h or pad_w):
        return x
    return np.pad(x, [(0, 0), (0, pad_h), (0, pad_w), (0, 0)], mode="reflect")


def _round_up(size):
    return -(-size // SIZE_MULTIPLE) * SIZE_MULTIPLE


def tile_starts(length, tile, overlap, align=1):
    """Start offsets of tiles of size `tile` covering `length`, neighbours overlapping by >= `overlap`.

    All tiles have the same size (the last one is moved back to end at the
    edge), so a compiled model sees one shape. Starts are multiples of `align`
    when `length` and `tile` are: a strided model must see each tile on the
    same sampling grid as the whole image.
    """
    if length <= tile:
        return [0]
    step = (tile - overlap) // align * align
    if step <= 0:
        raise ConfigError(f"tile size {tile} must be larger than the overlap {overlap}")
    starts = list(range(0, length - tile, step))
    return starts + [length - tile]


def tile_boxes(height, width, tile, overlap, align=1):
    """(top, left, tile height, tile width) for every tile of an image.

    `tile`: an edge, or (height, width) for tiles that are not square; tiles
    never exceed the image.
    """
    tile_h, tile_w = (tile, tile) if isinstance(tile, int) else tile
    tile_h, tile_w = min(tile_h, height), min(tile_w, width)
    return [(top, left, tile_h, tile_w)
            for top in tile_starts(height, tile_h, overlap, align)
            for left in tile_starts(width, tile_w, overlap, align)]


def _ramp(size, overlap, rise, fall):
    """1-D weights: rise linearly over `overlap` pixels on the sides that meet another tile."""
    weights = np.ones(size, dtype=np.float32)
    ramp = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
    n = min(overlap, size)
    if rise:
        weights[:n] = np.minimum(weights[:n], ramp[:n])
    if fall:
        weights[size - n:] = np.minimum(weights[size - n:], ramp[:n][::-1])
    return weights


class TileBlender:
    """Accumulates tile outputs with feathered weights; `result()` is their weighted mean."""

    def __init__(self, height, width, channels, overlap):
        self.height, self.width, self.overlap = height, width, overlap
        self.total = np.zeros((height, width, channels), dtype=np.float32)
        self.weight = np.zeros((height, width, 1), dtype=np.float32)

    def add(self, box, values):
        top, left, h, w = box
        wy = _ramp(h, self.overlap, rise=top > 0, fall=top + h < self.height)
        wx = _ramp(w, self.overlap, rise=left > 0, fall=left + w < self.width)
        weights = (wy[:, None] * wx[None, :])[..., None]
        self.total[top:top + h, left:left + w] += values * weights
        self.weight[top:top + h, left:left + w] += weights

    def result(self):
        return self.total / np.maximum(self.weight, 1e-8)
