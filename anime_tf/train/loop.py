"""The AnimeGANv2 training loop: init phase, then adversarial phase, under a tf.distribute strategy.

Each step is a `tf.function` run on every replica; per-example losses are
averaged over the global batch, so one step on N replicas equals one step on
one device with the same global batch. Checkpoints (generator, discriminator,
optimizers, step) are written every `save_every_steps` and at the end; the
step is also the data position (see `anime_tf.data`), so a killed run resumes
with the batches it would have seen. Each save also exports the generator as
`generator.weights.h5`, which `anime-tf stylize --weights RUN_DIR` loads.
"""
from __future__ import annotations

import math
import shutil
import sys
import time
from pathlib import Path

import keras
import tensorflow as tf
from tqdm import tqdm

from anime_tf import data, losses
from anime_tf.models import Discriminator, Generator
from anime_tf.weights import GENERATOR_WEIGHTS_FILE, load_generator, save_generator


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


def make_strategy(name):
    """default (one device), mirrored (all local GPUs), multiworker (from TF_CONFIG)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}; choose default, mirrored or multiworker")


# bfloat16 keeps float32's exponent range, so no loss scaling is needed (Keras'
# LossScaleOptimizer fails under tf.distribute in custom loops: keras-team/keras#18666).
MIXED_POLICY = "mixed_bfloat16"


def _adam(learning_rate, clip_norm):
    return keras.optimizers.Adam(learning_rate, beta_1=0.5, beta_2=0.999, global_clipnorm=clip_norm)


def schedule(config, photo_count):
    """(steps per epoch, steps in all) of a run over `photo_count` photos."""
    steps_per_epoch = config.steps_per_epoch or max(1, photo_count // config.batch_size)
    return steps_per_epoch, config.epochs * steps_per_epoch


def is_chief(strategy):
    """Whether this process writes checkpoints, summaries and the progress bar.

    Single-machine strategies have one process; under MultiWorkerMirroredStrategy
    it is the `chief` task, or worker 0 when TF_CONFIG names no chief.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    return (resolver.task_type == "worker" and resolver.task_id == 0
            and "chief" not in resolver.cluster_spec().as_dict())


class Trainer:
    """Builds models, optimizers and checkpoints for a `TrainConfig`, and runs the schedule."""

    anchor = None  # the --init_from model, frozen, when a fine-tune's keep term needs it

    def __init__(self, config, strategy=None):
        self.config = config
        self.model_dir = Path(config.model_dir)
        self.strategy = strategy or make_strategy(config.strategy)
        previous_policy = keras.mixed_precision.global_policy()
        if config.mixed_precision:  # the models keep the policy they were built with
            keras.mixed_precision.set_global_policy(MIXED_POLICY)
        try:
            self._build(config)
        finally:
            keras.mixed_precision.set_global_policy(previous_policy)
        self.checkpoint = tf.train.Checkpoint(step=self.step, **self._tracked())
        # Every worker must take part in a save; only the chief's copy is kept.
        self.chief = is_chief(self.strategy)
        self.checkpoint_dir = self.model_dir / "checkpoints"
        scratch = None if self.chief else self.model_dir / f".worker-{self.strategy.cluster_resolver.task_id}"
        self.manager = tf.train.CheckpointManager(self.checkpoint, scratch or self.checkpoint_dir, max_to_keep=3)
        self._compile_steps()

    def _tracked(self):
        """What a checkpoint holds besides the step."""
        return {"generator": self.generator, "discriminator": self.discriminator,
                "init_optimizer": self.init_optimizer, "g_optimizer": self.g_optimizer,
                "d_optimizer": self.d_optimizer}

    def _compile_steps(self):
        # One step of each phase on a distributed batch (photo, anime, smoothed gray anime).
        self.init_step = tf.function(self._distributed(self._init_replica_step))
        self.gan_step = tf.function(self._distributed(self._gan_replica_step))
        self.d_step = tf.function(self._distributed(self._d_replica_step))

    def _build(self, config):
        with self.strategy.scope():
            self.generator = Generator(width=config.width, blocks=config.blocks)
            self.generator(tf.zeros([1, 32, 32, 3]))
            self.discriminator = Discriminator()
            self.discriminator(tf.zeros([1, 32, 32, 3]))
            self.vgg = losses.VGGFeatures(weights=config.vgg_weights_path)
            if config.keep_weight:
                self.anchor = load_generator(config.init_from)
            self.init_optimizer = _adam(config.init_lr, config.clip_norm)
            self.g_optimizer = _adam(config.g_lr, config.clip_norm)
            self.d_optimizer = _adam(config.d_lr, config.clip_norm)
            for optimizer, model in ((self.init_optimizer, self.generator), (self.g_optimizer, self.generator),
                                     (self.d_optimizer, self.discriminator)):
                optimizer.build(model.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")

    # --- steps -------------------------------------------------------------------------

    def _average(self, per_example):
        per_example = tf.cast(per_example, tf.float32)  # bfloat16 under mixed precision
        return tf.nn.compute_average_loss(per_example, global_batch_size=self.config.batch_size)

    def _generate(self, photo):
        return tf.cast(self.generator(photo, training=True), tf.float32)

    def _apply(self, optimizer, tape, loss, variables):
        optimizer.apply(tape.gradient(loss, variables), variables)

    def _face_loss(self, photo, fake, parts):
        """The local face loss when batches carry face parts (boxes, valid), else None."""
        return self._average(losses.face_loss(self.vgg, photo, fake, *parts)) if parts else None

    def _init_replica_step(self, photo, anime, smooth, *parts):
        del anime, smooth  # the init phase learns to reconstruct content only
        c = self.config
        with tf.GradientTape() as tape:
            fake = self._generate(photo)
            content = self._average(losses.content_loss(self.vgg(photo), self.vgg(fake)))
            loss = c.content_weight * content
            face = self._face_loss(photo, fake, parts)
            if face is not None:
                loss += c.face_weight * face
        self._apply(self.init_optimizer, tape, loss, self.generator.trainable_variables)
        return {"init/content": content, **({"init/face": face} if face is not None else {}), "init/total": loss}

    def _d_replica_step(self, photo, anime, smooth, *parts):
        """The discriminator's update alone: its warm-up before a fine-tune (see `d_warmup_steps`)."""
        d_loss = self._d_update(photo, anime, data.grayscale(anime), smooth)
        return {"d/total": d_loss}

    def _d_update(self, photo, anime, anime_gray, smooth):
        c = self.config
        with tf.GradientTape() as tape:
            fake = self._generate(photo)
            d_loss = c.d_adv_weight * self._average(losses.discriminator_loss(
                self.discriminator(anime, training=True), self.discriminator(fake, training=True),
                self.discriminator(anime_gray, training=True),
                self.discriminator(smooth, training=True), c.d_weights))
        self._apply(self.d_optimizer, tape, d_loss, self.discriminator.trainable_variables)
        return d_loss

    def _gan_replica_step(self, photo, anime, smooth, *parts):
        c = self.config
        anime_gray = data.grayscale(anime)
        d_loss = self._d_update(photo, anime, anime_gray, smooth)  # discriminator first, as the official loop
        with tf.GradientTape() as tape:
            fake = self._generate(photo)
            fake_features = self.vgg(fake)
            adversarial = self._average(losses.generator_adversarial_loss(self.discriminator(fake)))
            content = self._average(losses.content_loss(self.vgg(photo), fake_features))
            style = self._average(losses.style_loss(self.vgg(anime_gray), fake_features))
            color = self._average(losses.color_loss(photo, fake))
            tv = self._average(losses.total_variation_loss(fake))
            g_loss = (c.g_adv_weight * adversarial + c.content_weight * content + c.style_weight * style
                      + c.color_weight * color + c.tv_weight * tv)
            keep = self._keep_loss(photo, fake)
            if keep is not None:
                g_loss += c.keep_weight * keep
            face = self._face_loss(photo, fake, parts)
            if face is not None:
                g_loss += c.face_weight * face
        self._apply(self.g_optimizer, tape, g_loss, self.generator.trainable_variables)
        return {"g/adversarial": adversarial, "g/content": content, "g/style": style, "g/color": color,
                "g/tv": tv, **({"g/face": face} if face is not None else {}),
                **({"g/keep": keep} if keep is not None else {}), "g/total": g_loss,
                "d/total": d_loss}

    def _keep_loss(self, photo, fake):
        """How far the output has left the starting model's on the same photo; None without keep_weight."""
        if self.anchor is None:
            return None
        start = tf.stop_gradient(tf.cast(self.anchor(photo, training=False), tf.float32))
        return self._average(losses.pyramid_loss(start, fake))

    def _distributed(self, replica_step):
        def step(batch):
            per_replica = self.strategy.run(replica_step, args=batch)
            return {name: self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                    for name, value in per_replica.items()}
        return step

    # --- the run -----------------------------------------------------------------------

    def restore(self):
        """Resume from the last checkpoint, or start (from --init_from if given); returns the step."""
        latest = tf.train.latest_checkpoint(self.checkpoint_dir)  # the chief's, on every worker
        if latest:
            self.checkpoint.restore(latest)
            print(f"resuming from {latest} at step {int(self.step.numpy())}", file=sys.stderr)
        elif self.config.init_from:
            start = self.anchor if self.anchor is not None else load_generator(self.config.init_from)
            self.generator.set_weights(start.get_weights())
            print(f"starting from the generator weights {self.config.init_from}", file=sys.stderr)
        return int(self.step.numpy())

    def save(self):
        path = self.manager.save(checkpoint_number=self.step)
        if not self.chief:
            shutil.rmtree(self.manager.directory, ignore_errors=True)
            return None
        save_generator(self.generator, self.model_dir / GENERATOR_WEIGHTS_FILE, overwrite=True)
        return path

    def fit(self):
        """Run the schedule from wherever the checkpoints say; returns the final step."""
        c = self.config
        photos = data.list_images(c.photo_dir, "photo")
        steps_per_epoch, total_steps = schedule(c, len(photos))
        start = self.restore()
        if start >= total_steps:
            print(f"nothing to do: the run is at step {start} of {total_steps}", file=sys.stderr)
            return start
        dataset, samples = self._inputs(photos, start)
        batches = iter(self.strategy.experimental_distribute_dataset(dataset))
        writer = (tf.summary.create_file_writer(str(self.model_dir / "logs")) if self.chief
                  else tf.summary.create_noop_writer())
        bar = tqdm(total=total_steps, initial=start, desc="train", unit="step", file=sys.stderr,
                   disable=not self.chief)
        last_save, tick = start, time.perf_counter()
        for step in range(start, total_steps):
            values = {k: float(v) for k, v in self._step_at(step, steps_per_epoch)(next(batches)).items()}
            bad = [name for name, value in values.items() if not math.isfinite(value)]
            if bad:
                bar.close()
                raise TrainingDiverged(
                    f"{', '.join(bad)} became {values[bad[0]]} at step {step + 1}; stopped. The last good "
                    f"checkpoint (step {last_save}) is kept in {self.manager.directory}")
            self.step.assign_add(1)
            done = step + 1
            now = time.perf_counter()
            bar.set_postfix(**{k.split("/")[-1] if "total" not in k else k.split("/")[0]: f"{v:.3g}"
                               for k, v in values.items()}, img_s=f"{c.batch_size / (now - tick):.1f}")
            bar.update(1)
            tick = now
            with writer.as_default(step=done):
                if done % c.log_every_steps == 0 or done == total_steps:
                    for name, value in values.items():
                        tf.summary.scalar(name, value)
                if done % c.sample_every_steps == 0 or done == total_steps:
                    title, grid = self._sample_grid(samples)
                    tf.summary.image(title, grid, max_outputs=1)
            if done % c.save_every_steps == 0 or done == total_steps:
                self.save()
                last_save = done
        bar.close()
        writer.flush()
        return total_steps

    def _inputs(self, photos, start):
        """(the training batches from step `start`, a fixed batch of sample photos)."""
        c = self.config
        style = data.list_images(Path(c.style_dir) / "style", "style")
        smooth = data.list_images(Path(c.style_dir) / "smooth", "smoothed style")
        parts = self._face_parts(photos) if c.faces else None
        dataset = data.training_dataset(photos, style, smooth, c.image_size, c.batch_size, c.seed, start,
                                        parts=parts, face_share=c.face_share)
        samples = next(iter(data.training_dataset(photos, style, smooth, c.image_size, 4, c.seed + 7)))[0]
        return dataset, samples

    def _step_at(self, step, steps_per_epoch):
        """The step function for this step of the schedule: init, discriminator warm-up, adversarial."""
        init_steps = self.config.init_epochs * steps_per_epoch
        if step < init_steps:
            return self.init_step
        return self.d_step if step < init_steps + self.config.d_warmup_steps else self.gan_step

    def _face_parts(self, photos):
        """Part boxes of the photos' faces from the cache beside them (found once), or None without faces."""
        from anime_tf.face.cache import default_cache_path, parts_array, photo_parts

        cache = self.config.face_cache or default_cache_path(self.config.photo_dir)
        boxes, valid = parts_array(photos, photo_parts(photos, cache, self.config.face_model))
        with_faces = int(valid.any(axis=1).sum())
        if not with_faces:
            print("no faces in the photos: face sampling and the face loss are off", file=sys.stderr)
            return None
        print(f"faces in {with_faces} of {len(photos)} photos (landmarks cached in {cache})", file=sys.stderr)
        return boxes, valid

    def _sample_grid(self, photos):
        """(title, image): the sample photos above what the generator makes of them."""
        return "photo | generated", sample_grid([photos, self.generator(photos, training=False)])


def sample_grid(rows):
    """Batches of [-1, 1] images as one [1, H, W, 3] picture in [0, 1]: a batch per row."""
    grid = tf.concat([tf.concat(tf.unstack(row), axis=1) for row in rows], axis=0)
    return ((grid + 1.0) / 2.0)[None]
