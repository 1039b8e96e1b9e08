"""How fast a fine-tune moves a generator away from where it started, step by step.

    python benchmarks/research/finetune_drift.py --init_from hayao.weights.h5 --style_dir data/HayaoBSDS \\
        --photo_dir data/content --images val6/ --steps 5,10,20 [--warmup 300] [--style_weight 0 ...] \\
        --vgg_weights ../shared/models/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5

Runs the trainer's own steps (`--warmup` discriminator-only steps, then
adversarial steps) and, at each step in --steps, compares the generator's
outputs on --images (256x256) with the starting model's: PSNR, the detail
ratio (variance of the Laplacian, as `compare_weights.py`), the colour
shift, and how far the outputs' texture is from the style frames' (L1
between mean Gram matrices of VGG conv4_4, the style term's measure; it
falls when the model takes on the frames' style). Loss weights and learning
rates can be overridden one at a time, to see which term moves what;
`--out` writes start | last step side by side for each photo.
"""
import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image

from anime_tf import data, losses
from anime_tf.imageio import from_model_range, to_model_range
from anime_tf.train.config import TrainConfig
from anime_tf.train.loop import Trainer

from compare_weights import compare_outputs, model_input  # beside this script

OVERRIDES = ["g_lr", "d_lr", "content_weight", "style_weight", "color_weight", "tv_weight", "g_adv_weight",
             "keep_weight"]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--init_from", required=True, help="the generator weights to start from")
    parser.add_argument("--style_dir", required=True, help="style folder (anime-tf prepare-style)")
    parser.add_argument("--photo_dir", required=True, help="content photos")
    parser.add_argument("--images", required=True, type=Path, help="held-out photos to compare on")
    parser.add_argument("--vgg_weights", default="imagenet")
    parser.add_argument("--batch_size", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=0, help="discriminator-only steps first")
    parser.add_argument("--steps", default="5,10,20", help="adversarial steps at which to compare")
    parser.add_argument("--out", type=Path, help="write start | last step PNGs here")
    for name in OVERRIDES:
        parser.add_argument(f"--{name}", type=float, help="override the preset's value")
    return parser.parse_args()


def outputs(generator, inputs):
    return [from_model_range(generator(x).numpy()[0]) for x in inputs]


def mean_gram(vgg, images):
    return tf.reduce_mean(tf.concat([losses.gram(vgg(x)) for x in images], 0), axis=0)


def style_frames(style_dir, size=256):
    """The style folder's frames in gray, as the style term sees them."""
    files = data.list_images(Path(style_dir) / "style", "style frame")
    return [data.grayscale(to_model_range(np.asarray(Image.open(f).convert("RGB").resize((size, size)))))
            for f in files]


def style_distance(vgg, target_gram, outputs_now):
    now = mean_gram(vgg, [to_model_range(o) for o in outputs_now])
    return float(tf.reduce_mean(tf.abs(now - target_gram)))


def save_pairs(folder, names, start, now):
    folder.mkdir(parents=True, exist_ok=True)
    for name, a, b in zip(names, start, now):
        Image.fromarray(np.concatenate([a, b], axis=1)).save(folder / f"{name}.png")


def compare(start, now):
    """(mean PSNR, min PSNR, median detail ratio, mean colour shift R G B) of `now` against `start`."""
    scores, shifts, details = zip(*(compare_outputs(a, b) for a, b in zip(start, now)))
    return np.mean(scores), min(scores), statistics.median(details), np.mean(shifts, axis=0)


def main():
    args = parse_args()
    overrides = {k: getattr(args, k) for k in OVERRIDES if getattr(args, k) is not None}
    marks = sorted(int(s) for s in args.steps.split(","))
    config = TrainConfig.from_preset(
        "hayao", photo_dir=args.photo_dir, style_dir=args.style_dir, model_dir="/tmp/finetune_drift",
        init_from=args.init_from, image_size=256, batch_size=args.batch_size, init_epochs=0, epochs=1,
        steps_per_epoch=args.warmup + marks[-1], vgg_weights=args.vgg_weights, **overrides)
    trainer = Trainer(config)
    trainer.restore()
    paths = sorted(args.images.glob("*.jpg"))
    inputs = [model_input(path, 256) for path in paths]
    start = outputs(trainer.generator, inputs)
    target = mean_gram(trainer.task.vgg, style_frames(args.style_dir))
    print(f"style distance at the start {style_distance(trainer.task.vgg, target, start):.2f}")
    dataset, _ = trainer.task.inputs(data.list_images(config.photo_dir, "photo"), 0)
    batches = iter(dataset)
    tick = time.perf_counter()
    d_losses = [float(trainer.task.d_step(next(batches))["d/total"]) for _ in range(args.warmup)]
    if d_losses:
        print(f"{args.warmup} discriminator steps: loss {np.mean(d_losses[:20]):.1f} over the first 20, "
              f"{np.mean(d_losses[-20:]):.1f} over the last 20 ({time.perf_counter() - tick:.0f} s)")
    print(f"overrides {overrides or 'none'}; against the starting model on {len(inputs)} photos:")
    done = 0
    for mark in marks:
        while done < mark:
            trainer.task.gan_step(next(batches))
            done += 1
        now = outputs(trainer.generator, inputs)
        mean, low, detail, shift = compare(start, now)
        print(f"step {done:4d}: PSNR {mean:.2f} / {low:.2f} dB, detail {detail:.3f}, "
              f"colour shift {shift[0]:+.1f} {shift[1]:+.1f} {shift[2]:+.1f}, "
              f"style distance {style_distance(trainer.task.vgg, target, now):.2f}", flush=True)
    if args.out:
        save_pairs(args.out, [p.stem for p in paths], start, now)


if __name__ == "__main__":
    main()
