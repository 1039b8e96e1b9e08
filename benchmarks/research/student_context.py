"""How a student follows the teacher on large photos, and how each answers to the rest of the photo.

    python benchmarks/research/student_context.py --teacher hayao.weights.h5 --student runs/v68p \\
        --photos ../shared/images/faces ../shared/images/photos --side 1024

Every layer norm of the generator normalises over the whole image, so the
colour of a flat wall depends on what else is in the picture. For each photo
(scaled to a longer side of --side):

- whole: PSNR of the student's output against the teacher's, and the mean
  colour shift (R G B, student minus teacher);
- context: each --crop tile rendered alone and rendered with the whole
  photo's layer-norm moments (as a tiled run does); the mean |colour change|
  between the two, for the teacher and for the student. A student that
  answers to context as the teacher does has about the teacher's figure.
"""
import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from anime_tf import data
from anime_tf.metrics import psnr
from anime_tf.imageio import load_image, split_alpha, to_model_range
from anime_tf.weights import load_generator


def scaled(path, side):
    """The photo as uint8 RGB with its longer side `side`, both sides multiples of 4."""
    image = split_alpha(load_image(path))[0]
    scale = side / max(image.size)
    size = (max(4, round(image.width * scale) // 4 * 4), max(4, round(image.height * scale) // 4 * 4))
    return np.asarray(image.resize(size, Image.Resampling.LANCZOS))


def render(generator, rgb, moments=None):
    """uint8 output of the generator on one image, optionally with given layer-norm moments."""
    out = generator(to_model_range(rgb), norm_moments=moments)[0].numpy()
    return np.clip((out + 1) * 127.5, 0, 255).round().astype(np.uint8)


def mean_colour(rgb):
    return rgb.reshape(-1, 3).astype(np.float64).mean(0)


def context_change(generator, rgb, crop):
    """Mean over the crop tiles of |colour of the tile alone - colour with the whole photo's moments|."""
    moments = generator.norm_moments(to_model_range(rgb))
    changes = []
    for y in range(0, rgb.shape[0] - crop + 1, crop):
        for x in range(0, rgb.shape[1] - crop + 1, crop):
            tile = np.ascontiguousarray(rgb[y:y + crop, x:x + crop])
            alone, in_context = render(generator, tile), render(generator, tile, moments)
            changes.append(np.abs(mean_colour(alone) - mean_colour(in_context)).mean())
    return float(np.mean(changes))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", required=True, help="the teacher's weights")
    parser.add_argument("--student", required=True, help="the student's weights (file or run folder)")
    parser.add_argument("--photos", nargs="+", required=True, help="folders of photos")
    parser.add_argument("--side", type=int, default=1024, help="longer side the photos are scaled to")
    parser.add_argument("--crop", type=int, default=256, help="tile size for the context measure")
    args = parser.parse_args()
    teacher, student = load_generator(args.teacher), load_generator(args.student)
    print(f"{'photo':24} {'PSNR':>6} {'shift R G B':>18} {'context T':>10} {'context S':>10}")
    rows = []
    for path in [p for folder in args.photos for p in data.list_images(folder)]:
        rgb = scaled(path, args.side)
        t, s = render(teacher, rgb), render(student, rgb)
        shift = mean_colour(s) - mean_colour(t)
        row = (psnr(s, t), np.abs(shift).mean(), context_change(teacher, rgb, args.crop),
               context_change(student, rgb, args.crop))
        rows.append(row)
        print(f"{Path(path).name:24} {row[0]:6.2f} {' '.join(f'{v:+5.1f}' for v in shift):>18} "
              f"{row[2]:10.2f} {row[3]:10.2f}", flush=True)
    psnrs, shifts, ct, cs = zip(*rows)
    print(f"mean over {len(rows)} photos: PSNR {np.mean(psnrs):.2f} (min {np.min(psnrs):.2f}), "
          f"|shift| {np.mean(shifts):.2f}, context teacher {np.mean(ct):.2f}, student {np.mean(cs):.2f}")


if __name__ == "__main__":
    main()
