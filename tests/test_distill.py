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
from anime_tf.models.generator import ForwardPass
from anime_tf.train import teacher as teacher_cache
from anime_tf.train.config import TrainConfig
from anime_tf.train.features import FeatureMaps
from anime_tf.train.loop import Trainer
from anime_tf.train.slicing import channel_importance, kept_channels, slice_teacher
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


def is_crop_of(view, image):
    """Whether `view` is a crop of `image` somewhere."""
    h, w = view.shape[:2]
    return any(np.array_equal(image[y:y + h, x:x + w], view)
               for y in range(image.shape[0] - h + 1) for x in range(image.shape[1] - w + 1))


def test_the_teacher_renders_each_view_itself_once(photos, random_weights, tmp_path, monkeypatch):
    files = data.list_images(photos)[:2]
    views = teacher_cache.views_per_scale(64, 48)
    pairs = teacher_cache.teacher_pairs(files, random_weights, 64, tmp_path, crop=48)
    assert views == 4 and len(pairs) == 2 * len(teacher_cache.DISTILL_SCALES) * views
    from anime_tf.inference import Stylizer
    teacher = Stylizer(random_weights, keep_brightness=False)
    for index, (photo, target) in enumerate(pairs):
        view = np.asarray(Image.open(photo))
        assert view.shape == (48, 48, 3)
        # the target is the teacher's output on exactly this view (the stylize code path), not a crop of a larger one
        np.testing.assert_array_equal(np.asarray(Image.open(target)), teacher.stylize_array(view))
        scale = teacher_cache.DISTILL_SCALES[index // views % len(teacher_cache.DISTILL_SCALES)]
        scaled = teacher_cache.scaled_photo(files[index // (views * len(teacher_cache.DISTILL_SCALES))],
                                            round(scale * 64))
        mirrored = index % views % 2 == 1
        assert is_crop_of(view[:, ::-1] if mirrored else view, scaled)
    first_views = [np.asarray(Image.open(photo)) for photo, _ in pairs[:views]]
    assert not np.array_equal(first_views[0], first_views[2])  # views differ in place
    stamps = [os.stat(p).st_mtime_ns for pair in pairs for p in pair]

    def no_rendering(*args, **kwargs):
        raise AssertionError("the teacher ran again")
    monkeypatch.setattr("anime_tf.inference.Stylizer", no_rendering)
    again = teacher_cache.teacher_pairs(files, random_weights, 64, tmp_path, crop=48)
    assert again == pairs and stamps == [os.stat(p).st_mtime_ns for pair in again for p in pair]
    other = tmp_path / "other.weights.h5"
    other.write_bytes(Path(random_weights).read_bytes() + b"\0")  # another teacher: another folder
    assert teacher_cache.cache_folder(tmp_path, teacher_cache.weights_identity(other), 64, 48) != pairs[0][0].parent
    with pytest.raises(ValueError, match="must fit"):
        teacher_cache.teacher_pairs(files, random_weights, 64, tmp_path, crop=80)


def test_context_views_are_rendered_with_the_moments_of_the_place_at_twice_the_scale(photos, random_weights,
                                                                                    tmp_path):
    from anime_tf.inference import Stylizer

    files = data.list_images(photos)[:1]
    pairs = teacher_cache.teacher_pairs(files, random_weights, 64, tmp_path, crop=48, context=True)
    assert len(pairs) == len(teacher_cache.DISTILL_SCALES) * 4 and all(len(p) == 3 for p in pairs)
    assert pairs[0][0].parent.name.endswith("-context")  # never mixed with a cache of plain views
    teacher = Stylizer(random_weights, keep_brightness=False)
    with_context = 0
    for index, (photo, target, context) in enumerate(pairs):
        view, target, picture = (np.asarray(Image.open(p)).astype(int) for p in (photo, target, context))
        scale_index, view_index = divmod(index, 4)
        own = teacher.stylize_array(view.astype(np.uint8)).astype(int)
        if teacher_cache.uses_context(scale_index, view_index):
            with_context += 1
            larger = teacher_cache.scaled_photo(files[0], round(teacher_cache.DISTILL_SCALES[scale_index] * 64))
            larger = np.asarray(Image.fromarray(larger).resize(
                [round(2 * n) for n in larger.shape[1::-1]], Image.Resampling.LANCZOS))
            assert is_crop_of(picture[:, ::-1] if view_index % 2 else picture, larger)
            assert np.abs(target - own).mean() > 1  # the context's moments changed the teacher's answer
            expected = teacher_cache.rendered_with_context(teacher, view.astype(np.uint8), picture.astype(np.uint8))
            np.testing.assert_array_equal(target, expected)
        else:
            np.testing.assert_array_equal(picture, view)
            assert np.abs(target - own).max() <= 1  # its own moments: what stylize makes of it
    assert with_context == len(pairs) // 2


@pytest.mark.slow
def test_a_student_trains_on_context_views(photos, random_weights, tmp_path):
    config = distill_config(photos, tmp_path / "run", random_weights, context_views=True)
    trainer = Trainer(config)
    assert trainer.fit() == 6
    assert any(p.name.endswith(".context.png") for p in (tmp_path / "run" / "teacher_cache").rglob("*.png"))
    photo, teacher, context = next(iter(data.distill_dataset(
        teacher_cache.teacher_pairs(data.list_images(photos), random_weights, 64, tmp_path / "run" / "teacher_cache",
                                    context=True), 64, 8)))
    student, own = trainer.task.student(photo, (context,)).numpy(), trainer.generator(photo).numpy()
    for i, differs in enumerate(np.abs((photo - context).numpy()).max(axis=(1, 2, 3)) > 0):
        # a context changes the student's answer; the view as its own context is its plain output
        assert np.abs(student[i] - own[i]).max() > 1e-3 if differs else np.allclose(student[i], own[i], atol=1e-4)


def test_distill_batches_keep_each_view_with_its_target_unchanged(tmp_path):
    rng = np.random.default_rng(0)
    pairs = []
    for k in range(3):
        photo, target = tmp_path / f"{k}.photo.png", tmp_path / f"{k}.teacher.png"
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(photo)
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(target)
        pairs.append((photo, target))
    expected = {np.asarray(Image.open(p)).tobytes(): np.asarray(Image.open(t)) for p, t in pairs}
    first = [b for _, b in zip(range(3), data.distill_dataset(pairs, 64, 2, seed=4))]
    for photos, targets in first:
        assert photos.shape == (2, 64, 64, 3)
        for photo, target in zip(photos.numpy(), targets.numpy()):
            photo = np.round((photo + 1) * 127.5).astype(np.uint8)
            # neither cropped nor mirrored: exactly a cached view, next to that view's own target
            np.testing.assert_array_equal(np.round((target + 1) * 127.5), expected[photo.tobytes()])
    resumed = next(iter(data.distill_dataset(pairs, 64, 2, seed=4, start_step=2)))
    np.testing.assert_array_equal(resumed[0].numpy(), first[2][0].numpy())


@pytest.mark.slow
def test_distillation_learns_the_teacher_and_resumes(photos, random_weights, tmp_path):
    import keras

    keras.utils.set_random_seed(5)
    config = distill_config(photos, tmp_path / "run", random_weights, distill_lr=2e-3)
    pairs = teacher_cache.teacher_pairs(data.list_images(photos), random_weights, 64,
                                        tmp_path / "run" / "teacher_cache")
    batch = next(iter(data.distill_dataset(pairs, 64, 4, seed=9)))

    def gap(generator):
        return float(tf.reduce_mean(tf.abs(generator(batch[0]) - batch[1])))

    distiller = Trainer(config)
    gap_before = gap(distiller.generator)
    assert distiller.fit() == 6
    config.epochs = 12  # more steps, resumed in a fresh distiller from the step-6 checkpoint
    resumed = Trainer(config)
    assert resumed.restore() == 6
    latest = tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints"))
    assert {"step", "generator", "optimizer"} <= {name.split("/")[0] for name, _ in tf.train.list_variables(latest)}
    np.testing.assert_array_equal(resumed.generator(batch[0]).numpy(), distiller.generator(batch[0]).numpy())
    assert resumed.fit() == 36
    assert gap(resumed.generator) < 0.75 * gap_before, (gap_before, gap(resumed.generator))
    student = load_generator(tmp_path / "run")  # the run folder, as stylize --weights takes it
    assert student.architecture == {"width": 0.25, "blocks": 1}
    assert (tmp_path / "run" / "logs").is_dir()


@pytest.mark.slow
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


@pytest.mark.slow
def test_train_py_distils_without_a_style_folder_and_says_what_is_missing(photos, random_weights, tmp_path):
    base = [sys.executable, str(ROOT / "train.py"), f"--photo_dir={photos}", f"--model_dir={tmp_path / 'run'}"]
    result = subprocess.run(base, capture_output=True, text=True)
    assert result.returncode == 2 and "--style_dir" in result.stderr and "--teacher" in result.stderr
    result = subprocess.run(base + ["--teacher=" + str(random_weights), "--width=0.25", "--blocks=1",
                                    "--image_size=64", "--teacher_size=80", "--batch_size=2",
                                    "--steps_per_epoch=2", "--epochs=1"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert load_generator(tmp_path / "run").architecture == {"width": 0.25, "blocks": 1}
    [cache] = (tmp_path / "run" / "teacher_cache").iterdir()  # views of 64 from photos scaled to 80
    assert cache.name.endswith("-80-64") and Image.open(next(cache.glob("*.s0.v0.photo.png"))).size == (64, 64)
    result = subprocess.run(base + ["--teacher=" + str(random_weights), "--image_size=64", "--teacher_size=48"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "teacher_size" in result.stderr
    result = subprocess.run(base + ["--teacher=" + str(random_weights), "--width=0", "--epochs=1"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "width" in result.stderr


def test_every_optional_teacher_term_is_logged_and_finite(photos, random_weights, tmp_path):
    config = distill_config(photos, tmp_path / "run", random_weights, epochs=1, steps_per_epoch=1,
                            content_weight=0.01, style_weight=0.01, color_weight=1.0, tv_weight=1.0,
                            pyramid_weight=0.5, block_color_weight=2.0)
    distiller = Trainer(config)
    pairs = teacher_cache.teacher_pairs(data.list_images(photos)[:2], random_weights, 64,
                                        tmp_path / "run" / "teacher_cache")
    batch = next(iter(distiller.strategy.experimental_distribute_dataset(data.distill_dataset(pairs, 64, 2))))
    values = {name: float(value) for name, value in distiller.task.distill_step(batch).items()}
    terms = ["pixel", "pyramid", "block_color", "content", "style", "color", "tv"]
    assert set(values) == {f"distill/{t}" for t in terms} | {"distill/total"}
    weights = {"pixel": 1.0, "pyramid": 0.5, "block_color": 2.0, "content": 0.01, "style": 0.01, "color": 1.0, "tv": 1.0}
    assert values["distill/total"] == pytest.approx(sum(w * values[f"distill/{t}"] for t, w in weights.items()),
                                                    rel=1e-5)
    assert all(np.isfinite(v) and v > 0 for v in values.values())


def test_a_whole_slice_is_the_teacher_and_fewer_blocks_keep_the_first_ones():
    teacher = built()
    x = tf.random.uniform([1, 48, 48, 3], -1, 1)
    np.testing.assert_array_equal(slice_teacher(teacher, built())(x).numpy(), teacher(x).numpy())
    shorter = slice_teacher(teacher, built(blocks=2))
    for name in ("A1", "C_r1", "C_r2", "C2", "E3"):
        for mine, theirs in zip(shorter.get_layer(name).weights, teacher.get_layer(name).weights):
            np.testing.assert_array_equal(mine.numpy(), theirs.numpy())


def test_a_narrow_slice_keeps_the_teachers_most_important_channels():
    teacher = built()
    gamma = teacher.get_layer("A1").norm.gamma
    loud, quiet = 5, 6
    gamma.assign(tf.tensor_scatter_nd_update(gamma, [[loud], [quiet]], [50.0, 0.0]))
    teacher.get_layer("A1").norm.beta.assign(tf.zeros_like(gamma))
    student = slice_teacher(teacher, built(width=0.5, blocks=2))
    kept = kept_channels(teacher, student)
    assert loud in kept["A1"] and quiet not in kept["A1"] and len(kept["A1"]) == 16
    scores = channel_importance(teacher)["stream"]
    assert scores[kept["stream"]].min() >= np.delete(scores, kept["stream"]).max()
    np.testing.assert_array_equal(student.get_layer("A1").conv.kernel.numpy(),
                                  teacher.get_layer("A1").conv.kernel.numpy()[..., kept["A1"]])
    # every block reads and writes the same stream channels of the teacher
    np.testing.assert_array_equal(
        student.get_layer("C_r2").expand.conv.kernel.numpy(),
        teacher.get_layer("C_r2").expand.conv.kernel.numpy()[:, :, kept["stream"]][..., kept["C_r2/hidden"]])
    np.testing.assert_array_equal(student.get_layer("C2").conv.kernel.numpy(),
                                  teacher.get_layer("C2").conv.kernel.numpy()[:, :, kept["stream"]][..., kept["C2"]])
    for bad in (built(width=0.5, blocks=0), built(width=1.25, blocks=1)):
        with pytest.raises(ValueError, match="slice"):
            slice_teacher(teacher, bad)


def test_a_new_run_starts_from_a_slice_of_the_teacher_unless_told_otherwise(photos, random_weights, tmp_path):
    expected = slice_teacher(load_generator(random_weights), built(**STUDENT))
    x = tf.random.uniform([1, 32, 32, 3], -1, 1)
    sliced = Trainer(distill_config(photos, tmp_path / "a", random_weights))
    assert sliced.restore() == 0
    np.testing.assert_array_equal(sliced.generator(x).numpy(), expected(x).numpy())
    random = Trainer(distill_config(photos, tmp_path / "b", random_weights, student_init="random"))
    random.restore()
    assert not np.allclose(random.generator(x).numpy(), expected(x).numpy(), atol=1e-3)
    with pytest.raises(ValueError, match="student_init"):
        distill_config(photos, tmp_path / "c", random_weights, student_init="teacher")


def test_init_from_a_wider_student_starts_from_its_slice(photos, random_weights, tmp_path):
    wider = slice_teacher(load_generator(random_weights), built(width=0.5, blocks=2))
    wider_file = tmp_path / "wider.weights.h5"
    save_generator(wider, wider_file)
    x = tf.random.uniform([1, 32, 32, 3], -1, 1)
    run = Trainer(distill_config(photos, tmp_path / "run", random_weights, init_from=str(wider_file)))
    run.restore()
    np.testing.assert_array_equal(run.generator(x).numpy(), slice_teacher(wider, built(**STUDENT))(x).numpy())
    # the same architecture is copied as it is, not re-sliced from the teacher
    same = Trainer(distill_config(photos, tmp_path / "same", random_weights, init_from=str(wider_file),
                                  width=0.5, blocks=2))
    same.restore()
    np.testing.assert_array_equal(same.generator(x).numpy(), wider(x).numpy())


def test_feature_taps_are_the_ends_of_the_stages_of_the_same_pass():
    student = built(**STUDENT)
    x = tf.random.uniform([2, 64, 64, 3], -1, 1)
    output, taps = student.features(x)
    np.testing.assert_allclose(output.numpy(), student(x).numpy(), atol=1e-6)
    assert [tuple(t.shape[1:3]) for t in taps] == [(16, 16), (16, 16), (32, 32), (64, 64)]
    assert [t.shape[-1] for t in taps] == [student.get_layer(n).filters for n in ("B2", "C2", "D2", "E2")]
    after = tf.tanh(student.out_conv(student.get_layer("E3")(taps[-1], forward=ForwardPass(student.ops()))))
    np.testing.assert_allclose(after.numpy(), output.numpy(), atol=1e-5)  # E2's activations feed the rest


def test_feature_maps_start_as_the_least_squares_map():
    rng = np.random.default_rng(0)
    student_taps = [rng.normal(size=(2, 8, 8, 4)).astype(np.float32) for _ in range(2)]
    truth = [(rng.normal(size=(4, 6)), rng.normal(size=6)) for _ in range(2)]
    teacher_taps = [s @ w + b for s, (w, b) in zip(student_taps, truth)]
    maps = FeatureMaps([4, 4], [6, 6])
    maps.fit(student_taps, teacher_taps)
    for mapped, wanted in zip(maps([tf.constant(s) for s in student_taps]), teacher_taps):
        np.testing.assert_allclose(mapped.numpy(), wanted, rtol=1e-2, atol=2e-2)  # ridge: near, not exact


@pytest.mark.slow
def test_feature_distillation_fits_its_maps_logs_its_term_and_resumes_them(photos, random_weights, tmp_path):
    config = distill_config(photos, tmp_path / "run", random_weights, feature_weight=0.5, epochs=1)
    trainer = Trainer(config)
    assert trainer.restore() == 0
    dataset, samples = trainer.task.inputs(data.list_images(photos), 0)
    photo, teacher, *context = samples
    fitted = trainer.task.maps.variables[0].numpy().copy()
    taps = trainer.task.teacher_taps(photo, context)
    _, student_taps = trainer.generator.features(photo)
    fitted_loss = float(tf.reduce_mean(trainer.task.distill_terms(
        teacher, trainer.generator(photo), taps=(taps, student_taps))["features"][1]))
    for conv in trainer.task.maps.convs:  # against a random map of the same shapes
        conv.kernel.assign(tf.random.normal(conv.kernel.shape, stddev=0.1))
    random_loss = float(tf.reduce_mean(trainer.task.distill_terms(
        teacher, trainer.generator(photo), taps=(taps, student_taps))["features"][1]))
    assert fitted_loss < 0.8 * random_loss, (fitted_loss, random_loss)

    run = Trainer(config)
    assert run.fit() == 3
    latest = tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints"))
    assert "feature_maps" in {name.split("/")[0] for name, _ in tf.train.list_variables(latest)}
    assert not np.array_equal(run.task.maps.variables[0].numpy(), fitted)  # trained with the student
    resumed = Trainer(config)
    assert resumed.restore() == 3
    for mine, theirs in zip(resumed.task.maps.variables, run.task.maps.variables):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    batch = next(iter(trainer.strategy.experimental_distribute_dataset(dataset)))
    values = resumed.task.distill_step(batch)
    assert np.isfinite(float(values["distill/features"])) and float(values["distill/features"]) > 0
    # the exported generator is a plain student: no maps in it
    assert load_generator(tmp_path / "run").architecture == {"width": 0.25, "blocks": 1}
