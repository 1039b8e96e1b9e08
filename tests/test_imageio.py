"""Image files as users hand them over: modes, orientation, broken files; atomic writes. No TensorFlow."""
import io
import os
import stat

import numpy as np
import pytest
from PIL import Image

from anime_tf import files, imageio, tiling


def gradient(width=48, height=32):
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // (width - 1), y * 255 // (height - 1), (x + y) % 256], -1).astype(np.uint8)


def test_rgba_is_composited_on_white_and_keeps_its_alpha(tmp_path):
    rgba = np.zeros((32, 48, 4), np.uint8)
    rgba[..., 3] = 0
    rgba[8:24, 8:40] = (200, 10, 10, 255)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    rgb, alpha = imageio.split_alpha(imageio.load_image(tmp_path / "a.png"))
    assert rgb.mode == "RGB"
    assert np.asarray(rgb)[0, 0].tolist() == [255, 255, 255]  # transparent -> white, not black
    assert np.asarray(rgb)[10, 10].tolist() == [200, 10, 10]
    np.testing.assert_array_equal(np.asarray(alpha), rgba[..., 3])


@pytest.mark.parametrize("mode", ["LA", "P", "L", "CMYK", "1", "I;16", "I", "F"])
def test_every_mode_becomes_8_bit_rgb(tmp_path, mode):
    image = Image.fromarray(gradient()).convert(mode if mode not in ("I;16", "I", "F") else "L")
    if mode == "P":
        image = Image.fromarray(gradient()).convert("P")
        image.info["transparency"] = 0
    if mode in ("I;16", "I"):
        image = Image.fromarray(np.asarray(image).astype(np.uint16) * 257)
        image = image if mode == "I;16" else image.convert("I")
    if mode == "F":
        image = Image.fromarray(np.asarray(image).astype(np.float32) / 255.0)
    rgb, alpha = imageio.split_alpha(image)
    assert rgb.mode == "RGB" and rgb.size == (48, 32)
    if mode in ("I;16", "I", "F", "L"):  # wide grayscale is scaled, not clipped to white
        gray = np.asarray(Image.fromarray(gradient()).convert("L")).astype(int)
        assert np.abs(np.asarray(rgb)[..., 0].astype(int) - gray).max() <= 1
    assert (alpha is not None) == (mode in ("LA", "P"))


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    values = (np.linspace(0, 65535, 32 * 48).reshape(32, 48)).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    rgb, _ = imageio.split_alpha(imageio.load_image(tmp_path / "g16.png"))
    gray = np.asarray(rgb)[..., 0]
    assert gray.min() == 0 and gray.max() == 255
    assert 120 <= np.median(gray) <= 135


def test_exif_orientation_is_applied(tmp_path):
    image = Image.fromarray(gradient(48, 32))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    image.save(tmp_path / "rotated.jpg", exif=exif)
    loaded = imageio.load_image(tmp_path / "rotated.jpg")
    assert loaded.size == (32, 48)


@pytest.mark.parametrize("name, content, message", [
    ("empty.jpg", b"", "empty file"),
    ("text.jpg", b"this is not an image", "not an image"),
    ("missing.jpg", None, "no such file"),
])
def test_bad_files_raise_image_error_with_the_reason(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(imageio.ImageError, match=message):
        imageio.load_image(path)


def test_truncated_jpeg_is_reported(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (256, 256, 3), np.uint8)).save(buffer, "JPEG")
    (tmp_path / "cut.jpg").write_bytes(buffer.getvalue()[:3000])
    with pytest.raises(imageio.ImageError, match="truncated or corrupt"):
        imageio.load_image(tmp_path / "cut.jpg")


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    Image.new("1", (15_000, 15_000)).save(tmp_path / "bomb.png")  # 225 MP in a few kB
    assert (tmp_path / "bomb.png").stat().st_size < 100_000
    with pytest.raises(imageio.ImageError, match="bomb.png: refused as a decompression bomb"):
        imageio.load_image(tmp_path / "bomb.png")
    Image.new("L", (400, 300)).save(tmp_path / "fine.png")
    with pytest.raises(imageio.ImageError, match="decompression bomb"):
        imageio.load_image(tmp_path / "fine.png", max_pixels=100_000)


def test_save_keeps_alpha_only_where_the_format_holds_it(tmp_path):
    image = Image.fromarray(np.dstack([gradient(), np.full((32, 48), 128, np.uint8)]), "RGBA")
    assert Image.open(imageio.save_image(image, tmp_path / "o.png")).mode == "RGBA"
    assert Image.open(imageio.save_image(image, tmp_path / "o.jpg")).mode == "RGB"
    with pytest.raises(imageio.ImageError, match="unsupported output format"):
        imageio.save_image(image, tmp_path / "o.xyz")


def test_atomic_path_never_clobbers_and_leaves_nothing_behind(tmp_path):
    dest = tmp_path / "out.png"
    dest.write_bytes(b"precious")
    with pytest.raises(files.OutputExistsError, match="--overwrite"):
        with files.atomic_path(dest) as tmp:
            tmp.write_bytes(b"new")
    assert dest.read_bytes() == b"precious"
    with pytest.raises(RuntimeError):
        with files.atomic_path(dest, overwrite=True) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("writer died")
    assert dest.read_bytes() == b"precious"
    with files.atomic_path(dest, overwrite=True) as tmp:
        tmp.write_bytes(b"new")
    assert dest.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_outputs_get_the_permissions_of_an_ordinary_new_file(tmp_path):
    old_umask = os.umask(0o022)
    try:
        with files.atomic_path(tmp_path / "shared.png") as tmp:
            tmp.write_bytes(b"image")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "shared.png").stat().st_mode) == 0o644  # not mkstemp's 0600


def test_match_brightness_equalizes_mean_luminance():
    original = gradient()
    dark = (original * 0.5).astype(np.uint8)
    matched = imageio.match_brightness(dark, original)
    luma = np.array([0.299, 0.587, 0.114])
    assert abs((matched @ luma).mean() - (original @ luma).mean()) < 1.0


def test_find_images_expands_folders_globs_and_reports_misses(tmp_path):
    (tmp_path / "sub").mkdir()
    for path in [tmp_path / "a.jpg", tmp_path / "b.PNG", tmp_path / "sub" / "c.jpg"]:
        Image.fromarray(gradient()).save(path)
    (tmp_path / "notes.txt").write_text("x")
    pairs, problems = imageio.find_images([str(tmp_path)])
    assert [rel.as_posix() for _, rel in pairs] == ["a.jpg", "b.PNG"]
    pairs, _ = imageio.find_images([str(tmp_path)], recursive=True)
    assert [rel.as_posix() for _, rel in pairs] == ["a.jpg", "b.PNG", "sub/c.jpg"]
    pairs, problems = imageio.find_images([str(tmp_path / "*.jpg"), str(tmp_path / "nope.jpg"),
                                           str(tmp_path / "*.gif")])
    assert [p.name for p, _ in pairs] == ["a.jpg"]
    assert any("nope.jpg: no such file or folder" in p for p in problems)
    assert any("pattern matched no files" in p for p in problems)


def test_tiles_cover_the_image_on_an_aligned_grid():
    boxes = tiling.tile_boxes(1000, 700, 256, 64, align=4)
    covered = np.zeros((1000, 700), bool)
    for top, left, h, w in boxes:
        assert (h, w) == (256, 256) and top % 4 == 0 and left % 4 == 0
        covered[top:top + h, left:left + w] = True
    assert covered.all()
    assert tiling.tile_boxes(100, 80, 256, 64) == [(0, 0, 100, 80)]
    wide = tiling.tile_boxes(300, 900, (256, 384), 32, align=4)  # a fixed-size 384x256 model
    assert {(h, w) for _, _, h, w in wide} == {(256, 384)}
    assert max(t + h for t, _, h, _ in wide) == 300 and max(l + w for _, l, _, w in wide) == 900


def test_feathered_blend_of_consistent_tiles_reproduces_the_image():
    image = np.random.default_rng(0).random((300, 420, 3)).astype(np.float32)
    blender = tiling.TileBlender(300, 420, 3, overlap=48)
    for top, left, h, w in tiling.tile_boxes(300, 420, 128, 48, align=4):
        blender.add((top, left, h, w), image[top:top + h, left:left + w])
    np.testing.assert_allclose(blender.result(), image, atol=1e-5)


def test_feather_weights_hide_a_step_between_tiles():
    blender = tiling.TileBlender(64, 200, 1, overlap=40)
    blender.add((0, 0, 64, 120), np.zeros((64, 120, 1), np.float32))
    blender.add((0, 80, 64, 120), np.ones((64, 120, 1), np.float32))
    row = blender.result()[0, :, 0]
    assert row[0] == 0 and row[-1] == 1
    assert np.abs(np.diff(row)).max() <= 1 / 40 + 1e-6  # a ramp, no visible step
