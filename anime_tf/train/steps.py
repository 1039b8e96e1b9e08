"""What every training task's steps share: the strategy, the schedule, averaging, and the optimiser.

Per-example losses are averaged over the global batch (`average`), so one step
on N replicas equals one step on one device with the same global batch.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from anime_tf import data
from anime_tf.errors import ConfigError

# bfloat16 keeps float32's exponent range, so no loss scaling is needed (Keras'
# LossScaleOptimizer fails under tf.distribute in custom loops: keras-team/keras#18666).
MIXED_POLICY = "mixed_bfloat16"


def make_strategy(name):
    """default (one device), mirrored (all local GPUs), multiworker (from TF_CONFIG)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ConfigError(f"unknown strategy {name!r}; choose default, mirrored or multiworker")


def schedule(config, photo_count=None):
    """(steps per epoch, steps in all) of a run over `photo_count` photos (default: those in photo_dir)."""
    if photo_count is None:
        photo_count = len(data.list_images(config.photo_dir, "photo"))
    steps_per_epoch = config.steps_per_epoch or max(1, photo_count // config.batch_size)
    return steps_per_epoch, config.epochs * steps_per_epoch


def model_variables(model):
    """A built model's variables in order, as a checkpoint tracks them.

    Keras 3 layers held in Python lists are invisible to `tf.train.Checkpoint`,
    so checkpointing a model object itself silently skips most of its weights;
    a list of its variables saves them all (and restore checks their shapes).
    """
    if not model.variables:
        raise ValueError(f"{model.name} must be built before it is checkpointed")
    return list(model.variables)


def adam(learning_rate, clip_norm, beta_1=0.5):
    """Adam as the official code sets it (beta_1 0.5), with optional global-norm clipping."""
    return keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=0.999, global_clipnorm=clip_norm)


def average(per_example, global_batch_size):
    """Per-example losses to this replica's share of the global batch mean."""
    per_example = tf.cast(per_example, tf.float32)  # bfloat16 under mixed precision
    return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size)


def weighted_total(terms):
    """The loss a step minimises: the sum of weight x value over its terms {name: (weight, value)}."""
    return tf.add_n([weight * value for weight, value in terms.values()])


def apply_gradients(optimizer, tape, loss, variables):
    optimizer.apply(tape.gradient(loss, variables), variables)


def distributed(strategy, replica_step):
    """A step on a distributed batch: `replica_step` on every replica, its {name: value} summed."""
    def step(batch):
        per_replica = strategy.run(replica_step, args=batch)
        return {name: strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                for name, value in per_replica.items()}
    return step


def sample_grid(rows):
    """Batches of [-1, 1] images as one [1, H, W, 3] picture in [0, 1]: a batch per row."""
    grid = tf.concat([tf.concat(tf.unstack(row), axis=1) for row in rows], axis=0)
    return ((grid + 1.0) / 2.0)[None]
