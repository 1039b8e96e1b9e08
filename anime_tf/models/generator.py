"""The AnimeGANv2 generator, numerically faithful to the official TF1 graph.

Layer for layer it follows `net/generator.py` of the official repository, so
that its weights load one to one (see `anime_tf.weights` for the name mapping):

    A: CNL(32, 7x7) CNL(64, /2) CNL(64)        B: CNL(128, /2) CNL(128)
    C: CNL(128) 4 x inverted residual CNL(128) D: x2 CNL(128) CNL(128)
    E: x2 CNL(64) CNL(64) CNL(32, 7x7)         out: 1x1 conv to 3, tanh

CNL is reflect pad, conv without bias, layer norm over H, W and C, LeakyReLU(0.2).
"""
from __future__ import annotations

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
    """REFLECT padding of H and W, as the official `tf.pad(..., mode="REFLECT")`."""
    amounts = (top, bottom, left, right)
    if all(isinstance(a, int) and a == 0 for a in amounts):
        return x
    return tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]], mode="REFLECT")


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


class MomentsTape:
    """Hands each layer norm of one forward pass its (mean, variance), and records them.

    Empty, every layer norm uses its input's own moments (the normal case).
    Given the moments recorded from a whole image, every layer norm uses those
    instead: this is how a tile is normalised like the whole image it belongs to.
    """

    def __init__(self, moments=None):
        self._given = list(moments) if moments is not None else None
        self.recorded = []

    def __call__(self, norm, x):
        if self._given is None:
            moments = norm.moments(x)
        else:
            moments = self._given[len(self.recorded)]
        self.recorded.append(moments)
        return norm(x, moments)


@keras.saving.register_keras_serializable(package="anime_tf")
class LayerNorm(keras.layers.Layer):
    """Layer norm over H, W and C of each sample, with per-channel gamma and beta.

    Computes what `tf.contrib.layers.layer_norm` computed, op for op. Keras'
    `GroupNormalization(groups=1)` gives the same numbers, but cannot be handed
    external moments, which tiling needs (see `MomentsTape`).
    """

    def __init__(self, epsilon=LAYER_NORM_EPSILON, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        channels = input_shape[-1]
        self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")

    @staticmethod
    def moments(x):
        return tf.nn.moments(x, axes=[1, 2, 3], keepdims=True)

    def call(self, x, moments=None):
        mean, variance = self.moments(x) if moments is None else moments
        scale = tf.math.rsqrt(variance + self.epsilon) * self.gamma
        return x * scale + (self.beta - mean * scale)

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
        self.conv = _conv(filters, kernel_size, strides)
        self.norm = LayerNorm()

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides}

    def call(self, x, tape):
        x = self.conv(reflect_pad(x, *self.padding))
        return tf.nn.leaky_relu(tape(self.norm, x), LEAKY_SLOPE)


@keras.saving.register_keras_serializable(package="anime_tf")
class InvertedResBlock(keras.layers.Layer):
    """Official `InvertedRes_block`: 1x1 expand x2, 3x3 depthwise, 1x1 project (linear)."""

    def __init__(self, filters, expansion=2, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.expansion = expansion

    def build(self, input_shape):
        channels = input_shape[-1]
        self.expand = ConvNormLReLU(channels * self.expansion, kernel_size=1)
        self.depthwise = keras.layers.DepthwiseConv2D(
            3, padding="valid", use_bias=True, depthwise_initializer="he_normal")
        self.depthwise_norm = LayerNorm()
        self.project = _conv(self.filters, 1)
        self.project_norm = LayerNorm()
        self.residual = channels == self.filters

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "expansion": self.expansion}

    def call(self, x, tape):
        y = self.expand(x, tape=tape)
        y = self.depthwise(reflect_pad(y, 1, 1, 1, 1))
        y = tf.nn.leaky_relu(tape(self.depthwise_norm, y), LEAKY_SLOPE)
        y = tape(self.project_norm, self.project(y))
        return x + y if self.residual else y


@keras.saving.register_keras_serializable(package="anime_tf")
class Generator(keras.Model):
    """AnimeGANv2 generator: RGB in [-1, 1] of any size to RGB in [-1, 1] of the same size.

    Sizes that are not multiples of 4 are reflect-padded on the bottom and
    right and cropped back, so odd sizes work; the smallest input is 8x8.
    """

    def __init__(self, name="generator", **kwargs):
        super().__init__(name=name, **kwargs)
        # Block groups keep the official scope names: A, B, C, D, E (see anime_tf.weights).
        self.block_a = [ConvNormLReLU(32, 7), ConvNormLReLU(64, strides=2), ConvNormLReLU(64)]
        self.block_b = [ConvNormLReLU(128, strides=2), ConvNormLReLU(128)]
        self.block_c = [ConvNormLReLU(128)] + [InvertedResBlock(256) for _ in range(4)] + [
            ConvNormLReLU(128)]
        self.block_d = [ConvNormLReLU(128), ConvNormLReLU(128)]
        self.block_e = [ConvNormLReLU(64), ConvNormLReLU(64), ConvNormLReLU(32, 7)]
        self.out_conv = _conv(3, 1)

    def call(self, images, norm_moments=None):
        """`norm_moments`: per-layer-norm (mean, variance) to use instead of the input's own."""
        return self._forward(images, MomentsTape(norm_moments))

    def norm_moments(self, images):
        """The (mean, variance) of every layer norm, in call order, for `images`."""
        tape = MomentsTape()
        self._forward(images, tape)
        return tape.recorded

    def _forward(self, images, tape):
        height, width = _spatial_size(images)
        x = reflect_pad(images, 0, (-height) % SIZE_MULTIPLE, 0, (-width) % SIZE_MULTIPLE)
        for block in self.block_a + self.block_b + self.block_c:
            x = block(x, tape=tape)
        x = resize_x2_legacy(x)
        for block in self.block_d:
            x = block(x, tape=tape)
        x = resize_x2_legacy(x)
        for block in self.block_e:
            x = block(x, tape=tape)
        x = tf.tanh(self.out_conv(x))
        return x[:, :height, :width, :]
