"""Where a student's colour error comes from: the size of the photo, or the student at any size.

    python benchmarks/research/student_colour.py --teacher hayao.weights.h5 --student hayao-tiny \
        --large ../shared/images/photos ../shared/images/faces --val ../shared/images/bsds500/val \
        --cache runs/bench_cache

Per large photo, the colour shift (`anime_tf.metrics.block_color_shift`, p95
of the CIELAB distance of 64 px block means) of:
- "student full": the student at full size against the teacher at full size;
- "teacher small": the teacher at 512 px (longer side), enlarged, against the
  teacher at full size: how much the teacher's own colours move with size;
- "student small": the student against the teacher, both at 512 px (blocks
  scaled with the photo): the student's error with size out of the question.
Then the shift at the val photos' own size. A student whose "student small"
is as large as its "student full" has a colour error, not a size drift.
"""
import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_student import read_photos, teacher_outputs  # noqa: E402

from anime_tf.inference import Stylizer  # noqa: E402
from anime_tf.metrics import block_color_shift  # noqa: E402

SMALL_SIDE = 512


def resized(rgb, size):
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--student", required=True, help="a style name, weights file or run folder")
    parser.add_argument("--large", nargs="+", required=True, help="folders of large photos")
    parser.add_argument("--val", help="held-out photos, measured at their own size")
    parser.add_argument("--val_count", type=int, default=40)
    parser.add_argument("--cache", help="the teacher's full-size outputs (bench_student.py's --cache)")
    args = parser.parse_args()
    teacher, student = Stylizer(args.teacher), Stylizer(args.student)
    large = read_photos(*args.large)
    full = teacher_outputs(teacher, args.teacher, large, args.cache)
    print(f"{'photo':<18} {'size':>10} {'student full':>12} {'teacher small':>13} {'student small':>13}")
    for name, rgb in large.items():
        height, width = rgb.shape[:2]
        k = SMALL_SIDE / max(height, width)
        small = resized(rgb, (round(width * k), round(height * k)))
        t_small, s_small = teacher.stylize_array(small), student.stylize_array(small)
        print(f"{name:<18} {width:>5}x{height:<4} {block_color_shift(full[name], student.stylize_array(rgb)):12.2f} "
              f"{block_color_shift(full[name], resized(t_small, (width, height))):13.2f} "
              f"{block_color_shift(t_small, s_small, block=max(8, round(64 * k))):13.2f}", flush=True)
    if args.val:
        val = list(read_photos(args.val).values())[:args.val_count]
        shifts = [block_color_shift(teacher.stylize_array(v), student.stylize_array(v)) for v in val]
        print(f"val at its own size ({len(val)} photos): shift mean {statistics.fmean(shifts):.2f} "
              f"max {max(shifts):.2f}")


if __name__ == "__main__":
    main()
