"""Which loss term moves a fine-tune: each generator term's gradient at the starting weights.

    python benchmarks/research/loss_balance.py --init_from hayao.weights.h5 --style_dir data/HayaoKeras \
        --photo_dir ../shared/images/bsds500/train \
        --vgg_weights ../shared/models/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 --warmup 0,50

For a fine-tune from `--init_from` with the preset's weights: on one batch,
the global norm of each weighted term's gradient with respect to the
generator's weights (what the optimiser follows) and its mean push on the
output's R, G, B (minus the mean gradient per channel, as a share of the mean
absolute gradient: positive makes the channel brighter), and its pull on
detail: the cosine, in weight space, between the term's descent direction and
the gradient of the output's detail (variance of the Laplacian of its gray, as
`compare_weights.py` counts it; negative: the term smooths). The adversarial
term depends on the discriminator, so it is measured after each number of
discriminator-only steps in --warmup (`train.py --d_warmup_steps`).
"""
import argparse
import tempfile

import numpy as np
import tensorflow as tf

from anime_tf import data
from anime_tf.train.config import TrainConfig
from anime_tf.train.loop import Trainer


LAPLACIAN = tf.constant([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])[:, :, None, None]


def detail(images):
    """Mean over the batch of the variance of the Laplacian of the gray images."""
    gray = tf.image.rgb_to_grayscale((images + 1.0) * 127.5)
    edges = tf.nn.conv2d(gray, LAPLACIAN, 1, "VALID")
    return tf.reduce_mean(tf.math.reduce_variance(edges, axis=[1, 2, 3]))


def cosine(a, b):
    dot = tf.add_n([tf.reduce_sum(x * y) for x, y in zip(a, b)])
    return float(dot / (tf.linalg.global_norm(a) * tf.linalg.global_norm(b)))


def measure(task, photo, anime, names):
    """{term: (weighted loss, gradient norm, push on R G B, pull on detail)}, from `generator_terms`."""
    variables = task.generator.trainable_variables
    with tf.GradientTape() as tape:
        amount = detail(task.generator(photo, training=True))
    more_detail = tape.gradient(amount, variables)
    with tf.GradientTape(persistent=True) as tape:
        fake = task.generator(photo, training=True)
        terms = task.generator_terms(photo, data.grayscale(anime), fake, mean=tf.reduce_mean)
        weighted = {name: weight * value for name, (weight, value) in terms.items() if name in names}
    rows = {}
    for name, loss in weighted.items():
        weights = tape.gradient(loss, variables)
        pixels = tape.gradient(loss, fake)
        push = -tf.reduce_mean(pixels, [0, 1, 2]) / tf.reduce_mean(tf.abs(pixels))
        pull = cosine([-w for w in weights], more_detail)
        rows[name] = (float(loss), float(tf.linalg.global_norm(weights)), push.numpy(), pull)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--init_from", required=True)
    parser.add_argument("--style_dir", required=True)
    parser.add_argument("--photo_dir", required=True)
    parser.add_argument("--vgg_weights", default="imagenet")
    parser.add_argument("--preset", default="hayao")
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--image_size", type=int, default=256)
    parser.add_argument("--warmup", default="0,50", help="discriminator-only steps before each measure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as run:
        config = TrainConfig.from_preset(args.preset, photo_dir=args.photo_dir, style_dir=args.style_dir,
                                         model_dir=run, init_from=args.init_from, vgg_weights=args.vgg_weights,
                                         batch_size=args.batch_size, image_size=args.image_size)
        trainer = Trainer(config)
        trainer.restore()
        dataset, _ = trainer.task.inputs(data.list_images(args.photo_dir, "photo"), 0)
        batches = iter(dataset)
        photo, anime = next(batches)[:2]
        print("| discriminator steps | term | weighted loss | gradient norm (weights) | push on R G B | on detail |")
        print("| ---: | --- | ---: | ---: | --- | ---: |")
        done = 0
        for steps in (int(s) for s in args.warmup.split(",")):
            for _ in range(steps - done):
                trainer.task.d_step(next(batches))
            done = steps
            names = ("adversarial",) if steps else ("adversarial", "content", "style", "color", "tv")
            for name, (loss, norm, push, pull) in measure(trainer.task, photo, anime, names).items():
                print(f"| {steps} | {name} | {loss:.4g} | {norm:.4g} | {np.array2string(push, precision=3)} "
                      f"| {pull:+.3f} |", flush=True)


if __name__ == "__main__":
    main()
