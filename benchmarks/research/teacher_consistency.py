"""How far a crop or mirror of the teacher's output is from the teacher's output on that crop or mirror.

    python benchmarks/research/teacher_consistency.py --weights hayao.weights.h5 --photos ../shared/images/bsds500/val

A distillation target must be the teacher's output on exactly what the
student sees; this measures what goes wrong when it is not. For each photo
(scaled to a shorter side of --size, as `train.py --teacher` scales them):

- crop: the teacher's rendering of the whole photo, cropped at a random place
  to --crop, against its rendering of that crop alone (its layer norms and
  borders see different pictures);
- mirror: its rendering of the mirrored photo, mirrored back, against its
  rendering of the photo (the generator is not mirror-symmetric).

Prints PSNR mean / min over the photos for each.
"""
import argparse

import numpy as np

from anime_tf import data
from anime_tf.metrics import psnr
from anime_tf.inference import Stylizer
from anime_tf.train.teacher import scaled_photo


def consistency(stylizer, rgb, crop, rng):
    """(crop PSNR, mirror PSNR) of one photo."""
    whole = stylizer.stylize_array(rgb)
    y, x = (rng.integers(0, room + 1) for room in (rgb.shape[0] - crop, rgb.shape[1] - crop))
    alone = stylizer.stylize_array(np.ascontiguousarray(rgb[y:y + crop, x:x + crop]))
    mirrored = stylizer.stylize_array(np.ascontiguousarray(rgb[:, ::-1]))[:, ::-1]
    return psnr(alone, whole[y:y + crop, x:x + crop]), psnr(mirrored, whole)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", required=True, help="the teacher")
    parser.add_argument("--photos", required=True, help="a folder of photos")
    parser.add_argument("--count", type=int, default=30, help="photos to use (the first N)")
    parser.add_argument("--size", type=int, default=256, help="shorter side the photos are scaled to")
    parser.add_argument("--crop", type=int, default=128, help="crop size")
    args = parser.parse_args()
    stylizer = Stylizer(args.weights, keep_brightness=False)
    rng = np.random.default_rng(0)
    rows = [consistency(stylizer, scaled_photo(path, args.size), args.crop, rng)
            for path in data.list_images(args.photos)[:args.count]]
    for name, values in zip(("crop", "mirror"), zip(*rows)):
        print(f"{name}: PSNR mean {np.mean(values):.2f} / min {np.min(values):.2f} dB over {len(values)} photos")


if __name__ == "__main__":
    main()
