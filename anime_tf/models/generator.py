"""The AnimeGANv2 generator, numerically faithful to the official TF1 graph.

Layer for layer it follows `net/generator.py` of the official repository, so
that its weights load one to one (see `anime_tf.official` for the name mapping):

    A: CNL(32, 7x7) CNL(64, /2) CNL(64)        B: CNL(128, /2) CNL(128)
    C: CNL(128) 4 x inverted residual CNL(128) D: x2 CNL(128) CNL(128)
    E: x2 CNL(64) CNL(64) CNL(32, 7x7)         out: 1x1 conv to 3, tanh

CNL is reflect pad, conv without bias, layer norm over H, W and C, LeakyReLU(0.2).
A distilled student (`Generator(width=0.5, blocks=2)`) is the same family
with every channel count scaled and fewer inverted residual blocks.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from anime_tf.config import SIZE_MULTIPLE
from anime_tf.errors import ConfigError
from anime_tf.models.ops import (EXPORT_OPS, INFERENCE_OPS, TRAINING_OPS, conv_padding, resize_x2_legacy,
                                  spatial_size, two_pass_moments)

LEAKY_SLOPE = 0.2
LAYER_NORM_EPSILON = 1e-12
# The official generator; distilled students scale every channel count by a width
# (kept a multiple of 8, which SIMD kernels like) and have fewer residual blocks.
TEACHER_ARCHITECTURE = {"width": 1.0, "blocks": 4}
CHANNEL_MULTIPLE = 8
MAX_BLOCKS = 8
# Where `Generator.features` taps a forward pass: the end of each stage, at 1/4, 1/4, 1/2 and
# full resolution, the same places in a student as in its teacher.
FEATURE_TAPS = ("B2", "C2", "D2", "E2")


def scaled_channels(channels, width):
    """`channels` x `width`, rounded to a multiple of 8 (at least 8)."""
    return max(CHANNEL_MULTIPLE, int(round(channels * width / CHANNEL_MULTIPLE)) * CHANNEL_MULTIPLE)


def check_architecture(width, blocks):
    """ValueError unless 0 < width <= 2 and 0 <= blocks <= 8 (whole)."""
    if not 0.0 < float(width) <= 2.0:
        raise ConfigError(f"generator width must be in (0, 2], not {width}")
    if int(blocks) != blocks or not 0 <= blocks <= MAX_BLOCKS:
        raise ConfigError(f"generator blocks must be a whole number from 0 to {MAX_BLOCKS}, not {blocks}")


class ForwardPass:
    """One forward pass: its ops, and the (mean, variance) each layer norm uses, recorded.

    Without given moments, every layer norm uses its input's own (the normal
    case). Given the moments recorded from a whole image, every layer norm uses
    those instead: this is how a tile is normalised like the whole image it
    belongs to. Given `running` (previous moments, keep), the batch is frames
    of a video and each layer norm uses a running average of the frames' own
    moments (see `Generator.call_running`).
    """

    def __init__(self, ops, moments=None, running=None):
        self.ops = ops
        self._given = list(moments) if moments is not None else None
        self._running = running
        self.recorded = []

    def pad(self, x, top, bottom, left, right):
        return self.ops.pad(x, top, bottom, left, right)

    def norm(self, layer, x):
        """`layer` (a LayerNorm) applied to x, with this pass's moments for it."""
        if self._given is None:
            with tf.name_scope("moments"):
                moments = self.ops.moments(x)
            if self._running is not None:
                previous, keep = self._running
                moments = tuple(running_average(p, m, keep) for p, m in zip(previous[len(self.recorded)], moments))
        else:
            moments = self._given[len(self.recorded)]
        self.recorded.append(moments)
        return layer(x, moments)


def running_average(previous, current, keep):
    """Per-sample statistics [N,1,1,1] averaged along the batch: out[i] = keep[i] out[i-1] + (1 - keep[i]) current[i].

    `previous` ([1,1,1,1]) stands for out[-1]; keep[i] = 0 starts afresh at sample i.
    """
    keep = tf.reshape(tf.cast(keep, current.dtype), [-1, 1, 1, 1])
    return tf.scan(lambda last, step: step[1] * last + (1.0 - step[1]) * step[0], (current, keep),
                   initializer=tf.cast(previous[0], current.dtype))


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
    TensorFlow runs fastest (`INFERENCE_OPS`), and `export_format="tflite"`
    or `"onnx"` the ops that runtime runs fastest (`EXPORT_OPS`); all give the
    same image within 2e-5.
    """

    def __init__(self, export_format=None, width=TEACHER_ARCHITECTURE["width"],
                 blocks=TEACHER_ARCHITECTURE["blocks"], name="generator", **kwargs):
        if kwargs.pop("for_tflite", False):  # the config key of .keras files saved before ONNX export
            export_format = "tflite"
        super().__init__(name=name, **kwargs)
        check_architecture(width, blocks)
        if export_format not in (None, *EXPORT_OPS):
            raise ConfigError(f"export_format must be one of {', '.join(EXPORT_OPS)} or None, "
                              f"not {export_format!r}")
        self.export_format = export_format
        self.width, self.blocks = float(width), int(blocks)
        c = {n: scaled_channels(n, width) for n in (32, 64, 128, 256)}
        # Block groups keep the official scope names (A..E); layer names are stable
        # so exported graphs can be addressed by name (see anime_tf.export).
        self.block_a = [ConvNormLReLU(c[32], 7, name="A1"), ConvNormLReLU(c[64], strides=2, name="A2"),
                        ConvNormLReLU(c[64], name="A3")]
        self.block_b = [ConvNormLReLU(c[128], strides=2, name="B1"), ConvNormLReLU(c[128], name="B2")]
        self.block_c = ([ConvNormLReLU(c[128], name="C1")]
                        + [InvertedResBlock(c[256], name=f"C_r{i}") for i in range(1, blocks + 1)]
                        + [ConvNormLReLU(c[128], name="C2")])
        self.block_d = [ConvNormLReLU(c[128], name="D1"), ConvNormLReLU(c[128], name="D2")]
        self.block_e = [ConvNormLReLU(c[64], name="E1"), ConvNormLReLU(c[64], name="E2"),
                        ConvNormLReLU(c[32], 7, name="E3")]
        self.out_conv = _conv(3, 1, name="out_layer")

    @property
    def architecture(self):
        """What, besides the weights, rebuilds this generator: {"width": W, "blocks": B}."""
        return {"width": self.width, "blocks": self.blocks}

    def call(self, images, norm_moments=None, training=False):
        """`norm_moments`: per-layer-norm (mean, variance) to use instead of the input's own."""
        return self._forward(images, ForwardPass(self.ops(training), norm_moments))

    def ops(self, training=False):
        """The `Ops` a forward pass uses."""
        if self.export_format:
            return EXPORT_OPS[self.export_format]
        return TRAINING_OPS if training else INFERENCE_OPS

    def get_config(self):
        return {**super().get_config(), "export_format": self.export_format, **self.architecture}

    def call_running(self, images, previous, keep):
        """Frames of a video, in order, with each layer norm's moments averaged over frames.

        Frame-by-frame layer norms jump in tone from frame to frame. Here frame
        i uses keep[i] x frame i-1's moments plus (1 - keep[i]) x its own
        (keep 0 at a scene cut). `previous`: what this returned for the frame
        before images[0] (anything of that structure when keep[0] is 0, such as
        `zero_moments()`). Returns (stylized frames, the last frame's moments).
        """
        forward = ForwardPass(self.ops(), running=(previous, keep))
        stylized = self._forward(images, forward)
        return stylized, [(mean[-1:], variance[-1:]) for mean, variance in forward.recorded]

    def zero_moments(self):
        """Moments of `call_running`'s structure, all zero: a start for a first frame."""
        zero = tf.zeros([1, 1, 1, 1])
        count = sum(isinstance(layer, LayerNorm) for layer in self._flatten_layers())
        return [(zero, zero) for _ in range(count)]

    def features(self, images, norm_moments=None, training=False):
        """(the output, [the activations after each of FEATURE_TAPS]), for distilling features."""
        taps = []
        output = self._forward(images, ForwardPass(self.ops(training), norm_moments), taps)
        return output, taps

    def norm_moments(self, images):
        """The (mean, variance) of every layer norm, in call order, for `images`."""
        forward = ForwardPass(self.ops())
        self._forward(images, forward)
        return forward.recorded

    def _forward(self, images, forward, taps=None):
        """The forward pass; `taps`, a list, receives the activations after each of FEATURE_TAPS."""
        height, width = spatial_size(images)
        x = forward.pad(images, 0, _pad_to_multiple(height), 0, _pad_to_multiple(width))

        def run(blocks, x):
            for block in blocks:
                x = block(x, forward=forward)
                if taps is not None and block.name in FEATURE_TAPS:
                    taps.append(x)
            return x

        x = resize_x2_legacy(run(self.block_a + self.block_b + self.block_c, x))
        x = resize_x2_legacy(run(self.block_d, x))
        x = run(self.block_e, x)
        x = tf.tanh(self.out_conv(x))
        if isinstance(height, int) and isinstance(width, int) and not (height % 4 or width % 4):
            return x  # static size, nothing was padded (keeps a no-op slice out of exports)
        return x[:, :height, :width, :]


def _pad_to_multiple(size):
    """Rows (or columns) that bring `size` up to a multiple of SIZE_MULTIPLE.

    Written without the modulo of a negative number, which tf2onnx converts to
    a truncating one (ONNX export would then pad nothing).
    """
    return (SIZE_MULTIPLE - size % SIZE_MULTIPLE) % SIZE_MULTIPLE
