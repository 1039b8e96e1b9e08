"""The generator's architecture and numerics against the official TF1 definitions."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from anime_tf.models import Generator, LayerNorm
from anime_tf.models import ops as generator_ops
from anime_tf.weights import PARAMETER_COUNT, build_generator, load_generator, save_generator


@pytest.fixture(scope="module")
def generator():
    keras.utils.set_random_seed(0)
    return build_generator()


def random_images(*shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def test_parameter_count_matches_official(generator):
    assert generator.count_params() == PARAMETER_COUNT == 2_143_552


@pytest.mark.parametrize("shape", [(1, 256, 256, 3), (1, 37, 53, 3), (2, 64, 96, 3), (1, 8, 8, 3)])
def test_any_size_in_same_size_out_in_tanh_range(generator, shape):
    out = generator(random_images(*shape)).numpy()
    assert out.shape == shape
    assert np.all(np.abs(out) <= 1.0)
    assert out.std() > 0.01


def test_odd_sizes_are_reflect_padded_to_a_multiple_of_4_and_cropped(generator):
    x = random_images(1, 37, 53, 3)
    padded = np.pad(x, [(0, 0), (0, 3), (0, 3), (0, 0)], mode="reflect")
    np.testing.assert_allclose(generator(x).numpy(), generator(padded).numpy()[:, :37, :53],
                               atol=1e-5)


def test_layer_norm_equals_group_normalization_with_one_group():
    x = random_images(2, 9, 11, 6) * 3 + 0.5
    ours = LayerNorm()
    ours.build(x.shape)
    gamma, beta = np.linspace(0.5, 2, 6), np.linspace(-1, 1, 6)
    ours.gamma.assign(gamma)
    ours.beta.assign(beta)
    keras_norm = keras.layers.GroupNormalization(groups=1, epsilon=1e-12)
    keras_norm.build(x.shape)
    keras_norm.gamma.assign(gamma)
    keras_norm.beta.assign(beta)
    np.testing.assert_allclose(ours(x).numpy(), keras_norm(x).numpy(), atol=1e-5)
    # Statistics span H, W and C, unlike LayerNormalization(axis=-1).
    channel_norm = keras.layers.LayerNormalization(axis=-1, epsilon=1e-12)
    assert np.abs(ours(x).numpy() - channel_norm(x).numpy()).max() > 0.1


def test_resize_is_tf1_legacy_bilinear_not_half_pixel():
    x = np.arange(2 * 3 * 4 * 1, dtype=np.float32).reshape(2, 3, 4, 1) ** 1.5
    out = generator_ops.resize_x2_legacy(x).numpy()
    # TF1 align_corners=False: output pixel i samples input at i / 2 (clamped at the edge).
    rows = np.minimum(np.arange(6) / 2, 2)
    cols = np.minimum(np.arange(8) / 2, 3)
    r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
    r1, c1 = np.minimum(r0 + 1, 2), np.minimum(c0 + 1, 3)
    fr, fc = (rows - r0)[:, None], (cols - c0)[None, :]
    img = x[..., 0]
    expected = (img[:, r0][:, :, c0] * (1 - fr) * (1 - fc) + img[:, r0][:, :, c1] * (1 - fr) * fc
                + img[:, r1][:, :, c0] * fr * (1 - fc) + img[:, r1][:, :, c1] * fr * fc)
    np.testing.assert_allclose(out[..., 0], expected, rtol=1e-5)
    half_pixel = tf.image.resize(x, (6, 8), method="bilinear").numpy()
    assert np.abs(out - half_pixel).max() > 0.5


def test_padding_follows_the_official_conv_helper():
    assert generator_ops.conv_padding(7, 1) == (3, 3, 3, 3)
    assert generator_ops.conv_padding(3, 1) == (1, 1, 1, 1)
    assert generator_ops.conv_padding(3, 2) == (0, 1, 0, 1)
    x = random_images(1, 5, 6, 2)
    padded = generator_ops.reflect_pad(x, 0, 1, 0, 1).numpy()
    assert padded.shape == (1, 6, 7, 2)
    np.testing.assert_array_equal(padded[:, 5, :6], x[:, 3])  # REFLECT mirrors without the edge row
    np.testing.assert_array_equal(padded[:, :5, 6], x[:, :, 4])


@pytest.mark.parametrize("padding", [(1, 1, 1, 1), (3, 3, 3, 3), (0, 1, 0, 1), (0, 3, 0, 2)])
def test_both_reflect_paddings_equal_tf_pad_reflect(padding):
    x = random_images(2, 9, 11, 5)
    top, bottom, left, right = padding
    expected = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]], mode="REFLECT").numpy()
    np.testing.assert_array_equal(generator_ops.reflect_pad(x, *padding).numpy(), expected)
    np.testing.assert_array_equal(generator_ops.reflect_pad_gather(x, *padding).numpy(), expected)
    dynamic = tf.function(lambda x: generator_ops.reflect_pad_gather(x, *padding),
                          input_signature=[tf.TensorSpec([None, None, None, 5])])
    np.testing.assert_array_equal(dynamic(x).numpy(), expected)


@pytest.mark.parametrize("batch", [1, 2])
def test_moments_of_every_op_set_agree(batch):
    x = random_images(batch, 33, 20, 7) * 2 + 0.7
    expected = [m.numpy() for m in generator_ops.two_pass_moments(x)]
    assert expected[0].shape == expected[1].shape == (batch, 1, 1, 1)
    for moments in (generator_ops.one_pass_moments, generator_ops.single_image_moments):
        for got, want in zip(moments(x), expected):
            assert got.shape == want.shape
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)


@pytest.mark.parametrize("shape", [(1, 64, 48, 3), (2, 36, 44, 3)])
def test_training_inference_and_export_ops_give_the_same_image(generator, shape):
    """Each op set is faster somewhere; none may change the picture."""
    x = random_images(*shape)
    official = generator(x, training=True).numpy()
    np.testing.assert_allclose(generator(x).numpy(), official, atol=2e-5)
    any_size = tf.function(generator.__call__, input_signature=[tf.TensorSpec([None, None, None, 3])])
    np.testing.assert_allclose(any_size(x).numpy(), official, atol=2e-5)
    np.testing.assert_allclose(any_size(x[:, :-1, :-3]).numpy(),
                               generator(x[:, :-1, :-3], training=True).numpy(), atol=2e-5)
    for export_format in ("tflite", "onnx"):
        exported = Generator(export_format=export_format)
        exported(x[:1])
        exported.set_weights(generator.get_weights())
        np.testing.assert_allclose(exported(x).numpy(), official, atol=2e-5, err_msg=export_format)
        np.testing.assert_allclose(exported(x[:, :-1, :-3]).numpy(), any_size(x[:, :-1, :-3]).numpy(),
                                   atol=2e-5, err_msg=export_format)


def test_keras_files_saved_before_export_formats_still_load():
    """.keras configs from before ONNX export say `for_tflite`; they build the same generator."""
    old = Generator.from_config({"name": "generator", "trainable": True, "for_tflite": True, "width": 0.5,
                                 "blocks": 2})
    assert old.export_format == "tflite" and old.architecture == {"width": 0.5, "blocks": 2}
    assert Generator.from_config(old.get_config()).export_format == "tflite"
    with pytest.raises(ValueError, match="export_format must be one of tflite, onnx"):
        Generator(export_format="coreml")


def test_given_moments_replace_the_inputs_own(generator):
    x = random_images(1, 64, 64, 3)
    moments = generator.norm_moments(x)
    assert len(moments) == 24  # one per layer norm of the official graph
    np.testing.assert_allclose(generator(x, norm_moments=moments).numpy(), generator(x).numpy(),
                               atol=1e-6)
    other = generator.norm_moments(random_images(1, 64, 64, 3, seed=1) * 0.3)
    assert np.abs(generator(x, norm_moments=other).numpy() - generator(x).numpy()).max() > 0.05


@pytest.mark.parametrize("name", ["g.weights.h5", "g.keras"])
def test_keras_formats_round_trip_exactly(generator, tmp_path, name):
    path = save_generator(generator, tmp_path / name)
    loaded = load_generator(path)
    assert isinstance(loaded, Generator)
    x = random_images(1, 40, 48, 3)
    np.testing.assert_array_equal(loaded(x).numpy(), generator(x).numpy())
