"""How far a generator trained from random weights is from the style it learnt, on held-out photos.

    python benchmarks/from_scratch.py --teacher hayao.weights.h5 --val ../shared/images/bsds500/val \
        --vgg_weights ../shared/models/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 \
        --runs runs/scratch/init.weights.h5 runs/scratch --out scratch_pngs/

For each generator (a weights file or a run folder) and each `--val` photo, against the teacher's output on the
same photo (both at the photo's own size, `anime-tf stylize`'s path without
brightness matching): PSNR, and the style distance: the mean L1 between the
Gram matrices of VGG19 block1_conv1..block4_conv1 features of the two,
divided by the same distance of the photo itself to the teacher's output
(1.0: no closer in style than the photo; 0: the teacher's style). `--out`
writes photo | teacher | generator PNGs of the first photos.
"""
from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from anime_tf.imageio import find_images, load_image, save_image, split_alpha
from anime_tf.inference import Stylizer
from anime_tf.metrics import psnr

STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1")


class GramFeatures:
    """Gram matrices (normalised by H*W*C) of VGG19's style layers, official preprocessing."""

    def __init__(self, weights):
        vgg = keras.applications.VGG19(include_top=False, weights=weights)
        self.model = keras.Model(vgg.input, [vgg.get_layer(name).output for name in STYLE_LAYERS])

    def __call__(self, rgb):
        x = keras.applications.vgg19.preprocess_input(np.asarray(rgb, np.float32)[None])
        grams = []
        for features in self.model(x):
            flat = tf.reshape(features, [-1, features.shape[-1]])
            grams.append((tf.matmul(flat, flat, transpose_a=True) / tf.cast(tf.size(features), tf.float32)).numpy())
        return grams


def style_distance(a, b):
    """Mean over the style layers of the mean absolute difference of their Gram matrices."""
    return float(np.mean([np.abs(x - y).mean() for x, y in zip(a, b)]))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", required=True, help="the style's own weights (the answer)")
    parser.add_argument("--val", required=True, type=Path, help="held-out photos")
    parser.add_argument("--runs", nargs="+", required=True, type=Path,
                        help="weights files or training run folders (their generator.weights.h5)")
    parser.add_argument("--vgg_weights", default="imagenet")
    parser.add_argument("--limit", type=int, help="only the first N photos")
    parser.add_argument("--out", type=Path, help="write photo | teacher | generator PNGs here")
    parser.add_argument("--pngs", type=int, default=6, help="how many side-by-side PNGs (default: 6)")
    args = parser.parse_args()

    pairs, _ = find_images([str(args.val)])
    photos = {path.name: np.asarray(split_alpha(load_image(path))[0]) for path, _ in pairs[:args.limit]}
    gram = GramFeatures(args.vgg_weights)
    teacher = Stylizer(args.teacher, keep_brightness=False)
    targets = {name: teacher.stylize_array(rgb) for name, rgb in photos.items()}
    target_grams = {name: gram(rgb) for name, rgb in targets.items()}
    photo_style = {name: style_distance(gram(rgb), target_grams[name]) for name, rgb in photos.items()}
    photo_psnr = statistics.fmean(psnr(photos[n], targets[n]) for n in photos)
    print(f"{len(photos)} photos; the photo itself: PSNR {photo_psnr:.2f} dB against the teacher, style distance "
          f"{statistics.fmean(photo_style.values()):.4g} (1.00 relative)")
    print("| generator | PSNR mean / min (dB) | style distance (x the photo's), mean / median |")
    print("| --- | ---: | ---: |")
    for weights in args.runs:
        label = weights.name.removesuffix(".weights.h5")
        stylizer = Stylizer(str(weights), keep_brightness=False)
        scores, relative = [], []
        for index, (name, rgb) in enumerate(photos.items()):
            out = stylizer.stylize_array(rgb)
            scores.append(psnr(out, targets[name]))
            relative.append(style_distance(gram(out), target_grams[name]) / photo_style[name])
            if args.out and index < args.pngs:
                row = Image.fromarray(np.concatenate([rgb, targets[name], out], axis=1))
                save_image(row, args.out / label / f"{Path(name).stem}.png", overwrite=True)
        print(f"| {label} | {statistics.fmean(scores):.2f} / {min(scores):.2f} | "
              f"{statistics.fmean(relative):.3f} / {statistics.median(relative):.3f} |", flush=True)


if __name__ == "__main__":
    main()
