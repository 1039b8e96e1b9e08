"""Training: data, prepare-style, a smoke run through both phases, resume, NaN, SIGKILL, mirrored."""
import logging
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import anime_tf
from anime_tf import data
from anime_tf.train.config import TrainConfig
from anime_tf.train.loop import Trainer, TrainingDiverged
from anime_tf.train.prepare import edge_smooth, prepare_style

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"image_size": 64, "batch_size": 2, "steps_per_epoch": 4, "vgg_weights": "none"}


@pytest.fixture(scope="module")
def train_data(hayao_tflite, shared_images, tmp_path_factory):
    """Shared photos as photos; the reference model's Hayao outputs of other photos as style frames."""
    from anime_tf.edge import EdgeModel, EdgeStylizer

    root = tmp_path_factory.mktemp("train_data")
    photos, frames = root / "photos", root / "frames"
    photos.mkdir()
    frames.mkdir()
    all_photos = sorted((shared_images / "photos").glob("*.jpg"))
    for path in all_photos[:5]:
        image = Image.open(path).convert("RGB")
        image.thumbnail((160, 160))
        image.save(photos / path.name)
    reference = EdgeStylizer(EdgeModel(hayao_tflite, threads=2))
    for path in all_photos[5:10]:
        reference.stylize(Image.open(path)).save(frames / f"{path.stem}.png")
    written, failed = prepare_style(frames, root / "Hayao", size=128)
    assert (written, failed) == (5, 0)
    return photos, root / "Hayao"


def config_for(train_data, model_dir, **overrides):
    photos, style = train_data
    return TrainConfig.from_preset("hayao", photo_dir=str(photos), style_dir=str(style),
                                   model_dir=str(model_dir), **{**SMALL, **overrides})


def snapshot(model):
    return [v.numpy().copy() for v in model.variables]


def changed(before, model):
    return [not np.array_equal(a, v.numpy()) for a, v in zip(before, model.variables)]


def test_prepare_style_smooths_only_the_edges(train_data):
    _, style = train_data
    for path in sorted((style / "style").iterdir()):
        frame = np.asarray(Image.open(path))
        smooth = np.asarray(Image.open(style / "smooth" / path.name))
        assert min(frame.shape[:2]) == 128
        np.testing.assert_array_equal(smooth, edge_smooth(frame))
        moved = np.any(frame != smooth, axis=-1)
        assert 0.01 < moved.mean() < 0.9


def test_data_errors_and_unreadable_files(tmp_path, caplog):
    with pytest.raises(data.DataError, match="does not exist"):
        data.list_images(tmp_path / "nope", "photo")
    (tmp_path / "empty").mkdir()
    with pytest.raises(data.DataError, match="holds no readable images"):
        data.list_images(tmp_path / "empty", "photo")
    Image.new("RGB", (40, 30), "red").save(tmp_path / "good.png")
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    with caplog.at_level(logging.WARNING):
        assert data.list_images(tmp_path, "photo") == [str(tmp_path / "good.png")]
    assert "bad.jpg" in caplog.text


def test_data_stream_is_deterministic_and_resumable(train_data):
    photos, style = train_data
    files = data.list_images(photos), data.list_images(style / "style"), data.list_images(style / "smooth")
    first = [b for _, b in zip(range(3), data.training_dataset(*files, 64, 2, seed=0))]
    resumed = next(iter(data.training_dataset(*files, 64, 2, seed=0, start_step=2)))
    for a, b in zip(first[2], resumed):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    photo, anime, smooth = first[0]
    assert photo.shape == anime.shape == smooth.shape == (2, 64, 64, 3)
    assert -1.0 <= photo.numpy().min() and photo.numpy().max() <= 1.0
    np.testing.assert_array_equal(smooth[..., 0].numpy(), smooth[..., 2].numpy())  # grayscale


def test_init_steps_lower_the_content_loss(train_data, tmp_path):
    import keras

    keras.utils.set_random_seed(1)  # random VGG and generator: fix them so the test is repeatable
    trainer = Trainer(config_for(train_data, tmp_path / "run", init_lr=1e-3))
    photos = data.list_images(trainer.config.photo_dir)
    batch = next(iter(data.training_dataset(photos, photos, photos, 64, 2, seed=5)))
    step = next(iter(trainer.strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(batch))))
    before = float(trainer.init_step(step)["init/content"])
    for _ in range(24):
        after = float(trainer.init_step(step)["init/content"])
    assert after < 0.9 * before, (before, after)  # measured here: 0.125 -> 0.095


def test_smoke_run_through_both_phases_then_resume(train_data, shared_images, tmp_path):
    config = config_for(train_data, tmp_path / "run", init_epochs=2, epochs=2, save_every_steps=4)
    trainer = Trainer(config)
    g0, d0 = snapshot(trainer.generator), snapshot(trainer.discriminator)
    assert trainer.fit() == 8  # init phase only: 2 epochs of 4 steps
    assert all(changed(g0, trainer.generator)[i] for i, v in enumerate(trainer.generator.variables) if v.trainable)
    assert not any(changed(d0, trainer.discriminator)), "the init phase must not touch D"
    assert int(trainer.g_optimizer.iterations) == int(trainer.d_optimizer.iterations) == 0

    config.epochs = 3  # one adversarial epoch, resumed in a fresh trainer
    trainer = Trainer(config)
    assert trainer.restore() == 8
    g1, d1, init_iterations = snapshot(trainer.generator), snapshot(trainer.discriminator), int(trainer.init_optimizer.iterations)
    assert trainer.fit() == 12
    assert all(changed(d1, trainer.discriminator)[i] for i, v in enumerate(trainer.discriminator.variables) if v.trainable)
    assert any(changed(g1, trainer.generator))
    assert int(trainer.init_optimizer.iterations) == init_iterations  # the init optimizer rests
    assert int(trainer.g_optimizer.iterations) == int(trainer.d_optimizer.iterations) == 4
    assert tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints")).endswith("ckpt-12")

    tags = set()
    for event_file in (tmp_path / "run" / "logs").iterdir():
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            tags.update(value.tag for value in event.summary.value)
    assert {"init/content", "g/total", "g/style", "g/color", "g/tv", "d/total", "photo | generated"} <= tags

    photo = Image.open(shared_images / "photos" / "scene_44.jpg")
    photo.thumbnail((96, 96))
    result = anime_tf.Stylizer(weights=tmp_path / "run").stylize(photo)
    assert result.size == photo.size and np.asarray(result).std() > 1


def test_a_diverging_loss_stops_and_keeps_the_last_good_checkpoint(train_data, tmp_path):
    good = config_for(train_data, tmp_path / "run", init_epochs=1, epochs=1, save_every_steps=2)
    Trainer(good).fit()
    bad = config_for(train_data, tmp_path / "run", init_epochs=1, epochs=2, content_weight=math.nan)
    with pytest.raises(TrainingDiverged, match="became nan at step 5.*step 4"):
        Trainer(bad).fit()
    assert tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints")).endswith("ckpt-4")


def test_train_py_survives_sigkill_and_resumes(train_data, tmp_path):
    photos, style = train_data
    run = tmp_path / "run"
    args = [sys.executable, str(ROOT / "train.py"), f"--photo_dir={photos}", f"--style_dir={style}",
            f"--model_dir={run}", "--image_size=64", "--batch_size=2", "--steps_per_epoch=4",
            "--vgg_weights=none", "--init_epochs=1", "--save_every_steps=2"]
    process = subprocess.Popen(args + ["--epochs=50"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and not (run / "checkpoints" / "ckpt-4.index").exists():
        time.sleep(0.2)
    time.sleep(1.5)  # kill in the middle of later steps, possibly mid-save
    process.send_signal(signal.SIGKILL)
    process.wait()
    latest = tf.train.latest_checkpoint(str(run / "checkpoints"))
    assert latest is not None
    saved_step = int(latest.rsplit("-", 1)[1])
    assert saved_step >= 4 and saved_step % 2 == 0
    finish = saved_step + 2
    result = subprocess.run(args + [f"--epochs={math.ceil(finish / 4)}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"resuming from {latest} at step {saved_step}" in result.stderr
    assert tf.train.latest_checkpoint(str(run / "checkpoints")).endswith(f"ckpt-{math.ceil(finish / 4) * 4}")


MIRRORED = textwrap.dedent("""
    import sys, numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from anime_tf import data
    from anime_tf.train.config import TrainConfig
    from anime_tf.train.loop import Trainer

    photos, style, out = sys.argv[1:4]
    def trainer(strategy, name):
        return Trainer(TrainConfig.from_preset("hayao", photo_dir=photos, style_dir=style,
                       model_dir=f"{out}/{name}", image_size=64, batch_size=4, vgg_weights="none"), strategy)
    one = trainer(tf.distribute.OneDeviceStrategy("/cpu:0"), "one")
    two = trainer(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), "two")
    assert two.strategy.num_replicas_in_sync == 2
    for a, b in ((one.generator, two.generator), (one.discriminator, two.discriminator), (one.vgg, two.vgg)):
        for source, target in zip(a.variables, b.variables):
            target.assign(source.numpy())
    files = [data.list_images(photos), data.list_images(f"{style}/style"), data.list_images(f"{style}/smooth")]
    batch = next(iter(data.training_dataset(*files, 64, 4)))
    dataset = tf.data.Dataset.from_tensor_slices(batch).batch(4)
    for t in (one, two):  # the adversarial step: both networks' gradients reduced across replicas
        step = next(iter(t.strategy.experimental_distribute_dataset(dataset)))
        t.losses = {k: float(v) for k, v in t.gan_step(step).items()}
    worst = 0.0
    for a, b in ((one.generator, two.generator), (one.discriminator, two.discriminator)):
        for x, y in zip(a.variables, b.variables):
            worst = max(worst, float(np.max(np.abs(x.numpy() - y.numpy()))))
    print("max weight difference", worst, one.losses["g/total"], two.losses["g/total"])
    # Adam moves a weight by about its learning rate whatever the gradient's size, so where a gradient
    # is near zero the two reductions' rounding can flip its sign: up to 2 x (2e-4 + 2e-5) apart
    # (1.7e-4 seen on AVX2, under 1e-4 on AVX-512). The losses are the sharper check.
    assert worst < 4.4e-4, worst
    assert abs(one.losses["g/total"] - two.losses["g/total"]) < 1e-3 * abs(one.losses["g/total"])
""")


def test_two_replicas_step_like_one_device_with_the_same_global_batch(train_data, tmp_path):
    photos, style = train_data
    result = subprocess.run([sys.executable, "-c", MIRRORED, str(photos), str(style), str(tmp_path)],
                            capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "max weight difference" in result.stdout


def test_mixed_precision_keeps_layer_norms_in_float32_and_the_global_policy(train_data, tmp_path):
    import keras

    trainer = Trainer(config_for(train_data, tmp_path / "mp", mixed_precision=True, image_size=32))
    assert keras.mixed_precision.global_policy().name == "float32"
    first = trainer.generator.block_a[0]
    assert first.conv.compute_dtype == "bfloat16" and first.norm.compute_dtype == "float32"
    photos = data.list_images(trainer.config.photo_dir)
    batch = next(iter(data.training_dataset(photos, photos, photos, 32, 2)))
    step = next(iter(trainer.strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(batch))))
    values = {k: float(v) for k, v in trainer.gan_step(step).items()}
    assert all(math.isfinite(v) for v in values.values()), values


# --- faces -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def face_photos(shared_images, tmp_path_factory):
    """Three shared face photos and one without faces, small."""
    folder = tmp_path_factory.mktemp("face_photos")
    for name in ("faces/portrait_1.jpg", "faces/group_classroom.jpg", "faces/portrait_2.jpg", "photos/scene_10.jpg"):
        image = Image.open(shared_images / name).convert("RGB")
        image.thumbnail((320, 320))
        image.save(folder / Path(name).name)
    return folder


def test_face_parts_are_found_once_and_cached_beside_the_photos(face_photos, face_model):
    from anime_tf.face.cache import PARTS_PER_PHOTO, default_cache_path, photo_parts
    from anime_tf.face.landmarks import FaceModelError

    files = data.list_images(face_photos)
    cache = default_cache_path(face_photos)
    cache.unlink(missing_ok=True)
    parts = photo_parts(files, cache, face_model, progress=False)
    assert cache.exists()
    by_name = {Path(f).name: boxes for f, boxes in parts.items()}
    assert by_name["scene_10.jpg"] == []
    assert len(by_name["portrait_1.jpg"]) == 8 and len(by_name["group_classroom.jpg"]) == PARTS_PER_PHOTO
    for boxes in by_name.values():
        for x0, y0, x1, y1 in boxes:
            assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
        for face in range(len(boxes) // 4):  # right eye, left eye, nose, mouth
            eye_y = boxes[4 * face][1] + boxes[4 * face][3]
            mouth_y = boxes[4 * face + 3][1] + boxes[4 * face + 3][3]
            assert eye_y < mouth_y
    # reused: no landmarker is needed (a missing model would raise) while nothing changed
    assert photo_parts(files, cache, "/nonexistent/face_landmarker.task", progress=False) == parts
    Image.new("RGB", (64, 64), "gray").save(face_photos / "scene_10.jpg")  # a changed photo is looked at again
    with pytest.raises(FaceModelError, match="face model not found"):
        photo_parts(files, cache, "/nonexistent/face_landmarker.task", progress=False)
    assert photo_parts(files, cache, face_model, progress=False)[files[-1]] == []


def test_without_faces_in_the_photos_face_training_is_off(train_data, face_model, tmp_path, capsys):
    photos, style = train_data  # scenes only
    config = TrainConfig.from_preset("hayao", photo_dir=str(photos), style_dir=str(style),
                                     model_dir=str(tmp_path / "run"), faces=True, face_model=str(face_model),
                                     face_cache=str(tmp_path / "faces.json"), **SMALL)
    assert Trainer(config)._face_parts(data.list_images(photos)) is None
    assert "no faces in the photos: face sampling and the face loss are off" in capsys.readouterr().err


def test_part_boxes_move_with_the_crop_and_flip():
    image = np.zeros((150, 200, 3), np.float32)
    image[30:60, 120:160] = 1.0  # a white part at x 0.6-0.8, y 0.2-0.4
    boxes = tf.constant([[0.6, 0.2, 0.8, 0.4], [0.0, 0.0, 0.0, 0.0]])
    seen_valid = 0
    for k in range(12):
        view, moved, valid = data.random_view(tf.constant(image), 96, tf.constant([3, k], tf.int64), boxes=boxes)
        view, moved, valid = view.numpy(), moved.numpy(), valid.numpy()
        assert not valid[1]  # an empty box never counts
        if valid[0]:
            seen_valid += 1
            x0, y0, x1, y1 = np.round(moved[0] * 96).astype(int)
            assert view[y0 + 2:y1 - 2, x0 + 2:x1 - 2].mean() > 0.95  # the part is where the box says
            outside = np.ones((96, 96), bool)
            outside[max(y0 - 2, 0):y1 + 2, max(x0 - 2, 0):x1 + 2] = False
            assert view[outside].mean() < -0.95
    assert seen_valid >= 3


def test_face_priority_sampling_fills_its_share_of_every_batch(tmp_path):
    files = []
    for i, colour in enumerate(["red"] * 2 + ["blue"] * 6):
        Image.new("RGB", (80, 80), colour).save(tmp_path / f"{i}.png")
        files.append(str(tmp_path / f"{i}.png"))
    boxes = np.tile(np.array([[[0.4, 0.4, 0.6, 0.6]] * 8], np.float32), (8, 1, 1))
    valid = np.zeros((8, 8), bool)
    valid[:2, :4] = True  # the red photos have a face
    assert data.face_batch_split(4, 0.3) == 2 and data.face_batch_split(4, 0.0) == 0
    dataset = data.training_dataset(files, files, files, 32, 4, parts=(boxes, valid), face_share=0.5)
    batches = [b for _, b in zip(range(6), dataset)]
    for photo, anime, smooth, part_boxes, part_valid in batches:
        assert photo.shape == (4, 32, 32, 3) and part_boxes.shape == (4, 8, 4) and part_valid.shape == (4, 8)
        red = photo.numpy()[..., 0].mean(axis=(1, 2)) > 0.5
        assert red[:2].all()  # the face share comes first in every batch
        assert (part_valid.numpy().any(axis=1) == red).all()
    resumed = next(iter(data.training_dataset(files, files, files, 32, 4, start_step=3, parts=(boxes, valid),
                                              face_share=0.5)))
    for a, b in zip(resumed, batches[3]):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_training_with_faces_adds_the_face_loss(train_data, face_photos, face_model, tmp_path, capfd):
    _, style = train_data
    config = TrainConfig.from_preset("hayao", photo_dir=str(face_photos), style_dir=str(style),
                                     model_dir=str(tmp_path / "run"), faces=True, face_model=str(face_model),
                                     face_cache=str(tmp_path / "faces.json"), face_share=0.5,
                                     **{**SMALL, "steps_per_epoch": 2, "init_epochs": 0, "epochs": 1})
    trainer = Trainer(config)
    assert trainer.fit() == 2  # adversarial steps only: the face loss is one of their terms
    err = capfd.readouterr().err
    assert "faces in 3 of 4 photos" in err and (tmp_path / "faces.json").exists()
    assert "face=" in err
    photos = data.list_images(face_photos)
    parts = trainer._face_parts(photos)
    batch = next(iter(data.training_dataset(photos, *(data.list_images(style / d) for d in ("style", "smooth")),
                                            64, 2, parts=parts, face_share=0.5)))
    values = trainer.gan_step(batch)
    assert 0 < float(values["g/face"]) < 10 and math.isfinite(float(values["g/total"]))
    with pytest.raises(ValueError, match="face_share must be between 0 and 1"):
        TrainConfig.from_preset("hayao", photo_dir="p", style_dir="s", model_dir="m", face_share=1.5)


def _free_ports(count):
    import socket

    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_from_tf_config_train_like_one_process(train_data, tmp_path):
    """MultiWorkerMirroredStrategy on localhost: the chief's weights equal a one-process run's."""
    import json

    photos, style = train_data
    flags = ["--photo_dir", str(photos), "--style_dir", str(style), "--image_size", "64", "--batch_size", "2",
             "--steps_per_epoch", "1", "--init_epochs", "1", "--epochs", "2", "--vgg_weights", "none"]
    cluster = {"worker": [f"localhost:{port}" for port in _free_ports(2)]}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    workers = [subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *flags, "--model_dir", str(tmp_path / "multi"),
         "--strategy", "multiworker"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**env, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})})
        for i in range(2)]
    single = subprocess.run([sys.executable, str(ROOT / "train.py"), *flags, "--model_dir", str(tmp_path / "one")],
                            capture_output=True, text=True, env=env, timeout=600)
    results = [worker.communicate(timeout=600) for worker in workers]
    for worker, (_, err) in zip(workers, results):
        assert worker.returncode == 0, err[-3000:]
    assert single.returncode == 0, single.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "multi").iterdir()) == ["checkpoints", "generator.weights.h5", "logs"]
    from anime_tf.weights import load_generator
    multi, one = load_generator(tmp_path / "multi"), load_generator(tmp_path / "one")
    worst = max(float(np.abs(a - b).max()) for a, b in zip(multi.get_weights(), one.get_weights()))
    assert worst < 1e-4, worst
    assert tf.train.latest_checkpoint(tmp_path / "multi" / "checkpoints").endswith("-2")


def test_discriminator_warm_up_trains_d_alone_then_both(train_data, tmp_path):
    config = config_for(train_data, tmp_path / "run", init_epochs=0, epochs=1, steps_per_epoch=3,
                        d_warmup_steps=2, save_every_steps=2)
    trainer = Trainer(config)
    g0, d0 = snapshot(trainer.generator), snapshot(trainer.discriminator)
    config.steps_per_epoch = 2  # only the two warm-up steps
    assert trainer.fit() == 2
    assert not any(changed(g0, trainer.generator)), "the warm-up must hold the generator"
    assert any(changed(d0, trainer.discriminator))
    assert (int(trainer.d_optimizer.iterations), int(trainer.g_optimizer.iterations)) == (2, 0)
    config.steps_per_epoch = 3  # the third step is adversarial: both move
    resumed = Trainer(config)
    assert resumed.fit() == 3
    assert any(changed(g0, resumed.generator))
    assert (int(resumed.d_optimizer.iterations), int(resumed.g_optimizer.iterations)) == (3, 1)


def test_keep_weight_holds_a_fine_tune_near_its_starting_model(train_data, hayao_weights, tmp_path):
    from anime_tf import losses
    from anime_tf.weights import load_generator

    photos = tf.constant(np.stack([np.asarray(Image.open(p).convert("RGB").resize((64, 64)), np.float32)
                                   for p in sorted(train_data[0].glob("*.jpg"))[:2]]) / 127.5 - 1.0)
    start = load_generator(hayao_weights)(photos)
    distance = {}
    for keep in (0.0, 10000.0):
        config = config_for(train_data, tmp_path / f"keep{keep:g}", init_epochs=0, epochs=1, steps_per_epoch=4,
                            init_from=str(hayao_weights), keep_weight=keep, g_lr=1e-4)
        trainer = Trainer(config)
        assert trainer.fit() == 4
        distance[keep] = float(tf.reduce_mean(losses.pyramid_loss(start, trainer.generator(photos))))
    print("distance from the start", distance)
    assert distance[10000.0] < 0.3 * distance[0.0], distance
    with pytest.raises(ValueError, match="init_from"):
        config_for(train_data, tmp_path / "no_start", keep_weight=1.0)
