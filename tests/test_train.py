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
from anime_tf.errors import ConfigError
from anime_tf.weights import WeightsError
from anime_tf.train.loop import Trainer, TrainingDiverged
from anime_tf.train.prepare import edge_smooth

from training import changed, config_for, snapshot

ROOT = Path(__file__).resolve().parents[1]


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


def test_view_size_sets_the_scale_crops_are_cut_at(tmp_path):
    """A 32 px crop with view_size 128 sees stripes as wide as a 128 px crop does: 4x what view_size 32 gives."""
    image = np.zeros((200, 200, 3), np.float32)
    for left in range(0, 200, 40):
        image[:, left:left + 20] = 1.0  # stripes 20 px wide, 40 px apart

    def edges_seen(view_size):
        view = data.random_view(tf.constant(image), 32, tf.constant([1, 2], tf.int64), view_size=view_size)
        columns = view.numpy()[..., 0].mean(axis=0)
        return int(np.count_nonzero(np.diff(np.sign(columns))))

    assert edges_seen(32) >= 6  # stripes 6-8 px apart
    assert edges_seen(128) <= 3  # stripes 26-32 px apart, as a 128 px crop sees them
    with pytest.raises(ConfigError, match="view_size"):
        config_for((tmp_path / "photos", tmp_path / "style"), tmp_path / "run", image_size=64, view_size=32)


def test_init_steps_lower_the_content_loss(train_data, tmp_path):
    import keras

    keras.utils.set_random_seed(1)  # random VGG and generator: fix them so the test is repeatable
    trainer = Trainer(config_for(train_data, tmp_path / "run", init_lr=1e-3))
    photos = data.list_images(trainer.config.photo_dir)
    batch = next(iter(data.training_dataset(photos, photos, photos, 64, 2, seed=5)))
    step = next(iter(trainer.strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(batch))))
    before = float(trainer.task.init_step(step)["init/content"])
    for _ in range(24):
        after = float(trainer.task.init_step(step)["init/content"])
    assert after < 0.9 * before, (before, after)  # measured here: 0.125 -> 0.095


@pytest.mark.slow
def test_smoke_run_through_both_phases_then_resume(train_data, shared_images, tmp_path):
    config = config_for(train_data, tmp_path / "run", init_epochs=2, epochs=2, save_every_steps=4)
    trainer = Trainer(config)
    g0, d0 = snapshot(trainer.generator), snapshot(trainer.task.discriminator)
    assert trainer.fit() == 8  # init phase only: 2 epochs of 4 steps
    assert all(changed(g0, trainer.generator)[i] for i, v in enumerate(trainer.generator.variables) if v.trainable)
    assert not any(changed(d0, trainer.task.discriminator)), "the init phase must not touch D"
    assert int(trainer.task.g_optimizer.iterations) == int(trainer.task.d_optimizer.iterations) == 0

    g_saved = snapshot(trainer.generator)

    config.epochs = 3  # one adversarial epoch, resumed in a fresh trainer
    trainer = Trainer(config)
    assert trainer.restore() == 8
    task = trainer.task
    g1, d1 = snapshot(trainer.generator), snapshot(task.discriminator)
    assert not any(changed(g_saved, trainer.generator)), "resume must restore every generator weight"
    init_iterations = int(task.init_optimizer.iterations)
    assert trainer.fit() == 12
    assert all(changed(d1, task.discriminator)[i] for i, v in enumerate(task.discriminator.variables) if v.trainable)
    assert any(changed(g1, trainer.generator))
    assert int(trainer.task.init_optimizer.iterations) == init_iterations  # the init optimizer rests
    assert int(trainer.task.g_optimizer.iterations) == int(trainer.task.d_optimizer.iterations) == 4
    latest = tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints"))
    assert latest.endswith("ckpt-12")
    saved = {name.split("/")[0] for name, _ in tf.train.list_variables(latest)}
    assert {"step", "generator", "discriminator", "init_optimizer", "g_optimizer", "d_optimizer"} <= saved
    d_saved = snapshot(task.discriminator)
    resumed = Trainer(config)
    assert resumed.restore() == 12
    assert not any(changed(d_saved, resumed.task.discriminator)), "resume must restore every discriminator weight"

    # The exported pair (what a user commits) starts a new run where this one stopped, no optimizer needed.
    run = tmp_path / "run"
    carried = Trainer(config_for(train_data, tmp_path / "next", init_from=str(run / "generator.weights.h5"),
                                 init_discriminator_from=str(run / "discriminator.weights.h5")))
    assert carried.restore() == 0
    assert not any(changed(snapshot(resumed.generator), carried.generator))
    assert not any(changed(d_saved, carried.task.discriminator))
    with pytest.raises(WeightsError, match="not discriminator weights"):
        Trainer(config_for(train_data, tmp_path / "bad", init_discriminator_from=str(run / "generator.weights.h5"))
                ).restore()

    tags = set()
    for event_file in (tmp_path / "run" / "logs").iterdir():
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            tags.update(value.tag for value in event.summary.value)
    assert {"init/content", "g/total", "g/style", "g/color", "g/tv", "d/total", "photo | generated"} <= tags

    photo = Image.open(shared_images / "photos" / "scene_44.jpg")
    photo.thumbnail((96, 96))
    result = anime_tf.Stylizer(weights=tmp_path / "run").stylize(photo)
    assert result.size == photo.size and np.asarray(result).std() > 1


def test_a_checkpoint_missing_weights_is_refused_not_half_restored(train_data, tmp_path):
    trainer = Trainer(config_for(train_data, tmp_path / "run"))
    # The layout runs saved before December 2026: the Keras model object, whose listed layers were skipped.
    tf.train.Checkpoint(step=trainer.step, generator=trainer.generator).save(tmp_path / "run" / "checkpoints" / "ckpt")
    with pytest.raises(ConfigError, match="--init_from .*generator.weights.h5"):
        trainer.restore()


@pytest.mark.slow
def test_a_diverging_loss_stops_and_keeps_the_last_good_checkpoint(train_data, tmp_path):
    good = config_for(train_data, tmp_path / "run", init_epochs=1, epochs=1, save_every_steps=2)
    Trainer(good).fit()
    bad = config_for(train_data, tmp_path / "run", init_epochs=1, epochs=2, content_weight=math.nan)
    with pytest.raises(TrainingDiverged, match="became nan at step 5.*step 4"):
        Trainer(bad).fit()
    assert tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints")).endswith("ckpt-4")


@pytest.mark.slow
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
    pairs = ((one.generator, two.generator), (one.task.discriminator, two.task.discriminator),
             (one.task.vgg, two.task.vgg))
    for a, b in pairs:
        for source, target in zip(a.variables, b.variables):
            target.assign(source.numpy())
    files = [data.list_images(photos), data.list_images(f"{style}/style"), data.list_images(f"{style}/smooth")]
    batch = next(iter(data.training_dataset(*files, 64, 4)))
    dataset = tf.data.Dataset.from_tensor_slices(batch).batch(4)
    for t in (one, two):  # the adversarial step: both networks' gradients reduced across replicas
        step = next(iter(t.strategy.experimental_distribute_dataset(dataset)))
        t.losses = {k: float(v) for k, v in t.task.gan_step(step).items()}
    worst = 0.0
    for a, b in ((one.generator, two.generator), (one.task.discriminator, two.task.discriminator)):
        for x, y in zip(a.variables, b.variables):
            worst = max(worst, float(np.max(np.abs(x.numpy() - y.numpy()))))
    print("max weight difference", worst, one.losses["g/total"], two.losses["g/total"])
    # Adam moves a weight by about its learning rate whatever the gradient's size, so where a gradient
    # is near zero the two reductions' rounding can flip its sign: up to 2 x (2e-4 + 2e-5) apart
    # (1.7e-4 seen on AVX2, under 1e-4 on AVX-512). The losses are the sharper check.
    assert worst < 4.4e-4, worst
    assert abs(one.losses["g/total"] - two.losses["g/total"]) < 1e-3 * abs(one.losses["g/total"])
""")


@pytest.mark.slow
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
    values = {k: float(v) for k, v in trainer.task.gan_step(step).items()}
    assert all(math.isfinite(v) for v in values.values()), values


def _free_ports(count):
    import socket

    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
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
    assert sorted(p.name for p in (tmp_path / "multi").iterdir()) == [
        "checkpoints", "discriminator.weights.h5", "generator.weights.h5", "logs"]  # no worker's scratch copy
    from anime_tf.weights import load_generator
    multi, one = load_generator(tmp_path / "multi"), load_generator(tmp_path / "one")
    worst = max(float(np.abs(a - b).max()) for a, b in zip(multi.get_weights(), one.get_weights()))
    assert worst < 1e-4, worst
    assert tf.train.latest_checkpoint(tmp_path / "multi" / "checkpoints").endswith("-2")


@pytest.mark.slow
def test_discriminator_warm_up_trains_d_alone_then_both(train_data, tmp_path):
    config = config_for(train_data, tmp_path / "run", init_epochs=0, epochs=1, steps_per_epoch=3,
                        d_warmup_steps=2, save_every_steps=2)
    trainer = Trainer(config)
    g0, d0 = snapshot(trainer.generator), snapshot(trainer.task.discriminator)
    config.steps_per_epoch = 2  # only the two warm-up steps
    assert trainer.fit() == 2
    assert not any(changed(g0, trainer.generator)), "the warm-up must hold the generator"
    assert any(changed(d0, trainer.task.discriminator))
    assert (int(trainer.task.d_optimizer.iterations), int(trainer.task.g_optimizer.iterations)) == (2, 0)
    config.steps_per_epoch = 3  # the third step is adversarial: both move
    resumed = Trainer(config)
    assert resumed.fit() == 3
    assert any(changed(g0, resumed.generator))
    assert (int(resumed.task.d_optimizer.iterations), int(resumed.task.g_optimizer.iterations)) == (3, 1)


@pytest.mark.slow
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
