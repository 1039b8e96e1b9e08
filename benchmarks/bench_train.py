"""Training speed on this machine: images per second of the init step and the full G+D step.

    python benchmarks/bench_train.py --images ../shared/images --size 256 --batch 4

Both steps run the real training functions (`AnimeGANTask.init_step`, `AnimeGANTask.gan_step`)
on one fixed batch; VGG19 has random weights (the same compute as ImageNet ones).
The reference measured in the same run is one generator forward pass on the same
batch (inference), so the ratios say what a training step costs in forward passes.
Median over `--steps` after warm-up.
"""
import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image

from anime_tf.train.config import TrainConfig
from anime_tf.train.loop import Trainer


def median_seconds(fn, steps, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", required=True, type=Path, help="folder with photos/")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()

    photos = sorted((args.images / "photos").glob("*.jpg"))
    def batch_of(files):
        return np.stack([np.asarray(Image.open(p).convert("RGB").resize((args.size, args.size)), np.float32)
                         / 127.5 - 1 for p in files[:args.batch]])
    photo, anime = tf.constant(batch_of(photos)), tf.constant(batch_of(photos[::-1]))
    smooth = tf.image.grayscale_to_rgb(tf.image.rgb_to_grayscale(anime))
    with tempfile.TemporaryDirectory() as model_dir:
        config = TrainConfig.from_preset("hayao", photo_dir="-", style_dir="-", model_dir=model_dir,
                                         image_size=args.size, batch_size=args.batch, vgg_weights="none")
        trainer = Trainer(config)
        task = trainer.task
        dataset = tf.data.Dataset.from_tensors((photo, anime, smooth))
        step_batch = next(iter(trainer.strategy.experimental_distribute_dataset(dataset)))
        forward = tf.function(lambda x: trainer.generator(x, training=False))
        rows = [("generator forward (reference)", median_seconds(lambda: forward(photo).numpy(), args.steps)),
                ("init step (G, content loss)", median_seconds(lambda: task.init_step(step_batch), args.steps)),
                ("full step (D then G, all losses)", median_seconds(lambda: task.gan_step(step_batch), args.steps))]
    reference = rows[0][1]
    print(f"{args.size}x{args.size}, batch {args.batch}, median of {args.steps} steps after warm-up, "
          f"{tf.config.threading.get_intra_op_parallelism_threads() or 'all'} threads")
    print("| step | s/step | images/s | x forward pass |")
    print("| --- | ---: | ---: | ---: |")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} | {args.batch / seconds:.2f} | {seconds / reference:.1f} |")


if __name__ == "__main__":
    main()
