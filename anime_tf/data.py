"""tf.data input for training: photos, anime style frames and their edge-smoothed copies.

Each stream is a pure function of (seed, position): element k takes its file
from a per-epoch stateless shuffle and its crop, flip and colour jitter from
stateless random ops seeded by k. A run that resumes at step N therefore
continues with exactly the batches it would have seen; the data position is
the step count, saved with every checkpoint.
"""
from __future__ import annotations

import functools
import logging
import math
from pathlib import Path

import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from anime_tf.errors import AnimeTFError
from anime_tf.imageio import IMAGE_SUFFIXES

AUTOTUNE = tf.data.AUTOTUNE


class DataError(AnimeTFError, ValueError):
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


def random_view(image, size, seed, jitter=False, boxes=None, view_size=None):
    """A size x size crop of the image scaled to a shorter side of 1 to 1.25 x `view_size`, maybe flipped.

    `view_size` (default: `size`) sets the scale the image is seen at, so a
    small crop can show the texture, lines and shading a large one would.

    `boxes` ([P, 4] of x0, y0, x1, y1 as fractions of the image) are moved
    with the crop and flip; then the result is (view, boxes in the view,
    whether each box is at least half inside it).
    """
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.random.stateless_uniform([], seed, 1.0, 1.25) * (view_size or size) / tf.reduce_min(shape)
    resized = tf.cast(tf.math.ceil(shape * scale), tf.int32)
    image = tf.image.resize(image, resized, antialias=True)
    room = tf.cast(resized - size + 1, tf.float32)
    offset = tf.cast(tf.random.stateless_uniform([2], seed + 1) * room, tf.int32)
    image = tf.image.crop_to_bounding_box(image, offset[0], offset[1], size, size)
    flip = tf.random.stateless_uniform([], seed + 2) < 0.5
    image = tf.where(flip, image[:, ::-1], image)
    if jitter:
        image = tf.image.stateless_random_brightness(image, 0.05, seed + 3)
        image = tf.image.stateless_random_contrast(image, 0.9, 1.1, seed + 4)
        image = tf.image.stateless_random_saturation(image, 0.9, 1.1, seed + 5)
    image = tf.clip_by_value(image, 0.0, 1.0) * 2.0 - 1.0
    if boxes is None:
        return image
    return (image, *_boxes_in_view(boxes, resized, offset, size, flip))


def _boxes_in_view(boxes, resized, offset, size, flip):
    """Boxes (fractions of the image) as fractions of the crop, and which are at least half inside."""
    height, width = tf.cast(resized[0], tf.float32), tf.cast(resized[1], tf.float32)
    top, left = tf.cast(offset[0], tf.float32), tf.cast(offset[1], tf.float32)
    x0, y0, x1, y1 = tf.unstack(boxes, axis=-1)
    x0, x1 = (x0 * width - left) / size, (x1 * width - left) / size
    y0, y1 = (y0 * height - top) / size, (y1 * height - top) / size
    x0, x1 = tf.where(flip, 1.0 - x1, x0), tf.where(flip, 1.0 - x0, x1)
    area = (x1 - x0) * (y1 - y0)
    clipped = [tf.clip_by_value(v, 0.0, 1.0) for v in (x0, y0, x1, y1)]
    inside = (clipped[2] - clipped[0]) * (clipped[3] - clipped[1])
    return tf.stack(clipped, axis=-1), (area > 0) & (inside >= 0.5 * area)


def image_stream(files, size, seed, start=0, jitter=False, gray=False, parts=None, view_size=None):
    """Endless, deterministic stream of [-1, 1] crops; `start` skips that many elements.

    With `parts` ((boxes, valid) per file, see `anime_tf.face.cache`), each
    element is (crop, boxes in the crop, valid).
    """
    paths = tf.constant(files)
    count = tf.constant(len(files), tf.int64)
    if parts is not None:
        boxes, valid = (tf.constant(p) for p in parts)

    def element(k):
        order = tf.random.experimental.stateless_shuffle(tf.range(count), seed=[seed, k // count])
        index = order[k % count]
        key = tf.stack([tf.constant(seed, tf.int64), k])
        if parts is not None:
            image, in_view, visible = random_view(decode(paths[index]), size, key, jitter, boxes[index], view_size)
            return image, in_view, visible & valid[index]
        image = random_view(decode(paths[index]), size, key, jitter, view_size=view_size)
        return grayscale(image) if gray else image

    return (tf.data.Dataset.range(start, tf.int64.max)
            .map(element, num_parallel_calls=AUTOTUNE, deterministic=True)
            .ignore_errors(log_warning=True))  # a file that fails to decode mid-run is skipped


def face_batch_split(batch_size, face_share):
    """How many of each batch come from photos with faces (at least one when asked)."""
    if face_share <= 0:
        return 0
    return min(batch_size, max(1, math.ceil(face_share * batch_size)))


def training_dataset(photo_files, style_files, smooth_files, size, batch_size, seed=0, start_step=0,
                     parts=None, face_share=0.0, view_size=None):
    """Batches of (photo, anime style, smoothed gray anime), starting at `start_step`.

    With `parts` ((boxes, valid) per photo file), batches also carry each
    photo's part boxes and their validity, and `face_share` of every batch is
    drawn from the photos that have faces (face-priority sampling). Every
    view is cut at the scale `view_size` sets (see `random_view`).
    """
    stream = functools.partial(image_stream, size=size, view_size=view_size)
    anime = (stream(style_files, seed=seed + 1, start=start_step * batch_size)
             .batch(batch_size, drop_remainder=True))
    smooth = (stream(smooth_files, seed=seed + 2, start=start_step * batch_size, gray=True)
              .batch(batch_size, drop_remainder=True))
    if parts is None:
        photos = (stream(photo_files, seed=seed, start=start_step * batch_size, jitter=True)
                  .batch(batch_size, drop_remainder=True))
        return tf.data.Dataset.zip(photos, anime, smooth).prefetch(AUTOTUNE)
    with_faces = [i for i, valid in enumerate(parts[1]) if valid.any()]
    share = face_batch_split(batch_size, face_share) if with_faces else 0
    streams = []
    if share:
        subset = ([photo_files[i] for i in with_faces], tuple(p[with_faces] for p in parts))
        streams.append(stream(subset[0], seed=seed + 3, start=start_step * share, jitter=True, parts=subset[1])
                       .batch(share, drop_remainder=True))
    if share < batch_size:
        rest = batch_size - share
        streams.append(stream(photo_files, seed=seed, start=start_step * rest, jitter=True, parts=parts)
                       .batch(rest, drop_remainder=True))
    photos = tf.data.Dataset.zip(*streams).map(_concat) if len(streams) > 1 else streams[0]
    return (tf.data.Dataset.zip(photos, anime, smooth)
            .map(lambda photo, anime, smooth: (photo[0], anime, smooth, photo[1], photo[2]))
            .prefetch(AUTOTUNE))


def _concat(*parts):
    return tuple(tf.concat(values, axis=0) for values in zip(*parts))


def distill_dataset(pairs, size, batch_size, seed=0, start_step=0, parts=None):
    """Batches of (photo view, teacher output[, context][, boxes, valid]) in [-1, 1] from `pairs` of
    size x size PNGs, from `start_step`.

    Pairs are used as they are: a crop or mirror made here would no longer be
    what the teacher saw (`anime_tf.train.teacher` renders the views). As
    `image_stream`, element k is a pure function of (seed, k), so a resumed
    run sees the batches it would have seen. `parts`: (boxes, valid) of each
    pair's face parts (`anime_tf.face.cache.parts_array`), found on the view.
    """
    columns = [tf.constant([str(paths[i]) for paths in pairs]) for i in range(len(pairs[0]))]
    count = tf.constant(len(pairs), tf.int64)
    boxes, valid = (tf.constant(parts[0]), tf.constant(parts[1])) if parts is not None else (None, None)

    def element(k):
        order = tf.random.experimental.stateless_shuffle(tf.range(count), seed=[seed, k // count])
        index = order[k % count]
        images = tuple(tf.ensure_shape(decode(paths[index]), [size, size, 3]) * 2.0 - 1.0 for paths in columns)
        return images if boxes is None else (*images, boxes[index], valid[index])

    return (tf.data.Dataset.range(start_step * batch_size, tf.int64.max)
            .map(element, num_parallel_calls=AUTOTUNE, deterministic=True)
            .ignore_errors(log_warning=True)
            .batch(batch_size, drop_remainder=True)
            .prefetch(AUTOTUNE))
