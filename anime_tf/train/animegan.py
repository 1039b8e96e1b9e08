"""The AnimeGAN task: an init phase (content only), then the adversarial phase, as the official code.

The task builds the generator, the PatchGAN discriminator, VGG19 and the
optimisers, the inputs (photos, anime frames, their edge-smoothed copies) and
one compiled step per phase; `anime_tf.train.loop.Trainer` runs it. A
fine-tune with `keep_weight` also holds each output to the `init_from`
model's own (the anchor).
"""
from __future__ import annotations

import sys
from pathlib import Path

import tensorflow as tf

from anime_tf import data, losses
from anime_tf.models import Discriminator, Generator
from anime_tf.train.steps import (adam, apply_gradients, average, distributed, model_variables, sample_grid,
                                  weighted_total)
from anime_tf.weights import GENERATOR_WEIGHTS_FILE, load_discriminator, load_generator

DISCRIMINATOR_WEIGHTS_FILE = "discriminator.weights.h5"


class AnimeGANTask:
    """Models, inputs and steps of AnimeGANv2 training for a `TrainConfig`."""

    def __init__(self, config, strategy):
        self.config, self.strategy = config, strategy
        with strategy.scope():
            self.generator = Generator(width=config.width, blocks=config.blocks)
            self.generator(tf.zeros([1, 32, 32, 3]))
            self.discriminator = Discriminator()
            self.discriminator(tf.zeros([1, 32, 32, 3]))
            self.vgg = losses.VGGFeatures(weights=config.vgg_weights_path)
            self.anchor = load_generator(config.init_from) if config.keep_weight else None
            self.init_optimizer = adam(config.init_lr, config.clip_norm)
            self.g_optimizer = adam(config.g_lr, config.clip_norm)
            self.d_optimizer = adam(config.d_lr, config.clip_norm)
            for optimizer, model in ((self.init_optimizer, self.generator), (self.g_optimizer, self.generator),
                                     (self.d_optimizer, self.discriminator)):
                optimizer.build(model.trainable_variables)
        # One step of each phase on a distributed batch (photo, anime, smoothed gray anime[, face parts]).
        self.init_step = tf.function(distributed(strategy, self._init_replica_step))
        self.gan_step = tf.function(distributed(strategy, self._gan_replica_step))
        self.d_step = tf.function(distributed(strategy, self._d_replica_step))

    def tracked(self):
        """What a checkpoint holds besides the step."""
        return {"generator": model_variables(self.generator),
                "discriminator": model_variables(self.discriminator),
                "init_optimizer": self.init_optimizer, "g_optimizer": self.g_optimizer,
                "d_optimizer": self.d_optimizer}

    def exports(self):
        """{file name: model} written to the run folder at every save: the weights a later run starts from."""
        return {GENERATOR_WEIGHTS_FILE: self.generator, DISCRIMINATOR_WEIGHTS_FILE: self.discriminator}

    def start(self):
        """A new run's first weights: the --init_from generator's and --init_discriminator_from's, if given."""
        c = self.config
        if c.init_from:
            start = self.anchor if self.anchor is not None else load_generator(c.init_from)
            self.generator.set_weights(start.get_weights())
            print(f"starting from the generator weights {c.init_from}", file=sys.stderr)
        if c.init_discriminator_from:
            load_discriminator(c.init_discriminator_from, into=self.discriminator)
            print(f"starting from the discriminator weights {c.init_discriminator_from}", file=sys.stderr)

    def step_for(self, step, steps_per_epoch):
        """The step function for this step of the schedule: init, discriminator warm-up, adversarial."""
        init_steps = self.config.init_epochs * steps_per_epoch
        if step < init_steps:
            return self.init_step
        return self.d_step if step < init_steps + self.config.d_warmup_steps else self.gan_step

    def inputs(self, photos, start):
        """(the training batches from step `start`, a fixed batch of sample photos)."""
        c = self.config
        style = data.list_images(Path(c.style_dir) / "style", "style")
        smooth = data.list_images(Path(c.style_dir) / "smooth", "smoothed style")
        parts = self.face_parts(photos) if c.faces else None
        dataset = data.training_dataset(photos, style, smooth, c.image_size, c.batch_size, c.seed, start,
                                        parts=parts, face_share=c.face_share, view_size=c.view_size)
        samples = next(iter(data.training_dataset(photos, style, smooth, c.image_size, 4, c.seed + 7,
                                                  view_size=c.view_size)))[0]
        return dataset, samples

    def sample_grid(self, photos):
        """(title, image): the sample photos above what the generator makes of them."""
        return "photo | generated", sample_grid([photos, self.generator(photos, training=False)])

    def face_parts(self, photos):
        """Part boxes of the photos' faces from the cache beside them (found once), or None without faces."""
        from anime_tf.face.cache import default_cache_path, training_parts

        cache = self.config.face_cache or default_cache_path(self.config.photo_dir)
        return training_parts(photos, cache, self.config.face_model)

    # --- the terms and the steps ------------------------------------------------------------

    def average(self, per_example):
        return average(per_example, self.config.batch_size)

    def generator_terms(self, photo, anime_gray, fake, parts=(), mean=None):
        """The adversarial phase's generator loss terms {name: (weight, value)}.

        `mean` turns per-example losses into one value (default: this replica's
        share of the global batch mean); benchmarks/research/loss_balance.py takes each
        term's gradient from the same terms.
        """
        c, mean = self.config, mean or self.average
        fake_features = self.vgg(fake)
        terms = {
            "adversarial": (c.g_adv_weight, mean(losses.generator_adversarial_loss(self.discriminator(fake)))),
            "content": (c.content_weight, mean(losses.content_loss(self.vgg(photo), fake_features))),
            "style": (c.style_weight, mean(losses.style_loss(self.vgg(anime_gray), fake_features))),
            "color": (c.color_weight, mean(losses.color_loss(photo, fake))),
            "tv": (c.tv_weight, mean(losses.total_variation_loss(fake))),
        }
        if self.anchor is not None:  # how far the output has left the starting model's on the same photo
            start = tf.stop_gradient(tf.cast(self.anchor(photo, training=False), tf.float32))
            terms["keep"] = (c.keep_weight, mean(losses.pyramid_loss(start, fake)))
        if parts:
            terms["face"] = (c.face_weight, mean(losses.face_loss(self.vgg, photo, fake, *parts)))
        return terms

    def _generate(self, photo):
        return tf.cast(self.generator(photo, training=True), tf.float32)

    def _init_replica_step(self, photo, anime, smooth, *parts):
        del anime, smooth  # the init phase learns to reconstruct content only
        c = self.config
        with tf.GradientTape() as tape:
            fake = self._generate(photo)
            content = self.average(losses.content_loss(self.vgg(photo), self.vgg(fake)))
            terms = {"content": (c.content_weight, content)}
            if parts:
                terms["face"] = (c.face_weight, self.average(losses.face_loss(self.vgg, photo, fake, *parts)))
            loss = weighted_total(terms)
        apply_gradients(self.init_optimizer, tape, loss, self.generator.trainable_variables)
        return {**{f"init/{name}": value for name, (_, value) in terms.items()}, "init/total": loss}

    def _d_replica_step(self, photo, anime, smooth, *parts):
        """The discriminator's update alone: its warm-up before a fine-tune (see `d_warmup_steps`)."""
        return {"d/total": self._d_update(photo, anime, data.grayscale(anime), smooth)}

    def _d_update(self, photo, anime, anime_gray, smooth):
        c, d = self.config, self.discriminator
        with tf.GradientTape() as tape:
            fake = self._generate(photo)
            d_loss = c.d_adv_weight * self.average(losses.discriminator_loss(
                d(anime, training=True), d(fake, training=True), d(anime_gray, training=True),
                d(smooth, training=True), c.d_weights))
        apply_gradients(self.d_optimizer, tape, d_loss, d.trainable_variables)
        return d_loss

    def _gan_replica_step(self, photo, anime, smooth, *parts):
        anime_gray = data.grayscale(anime)
        d_loss = self._d_update(photo, anime, anime_gray, smooth)  # discriminator first, as the official loop
        with tf.GradientTape() as tape:
            fake = self._generate(photo)
            terms = self.generator_terms(photo, anime_gray, fake, parts)
            g_loss = weighted_total(terms)
        apply_gradients(self.g_optimizer, tape, g_loss, self.generator.trainable_variables)
        return {**{f"g/{name}": value for name, (_, value) in terms.items()}, "g/total": g_loss, "d/total": d_loss}
