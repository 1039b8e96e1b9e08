"""Losses and the discriminator against their official definitions."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageFilter

from anime_tf import losses
from anime_tf.models import Discriminator


def images(*shape, seed=0):
    return tf.constant(np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32))


@pytest.fixture(scope="module")
def vgg():
    return losses.VGGFeatures(weights=None)  # random weights: tests never download


def test_losses_vanish_for_identical_images_and_grow_with_difference(vgg):
    photo = images(2, 64, 64, 3)
    features = vgg(photo)
    assert features.shape == (2, 8, 8, 512)  # conv4_4 at 1/8
    for value in (losses.content_loss(features, features), losses.style_loss(features, features),
                  losses.color_loss(photo, photo)):
        np.testing.assert_allclose(value.numpy(), [0.0, 0.0], atol=1e-6)
    near, far = photo + 0.05, -photo
    assert np.all(losses.color_loss(photo, far).numpy() > losses.color_loss(photo, near).numpy())
    assert np.all(losses.content_loss(features, vgg(far)).numpy() > losses.content_loss(features, vgg(near)).numpy())


def test_vgg_preprocessing_and_pre_relu_output(vgg):
    x = images(1, 32, 32, 3)
    caffe = (x + 1.0) * 127.5
    caffe = tf.reverse(caffe, axis=[-1]) - tf.constant([103.939, 116.779, 123.68])
    trunk = vgg.trunk(caffe)
    expected = tf.nn.conv2d(trunk, vgg.conv4_4.kernel, 1, "SAME") + vgg.conv4_4.bias
    np.testing.assert_allclose(vgg(x).numpy(), expected.numpy(), rtol=1e-4, atol=1e-3)
    assert vgg(x).numpy().min() < 0  # before the ReLU


def test_gram_is_normalised_by_h_w_c():
    x = tf.ones([1, 2, 3, 4])
    np.testing.assert_allclose(losses.gram(x).numpy(), np.full((1, 4, 4), 6 / 24))


def test_total_variation_matches_the_official_formula():
    x = images(1, 5, 6, 3).numpy()
    dh, dw = x[:, :-1] - x[:, 1:], x[:, :, :-1] - x[:, :, 1:]
    official = (dh ** 2).sum() / 2 / dh.size + (dw ** 2).sum() / 2 / dw.size
    np.testing.assert_allclose(losses.total_variation_loss(tf.constant(x)).numpy(), [official], rtol=1e-5)


def test_color_loss_is_l1_on_y_and_huber_on_u_v():
    photo = tf.fill([1, 4, 4, 3], -1.0)  # black
    fake = tf.fill([1, 4, 4, 3], 1.0)  # white: Y differs by 1, U and V by 0
    np.testing.assert_allclose(losses.color_loss(photo, fake).numpy(), [1.0], atol=1e-5)
    red, blue = tf.constant([[[[1.0, -1.0, -1.0]]]]), tf.constant([[[[-1.0, -1.0, 1.0]]]])
    yuv = tf.image.rgb_to_yuv((tf.concat([red, blue], 0) + 1) / 2).numpy()[:, 0, 0]
    d = np.abs(yuv[0] - yuv[1])
    expected = d[0] + 0.5 * d[1] ** 2 + 0.5 * d[2] ** 2  # |dU|, |dV| < 1: quadratic Huber
    np.testing.assert_allclose(losses.color_loss(red, blue).numpy(), [expected], rtol=1e-5)


def test_lsgan_terms_and_their_weights():
    ones, zeros = tf.ones([2, 4, 4, 1]), tf.zeros([2, 4, 4, 1])
    np.testing.assert_allclose(losses.discriminator_loss(ones, zeros, zeros, zeros, (1.2, 1.2, 1.2, 0.8)), [0, 0])
    np.testing.assert_allclose(losses.discriminator_loss(zeros, ones, ones, ones, (1.2, 1.2, 1.2, 0.8)),
                               [1.2 + 1.2 + 1.2 + 0.8] * 2, rtol=1e-6)
    np.testing.assert_allclose(losses.generator_adversarial_loss(zeros), [1.0, 1.0])


def test_discriminator_patches_and_spectral_norm():
    keras.utils.set_random_seed(0)
    d = Discriminator()
    x = images(2, 64, 48, 3)
    assert d(x).shape == (2, 16, 12, 1)
    for _ in range(30):  # power iteration converges: kernels end with spectral norm 1
        d(x, training=True)
    convs = [layer.conv for layer in [d.first, *d.downs, *d.convs, d.last, d.logits]]
    assert len(convs) == 7
    for sn in convs:
        kernel = sn.kernel.numpy().reshape(-1, sn.kernel.shape[-1])
        assert abs(np.linalg.svd(kernel, compute_uv=False)[0] - 1.0) < 0.05


def test_vgg_weights_load_from_an_offline_file(vgg, tmp_path):
    path = tmp_path / "vgg19_notop.weights.h5"
    keras.applications.VGG19(include_top=False, weights=None).save_weights(path)
    from_file = losses.VGGFeatures(weights=str(path))
    reference = keras.applications.VGG19(include_top=False, weights=None)
    reference.load_weights(path)
    np.testing.assert_array_equal(from_file.conv4_4.kernel.numpy(), reference.get_layer("block4_conv4").kernel.numpy())


def test_face_loss_is_zero_for_identical_images_and_grows_with_displacement(vgg, landmarker, shared_images):
    from anime_tf.face.landmarks import part_boxes

    rgb = np.asarray(Image.open(shared_images / "faces" / "portrait_1.jpg").convert("RGB").resize((256, 256)))
    faces = landmarker.detect(rgb)
    boxes = np.array([[box for face in faces for box in part_boxes(face).values()]], np.float32) / 256
    valid = np.ones(boxes.shape[:2], bool)
    photo = tf.constant(rgb[None] / 127.5 - 1.0, tf.float32)
    shifted = [float(losses.face_loss(vgg, photo, tf.roll(photo, shift, axis=2), boxes, valid)[0])
               for shift in (0, 2, 4, 8)]
    assert shifted[0] == 0.0
    assert shifted[1] < shifted[2] < shifted[3]
    # only the parts count: changing the image far from every face leaves the loss at 0
    far = np.array(photo)
    far[0, -20:] = 1.0
    assert float(losses.face_loss(vgg, photo, tf.constant(far), boxes, valid)[0]) == 0.0
    assert float(losses.face_loss(vgg, photo, tf.roll(photo, 8, axis=2), boxes, ~valid)[0]) == 0.0


def test_laplacian_pyramid_bands_add_back_up_to_the_image():
    x = images(2, 32, 32, 3)
    *bands, low = losses.laplacian_pyramid(x, 3)
    assert [b.shape[1] for b in bands] + [low.shape[1]] == [32, 16, 8, 4]
    rebuilt = low
    for band in reversed(bands):
        rebuilt = tf.image.resize(rebuilt, band.shape[1:3], method="bilinear") + band
    np.testing.assert_allclose(rebuilt.numpy(), x.numpy(), atol=1e-5)


def test_pyramid_loss_weighs_lost_detail_above_a_colour_shift_and_block_color_loss_the_reverse(shared_images):
    photo = Image.open(sorted((shared_images / "photos").glob("*.jpg"))[0]).convert("RGB").resize((128, 128))
    start = tf.constant(np.asarray(photo, np.float32)[None] / 127.5 - 1.0)
    blurred = tf.constant(np.asarray(photo.filter(ImageFilter.GaussianBlur(1)), np.float32)[None] / 127.5 - 1.0)
    pixel_error = float(tf.reduce_mean(tf.square(blurred - start)))
    shifted = start + np.sqrt(pixel_error)  # a uniform shift with the blur's mean squared error
    np.testing.assert_allclose(float(tf.reduce_mean(tf.square(shifted - start))), pixel_error, rtol=1e-4)
    np.testing.assert_allclose(losses.pyramid_loss(start, start).numpy(), [0.0], atol=1e-7)
    detail, colour = float(losses.pyramid_loss(start, blurred)[0]), float(losses.pyramid_loss(start, shifted)[0])
    assert colour > 0 and detail > 5 * colour, (detail, colour)
    # block_color_loss is the other way round: colour over areas, not lines.
    np.testing.assert_allclose(losses.block_color_loss(start, start).numpy(), [0.0], atol=1e-7)
    detail, colour = (float(losses.block_color_loss(start, blurred)[0]),
                      float(losses.block_color_loss(start, shifted)[0]))
    assert detail > 0 and colour > 5 * detail, (detail, colour)
