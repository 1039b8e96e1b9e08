"""Which loss term moves a fine-tune: each generator term's gradient at the starting weights.

    python benchmarks/loss_balance.py --init_from hayao.weights.h5 --style_dir data/HayaoKeras \
        --photo_dir ../shared/images/bsds500/train \
        --vgg_weights ../shared/models/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 --warmup 0,50

For a fine-tune from `--init_from` with the preset's weights: on one batch,
the global norm of each weighted term's gradient with respect to the
generator's weights (what the optimiser follows) and its mean push on the
output's R, G, B (minus the mean gradient per channel, as a share of the mean
absolute gradient: positive makes the channel brighter). The adversarial term
depends on the discriminator, so it is measured after each number of
discriminator-only steps in --warmup (`train.py --d_warmup_steps`).
"""
import argparse
import tempfile

import numpy as np
import tensorflow as tf

from anime_tf import data, losses
from anime_tf.train.config import TrainConfig
from anime_tf.train.loop import Trainer


def term_functions(trainer, photo, anime):
    """{name: f(fake) -> weighted mean loss}, as `Trainer._gan_replica_step` weighs them."""
    c, vgg = trainer.config, trainer.vgg
    photo_features, gray_features = vgg(photo), vgg(data.grayscale(anime))
    return {
        "adversarial": lambda f: c.g_adv_weight * losses.generator_adversarial_loss(trainer.discriminator(f)),
        "content": lambda f: c.content_weight * losses.content_loss(photo_features, vgg(f)),
        "style": lambda f: c.style_weight * losses.style_loss(gray_features, vgg(f)),
        "color": lambda f: c.color_weight * losses.color_loss(photo, f),
        "tv": lambda f: c.tv_weight * losses.total_variation_loss(f),
    }


def measure(trainer, photo, anime, names):
    rows = {}
    for name, term in term_functions(trainer, photo, anime).items():
        if name not in names:
            continue
        with tf.GradientTape(persistent=True) as tape:
            fake = trainer.generator(photo, training=True)
            loss = tf.reduce_mean(term(fake))
        weights = tape.gradient(loss, trainer.generator.trainable_variables)
        pixels = tape.gradient(loss, fake)
        push = -tf.reduce_mean(pixels, [0, 1, 2]) / tf.reduce_mean(tf.abs(pixels))
        rows[name] = (float(loss), float(tf.linalg.global_norm(weights)), push.numpy())
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
        dataset, _ = trainer._inputs(data.list_images(args.photo_dir, "photo"), 0)
        batches = iter(dataset)
        photo, anime = next(batches)[:2]
        print("| discriminator steps | term | weighted loss | gradient norm (weights) | push on R G B |")
        print("| ---: | --- | ---: | ---: | --- |")
        done = 0
        for steps in (int(s) for s in args.warmup.split(",")):
            for _ in range(steps - done):
                trainer.d_step(next(batches))
            done = steps
            names = ("adversarial",) if steps else ("adversarial", "content", "style", "color", "tv")
            for name, (loss, norm, push) in measure(trainer, photo, anime, names).items():
                print(f"| {steps} | {name} | {loss:.4g} | {norm:.4g} | {np.array2string(push, precision=3)} |",
                      flush=True)


if __name__ == "__main__":
    main()
