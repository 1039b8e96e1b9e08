"""tf.data input for training: photos, anime style frames and their edge-smoothed copies.

Each stream is a pure function of (seed, position): element k takes its file
from a per-epoch stateless shuffle and its crop, flip and colour jitter from
stateless random ops seeded by k. A run that resumes at step N therefore
continues with exactly the batches it would have seen; the data position is
the step count, saved with every checkpoint.
"""
from __future__ import annotations

import logging
from pathlib import Path

import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from anime_tf.imageio import IMAGE_SUFFIXES

AUTOTUNE = tf.data.AUTOTUNE


class DataError(ValueError):
    """A training folder that cannot be used: missing, empty, or without readable images."""


def list_images(folder, what="image"):
    """Sorted image files of a folder; unreadable ones are skipped with a warning each."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"the {what} folder {folder} does not exist")
    files = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        try:
            with Image.open(path) as image:
                image.verify()
            files.append(str(path))
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
            logging.warning("skipping unreadable %s image %s: %s", what, path, err)
    if not files:
        raise DataError(f"the {what} folder {folder} holds no readable images")
    return files


def decode(path):
    """Any image file to float32 RGB in [0, 1] (grayscale and 16-bit included)."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    return tf.image.convert_image_dtype(image, tf.float32)


def grayscale(images):
    """Gray as three equal channels (the discriminator's and style loss's gray anime)."""
    return tf.image.grayscale_to_rgb(tf.image.rgb_to_grayscale(images))


def random_view(image, size, seed, jitter=False):
    """A size x size crop of the image scaled to a shorter side of 1 to 1.25 x size, maybe flipped."""
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.random.stateless_uniform([], seed, 1.0, 1.25) * size / tf.reduce_min(shape)
    image = tf.image.resize(image, tf.cast(tf.math.ceil(shape * scale), tf.int32), antialias=True)
    image = tf.image.stateless_random_crop(image, [size, size, 3], seed + 1)
    image = tf.image.stateless_random_flip_left_right(image, seed + 2)
    if jitter:
        image = tf.image.stateless_random_brightness(image, 0.05, seed + 3)
        image = tf.image.stateless_random_contrast(image, 0.9, 1.1, seed + 4)
        image = tf.image.stateless_random_saturation(image, 0.9, 1.1, seed + 5)
    return tf.clip_by_value(image, 0.0, 1.0) * 2.0 - 1.0


def image_stream(files, size, seed, start=0, jitter=False, gray=False):
    """Endless, deterministic stream of [-1, 1] crops; `start` skips that many elements."""
    paths = tf.constant(files)
    count = tf.constant(len(files), tf.int64)

    def element(k):
        order = tf.random.experimental.stateless_shuffle(tf.range(count), seed=[seed, k // count])
        key = tf.stack([tf.constant(seed, tf.int64), k])
        image = random_view(decode(paths[order[k % count]]), size, key, jitter)
        if gray:
            image = grayscale(image)
        return image

    return (tf.data.Dataset.range(start, tf.int64.max)
            .map(element, num_parallel_calls=AUTOTUNE, deterministic=True)
            .ignore_errors(log_warning=True))  # a file that fails to decode mid-run is skipped


def training_dataset(photo_files, style_files, smooth_files, size, batch_size, seed=0, start_step=0):
    """Batches of (photo, anime style, smoothed gray anime), starting at `start_step`."""
    start = start_step * batch_size
    streams = (image_stream(photo_files, size, seed, start, jitter=True),
               image_stream(style_files, size, seed + 1, start),
               image_stream(smooth_files, size, seed + 2, start, gray=True))
    return (tf.data.Dataset.zip(streams)
            .batch(batch_size, drop_remainder=True)
            .prefetch(AUTOTUNE))
