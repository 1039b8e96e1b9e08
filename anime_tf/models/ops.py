"""The generator's interchangeable ops: reflect padding, layer-norm moments, legacy x2 resize.

Each op has implementations that agree within float rounding and differ in
which runtime runs them fast (TensorFlow training, TensorFlow inference,
TFLite/XNNPACK, ONNX Runtime); an `Ops` picks one of each.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import tensorflow as tf


def spatial_size(x):
    """(height, width): Python ints when static (exports), tensors otherwise."""
    dynamic = tf.shape(x)
    return tuple(x.shape[i] if x.shape[i] is not None else dynamic[i] for i in (1, 2))


def reflect_pad(x, top, bottom, left, right):
    """REFLECT padding of H and W: the same numbers as `tf.pad(..., mode="REFLECT")`.

    Built from slices and concatenation because TFLite's MIRROR_PAD has no
    XNNPACK kernel and splits an exported graph into many delegate partitions;
    its gradient is plain slices too, so training uses it.
    """
    if not all(isinstance(n, int) for n in (top, bottom, left, right)):
        return reflect_pad_gather(x, top, bottom, left, right)  # amounts known only at run time
    x = _reflect_axis(x, 1, top, bottom)
    return _reflect_axis(x, 2, left, right)


def _reflect_axis(x, axis, before, after):
    """Mirror `before` rows (axis 1) or columns (axis 2) at the start and `after` at the end."""
    def rows(start, stop):
        index = [slice(None)] * 4
        index[axis] = slice(start, stop)
        return x[tuple(index)]

    size = x.shape[axis]
    if size is not None:
        # Static sizes: single rows in mirrored order, so TFLite gets no REVERSE_V2 either.
        head = [rows(i, i + 1) for i in range(before, 0, -1)]
        tail = [rows(i, i + 1) for i in range(size - 2, size - 2 - after, -1)]
        return tf.concat(head + [x] + tail, axis) if head or tail else x
    # Dynamic size: no empty or one-row reverses (ONNX Runtime cannot reshape an empty one).
    head = [_reversed(rows(1, before + 1), axis, before)] if before else []
    tail = [_reversed(rows(-after - 1, -1), axis, after)] if after else []
    return tf.concat(head + [x] + tail, axis) if head or tail else x


def _reversed(rows, axis, count):
    return tf.reverse(rows, [axis]) if count > 1 else rows


def reflect_pad_gather(x, top, bottom, left, right):
    """`reflect_pad` as one gather of whole pixels: the same numbers, copied once.

    The concatenations copy the tensor twice (rows, then columns) and
    `tf.pad`'s MirrorPad kernel is slower still; for TensorFlow inference this
    single copy is the fastest reflect padding (see docs/notes/2026-11-inference-and-export.md).
    """
    if all(isinstance(n, int) and n == 0 for n in (top, bottom, left, right)):
        return x
    height, width = spatial_size(x)
    rows = _mirrored_range(height, top, bottom)
    cols = _mirrored_range(width, left, right)
    pixels = tf.reshape(rows[:, None] * width + cols[None, :], [-1])
    channels = x.shape[-1]
    flat = tf.reshape(x, [tf.shape(x)[0], -1, channels])
    padded = tf.gather(flat, pixels, axis=1)
    return tf.reshape(padded, [tf.shape(x)[0], tf.size(rows), tf.size(cols), channels])


def _mirrored_range(size, before, after):
    """Indices `before..1, 0..size-1, size-2..size-1-after` (REFLECT along one axis)."""
    return tf.concat([tf.range(before, 0, -1), tf.range(size),
                      tf.range(size - 2, size - 2 - after, -1)], axis=0)


def conv_padding(kernel_size, strides):
    """(top, bottom, left, right) padding of the official `Conv2D` helper."""
    if strides == 2:
        return 0, 1, 0, 1
    half = kernel_size // 2
    return half, half, half, half


def resize_x2_legacy(x):
    """Bilinear x2 as TF1's `tf.image.resize_images` (no half-pixel centres).

    TF2's `tf.image.resize` samples at half-pixel centres and gives different
    pixels; the official weights were trained with the legacy sampling.
    """
    size = tf.shape(x)[1:3] * 2
    return tf.raw_ops.ResizeBilinear(
        images=x, size=size, align_corners=False, half_pixel_centers=False)


def two_pass_moments(x):
    """(mean, variance) over H, W, C of each sample, as `tf.contrib.layers.layer_norm` took them."""
    return tf.nn.moments(x, axes=[1, 2, 3], keepdims=True)


def one_pass_moments(x):
    """(mean, variance) as mean(x*x) - mean(x)^2: equal within float rounding (1e-5 here), and
    int8 ops XNNPACK runs, where `tf.nn.moments`'s SQUARED_DIFFERENCE has none."""
    mean = axis_by_axis_mean(x)
    return mean, tf.maximum(axis_by_axis_mean(x * x) - mean * mean, 0.0)


def axis_by_axis_mean(x):
    """The mean over H, W and C (keepdims) as three short means: W, then H, then C.

    XNNPACK's int8 MEAN saturates on x86 without AVX-512 once the raw int8 sum
    passes about 2**20 (docs/notes/2026-11-inference-and-export.md); three short means stay far below that.
    """
    for axis in (2, 1, 3):
        x = tf.reduce_mean(x, axis=axis, keepdims=True)
    return x


def single_image_moments(x):
    """`one_pass_moments` for a batch of one, from two reductions that write nothing.

    `tf.nn.l2_loss` sums the squares without the full-size temporary that
    x*x or SQUARED_DIFFERENCE writes. It sums the whole batch, so larger
    batches take `two_pass_moments`.
    """
    if x.shape[0] != 1:
        return two_pass_moments(x)
    x = tf.cast(x, tf.float32)  # a no-op for float32; a float16 sum of squares would overflow
    count = tf.cast(tf.size(x), tf.float32)
    mean = tf.reduce_sum(x) / count
    mean_square = tf.nn.l2_loss(x) * 2.0 / count
    shape = [1, 1, 1, 1]
    return tf.reshape(mean, shape), tf.reshape(tf.maximum(mean_square - mean * mean, 0.0), shape)


def row_norm_moments(x):
    """`one_pass_moments` with the mean of squares from L2 norms of rows: no full-size x*x.

    For ONNX Runtime (`anime_tf.export.onnx` turns each norm into a
    ReduceSumSquare): it reads its input once and writes H x C sums, where
    x*x writes and reads a full-size float tensor. Rows are short sums, as
    exact as `axis_by_axis_mean`'s; one sum over the whole tensor is 10x less
    so in ONNX Runtime (8e-5 off the Keras output at 256x256, not 5e-6).
    """
    mean = tf.reduce_mean(tf.reduce_mean(x, axis=[1, 2], keepdims=True), axis=3, keepdims=True)
    row_norms = tf.math.reduce_euclidean_norm(x, axis=2, keepdims=True)
    width = tf.cast(tf.shape(x)[2], x.dtype)
    mean_square = tf.reduce_mean(row_norms * row_norms, axis=[1, 3], keepdims=True) / width
    return mean, tf.maximum(mean_square - mean * mean, 0.0)


@dataclasses.dataclass(frozen=True)
class Ops:
    """Interchangeable implementations of the generator's reflect padding and layer-norm moments.

    They agree within float rounding and differ in which runtime runs them fast.
    """
    pad: Callable
    moments: Callable


TRAINING_OPS = Ops(pad=reflect_pad, moments=two_pass_moments)  # the official numerics, plain gradients
INFERENCE_OPS = Ops(pad=reflect_pad_gather, moments=single_image_moments)  # fastest in TensorFlow
TFLITE_OPS = Ops(pad=reflect_pad, moments=one_pass_moments)  # what XNNPACK runs, float and int8
ONNX_OPS = Ops(pad=reflect_pad, moments=row_norm_moments)  # what ONNX Runtime runs, float and int8
EXPORT_OPS = {"tflite": TFLITE_OPS, "onnx": ONNX_OPS}  # by `Generator(export_format=...)`
