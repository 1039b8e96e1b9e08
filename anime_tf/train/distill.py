"""Distillation: a smaller generator of the same family learns to reproduce a teacher's output.

`train.py --teacher WEIGHTS --width W --blocks B` trains `Generator(width=W,
blocks=B)` on photos only: L1 against the teacher's pixels, optionally each
Laplacian band against the teacher's (its outlines), VGG19 conv4_4 content
loss against the teacher's features, and the teacher's style (Gram), colour
and total variation terms; no discriminator.
The teacher's outputs are rendered once per view of each photo, on
exactly that view (see `anime_tf.train.teacher`). Everything else is the
trainer's: checkpoints and resume, TensorBoard, progress, tf.distribute. A
new student starts as a slice of the teacher (`anime_tf.train.slicing`). The
saved weights file says its width and blocks, so `anime-tf stylize --weights
RUN` needs nothing more.
"""
from __future__ import annotations

import sys
from pathlib import Path

import keras
import tensorflow as tf

from anime_tf import data, losses
from anime_tf.models import Generator
from anime_tf.train.loop import Trainer, sample_grid, schedule
from anime_tf.train.slicing import slice_teacher
from anime_tf.train.teacher import teacher_pairs
from anime_tf.weights import load_generator

FINAL_LR_FRACTION = 0.05
SAMPLE_COUNT = 4


def pixel_loss(target, images):
    """L1 between images, per example."""
    return tf.reduce_mean(tf.abs(target - images), axis=[1, 2, 3])


class Distiller(Trainer):
    """A `Trainer` whose one phase is distillation from `config.teacher`."""

    def _build(self, config):
        c = config
        with self.strategy.scope():
            self.generator = Generator(width=c.width, blocks=c.blocks)
            self.generator(tf.zeros([1, 32, 32, 3]))
            uses_vgg = c.content_weight > 0 or c.style_weight > 0
            self.vgg = losses.VGGFeatures(weights=c.vgg_weights_path) if uses_vgg else None
            self.optimizer = keras.optimizers.Adam(self._learning_rate(), global_clipnorm=c.clip_norm)
            self.optimizer.build(self.generator.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")

    def _learning_rate(self):
        """Cosine decay from `distill_lr` to 5% of it over the run's steps."""
        c = self.config
        _, steps = schedule(c, len(data.list_images(c.photo_dir, "photo")))
        return keras.optimizers.schedules.CosineDecay(c.distill_lr, steps, alpha=FINAL_LR_FRACTION)

    def restore(self):
        """Resume; or start a new run as a slice of the teacher (`student_init`), unless --init_from says otherwise."""
        c = self.config
        new_run = not tf.train.latest_checkpoint(self.checkpoint_dir) and not c.init_from
        step = super().restore()
        if new_run and c.student_init == "slice":
            slice_teacher(load_generator(c.teacher), self.generator)
            print(f"starting from a slice of the teacher {c.teacher}", file=sys.stderr)
        return step

    def _tracked(self):
        return {"generator": self.generator, "optimizer": self.optimizer}

    def _compile_steps(self):
        self.distill_step = tf.function(self._distributed(self._distill_replica_step))

    def _step_at(self, step, steps_per_epoch):
        return self.distill_step

    def _distill_replica_step(self, photo, teacher):
        c = self.config
        teacher_features = self.vgg(teacher) if self.vgg is not None else None
        with tf.GradientTape() as tape:
            student = self._generate(photo)
            terms = {"pixel": (c.pixel_weight, self._average(pixel_loss(teacher, student)))}
            if c.pyramid_weight:
                terms["pyramid"] = (c.pyramid_weight, self._average(losses.pyramid_loss(teacher, student)))
            if teacher_features is not None:
                features = self.vgg(student)
                terms["content"] = (c.content_weight,
                                    self._average(losses.content_loss(teacher_features, features)))
                if c.style_weight:
                    terms["style"] = (c.style_weight, self._average(losses.style_loss(teacher_features, features)))
            if c.color_weight:
                terms["color"] = (c.color_weight, self._average(losses.color_loss(teacher, student)))
            if c.tv_weight:
                terms["tv"] = (c.tv_weight, self._average(losses.total_variation_loss(student)))
            loss = tf.add_n([weight * value for weight, value in terms.values()])
        self._apply(self.optimizer, tape, loss, self.generator.trainable_variables)
        return {**{f"distill/{name}": value for name, (_, value) in terms.items()}, "distill/total": loss}

    def _inputs(self, photos, start):
        c = self.config
        cache = c.teacher_cache or Path(c.model_dir) / "teacher_cache"
        pairs = teacher_pairs(photos, c.teacher, c.teacher_size or c.image_size, cache, c.image_size)
        if not pairs:
            raise data.DataError(f"no photo in {c.photo_dir} could be rendered by the teacher")
        dataset = data.distill_dataset(pairs, c.image_size, c.batch_size, c.seed, start)
        samples = next(iter(data.distill_dataset(pairs, c.image_size, SAMPLE_COUNT, c.seed + 7)))
        return dataset, samples

    def _sample_grid(self, samples):
        photo, teacher = samples
        return "photo | teacher | student", sample_grid([photo, teacher, self.generator(photo, training=False)])


