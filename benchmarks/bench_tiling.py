"""Tiled against whole-image stylizing: how far tiles drift, and what it costs.

    python benchmarks/bench_tiling.py --weights hayao.weights.h5 --image ../shared/images/photos/scene_10.jpg

Every layer norm of the generator normalises over the whole image, so a tile
normalised on its own differs from the same region of a whole-image run. This
prints PSNR (and the largest pixel difference) of tiled runs against the whole
run, for layer-norm moments taken from the full image, from copies scaled to
2 and 0.5 megapixels (what `Stylizer` does), and from each tile alone; and the
median time of each run.
"""
import argparse
import statistics
import time

import numpy as np
from PIL import Image

from anime_tf.metrics import psnr
from anime_tf.imageio import from_model_range, to_model_range
from anime_tf.inference import Stylizer
from anime_tf.tiling import downscaled
from anime_tf.tiling import TileBlender, tile_boxes


def timed(fn, repeats):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


def per_tile_moments(stylizer, x):
    """The naive way: each tile normalised by its own statistics."""
    height, width = x.shape[1:3]
    blender = TileBlender(height, width, 3, stylizer.tile_overlap)
    for top, left, h, w in tile_boxes(height, width, stylizer.tile_size, stylizer.tile_overlap, 4):
        blender.add((top, left, h, w), stylizer.run_whole(x[:, top:top + h, left:left + w])[0].numpy())
    return blender.result()[None]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--tile-size", type=int, default=512)
    parser.add_argument("--tile-overlap", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    stylizer = Stylizer(args.weights, tile_size=args.tile_size, tile_overlap=args.tile_overlap)
    x = to_model_range(np.asarray(Image.open(args.image).convert("RGB")))
    stylizer.run_whole(x[:, :64, :64])  # trace once
    whole, whole_time = timed(lambda: from_model_range(stylizer.run_whole(x)), args.repeats)
    print(f"image {x.shape[2]}x{x.shape[1]}, tiles {args.tile_size} overlap {args.tile_overlap}, "
          f"median of {args.repeats} runs")
    print(f"{'run':<28} {'PSNR vs whole':>14} {'max diff':>9} {'seconds':>8} {'time ratio':>10}")
    print(f"{'whole image':<28} {'-':>14} {'-':>9} {whole_time:8.2f} {1.0:10.2f}")
    runs = [("tiled, full-size moments", lambda: stylizer.run_tiled(x, stylizer.norm_moments(x))),
            ("tiled, moments at 2 MP", lambda: stylizer.run_tiled(x, stylizer.norm_moments(downscaled(x, 2e6)))),
            ("tiled, moments at 0.5 MP", lambda: stylizer.run_tiled(x, stylizer.norm_moments(downscaled(x, 5e5)))),
            ("tiled, per-tile moments", lambda: per_tile_moments(stylizer, x))]
    for name, run in runs:
        result, seconds = timed(lambda: from_model_range(run()), args.repeats)
        diff = np.abs(result.astype(int) - whole.astype(int)).max()
        print(f"{name:<28} {psnr(result, whole):14.2f} {diff:9d} {seconds:8.2f} {seconds / whole_time:10.2f}")


if __name__ == "__main__":
    main()
