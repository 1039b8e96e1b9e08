"""Faces: MediaPipe landmarks, the model cache, alignment, the face-structure metric.

The face pass itself (face2paint and its interfaces): test_face_pass.py."""
import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

from anime_tf import metrics as metric
from anime_tf.face import align, landmarks
from anime_tf.face.landmarks import FaceModelError, face_model_path, inter_ocular


def load_rgb(path, side=None):
    image = Image.open(path).convert("RGB")
    if side:
        image.thumbnail((side, side), Image.Resampling.LANCZOS)
    return np.asarray(image)


# --- landmarks ---------------------------------------------------------------------------------

def test_part_indices_are_mediapipes():
    vision = pytest.importorskip("mediapipe.tasks.python.vision")
    connections = vision.FaceLandmarksConnections
    for ours, theirs in [(landmarks.RIGHT_EYE, connections.FACE_LANDMARKS_RIGHT_EYE),
                         (landmarks.LEFT_EYE, connections.FACE_LANDMARKS_LEFT_EYE),
                         (landmarks.NOSE, connections.FACE_LANDMARKS_NOSE),
                         (landmarks.LIPS, connections.FACE_LANDMARKS_LIPS)]:
        assert set(ours) == {i for c in theirs for i in (c.start, c.end)}


@pytest.mark.parametrize("name, count", [("group_classroom", 3), ("portrait_1", 2), ("portrait_3", 6)])
def test_landmarks_on_shared_faces(landmarker, shared_images, name, count):
    rgb = load_rgb(shared_images / "faces" / f"{name}.jpg")
    faces = landmarker.detect(rgb)
    assert len(faces) == count  # portrait_3's five small faces need the window search
    height, width = rgb.shape[:2]
    for face in faces:
        assert face.shape == (landmarks.POINTS, 2) and face.dtype == np.float32
        assert (face >= -2).all() and (face[:, 0] <= width + 2).all() and (face[:, 1] <= height + 2).all()
        eyes = face[list(landmarks.RIGHT_EYE + landmarks.LEFT_EYE)]
        mouth = face[list(landmarks.LIPS)]
        nose = face[list(landmarks.NOSE)]
        assert eyes[:, 1].mean() < nose[:, 1].mean() < mouth[:, 1].mean()  # upright faces
        assert face[landmarks.RIGHT_EYE_OUTER, 0] < face[landmarks.LEFT_EYE_OUTER, 0]  # not mirrored
        x0, y0, x1, y1 = metric.face_box(face, width, height)
        for part in (eyes, mouth, nose):
            assert (part[:, 0] > x0).all() and (part[:, 0] < x1).all()
            assert (part[:, 1] > y0).all() and (part[:, 1] < y1).all()
        assert 20 < inter_ocular(face) < 0.5 * width
    assert [inter_ocular(f) for f in faces] == sorted((inter_ocular(f) for f in faces), reverse=True)


def test_no_faces_tiny_images_and_faces_at_the_border(landmarker, shared_images):
    assert landmarker.detect(load_rgb(shared_images / "photos" / "scene_10.jpg")) == []
    for shape in [(1, 1, 3), (7, 5, 3), (16, 2000, 3)]:
        assert landmarker.detect(np.zeros(shape, np.uint8)) == []
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        landmarker.detect(np.zeros((64, 64), np.uint8))
    portrait = load_rgb(shared_images / "faces" / "portrait_0.jpg")
    face = landmarker.detect(portrait)[0]
    cut = int(face[:, 0].mean())  # cut the face in half at the nose: the rest sits at the border
    half = landmarker.detect(np.ascontiguousarray(portrait[:, cut:]))
    for found in half:  # a half face may or may not be found; if it is, it is where it was
        assert np.abs(found.mean(axis=0) + [cut, 0] - face.mean(axis=0)).max() < inter_ocular(face)


def test_search_windows_cover_the_image():
    for height, width in [(900, 900), (800, 1200), (2160, 3840), (300, 5000)]:
        covered = np.zeros((height, width), bool)
        for top, left, size in landmarks.search_windows(height, width):
            assert 0 <= top and top + size <= height and 0 <= left and left + size <= width
            covered[top:top + size, left:left + size] = True
        assert covered.all()
    assert landmarks.search_windows(300, 380) == []  # small images are searched whole


def test_landmarker_closes_cleanly_at_exit(face_model, shared_images):
    """Left open, it is closed when collected: no error at interpreter exit."""
    code = ("import numpy as np, sys; from PIL import Image\n"
            "from anime_tf.face import FaceLandmarker\n"
            f"lm = FaceLandmarker({str(face_model)!r})\n"
            f"rgb = np.asarray(Image.open({str(shared_images / 'faces' / 'portrait_1.jpg')!r}).convert('RGB'))\n"
            "print(len(lm.detect(rgb)))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr


# --- the model file: fetched once into the cache, checked, reused -----------------------------------

def test_face_model_is_fetched_once_checked_and_reused(face_model, tmp_path, monkeypatch):
    monkeypatch.setenv("ANIME_TF_FACE_MODEL_URL", face_model.as_uri())
    cached = face_model_path()
    assert cached == tmp_path / "cache" / "models" / "face_landmarker.task"
    assert cached.read_bytes() == face_model.read_bytes()
    stamp = cached.stat().st_mtime_ns
    monkeypatch.setenv("ANIME_TF_FACE_MODEL_URL", (tmp_path / "gone").as_uri())
    assert face_model_path() == cached and cached.stat().st_mtime_ns == stamp  # no second download
    cached.write_bytes(b"not the model")
    with pytest.raises(FaceModelError, match="not the expected face model.*sha256"):
        face_model_path()
    assert cached.read_bytes() == b"not the model"  # reported, never silently replaced


def test_offline_and_missing_face_model_say_what_to_do(tmp_path):
    with pytest.raises(FaceModelError, match=r"put it at .*face_landmarker.task or pass --face_model"):
        face_model_path()
    assert not (tmp_path / "cache" / "models" / "face_landmarker.task").exists()
    with pytest.raises(FaceModelError, match="face model not found"):
        face_model_path(tmp_path / "nowhere.task")


# --- alignment ---------------------------------------------------------------------------------

def test_alignment_levels_centres_and_sizes_faces(landmarker, shared_images):
    photo = Image.open(shared_images / "faces" / "portrait_1.jpg").convert("RGB")
    for angle in (0, 25, -40):
        rgb = np.asarray(photo.rotate(angle, resample=Image.Resampling.BICUBIC))
        face = landmarker.detect(rgb)[0]
        matrix = align.alignment_matrix(face, 512)
        moved = face @ matrix[:, :2].T + matrix[:, 2]
        right = moved[list(align.RIGHT_EYE_CORNERS)].mean(axis=0)
        left = moved[list(align.LEFT_EYE_CORNERS)].mean(axis=0)
        assert abs(right[1] - left[1]) < 6 and right[0] < left[0]  # eyes level, face upright
        assert np.abs(moved.mean(axis=0) - 256).max() < 60  # centred
        width = moved[:, 0].max() - moved[:, 0].min()
        assert 0.4 < width / 512 < 0.65  # about half the crop


def test_alignment_round_trip_gives_back_the_face(landmarker, shared_images):
    rgb = load_rgb(shared_images / "faces" / "group_classroom.jpg")
    for face in landmarker.detect(rgb):
        matrix = align.alignment_matrix(face, 512)
        crop = align.warp(rgb, matrix, (512, 512))
        back = np.zeros_like(rgb)
        align.paste(back, crop, matrix, np.ones((512, 512), np.float32))
        x0, y0, x1, y1 = metric.face_box(face, rgb.shape[1], rgb.shape[0])
        error = np.abs(back[y0:y1, x0:x1].astype(float) - rgb[y0:y1, x0:x1]).mean()
        assert error < 3.0, error
    # a crop smaller than the face shrinks it without aliasing, and still comes back close
    small = align.alignment_matrix(face, 96)
    back = np.zeros_like(rgb)
    align.paste(back, align.warp(rgb, small, (96, 96)), small, np.ones((96, 96), np.float32))
    assert np.abs(back[y0:y1, x0:x1].astype(float) - rgb[y0:y1, x0:x1]).mean() < 12


def test_a_crop_keeps_its_detail_on_the_colours_beneath_it():
    rng = np.random.default_rng(0)
    detail = rng.integers(-40, 41, (128, 128, 3))
    crop = np.clip(100 + detail, 0, 255).astype(np.uint8)  # fine detail on grey
    ramp = np.linspace(60, 200, 128)[None, :, None]
    beneath = np.broadcast_to(ramp * np.array([1.0, 0.5, 0.8]), (128, 128, 3)).astype(np.uint8)  # a smooth tint
    out = align.match_low_frequencies(crop, beneath, sigma=4).astype(float)
    smooth = lambda a: cv2.GaussianBlur(np.asarray(a, np.float32), (0, 0), 8)
    inner = np.s_[16:-16, 16:-16]
    assert np.abs(smooth(out) - smooth(beneath))[inner].mean() < 2  # the tint beneath
    high = lambda a: np.asarray(a, np.float32) - cv2.GaussianBlur(np.asarray(a, np.float32), (0, 0), 1)
    assert np.corrcoef(high(out)[inner].ravel(), high(crop)[inner].ravel())[0, 1] > 0.95  # the crop's detail


def test_feather_mask_fades_to_the_edges():
    mask = align.feather_mask(64, 8)
    assert mask[32, 32] == 1.0 and mask[0, 0] < 0.01 and mask[0, 32] < 0.1
    assert np.all(np.diff(mask[32, :8]) > 0)


# --- the metric -----------------------------------------------------------------------------------

def test_face_structure_error_grows_with_displacement_and_counts_lost_faces(landmarker, shared_images):
    faces = landmarker.detect(load_rgb(shared_images / "faces" / "group_classroom.jpg"))
    assert metric.face_structure(faces, faces) == {"errors": [0.0, 0.0, 0.0], "lost": 0}
    errors = [metric.landmark_error(faces[0], faces[0] + [shift, 0]) for shift in (1, 2, 4)]
    assert errors[0] < errors[1] < errors[2] and errors[1] == pytest.approx(2 / inter_ocular(faces[0]), rel=1e-4)
    assert metric.landmark_error(faces[0], faces[0] + 500) == metric.ERROR_CAP
    assert metric.face_structure(faces, faces[1:][::-1]) == {"errors": [0.0, 0.0], "lost": 1}
    assert metric.match_faces(faces, [faces[0] + 1000]) == []


def test_psnr_outside_faces_ignores_what_the_face_pass_changes():
    a = np.full((60, 80, 3), 100, np.uint8)
    face = np.array([[20.0, 10.0], [40.0, 30.0]])  # a box from (20, 10) to (40, 30)
    inside, outside = a.copy(), a.copy()
    inside[15:25, 25:35] = 0
    outside[50:55, 60:70] = 0
    assert metric.psnr_outside_faces(a, inside, [face]) == metric.MAX_PSNR
    assert metric.psnr_outside_faces(a, outside, [face]) < 30
    assert np.isnan(metric.psnr_outside_faces(a, a, [np.array([[0.0, 0.0], [90.0, 70.0]])]))
