"""Training with faces: landmarks cached beside the photos, face-priority sampling, the face loss."""
import math
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from anime_tf import data
from anime_tf.train import teacher as teacher_cache
from anime_tf.train.config import TrainConfig
from anime_tf.train.loop import Trainer
from training import SMALL

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
    assert Trainer(config).task.face_parts(data.list_images(photos)) is None
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


@pytest.mark.slow
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
    parts = trainer.task.face_parts(photos)
    batch = next(iter(data.training_dataset(photos, *(data.list_images(style / d) for d in ("style", "smooth")),
                                            64, 2, parts=parts, face_share=0.5)))
    values = trainer.task.gan_step(batch)
    assert 0 < float(values["g/face"]) < 10 and math.isfinite(float(values["g/total"]))
    with pytest.raises(ValueError, match="face_share must be between 0 and 1"):
        TrainConfig.from_preset("hayao", photo_dir="p", style_dir="s", model_dir="m", face_share=1.5)


@pytest.mark.slow
def test_distilling_with_faces_finds_the_views_faces_and_adds_the_face_loss(face_photos, face_model,
                                                                            random_weights, tmp_path, capfd):
    """The face loss on each view's faces (a face-pass generator is the teacher's size; a small one tests it)."""
    config = TrainConfig.from_preset(
        "hayao", photo_dir=str(face_photos), model_dir=str(tmp_path / "run"), teacher=str(random_weights),
        width=0.25, blocks=1, faces=True, face_model=str(face_model), face_weight=2.0,
        image_size=128, batch_size=2, steps_per_epoch=2, epochs=1, save_every_steps=2, vgg_weights="none",
        pyramid_weight=1.0)
    trainer = Trainer(config)
    assert trainer.fit() == 2
    err = capfd.readouterr().err
    assert "face=" in err
    assert "faces in" in err and " views (landmarks cached in" in err
    assert (face_photos / ".anime_tf_faces.json").exists(), "faces are found on the photos, cached beside them"
    boxes, valid = trainer.task.parts
    names = [Path(paths[0]).name for paths in teacher_cache.teacher_pairs(
        data.list_images(face_photos), random_weights, 128, tmp_path / "run" / "teacher_cache")]
    with_parts = {name.split(".jpg")[0] for name, has in zip(names, valid.any(axis=1)) if has}
    assert with_parts == {"portrait_1", "group_classroom", "portrait_2"}  # scene_10 has no face
    dataset, _ = trainer.task.inputs(data.list_images(face_photos), 0)
    batch = next(b for b in dataset if b[-1].numpy().any())  # (photo, teacher, boxes, valid)
    assert batch[2].shape == (2, boxes.shape[1], 4) and batch[3].shape == (2, valid.shape[1])
    values = {name: float(value) for name, value in trainer.task.distill_step(batch).items()}
    assert set(values) == {"distill/pixel", "distill/pyramid", "distill/face", "distill/total"}
    assert values["distill/face"] > 0
    assert values["distill/total"] == pytest.approx(values["distill/pixel"] + values["distill/pyramid"]
                                                    + 2.0 * values["distill/face"], rel=1e-5)


def test_view_boxes_follow_each_view_and_its_mirror(tmp_path):
    """Parts found once on a photo land where each rendered view shows them."""
    image = np.zeros((200, 300, 3), np.uint8)
    image[40:80, 180:240] = 255  # a part at x 0.6-0.8, y 0.2-0.4
    path = tmp_path / "photo.png"
    Image.fromarray(image).save(path)
    found = teacher_cache.view_boxes([(0.6, 0.2, 0.8, 0.4)], (300, 200), path, 128, 96)
    kept = 0
    for k, scale in enumerate(teacher_cache.DISTILL_SCALES):
        rgb = teacher_cache.scaled_photo(path, round(scale * 128))
        for v in range(teacher_cache.views_per_scale(128, 96)):
            view, _ = teacher_cache.photo_view(rgb, path, k, v, 96)
            boxes = found[teacher_cache.pair_paths(tmp_path, path, k, v)[0].name]
            white = view.mean(axis=-1) > 128
            for x0, y0, x1, y1 in boxes:
                kept += 1
                x0, y0, x1, y1 = (int(round(c * 96)) for c in (x0, y0, x1, y1))
                assert white[y0 + 2:y1 - 2, x0 + 2:x1 - 2].all()  # the part is where the box says
                outside = np.ones_like(white)
                outside[max(y0 - 3, 0):y1 + 3, max(x0 - 3, 0):x1 + 3] = False
                assert not white[outside].any()
            if not boxes:
                assert white.sum() < 0.8 * 40 * 60 * (scale * 128 / 200) ** 2  # mostly out of view
    assert kept >= 2
