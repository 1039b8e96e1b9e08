"""Distillation: a smaller generator of the same family learns to reproduce a teacher's output.

`train.py --teacher WEIGHTS --width W --blocks B` trains `Generator(width=W,
blocks=B)` on photos only: L1 against the teacher's pixels, optionally each
Laplacian band against the teacher's (its outlines), block means against
the teacher's (its colours over areas), the teacher's activations at the
end of each stage (`anime_tf.train.features`), VGG19 conv4_4 content
loss against the teacher's features, and the teacher's style (Gram), colour
and total variation terms; no discriminator. With `--faces`, the local face
loss against the photo (`losses.face_loss`) holds eyes, nose and mouth where
the photo has them while the other terms hold the teacher's look: a
generator of the teacher's own size, started from the teacher and tuned on
face crops (`anime-tf prepare-faces`), is a face-pass generator.
The teacher's outputs are rendered once per view of each photo, on
exactly that view (see `anime_tf.train.teacher`). Everything else is the
loop's (`anime_tf.train.loop.Trainer`): checkpoints and resume, TensorBoard,
progress, tf.distribute. A
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
from anime_tf.train.features import FeatureMaps, feature_loss
from anime_tf.train.slicing import slice_teacher
from anime_tf.train.steps import (apply_gradients, average, distributed, model_variables, sample_grid, schedule,
                                  weighted_total)
from anime_tf.train.teacher import stored_size, teacher_pairs, view_boxes
from anime_tf.weights import GENERATOR_WEIGHTS_FILE, load_generator

FINAL_LR_FRACTION = 0.05
SAMPLE_COUNT = 4


def pixel_loss(target, images):
    """L1 between images, per example."""
    return tf.reduce_mean(tf.abs(target - images), axis=[1, 2, 3])


class DistillTask:
    """Models, inputs and the one step of distillation from `config.teacher`."""

    def __init__(self, config, strategy):
        self.config, self.strategy = config, strategy
        self.parts = None  # the views' face parts, with --faces (set by `inputs`)
        c = config
        with strategy.scope():
            self.generator = Generator(width=c.width, blocks=c.blocks)
            self.generator(tf.zeros([1, 32, 32, 3]))
            uses_vgg = c.content_weight > 0 or c.style_weight > 0 or c.faces
            self.vgg = losses.VGGFeatures(weights=c.vgg_weights_path) if uses_vgg else None
            self.teacher = load_generator(c.teacher) if c.feature_weight else None
            self.maps = FeatureMaps.between(self.generator, self.teacher) if self.teacher else None
            self.trained = self.generator.trainable_variables + (self.maps.variables if self.maps else [])
            self.optimizer = keras.optimizers.Adam(self._learning_rate(), global_clipnorm=c.clip_norm)
            self.optimizer.build(self.trained)
        self.distill_step = tf.function(distributed(strategy, self._distill_replica_step))

    def _learning_rate(self):
        """Cosine decay from `distill_lr` to 5% of it over the run's steps."""
        _, steps = schedule(self.config)
        return keras.optimizers.schedules.CosineDecay(self.config.distill_lr, steps, alpha=FINAL_LR_FRACTION)

    def tracked(self):
        """What a checkpoint holds besides the step."""
        tracked = {"generator": model_variables(self.generator), "optimizer": self.optimizer}
        return {**tracked, "feature_maps": self.maps.variables} if self.maps else tracked

    def exports(self):
        """{file name: model} written to the run folder at every save."""
        return {GENERATOR_WEIGHTS_FILE: self.generator}

    def start(self):
        """A new run's first weights: --init_from's (sliced when it is wider), else a slice of the teacher."""
        c = self.config
        if c.init_from:
            start = load_generator(c.init_from)
            if (start.width, start.blocks) == (self.generator.width, self.generator.blocks):
                self.generator.set_weights(start.get_weights())
                print(f"starting from the generator weights {c.init_from}", file=sys.stderr)
            else:
                slice_teacher(start, self.generator)
                print(f"starting from a slice of {c.init_from} (width {start.width}, {start.blocks} blocks)",
                      file=sys.stderr)
        elif c.student_init == "slice":
            slice_teacher(load_generator(c.teacher), self.generator)
            print(f"starting from a slice of the teacher {c.teacher}", file=sys.stderr)

    def step_for(self, step, steps_per_epoch):
        return self.distill_step

    def inputs(self, photos, start):
        """(the (photo view, teacher output) batches from step `start`, a fixed batch of samples)."""
        c = self.config
        cache = c.teacher_cache or Path(c.model_dir) / "teacher_cache"
        pairs = teacher_pairs(photos, c.teacher, c.teacher_size or c.image_size, cache, c.image_size,
                              context=c.context_views)
        if not pairs:
            raise data.DataError(f"no photo in {c.photo_dir} could be rendered by the teacher")
        self.parts = self.view_parts(photos, pairs) if c.faces else None
        dataset = data.distill_dataset(pairs, c.image_size, c.batch_size, c.seed, start, self.parts)
        samples = next(iter(data.distill_dataset(pairs, c.image_size, SAMPLE_COUNT, c.seed + 7)))
        if self.maps and start == 0:  # a resumed run has its maps from the checkpoint
            self.fit_feature_maps(*samples[:2], samples[2:])
        return dataset, samples

    def fit_feature_maps(self, photo, teacher, context):
        """Start the feature maps as the least-squares maps on one batch."""
        _, taps = self.generator.features(photo, norm_moments=self._moments(self.generator, context))
        self.maps.fit(taps, self.teacher_taps(photo, context), seed=self.config.seed)

    def view_parts(self, photos, pairs):
        """Face parts of each photo view: found once on the photos (cached beside them), then moved
        into each view, so a view that shows an eye or a mouth holds it even without the whole face."""
        from anime_tf.face.cache import default_cache_path, photo_parts, usable_parts

        c = self.config
        cache = c.face_cache or default_cache_path(c.photo_dir)
        by_view = {}
        for photo, boxes in photo_parts(photos, cache, c.face_model).items():
            size = stored_size(photo)
            if boxes and size:
                by_view.update(view_boxes(boxes, size, photo, c.teacher_size or c.image_size, c.image_size))
        views = [str(paths[0]) for paths in pairs]
        return usable_parts(views, {v: by_view.get(Path(v).name, []) for v in views},
                            f"landmarks cached in {cache}", what="views")

    def sample_grid(self, samples):
        photo, teacher, *context = samples
        return "photo | teacher | student", sample_grid([photo, teacher, self.student(photo, context)])

    def student(self, photo, context=(), training=False):
        """The student's output; with a context batch, every layer norm uses the context's moments."""
        return self.generator(photo, norm_moments=self._moments(self.generator, context), training=training)

    def teacher_taps(self, photo, context=()):
        """The teacher's activations at FEATURE_TAPS on `photo`, normalised as its cached output was."""
        _, taps = self.teacher.features(photo, norm_moments=self._moments(self.teacher, context))
        return [tf.stop_gradient(tap) for tap in taps]

    @staticmethod
    def _moments(generator, context):
        return generator.norm_moments(context[0]) if context else None

    def distill_terms(self, teacher, student, teacher_features=None, mean=None, photo=None, parts=None,
                      taps=None):
        """The loss terms {name: (weight, value)} of a student's output against the teacher's
        (and against the `photo` on its face `parts`, (boxes, valid), when given; and the teacher's
        activations against the student's mapped ones, `taps` (teacher's, student's), when given).

        `mean` turns per-example losses into one value (default: this replica's
        share of the global batch mean).
        """
        c = self.config
        mean = mean or (lambda per_example: average(per_example, c.batch_size))
        terms = {"pixel": (c.pixel_weight, mean(pixel_loss(teacher, student)))}
        if c.pyramid_weight:
            terms["pyramid"] = (c.pyramid_weight, mean(losses.pyramid_loss(teacher, student)))
        if c.block_color_weight:
            terms["block_color"] = (c.block_color_weight, mean(losses.block_color_loss(teacher, student)))
        if teacher_features is not None:
            features = self.vgg(student)
            terms["content"] = (c.content_weight, mean(losses.content_loss(teacher_features, features)))
            if c.style_weight:
                terms["style"] = (c.style_weight, mean(losses.style_loss(teacher_features, features)))
        if c.color_weight:
            terms["color"] = (c.color_weight, mean(losses.color_loss(teacher, student)))
        if c.tv_weight:
            terms["tv"] = (c.tv_weight, mean(losses.total_variation_loss(student)))
        if taps is not None:
            terms["features"] = (c.feature_weight, mean(feature_loss(taps[0], self.maps(taps[1]))))
        if parts is not None:
            terms["face"] = (c.face_weight, mean(losses.face_loss(self.vgg, photo, student, *parts)))
        return terms

    def _distill_replica_step(self, photo, teacher, *rest):
        context, parts = (rest[:-2], rest[-2:]) if self.parts is not None else (rest, None)
        uses_features = self.config.content_weight > 0 or self.config.style_weight > 0
        teacher_features = self.vgg(teacher) if uses_features else None
        teacher_taps = self.teacher_taps(photo, context) if self.maps else None
        with tf.GradientTape() as tape:
            moments = self._moments(self.generator, context)
            student, student_taps = self.generator.features(photo, norm_moments=moments, training=True)
            student = tf.cast(student, tf.float32)
            taps = (teacher_taps, student_taps) if self.maps else None
            terms = self.distill_terms(teacher, student, teacher_features, photo=photo, parts=parts, taps=taps)
            loss = weighted_total(terms)
        apply_gradients(self.optimizer, tape, loss, self.trained)
        return {**{f"distill/{name}": value for name, (_, value) in terms.items()}, "distill/total": loss}
