"""The training loop: one loop runs a task (AnimeGAN or distillation) under a tf.distribute strategy.

A task (`anime_tf.train.animegan.AnimeGANTask`, `anime_tf.train.distill.DistillTask`)
builds its models, inputs and compiled steps; the loop owns everything else.
Checkpoints (the step and what the task tracks: models, optimizers) are
written every `save_every_steps` and at the end; the step is also the data
position (see `anime_tf.data`), so a killed run resumes with the batches it
would have seen. Each save also exports the task's models (`exports`): the
generator as `generator.weights.h5`, which `anime-tf stylize --weights
RUN_DIR` loads, and the AnimeGAN discriminator beside it.
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

from anime_tf import data
from anime_tf.errors import AnimeTFError, ConfigError
from anime_tf.train.animegan import AnimeGANTask
from anime_tf.train.distill import DistillTask
from anime_tf.train.steps import MIXED_POLICY, make_strategy, schedule
from anime_tf.weights import GENERATOR_WEIGHTS_FILE, save_weights


class TrainingDiverged(AnimeTFError, RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


def task_for(config):
    """The task a config asks for: distillation with a `teacher`, else AnimeGAN training."""
    return DistillTask if config.teacher else AnimeGANTask


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
    """Runs a `TrainConfig`'s task: checkpoints and resume, TensorBoard, progress, tf.distribute."""

    def __init__(self, config, strategy=None, task=None):
        self.config = config
        self.model_dir = Path(config.model_dir)
        self.strategy = strategy or make_strategy(config.strategy)
        previous_policy = keras.mixed_precision.global_policy()
        if config.mixed_precision:  # the models keep the policy they were built with
            keras.mixed_precision.set_global_policy(MIXED_POLICY)
        try:
            self.task = (task or task_for(config))(config, self.strategy)
        finally:
            keras.mixed_precision.set_global_policy(previous_policy)
        with self.strategy.scope():
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.checkpoint = tf.train.Checkpoint(step=self.step, **self.task.tracked())
        # Every worker must take part in a save; only the chief's copy is kept.
        self.chief = is_chief(self.strategy)
        self.checkpoint_dir = self.model_dir / "checkpoints"
        scratch = None if self.chief else self.model_dir / f".worker-{self.strategy.cluster_resolver.task_id}"
        self.manager = tf.train.CheckpointManager(self.checkpoint, scratch or self.checkpoint_dir, max_to_keep=3)

    @property
    def generator(self):
        return self.task.generator

    def restore(self):
        """Resume from the last checkpoint, or start a new run as the task does; returns the step."""
        latest = tf.train.latest_checkpoint(self.checkpoint_dir)  # the chief's, on every worker
        if latest:
            self._restore_from(latest)
            print(f"resuming from {latest} at step {int(self.step.numpy())}", file=sys.stderr)
        else:
            self.task.start()
        return int(self.step.numpy())

    def _restore_from(self, checkpoint):
        """Restore everything the task tracks, or fail: a half-restored run would train on silently."""
        try:
            self.checkpoint.restore(checkpoint).assert_existing_objects_matched()
        except AssertionError as error:
            raise ConfigError(
                f"{checkpoint} does not hold all of this run's weights (a different architecture, or a run "
                f"saved by anime-tf before December 2026, whose checkpoints missed most generator weights); "
                f"start a new --model_dir with --init_from {self.model_dir / GENERATOR_WEIGHTS_FILE}") from error

    def save(self):
        path = self.manager.save(checkpoint_number=self.step)
        if not self.chief:
            shutil.rmtree(self.manager.directory, ignore_errors=True)
            return None
        for name, model in self.task.exports().items():
            save_weights(model, self.model_dir / name)
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
        dataset, samples = self.task.inputs(photos, start)
        batches = iter(self.strategy.experimental_distribute_dataset(dataset))
        writer = (tf.summary.create_file_writer(str(self.model_dir / "logs")) if self.chief
                  else tf.summary.create_noop_writer())
        bar = tqdm(total=total_steps, initial=start, desc="train", unit="step", file=sys.stderr,
                   disable=not self.chief)
        last_save, tick = start, time.perf_counter()
        for step in range(start, total_steps):
            values = {k: float(v) for k, v in self.task.step_for(step, steps_per_epoch)(next(batches)).items()}
            bad = [name for name, value in values.items() if not math.isfinite(value)]
            if bad:
                bar.close()
                raise TrainingDiverged(
                    f"{', '.join(bad)} became {values[bad[0]]} at step {step + 1}; stopped. The last good "
                    f"checkpoint (step {last_save}) is kept in {self.manager.directory}")
            self.step.assign_add(1)
            done = step + 1
            now = time.perf_counter()
            bar.set_postfix(**_short_names(values), img_s=f"{c.batch_size / (now - tick):.1f}")
            bar.update(1)
            tick = now
            self._log(writer, done, total_steps, values, samples)
            if done % c.save_every_steps == 0 or done == total_steps:
                self.save()
                last_save = done
        bar.close()
        writer.flush()
        return total_steps

    def _log(self, writer, done, total_steps, values, samples):
        """TensorBoard: the step's losses every `log_every_steps`, samples every `sample_every_steps`."""
        c = self.config
        with writer.as_default(step=done):
            if done % c.log_every_steps == 0 or done == total_steps:
                for name, value in values.items():
                    tf.summary.scalar(name, value)
            if done % c.sample_every_steps == 0 or done == total_steps:
                title, grid = self.task.sample_grid(samples)
                tf.summary.image(title, grid, max_outputs=1)


def _short_names(values):
    """Progress-bar names: a term's own name ("content"), a phase's total as the phase ("g")."""
    return {k.split("/")[-1] if "total" not in k else k.split("/")[0]: f"{v:.3g}" for k, v in values.items()}
