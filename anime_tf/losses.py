"""The AnimeGANv2 losses, as `tools/ops.py` and `AnimeGANv2.py` of the official code.

Every function returns one value per example (shape [batch]), so that a
distributed step can average over the global batch with
`tf.nn.compute_average_loss`. Images are in [-1, 1].
"""
from __future__ import annotations

import keras
import tensorflow as tf

VGG_LAYER = "block4_conv4"  # conv4_4, taken before its ReLU


def _per_example_mean(x):
    return tf.reduce_mean(tf.reshape(x, [tf.shape(x)[0], -1]), axis=1)


class VGGFeatures(keras.Model):
    """VGG19 conv4_4 before the ReLU, with the official preprocessing.

    Input [-1, 1] RGB becomes [0, 255] BGR minus the ImageNet means (Keras'
    "caffe" preprocessing). `weights`: "imagenet" (Keras downloads and caches
    them), a path to a VGG19 notop weights file, or None for random weights
    (tests and offline smoke runs).
    """

    def __init__(self, weights="imagenet", **kwargs):
        super().__init__(**kwargs)
        vgg = keras.applications.VGG19(include_top=False, weights=weights)
        vgg.trainable = False
        conv4_4 = vgg.get_layer(VGG_LAYER)
        self.trunk = keras.Model(vgg.input, conv4_4.input)
        self.conv4_4 = conv4_4

    def call(self, images):
        x = keras.applications.vgg19.preprocess_input((images + 1.0) * 127.5)
        x = self.trunk(x)
        kernel, bias = tf.cast(self.conv4_4.kernel, x.dtype), tf.cast(self.conv4_4.bias, x.dtype)
        return tf.cast(tf.nn.bias_add(tf.nn.conv2d(x, kernel, 1, "SAME"), bias), tf.float32)


def gram(features):
    """Gram matrices normalised by H*W*C, per example."""
    shape = tf.shape(features)
    flat = tf.reshape(features, [shape[0], -1, shape[3]])
    size = tf.cast(shape[1] * shape[2] * shape[3], features.dtype)
    return tf.matmul(flat, flat, transpose_a=True) / size


def content_loss(photo_features, fake_features):
    """L1 between VGG features of the photo and of the generated image."""
    return _per_example_mean(tf.abs(photo_features - fake_features))


def style_loss(anime_gray_features, fake_features):
    """L1 between Gram matrices of grayscale anime and generated VGG features."""
    return _per_example_mean(tf.abs(gram(anime_gray_features) - gram(fake_features)))


def color_loss(photo, fake):
    """Photo against generated in YUV: L1 on Y, Huber (delta 1) on U and V."""
    photo_yuv = tf.image.rgb_to_yuv((photo + 1.0) / 2.0)
    fake_yuv = tf.image.rgb_to_yuv((fake + 1.0) / 2.0)
    difference = photo_yuv - fake_yuv
    y = _per_example_mean(tf.abs(difference[..., 0]))
    absolute = tf.abs(difference[..., 1:])
    huber = tf.where(absolute <= 1.0, 0.5 * tf.square(difference[..., 1:]), absolute - 0.5)
    return y + 2.0 * _per_example_mean(huber)


def total_variation_loss(images):
    """Squared neighbour differences, each direction divided by its number of elements.

    As the official code: `tf.nn.l2_loss` (half the sum of squares) over the size.
    """
    dh = images[:, :-1] - images[:, 1:]
    dw = images[:, :, :-1] - images[:, :, 1:]
    return 0.5 * (_per_example_mean(tf.square(dh)) + _per_example_mean(tf.square(dw)))


def generator_adversarial_loss(fake_logits):
    """LSGAN: the generator wants its images judged real (1)."""
    return _per_example_mean(tf.square(fake_logits - 1.0))


def discriminator_loss(real, fake, gray, smooth, weights):
    """LSGAN with the four official terms: real anime 1; generated, gray and smoothed gray 0.

    `weights`: (real, fake, gray, smooth), e.g. (1.2, 1.2, 1.2, 0.8) for Hayao.
    """
    w_real, w_fake, w_gray, w_smooth = weights
    return (w_real * _per_example_mean(tf.square(real - 1.0)) + w_fake * _per_example_mean(tf.square(fake))
            + w_gray * _per_example_mean(tf.square(gray)) + w_smooth * _per_example_mean(tf.square(smooth)))


def laplacian_pyramid(images, levels):
    """`levels` band-pass images, finest first, then the low-pass rest (2x2 means, bilinear up)."""
    bands = []
    for _ in range(levels):
        low = tf.nn.avg_pool2d(images, 2, 2, "VALID")
        up = tf.image.resize(low, tf.shape(images)[1:3], method="bilinear")
        bands.append(images - up)
        images = low
    return bands + [images]


def pyramid_loss(target, images, levels=4, floor=1e-4):
    """How far `images` are from `target`, each Laplacian pyramid band counting alike.

    Per band, the squared difference over the target's own energy in that
    band: a relative error, so the fine band that carries line art weighs as
    much as the low-pass colour, which pixel L1 or L2 do not do (a soft
    outline costs them little). Holds a fine-tune to its starting model and
    a student to its teacher's outlines (docs/notes/2026-11-distillation.md).
    """
    total = 0.0
    for band_target, band in zip(laplacian_pyramid(target, levels), laplacian_pyramid(images, levels)):
        energy = _per_example_mean(tf.square(band_target))
        total += _per_example_mean(tf.square(band - band_target)) / (energy + floor)
    return total / (levels + 1)


BLOCK_SIZES = (8, 32)  # about a patch of wall and a stretch of sky at 256


def block_color_loss(target, images, sizes=BLOCK_SIZES):
    """L1 between the images' block means, averaged over block sizes: colour over areas.

    A student's colour error lives in the block means (walls, skies, skin):
    `pyramid_loss` weighs it least by design and pixel L1 mixes it with every
    edge. This is the training side of `anime_tf.metrics.block_color_shift`.
    """
    difference = target - images  # the mean of a difference is the difference of the means
    return sum(_per_example_mean(tf.abs(tf.nn.avg_pool2d(difference, size, size, "VALID")))
               for size in sizes) / len(sizes)


FACE_CROP = 64  # eyes, nose and mouth are compared at this size


def face_loss(vgg, photo, fake, boxes, valid, crop=FACE_CROP):
    """Content loss on crops around eyes, nose and mouth: keeps faces where the photo had them.

    `boxes` [batch, parts, 4] are (x0, y0, x1, y1) fractions of the image and
    `valid` [batch, parts] says which are real parts; each example's loss is
    the mean over its valid parts of the L1 between VGG features of the
    photo's and the generated crop, 0 for an example without faces.
    """
    batch, parts = tf.shape(boxes)[0], tf.shape(boxes)[1]
    corners = tf.gather(tf.reshape(boxes, [-1, 4]), [1, 0, 3, 2], axis=1)  # y0, x0, y1, x1
    owner = tf.repeat(tf.range(batch), parts)
    photo_parts = tf.image.crop_and_resize(photo, corners, owner, [crop, crop])
    fake_parts = tf.image.crop_and_resize(fake, corners, owner, [crop, crop])
    per_part = tf.reshape(content_loss(vgg(photo_parts), vgg(fake_parts)), [batch, parts])
    weight = tf.cast(valid, per_part.dtype)
    return tf.reduce_sum(per_part * weight, axis=1) / tf.maximum(tf.reduce_sum(weight, axis=1), 1.0)
