"""Distilled students: architecture, self-describing weights, the teacher cache, training, export."""
import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from anime_tf import data
from anime_tf.edge import EdgeModel
from anime_tf.export import main as export_main
from anime_tf.models import Generator
from anime_tf.train import teacher as teacher_cache
from anime_tf.train.config import TrainConfig
from anime_tf.train.distill import Distiller
from anime_tf.weights import (ARCHITECTURE_ATTRIBUTE, PARAMETER_COUNT, WeightsError, load_generator,
                              read_architecture, save_generator)

ROOT = Path(__file__).resolve().parents[1]
STUDENT = {"width": 0.25, "blocks": 1}


def built(**architecture):
    generator = Generator(**architecture)
    generator(tf.zeros([1, 32, 32, 3]))
    return generator


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Six smooth synthetic photos of different sizes (no shared data needed)."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(3)
    for i, (w, h) in enumerate([(120, 90), (90, 120), (100, 100), (150, 80), (96, 128), (110, 70)]):
        coarse = rng.uniform(0, 255, (4, 4, 3)).astype(np.uint8)
        Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC).save(folder / f"p{i}.png")
    return folder


def distill_config(photos, model_dir, teacher, **overrides):
    values = {"image_size": 64, "batch_size": 2, "steps_per_epoch": 3, "epochs": 2, "save_every_steps": 3,
              "vgg_weights": "none", **STUDENT, **overrides}
    return TrainConfig.from_preset("hayao", photo_dir=str(photos), model_dir=str(model_dir),
                                   teacher=str(teacher), **values)


def test_students_scale_channels_and_blocks():
    student = built(width=0.5, blocks=2)
    assert [b.conv.filters for b in student.block_a] == [16, 32, 32]
    assert len(student.block_c) == 4 and student.block_c[1].filters == 128
    assert student.count_params() < PARAMETER_COUNT / 3
    x = tf.random.uniform([1, 37, 53, 3], -1, 1)
    assert student(x).shape == x.shape
    assert built().count_params() == PARAMETER_COUNT
    for bad in ({"width": 0}, {"width": 3}, {"blocks": -1}, {"blocks": 1.5}):
        with pytest.raises(ValueError):
            Generator(**bad)


def test_student_weights_say_their_architecture(tmp_path):
    student = built(width=0.375, blocks=2)
    x = tf.random.uniform([1, 48, 40, 3], -1, 1)
    for name in ("student.weights.h5", "student.keras"):
        path = save_generator(student, tmp_path / name)
        loaded = load_generator(path)
        assert loaded.architecture == {"width": 0.375, "blocks": 2}
        np.testing.assert_allclose(loaded(x).numpy(), student(x).numpy(), atol=1e-6)
    assert read_architecture(tmp_path / "student.weights.h5") == {"width": 0.375, "blocks": 2}


def test_weights_without_an_architecture_are_the_official_generator(tmp_path):
    path = tmp_path / "plain.weights.h5"
    built().save_weights(str(path))  # as written before students existed, or by plain Keras
    assert read_architecture(path) == {"width": 1.0, "blocks": 4}
    assert load_generator(path).count_params() == PARAMETER_COUNT
    with h5py.File(path, "a") as file:
        file.attrs[ARCHITECTURE_ATTRIBUTE] = json.dumps({"width": "wide"})
    with pytest.raises(WeightsError, match="unreadable generator architecture"):
        load_generator(path)


def test_teacher_outputs_are_rendered_once_per_photo_and_scale(photos, random_weights, tmp_path, monkeypatch):
    files = data.list_images(photos)[:2]
    pairs = teacher_cache.teacher_pairs(files, random_weights, 64, tmp_path)
    assert len(pairs) == 2 * len(teacher_cache.DISTILL_SCALES)
    for (photo, target), scale in zip(pairs, teacher_cache.DISTILL_SCALES * 2):
        a, b = Image.open(photo), Image.open(target)
        assert a.size == b.size and min(a.size) == round(scale * 64)
    from anime_tf.inference import Stylizer
    expected = Stylizer(random_weights, keep_brightness=False).stylize_array(np.asarray(Image.open(pairs[0][0])))
    np.testing.assert_array_equal(np.asarray(Image.open(pairs[0][1])), expected)  # the stylize code path
    stamps = [os.stat(p).st_mtime_ns for pair in pairs for p in pair]

    def no_rendering(*args, **kwargs):
        raise AssertionError("the teacher ran again")
    monkeypatch.setattr("anime_tf.inference.Stylizer", no_rendering)
    again = teacher_cache.teacher_pairs(files, random_weights, 64, tmp_path)
    assert again == pairs and stamps == [os.stat(p).st_mtime_ns for pair in again for p in pair]
    other = tmp_path / "other.weights.h5"
    other.write_bytes(Path(random_weights).read_bytes() + b"\0")  # another teacher: another folder
    assert teacher_cache.cache_folder(tmp_path, teacher_cache.weights_identity(other), 64) != pairs[0][0].parent


def test_distill_crops_the_photo_and_the_teacher_at_the_same_place(photos, tmp_path):
    files = data.list_images(photos)
    pairs = [(f, f) for f in files]  # a teacher that copies: crops must be equal
    first = [b for _, b in zip(range(3), data.distill_dataset(pairs, 64, 2, seed=4))]
    for photo, target in first:
        assert photo.shape == (2, 64, 64, 3)
        np.testing.assert_array_equal(photo.numpy(), target.numpy())
    resumed = next(iter(data.distill_dataset(pairs, 64, 2, seed=4, start_step=2)))
    np.testing.assert_array_equal(resumed[0].numpy(), first[2][0].numpy())


def test_distillation_learns_the_teacher_and_resumes(photos, random_weights, tmp_path):
    import keras

    keras.utils.set_random_seed(5)
    config = distill_config(photos, tmp_path / "run", random_weights, distill_lr=2e-3)
    pairs = teacher_cache.teacher_pairs(data.list_images(photos), random_weights, 64,
                                        tmp_path / "run" / "teacher_cache")
    batch = next(iter(data.distill_dataset(pairs, 64, 4, seed=9)))

    def gap(generator):
        return float(tf.reduce_mean(tf.abs(generator(batch[0]) - batch[1])))

    distiller = Distiller(config)
    gap_before = gap(distiller.generator)
    assert distiller.fit() == 6
    config.epochs = 12  # more steps, resumed in a fresh distiller from the step-6 checkpoint
    resumed = Distiller(config)
    assert resumed.restore() == 6
    np.testing.assert_array_equal(resumed.generator(batch[0]).numpy(), distiller.generator(batch[0]).numpy())
    assert resumed.fit() == 36
    assert gap(resumed.generator) < 0.75 * gap_before, (gap_before, gap(resumed.generator))
    student = load_generator(tmp_path / "run")  # the run folder, as stylize --weights takes it
    assert student.architecture == {"width": 0.25, "blocks": 1}
    assert (tmp_path / "run" / "logs").is_dir()


def test_student_weights_work_in_stylize_export_and_the_edge_runner(photos, random_weights, tmp_path):
    keras_student = built(width=0.5, blocks=2)
    weights = save_generator(keras_student, tmp_path / "student.weights.h5")
    photo = sorted(photos.iterdir())[0]
    result = subprocess.run([sys.executable, "-m", "anime_tf.cli", "stylize", str(photo), "--weights", str(weights),
                             "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    [written] = (tmp_path / "out").iterdir()
    assert Image.open(written).size == Image.open(photo).size
    out = tmp_path / "student.tflite"
    export_main.export(weights, out, "float32", "64", eval_dir=photos, latency_runs=1)
    assert json.loads((tmp_path / "student.tflite.json").read_text())["generator"] == {"width": 0.5, "blocks": 2}
    report = json.loads((tmp_path / "student.tflite.report.json").read_text())
    assert report["psnr_mean"] > 60  # float32 export of the student equals the student
    model = EdgeModel(out)
    x = np.random.default_rng(1).uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32)
    np.testing.assert_allclose(model(x), keras_student(x).numpy(), atol=1e-4)


def test_train_py_distils_without_a_style_folder_and_says_what_is_missing(photos, random_weights, tmp_path):
    base = [sys.executable, str(ROOT / "train.py"), f"--photo_dir={photos}", f"--model_dir={tmp_path / 'run'}"]
    result = subprocess.run(base, capture_output=True, text=True)
    assert result.returncode == 2 and "--style_dir" in result.stderr and "--teacher" in result.stderr
    result = subprocess.run(base + ["--teacher=" + str(random_weights), "--width=0.25", "--blocks=1",
                                    "--image_size=64", "--teacher_size=80", "--batch_size=2",
                                    "--steps_per_epoch=2", "--epochs=1"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert load_generator(tmp_path / "run").architecture == {"width": 0.25, "blocks": 1}
    [cache] = (tmp_path / "run" / "teacher_cache").iterdir()  # rendered at 80, cropped at 64
    assert cache.name.endswith("-80") and min(Image.open(next(cache.glob("*.s0.photo.png"))).size) == 80
    result = subprocess.run(base + ["--teacher=" + str(random_weights), "--image_size=64", "--teacher_size=48"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "teacher_size" in result.stderr
    result = subprocess.run(base + ["--teacher=" + str(random_weights), "--width=0", "--epochs=1"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "width" in result.stderr


def test_every_optional_teacher_term_is_logged_and_finite(photos, random_weights, tmp_path):
    config = distill_config(photos, tmp_path / "run", random_weights, epochs=1, steps_per_epoch=1,
                            content_weight=0.01, style_weight=0.01, color_weight=1.0, tv_weight=1.0)
    distiller = Distiller(config)
    pairs = teacher_cache.teacher_pairs(data.list_images(photos)[:2], random_weights, 64,
                                        tmp_path / "run" / "teacher_cache")
    batch = next(iter(distiller.strategy.experimental_distribute_dataset(data.distill_dataset(pairs, 64, 2))))
    values = {name: float(value) for name, value in distiller.distill_step(batch).items()}
    terms = ["pixel", "content", "style", "color", "tv"]
    assert set(values) == {f"distill/{t}" for t in terms} | {"distill/total"}
    weights = {"pixel": 1.0, "content": 0.01, "style": 0.01, "color": 1.0, "tv": 1.0}
    assert values["distill/total"] == pytest.approx(sum(w * values[f"distill/{t}"] for t, w in weights.items()),
                                                    rel=1e-5)
    assert all(np.isfinite(v) and v > 0 for v in values.values())
