"""The AnimeGANv2 generator, numerically faithful to the official TF1 graph.

Layer for layer it follows `net/generator.py` of the official repository, so
that its weights load one to one (see `anime_tf.weights` for the name mapping):

    A: CNL(32, 7x7) CNL(64, /2) CNL(64)        B: CNL(128, /2) CNL(128)
    C: CNL(128) 4 x inverted residual CNL(128) D: x2 CNL(128) CNL(128)
    E: x2 CNL(64) CNL(64) CNL(32, 7x7)         out: 1x1 conv to 3, tanh

CNL is reflect pad, conv without bias, layer norm over H, W and C, LeakyReLU(0.2).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import keras
import tensorflow as tf

LEAKY_SLOPE = 0.2
LAYER_NORM_EPSILON = 1e-12
# Two stride-2 convs down, two x2 resizes up: sizes that are multiples of 4 round-trip.
SIZE_MULTIPLE = 4


def _spatial_size(x):
    """(height, width): Python ints when static (exports), tensors otherwise."""
    dynamic = tf.shape(x)
    return tuple(x.shape[i] if x.shape[i] is not None else dynamic[i] for i in (1, 2))


def reflect_pad(x, top, bottom, left, right):
    """REFLECT padding of H and W: the same numbers as `tf.pad(..., mode="REFLECT")`.

    Built from slices and concatenation because TFLite's MIRROR_PAD has no
    XNNPACK kernel and splits an exported graph into many delegate partitions;
    its gradient is plain slices too, so training uses it.
    """
    x = _reflect_axis(x, 1, top, bottom)
    return _reflect_axis(x, 2, left, right)


def _reflect_axis(x, axis, before, after):
    """Mirror `before` rows (axis 1) or columns (axis 2) at the start and `after` at the end."""
    def rows(start, stop):
        index = [slice(None)] * 4
        index[axis] = slice(start, stop)
        return x[tuple(index)]

    size = x.shape[axis]
    if size is not None and isinstance(before, int) and isinstance(after, int):
        # Static sizes: single rows in mirrored order, so TFLite gets no REVERSE_V2 either.
        head = [rows(i, i + 1) for i in range(before, 0, -1)]
        tail = [rows(i, i + 1) for i in range(size - 2, size - 2 - after, -1)]
        return tf.concat(head + [x] + tail, axis) if head or tail else x
    head = tf.reverse(rows(1, before + 1), [axis])
    tail = tf.reverse(rows(-after - 1, -1), [axis])
    return tf.concat([head, x, tail], axis)


def reflect_pad_gather(x, top, bottom, left, right):
    """`reflect_pad` as one gather of whole pixels: the same numbers, copied once.

    The concatenations copy the tensor twice (rows, then columns) and
    `tf.pad`'s MirrorPad kernel is slower still; for TensorFlow inference this
    single copy is the fastest reflect padding (see BENCHMARKS.md).
    """
    if all(isinstance(n, int) and n == 0 for n in (top, bottom, left, right)):
        return x
    height, width = _spatial_size(x)
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
    passes about 2**20 (BENCHMARKS.md); three short means stay far below that.
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


class ForwardPass:
    """One forward pass: its ops, and the (mean, variance) each layer norm uses, recorded.

    Without given moments, every layer norm uses its input's own (the normal
    case). Given the moments recorded from a whole image, every layer norm uses
    those instead: this is how a tile is normalised like the whole image it
    belongs to.
    """

    def __init__(self, ops, moments=None):
        self.ops = ops
        self._given = list(moments) if moments is not None else None
        self.recorded = []

    def pad(self, x, top, bottom, left, right):
        return self.ops.pad(x, top, bottom, left, right)

    def norm(self, layer, x):
        """`layer` (a LayerNorm) applied to x, with this pass's moments for it."""
        if self._given is None:
            with tf.name_scope("moments"):
                moments = self.ops.moments(x)
        else:
            moments = self._given[len(self.recorded)]
        self.recorded.append(moments)
        return layer(x, moments)


@keras.saving.register_keras_serializable(package="anime_tf")
class LayerNorm(keras.layers.Layer):
    """Layer norm over H, W and C of each sample, with per-channel gamma and beta.

    Computes what `tf.contrib.layers.layer_norm` computed, op for op. Keras'
    `GroupNormalization(groups=1)` gives the same numbers, but cannot be handed
    external moments, which tiling needs (see `ForwardPass`).
    """

    def __init__(self, epsilon=LAYER_NORM_EPSILON, **kwargs):
        kwargs.setdefault("dtype", "float32")  # under mixed precision too: statistics need float32
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        channels = input_shape[-1]
        self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")

    def call(self, x, moments=None):
        mean, variance = two_pass_moments(x) if moments is None else moments
        with tf.name_scope("stats"):  # per-sample scalars and per-channel vectors only
            scale = tf.math.rsqrt(variance + self.epsilon) * self.gamma
            offset = self.beta - mean * scale
        return x * scale + offset

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def _conv(filters, kernel_size, strides=1, **kwargs):
    return keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding="valid", use_bias=False,
        kernel_initializer="he_normal", **kwargs)


@keras.saving.register_keras_serializable(package="anime_tf")
class ConvNormLReLU(keras.layers.Layer):
    """Official `Conv2DNormLReLU`: reflect pad, conv (no bias), layer norm, LeakyReLU."""

    def __init__(self, filters, kernel_size=3, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.strides = filters, kernel_size, strides
        self.padding = conv_padding(kernel_size, strides) if kernel_size > 1 else (0, 0, 0, 0)
        self.conv = _conv(filters, kernel_size, strides, name="conv")
        self.norm = LayerNorm(name="norm")

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides}

    def call(self, x, forward):
        x = self.conv(forward.pad(x, *self.padding))
        return tf.nn.leaky_relu(forward.norm(self.norm, x), LEAKY_SLOPE)


@keras.saving.register_keras_serializable(package="anime_tf")
class InvertedResBlock(keras.layers.Layer):
    """Official `InvertedRes_block`: 1x1 expand x2, 3x3 depthwise, 1x1 project (linear)."""

    def __init__(self, filters, expansion=2, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.expansion = expansion

    def build(self, input_shape):
        channels = input_shape[-1]
        self.expand = ConvNormLReLU(channels * self.expansion, kernel_size=1, name="expand")
        self.depthwise = keras.layers.DepthwiseConv2D(
            3, padding="valid", use_bias=True, depthwise_initializer="he_normal", name="depthwise")
        self.depthwise_norm = LayerNorm(name="depthwise_norm")
        self.project = _conv(self.filters, 1, name="project")
        self.project_norm = LayerNorm(name="project_norm")
        self.residual = channels == self.filters

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "expansion": self.expansion}

    def call(self, x, forward):
        y = self.expand(x, forward=forward)
        y = self.depthwise(forward.pad(y, 1, 1, 1, 1))
        y = tf.nn.leaky_relu(forward.norm(self.depthwise_norm, y), LEAKY_SLOPE)
        y = forward.norm(self.project_norm, self.project(y))
        return x + tf.cast(y, x.dtype) if self.residual else y  # dtypes differ under mixed precision


@keras.saving.register_keras_serializable(package="anime_tf")
class Generator(keras.Model):
    """AnimeGANv2 generator: RGB in [-1, 1] of any size to RGB in [-1, 1] of the same size.

    Sizes that are not multiples of 4 are reflect-padded on the bottom and
    right and cropped back, so odd sizes work; the smallest input is 8x8.

    Training runs the official ops (`TRAINING_OPS`), inference the ops
    TensorFlow runs fastest (`INFERENCE_OPS`), and `for_tflite=True` the ops
    TFLite runs fastest (`TFLITE_OPS`); all give the same image within 2e-5.
    """

    def __init__(self, for_tflite=False, name="generator", **kwargs):
        super().__init__(name=name, **kwargs)
        self.for_tflite = for_tflite
        # Block groups keep the official scope names (A..E); layer names are stable
        # so exported graphs can be addressed by name (see anime_tf.export).
        self.block_a = [ConvNormLReLU(32, 7, name="A1"), ConvNormLReLU(64, strides=2, name="A2"),
                        ConvNormLReLU(64, name="A3")]
        self.block_b = [ConvNormLReLU(128, strides=2, name="B1"), ConvNormLReLU(128, name="B2")]
        self.block_c = ([ConvNormLReLU(128, name="C1")]
                        + [InvertedResBlock(256, name=f"C_r{i}") for i in range(1, 5)]
                        + [ConvNormLReLU(128, name="C2")])
        self.block_d = [ConvNormLReLU(128, name="D1"), ConvNormLReLU(128, name="D2")]
        self.block_e = [ConvNormLReLU(64, name="E1"), ConvNormLReLU(64, name="E2"),
                        ConvNormLReLU(32, 7, name="E3")]
        self.out_conv = _conv(3, 1, name="out_layer")

    def call(self, images, norm_moments=None, training=False):
        """`norm_moments`: per-layer-norm (mean, variance) to use instead of the input's own."""
        return self._forward(images, ForwardPass(self.ops(training), norm_moments))

    def ops(self, training=False):
        """The `Ops` a forward pass uses."""
        if self.for_tflite:
            return TFLITE_OPS
        return TRAINING_OPS if training else INFERENCE_OPS

    def get_config(self):
        return {**super().get_config(), "for_tflite": self.for_tflite}

    def norm_moments(self, images):
        """The (mean, variance) of every layer norm, in call order, for `images`."""
        forward = ForwardPass(self.ops())
        self._forward(images, forward)
        return forward.recorded

    def _forward(self, images, forward):
        height, width = _spatial_size(images)
        x = forward.pad(images, 0, (-height) % SIZE_MULTIPLE, 0, (-width) % SIZE_MULTIPLE)
        for block in self.block_a + self.block_b + self.block_c:
            x = block(x, forward=forward)
        x = resize_x2_legacy(x)
        for block in self.block_d:
            x = block(x, forward=forward)
        x = resize_x2_legacy(x)
        for block in self.block_e:
            x = block(x, forward=forward)
        x = tf.tanh(self.out_conv(x))
        if isinstance(height, int) and isinstance(width, int) and not (height % 4 or width % 4):
            return x  # static size, nothing was padded (keeps a no-op slice out of exports)
        return x[:, :height, :width, :]
