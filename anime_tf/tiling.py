"""Overlapping tiles and their feathered blend (NumPy only; the edge runner uses it too)."""
from __future__ import annotations

import numpy as np


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
        raise ValueError(f"tile size {tile} must be larger than the overlap {overlap}")
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
