"""How far two generators' outputs are apart: PSNR per photo, and side-by-side PNGs to look at.

    python benchmarks/research/compare_weights.py --a hayao.weights.h5 --b runs/finetune \\
        --images ../shared/images/faces --out /tmp/compare

Used to check that fine-tuning keeps a style: photo | A | B rows are written to --out.
Besides PSNR, two numbers that catch what PSNR hides: the colour shift (mean
R, G, B of B's outputs minus A's, 0-255: a cast shows as one channel off) and
the detail ratio (variance of the Laplacian of B's outputs over A's: below 1
is softer, above 1 is sharper or noisier).
"""
import argparse
import statistics
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from anime_tf.metrics import psnr
from anime_tf.imageio import from_model_range, to_model_range
from anime_tf.weights import load_generator


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--a", required=True, help="first weights (the reference)")
    parser.add_argument("--b", required=True, help="second weights")
    parser.add_argument("--images", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    a, b = load_generator(args.a), load_generator(args.b)
    args.out.mkdir(parents=True, exist_ok=True)
    scores, shifts, details = {}, [], []
    for path in sorted(args.images.glob("*.jpg")):
        x = model_input(path, args.size)
        out_a, out_b = from_model_range(a(x)), from_model_range(b(x))
        scores[path.name], shift, detail = compare_outputs(out_a, out_b)
        shifts.append(shift)
        details.append(detail)
        Image.fromarray(np.concatenate([from_model_range(x), out_a, out_b], axis=1)).save(args.out / f"{path.stem}.png")
        print(f"{path.name:<24} PSNR {scores[path.name]:.2f} dB")
    print(f"mean PSNR {statistics.fmean(scores.values()):.2f} dB, min {min(scores.values()):.2f} dB; "
          f"rows photo | A | B in {args.out}")
    shift = np.mean(shifts, axis=0)
    print(f"colour shift B - A (R, G, B): {shift[0]:+.1f} {shift[1]:+.1f} {shift[2]:+.1f}; "
          f"detail ratio B / A: median {statistics.median(details):.2f}")


def model_input(path, size):
    """A photo resized to size x size (bicubic), as the model takes it."""
    return to_model_range(np.asarray(Image.open(path).convert("RGB").resize((size, size), Image.BICUBIC)))


def compare_outputs(a, b):
    """(PSNR, mean R G B of b minus a's, detail ratio b / a) of two outputs for the same photo."""
    shift = b.reshape(-1, 3).mean(axis=0) - a.reshape(-1, 3).mean(axis=0)
    return psnr(a, b), shift, laplacian_variance(b) / laplacian_variance(a)


def laplacian_variance(rgb):
    """Variance of the Laplacian of the gray image: how much fine detail (and noise) it has."""
    return float(cv2.Laplacian(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())


if __name__ == "__main__":
    main()
