"""What a run's discriminator tells apart: its accuracy on real, gray, smoothed and generated images.

    python benchmarks/research/d_accuracy.py --run runs/scratch \
        --photo_dir data/from_scratch/photos --style_dir data/from_scratch/HayaoTeacher \
        --image_size 128 --view_size 256 --batches 8

Loads the run's `generator.weights.h5` and `discriminator.weights.h5` (what
every save exports) and feeds it training-style batches (photos, anime frames
and their edge-smoothed gray copies, as `train.py` cuts them). The LSGAN
targets are 1 for anime frames and 0 for the rest, so a patch counts as right
when it lies on its target's side of 0.5. A discriminator near 50% on fakes
gives the generator no direction; one near 100% everywhere may have won.
"""
import argparse
import statistics
from pathlib import Path

import numpy as np

from anime_tf import data
from anime_tf.weights import load_discriminator, load_generator


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, type=Path, help="a run folder (its exported weights)")
    parser.add_argument("--photo_dir", required=True)
    parser.add_argument("--style_dir", required=True, type=Path)
    parser.add_argument("--image_size", type=int, default=128)
    parser.add_argument("--view_size", type=int)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--seed", type=int, default=123, help="data seed (not the run's, so views are new)")
    args = parser.parse_args()

    generator = load_generator(args.run / "generator.weights.h5")
    discriminator = load_discriminator(args.run / "discriminator.weights.h5")
    files = (data.list_images(args.photo_dir, "photo"), data.list_images(args.style_dir / "style", "style"),
             data.list_images(args.style_dir / "smooth", "smoothed style"))
    batches = data.training_dataset(*files, args.image_size, args.batch_size, seed=args.seed,
                                    view_size=args.view_size).take(args.batches)
    scores = {"anime (target 1)": [], "gray anime (0)": [], "smoothed (0)": [], "generated (0)": []}
    right = {name: [] for name in scores}
    for photo, anime, smooth in batches:
        outputs = {"anime (target 1)": discriminator(anime), "gray anime (0)": discriminator(data.grayscale(anime)),
                   "smoothed (0)": discriminator(smooth), "generated (0)": discriminator(generator(photo))}
        for name, logits in outputs.items():
            logits = np.asarray(logits)
            scores[name].append(float(logits.mean()))
            right[name].append(float(((logits > 0.5) if name.startswith("anime") else (logits < 0.5)).mean()))
    print(f"{args.run}: {args.batches} batches of {args.batch_size}")
    print("| images | mean D output | patches right |")
    print("| --- | ---: | ---: |")
    for name in scores:
        print(f"| {name} | {statistics.fmean(scores[name]):.3f} | {100 * statistics.fmean(right[name]):.0f}% |")


if __name__ == "__main__":
    main()
