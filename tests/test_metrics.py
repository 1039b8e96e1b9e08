"""Image metrics: CIELAB conversion and the block colour shift that catches tints PSNR hides."""
import numpy as np
import pytest

from anime_tf.metrics import block_color_shift, psnr, srgb_to_lab


def test_lab_of_known_colours():
    lab = srgb_to_lab(np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0]]], np.uint8))[0]
    np.testing.assert_allclose(lab[0], [100, 0, 0], atol=0.01)
    np.testing.assert_allclose(lab[1], [0, 0, 0], atol=0.01)
    np.testing.assert_allclose(lab[2], [53.24, 80.09, 67.20], atol=0.05)  # sRGB red, D65


def test_lab_agrees_with_opencv():
    cv2 = pytest.importorskip("cv2")
    rgb = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    expected = cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)
    assert np.abs(srgb_to_lab(rgb) - expected).max() < 0.5


def test_a_tint_over_one_region_shows_in_the_block_shift_and_noise_does_not():
    rng = np.random.default_rng(1)
    photo = rng.integers(60, 200, (256, 256, 3)).astype(np.uint8)
    noisy = np.clip(photo + rng.normal(0, 12, photo.shape), 0, 255).astype(np.uint8)
    tinted = photo.copy()
    tinted[:128, :128, 1] += 30  # a greener wall in one quarter
    assert block_color_shift(photo, photo) == 0
    assert block_color_shift(photo, noisy) < 1.5  # zero-mean noise averages out in a block
    assert block_color_shift(photo, tinted) > 15
    assert block_color_shift(photo, tinted, percentile=50) == pytest.approx(0, abs=1e-9)
    assert psnr(photo, tinted) > psnr(photo, noisy)  # PSNR ranks the tint as the smaller error


def test_block_shift_needs_same_size_images_with_a_whole_block():
    with pytest.raises(ValueError, match="differ in size"):
        block_color_shift(np.zeros((64, 64, 3)), np.zeros((64, 65, 3)))
    with pytest.raises(ValueError, match="no 64-pixel block"):
        block_color_shift(np.zeros((32, 200, 3)), np.zeros((32, 200, 3)))
