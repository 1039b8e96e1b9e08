"""`anime-tf stylize` and `anime_tf.Stylizer` on the shared photos, with the bad inputs users hand over."""
import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import anime_tf
from anime_tf.metrics import psnr
from anime_tf.cli import main

LUMA = np.array([0.299, 0.587, 0.114])


@pytest.fixture(scope="module")
def stylizer(hayao_weights):
    return anime_tf.Stylizer(weights=hayao_weights)


def small_copy(src, dest, side=160):
    image = Image.open(src).convert("RGB")
    image.thumbnail((side, side))
    image.save(dest)
    return dest


def test_stylize_a_folder_of_shared_photos(shared_images, hayao_weights, tmp_path):
    photos = sorted((shared_images / "photos").glob("*.jpg"))
    out = tmp_path / "out"
    assert main(["stylize", str(shared_images / "photos"), "--weights", str(hayao_weights),
                 "-o", str(out), "--max-side", "256"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(p.stem + ".png" for p in photos)
    for photo in photos:
        source = Image.open(photo)
        result = Image.open(out / f"{photo.stem}.png")
        assert max(result.size) == 256 and result.mode == "RGB"
        assert abs(result.width / result.height - source.width / source.height) < 0.02
        styled = np.asarray(result).astype(float)
        original = np.asarray(source.convert("RGB").resize(result.size)).astype(float)
        assert styled.std() > 20, "flat output"
        assert np.abs(styled - original).mean() > 8, "output looks like the input"
        assert abs((styled @ LUMA).mean() - (original @ LUMA).mean()) < 3, "brightness not kept"


def test_bad_files_are_reported_and_the_good_ones_still_written(shared_images, hayao_weights, tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    small_copy(shared_images / "photos" / "street_1.jpg", inputs / "good.jpg")
    buffer = io.BytesIO()
    Image.open(shared_images / "photos" / "scene_44.jpg").save(buffer, "JPEG")
    (inputs / "truncated.jpg").write_bytes(buffer.getvalue()[:5000])
    (inputs / "empty.jpg").write_bytes(b"")
    (inputs / "notes.png").write_bytes(b"these are not pixels")
    Image.new("1", (15_000, 15_000)).save(inputs / "bomb.png")
    small_copy(shared_images / "faces" / "portrait_1.jpg", inputs / "z_good.png")
    code = main(["stylize", str(inputs), "--weights", str(hayao_weights), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.png", "z_good.png"]
    for name, reason in [("truncated.jpg", "truncated or corrupt"), ("empty.jpg", "empty file"),
                         ("notes.png", "not an image"), ("bomb.png", "decompression bomb")]:
        assert any(name in line and reason in line for line in err.splitlines()), (name, err)
    assert "wrote 2 of 6 images" in err


def test_existing_outputs_are_kept_unless_overwrite(shared_images, hayao_weights, tmp_path, capsys):
    src = small_copy(shared_images / "photos" / "scene_27.jpg", tmp_path / "scene.jpg")
    out = tmp_path / "out"
    args = ["stylize", str(src), "--weights", str(hayao_weights), "-o", str(out)]
    assert main(args) == 0
    (out / "scene.png").write_bytes(b"mine")
    assert main(args) == 0
    assert (out / "scene.png").read_bytes() == b"mine"
    assert "exists (--overwrite to replace it)" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0
    assert Image.open(out / "scene.png").size == Image.open(src).size
    assert [p.name for p in out.iterdir()] == ["scene.png"]  # no temporary files left


def test_alpha_exif_and_output_format(shared_images, hayao_weights, tmp_path):
    base = Image.open(shared_images / "faces" / "group_classroom.jpg").convert("RGB").resize((120, 80))
    rgba = base.convert("RGBA")
    alpha = np.zeros((80, 120), np.uint8)
    alpha[10:70, 20:100] = 255
    rgba.putalpha(Image.fromarray(alpha))
    rgba.save(tmp_path / "cutout.png")
    exif = Image.Exif()
    exif[0x0112] = 6
    base.save(tmp_path / "rotated.jpg", exif=exif)
    out = tmp_path / "out"
    assert main(["stylize", str(tmp_path / "cutout.png"), str(tmp_path / "rotated.jpg"),
                 "--weights", str(hayao_weights), "-o", str(out)]) == 0
    cutout = Image.open(out / "cutout.png")
    assert cutout.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(cutout)[..., 3], alpha)
    assert Image.open(out / "rotated.png").size == (80, 120)
    assert main(["stylize", str(tmp_path / "cutout.png"), "--weights", str(hayao_weights),
                 "-o", str(out), "--format", "jpg"]) == 0
    assert Image.open(out / "cutout.jpg").format == "JPEG"


def test_brightness_matching_can_be_turned_off(shared_images, hayao_weights, tmp_path):
    src = small_copy(shared_images / "photos" / "scene_0.jpg", tmp_path / "s.jpg", side=256)
    for flag, folder in [("--keep-brightness", "on"), ("--no-keep-brightness", "off")]:
        assert main(["stylize", str(src), "--weights", str(hayao_weights), "-o",
                     str(tmp_path / folder), flag]) == 0
    original = (np.asarray(Image.open(src)).astype(float) @ LUMA).mean()
    on = (np.asarray(Image.open(tmp_path / "on" / "s.png")).astype(float) @ LUMA).mean()
    off = (np.asarray(Image.open(tmp_path / "off" / "s.png")).astype(float) @ LUMA).mean()
    assert abs(on - original) < 1.0
    assert abs(off - original) > 2.0  # the generator's raw output is darker or brighter


def test_unusable_setups_exit_2_with_a_message(shared_images, tmp_path, capsys):
    photo = str(shared_images / "photos" / "scene_2.jpg")
    assert main(["stylize", photo, "--weights", str(tmp_path / "none.weights.h5"), "-o", str(tmp_path)]) == 2
    assert "weights not found" in capsys.readouterr().err
    assert main(["stylize", str(tmp_path / "nothing-here"), "-o", str(tmp_path / "o")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["stylize", photo, "-o", str(tmp_path / "o")]) == 2  # hayao, but offline in tests
    assert "could not download" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["stylize", photo, "--max-side", "-5"])
    assert exit_info.value.code == 2


def test_every_command_has_help():
    for args in [[], ["stylize"], ["import-weights"]]:
        result = subprocess.run([sys.executable, "-m", "anime_tf.cli", *args, "--help"],
                                capture_output=True, text=True, check=True)
        assert "usage: anime-tf" in result.stdout
    stylize_help = subprocess.run([sys.executable, "-m", "anime_tf.cli", "stylize", "--help"],
                                  capture_output=True, text=True).stdout
    for flag in ["--weights", "--style", "--format", "--recursive", "--overwrite", "--max-side",
                 "--tile-size", "--keep-brightness"]:
        assert flag in stylize_help


def test_the_package_and_its_image_code_import_without_tensorflow():
    code = ("import sys, anime_tf, anime_tf.imageio, anime_tf.tiling, anime_tf.files, anime_tf.config;"
            "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_stylizer_api_keeps_size_mode_and_is_reusable(stylizer, shared_images):
    photo = Image.open(shared_images / "faces" / "portrait_3.jpg")
    photo.thumbnail((200, 200))
    first = stylizer.stylize(photo)
    assert first.size == photo.size and first.mode == "RGB"
    rgba = photo.convert("RGBA")
    assert stylizer.stylize(rgba).mode == "RGBA"
    tiny = stylizer.stylize(photo.resize((5, 3)))
    assert tiny.size == (5, 3)
    np.testing.assert_array_equal(np.asarray(stylizer.stylize(photo)), np.asarray(first))


def test_tiled_run_matches_the_whole_image_run(hayao_weights, shared_images, tmp_path):
    """Tiles normalised with the whole image's moments agree with the untiled result."""
    photo = Image.open(shared_images / "photos" / "scene_10.jpg").convert("RGB")
    photo.thumbnail((1024, 1024))
    rgb = np.asarray(photo)
    whole = anime_tf.Stylizer(weights=hayao_weights).stylize_array(rgb)
    tiled_stylizer = anime_tf.Stylizer(weights=hayao_weights, max_whole_pixels=150_000,
                                       tile_size=256, tile_overlap=64)
    tiled = tiled_stylizer.stylize_array(rgb)
    score = psnr(tiled, whole)
    print(f"tiled vs whole: {score:.1f} dB, max difference {np.abs(tiled.astype(int) - whole).max()}")
    Image.fromarray(np.concatenate([whole, tiled], axis=1)).save(tmp_path / "whole_vs_tiled.png")
    assert score >= 36.0


@pytest.mark.slow
def test_a_3840x2160_photo_stylizes_at_full_size(shared_images, hayao_generator, tmp_path):
    import tensorflow as tf

    from anime_tf.models import Generator
    from anime_tf.train.slicing import slice_teacher
    from anime_tf.weights import save_generator

    # A slice of Hayao with a quarter of its FLOPs takes the same path at 4K (moments, tiles,
    # feathering, image I/O) in a fraction of the time; the tiled tests check the pixels.
    student = Generator(width=0.5, blocks=2)
    student(tf.zeros([1, 32, 32, 3]))
    slice_teacher(hayao_generator, student)
    weights = save_generator(student, tmp_path / "student.weights.h5")
    src = shared_images / "photos" / "scene_6.jpg"
    assert Image.open(src).size == (3840, 2160)
    assert main(["stylize", str(src), "--weights", str(weights), "-o", str(tmp_path)]) == 0
    result = Image.open(tmp_path / "scene_6.png")
    assert result.size == (3840, 2160)
    styled = np.asarray(result.resize((960, 540))).astype(float)
    original = np.asarray(Image.open(src).convert("RGB").resize((960, 540))).astype(float)
    assert styled.std() > 20 and np.abs(styled - original).mean() > 8
    # the tiles took the whole photo's tone: its colour is the model's on the whole photo scaled down
    whole = anime_tf.Stylizer(weights=weights).stylize_array(original.astype(np.uint8)).astype(float)
    assert np.abs(styled.mean((0, 1)) - whole.mean((0, 1))).max() < 4


def test_two_inputs_that_would_write_one_output_are_caught(shared_images, hayao_weights, tmp_path, capsys):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        small_copy(shared_images / "photos" / "scene_16.jpg", tmp_path / folder / "same.jpg", side=64)
    code = main(["stylize", str(tmp_path / "a" / "same.jpg"), str(tmp_path / "b" / "same.jpg"),
                 "--weights", str(hayao_weights), "-o", str(tmp_path / "out")])
    assert code == 1
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["same.png"]
    assert "it would write" in capsys.readouterr().err


def test_recursive_keeps_the_folder_structure(shared_images, hayao_weights, tmp_path):
    (tmp_path / "in" / "trip").mkdir(parents=True)
    small_copy(shared_images / "photos" / "scene_19.jpg", tmp_path / "in" / "top.jpg", side=64)
    small_copy(shared_images / "photos" / "scene_23.jpg", tmp_path / "in" / "trip" / "day1.jpg", side=64)
    assert main(["stylize", str(tmp_path / "in"), "--recursive", "--weights", str(hayao_weights),
                 "-o", str(tmp_path / "out")]) == 0
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png"))
    assert written == ["top.png", "trip/day1.png"]
