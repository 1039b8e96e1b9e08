"""The AnimeGANv2 PatchGAN discriminator, as `net/discriminator.py` of the official code.

conv(32) LReLU; twice [conv(/2) LReLU, conv(x2 channels) LN LReLU]; conv LN LReLU;
conv to 1 channel: one logit per patch. Every conv is 3x3 without bias, N(0, 0.02)
initialised, zero-padded as the official helper pads (1 on each side, or 1 top/left
and 0 bottom/right for stride 2), and spectrally normalised with Keras'
`SpectralNormalization` (one power iteration). Layer norms span H, W and C.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from anime_tf.models.generator import LEAKY_SLOPE, LayerNorm


@keras.saving.register_keras_serializable(package="anime_tf")
class SpectralConv(keras.layers.Layer):
    """Zero padding as the official `conv` helper, then a spectrally normalised 3x3 conv."""

    def __init__(self, filters, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.strides = filters, strides
        self.padding = (1, 0) if strides == 2 else (1, 1)
        self.conv = keras.layers.SpectralNormalization(
            keras.layers.Conv2D(filters, 3, strides=strides, padding="valid", use_bias=False,
                                kernel_initializer=keras.initializers.RandomNormal(0.0, 0.02)),
            power_iterations=1)

    def call(self, x, training=False):
        before, after = self.padding
        x = tf.pad(x, [[0, 0], [before, after], [before, after], [0, 0]])
        return self.conv(x, training=training)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides}


@keras.saving.register_keras_serializable(package="anime_tf")
class Discriminator(keras.Model):
    """Images in [-1, 1] to patch logits (1/4 of the input size, one channel)."""

    def __init__(self, channels=64, n_dis=3, name="discriminator", **kwargs):
        super().__init__(name=name, **kwargs)
        self.channels, self.n_dis = channels, n_dis
        width = channels // 2
        self.first = SpectralConv(width)
        self.downs, self.convs, self.norms = [], [], []
        for _ in range(1, n_dis):
            self.downs.append(SpectralConv(width * 2, strides=2))
            self.convs.append(SpectralConv(width * 4))
            self.norms.append(LayerNorm())
            width *= 2
        self.last = SpectralConv(width * 2)
        self.last_norm = LayerNorm()
        self.logits = SpectralConv(1)

    def call(self, images, training=False):
        x = tf.nn.leaky_relu(self.first(images, training=training), LEAKY_SLOPE)
        for down, conv, norm in zip(self.downs, self.convs, self.norms):
            x = tf.nn.leaky_relu(down(x, training=training), LEAKY_SLOPE)
            x = tf.nn.leaky_relu(norm(conv(x, training=training)), LEAKY_SLOPE)
        x = tf.nn.leaky_relu(self.last_norm(self.last(x, training=training)), LEAKY_SLOPE)
        return self.logits(x, training=training)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "n_dis": self.n_dis}
