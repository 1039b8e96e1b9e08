"""Face landmarks with MediaPipe's Face Landmarker (Tasks API): 478 points per face, in pixels.

The model bundle (`face_landmarker.task`) is fetched on first use into the
cache and checked against its sha256; a bad file is reported, never replaced.
No TensorFlow here: the edge runner uses this module too.
"""
from __future__ import annotations

import threading
import weakref
from pathlib import Path

import numpy as np

from anime_tf import config
from anime_tf.download import DownloadError, fetch
from anime_tf.errors import AnimeTFError
from anime_tf.files import sha256_of

POINTS = 478
# Indices into the 478 points, as MediaPipe's FaceLandmarksConnections draws them
# ("right" is the subject's right, on the image's left for a frontal face).
RIGHT_EYE = (7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246)
LEFT_EYE = (249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466)
NOSE = (1, 2, 4, 5, 6, 19, 45, 48, 64, 94, 97, 98, 115, 168, 195, 197, 220, 275, 278, 294,
        326, 327, 344, 440)
LIPS = (0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185,
        191, 267, 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415)
PARTS = {"right_eye": RIGHT_EYE, "left_eye": LEFT_EYE, "nose": NOSE, "mouth": LIPS}
# Outer eye corners (inter-ocular distance) and mouth corners.
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263
MOUTH_CORNERS = (61, 291)


class FaceModelError(AnimeTFError, RuntimeError):
    """The Face Landmarker model is missing, corrupt or cannot be loaded."""


def face_model_path(path=None, cache=None):
    """The Face Landmarker model file: `path` if given, else the cached copy, fetched on first use.

    A given path is used as it is (any Face Landmarker bundle works); the
    cached copy must match the pinned sha256.
    """
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise FaceModelError(f"face model not found: {path}")
        return path
    dest = Path(cache or config.cache_dir()) / "models" / config.FACE_MODEL_FILE
    url = config.face_model_url()
    try:
        fetch(url, dest)
    except DownloadError as err:
        raise FaceModelError(
            f"{err}\nThe face model is {config.FACE_MODEL_FILE} from {config.FACE_MODEL_URL}; "
            f"put it at {dest} or pass --face_model PATH.") from err
    digest = sha256_of(dest)
    if digest != config.FACE_MODEL_SHA256:
        raise FaceModelError(
            f"{dest} is not the expected face model (sha256 {digest}, expected "
            f"{config.FACE_MODEL_SHA256}); delete it to fetch it again, or pass --face_model PATH.")
    return dest


class FaceLandmarker:
    """Finds faces and their 478 landmarks in RGB images; reuse one for many images.

    >>> with FaceLandmarker() as landmarker:
    ...     faces = landmarker.detect(rgb)   # [478x2 float32 arrays of (x, y) pixels]

    Closes MediaPipe's graph on `close()`, on leaving a `with` block, or at
    the latest when collected, so nothing is left running at exit.
    """

    def __init__(self, model_path=None, max_faces=config.MAX_FACES, min_confidence=0.5):
        try:
            from mediapipe.tasks.python import BaseOptions, vision
        except ImportError as err:
            raise FaceModelError("faces need MediaPipe: pip install 'anime-tf[faces]'") from err
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(face_model_path(model_path))),
            running_mode=vision.RunningMode.IMAGE, num_faces=max_faces,
            min_face_detection_confidence=min_confidence, min_face_presence_confidence=min_confidence)
        try:
            self._landmarker = vision.FaceLandmarker.create_from_options(options)
        except (RuntimeError, ValueError) as err:
            raise FaceModelError(f"cannot load the face model: {err}") from err
        self._finalizer = weakref.finalize(self, self._landmarker.close)
        _close_before_thread_shutdown(self._finalizer)

    def detect(self, rgb):
        """Landmarks of every face in a uint8 RGB array (HxWx3), largest face first.

        Coordinates are (x, y) pixels with pixel centres on whole numbers, as
        OpenCV counts them.

        MediaPipe's detector sees the image at 128 pixels, so faces in a
        group photo are too small for it; the image is therefore also searched
        in overlapping square windows (`search_windows`). A face found twice
        is kept once, and a face cut by a window's edge is not kept from it.
        """
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 RGB image, got {rgb.dtype} {rgb.shape}")
        height, width = rgb.shape[:2]
        faces = self._detect_in(rgb)
        for top, left, size in search_windows(height, width):
            window = rgb[top:top + size, left:left + size]
            for face in self._detect_in(window):
                if _whole_in_window(face, top, left, size, height, width):
                    face = face + np.array([left, top], np.float32)
                    if not any(same_face(face, kept) for kept in faces):
                        faces.append(face)
        return sorted(faces, key=lambda face: -inter_ocular(face))

    def _detect_in(self, rgb):
        import mediapipe as mp

        height, width = rgb.shape[:2]
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        return [np.array([(p.x * width, p.y * height) for p in face], np.float32)
                for face in self._landmarker.detect(image).face_landmarks]

    def close(self):
        self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _close_before_thread_shutdown(close):
    """Make sure an open landmarker is closed at exit, early enough to work.

    MediaPipe calls its graph through a thread pool, and Python shuts thread
    pools down before `atexit` handlers (and `__del__` at exit) run, so a
    landmarker left open fails to close then, with a traceback. A threading
    exit hook (what `concurrent.futures` itself uses) runs before that.
    """
    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        register(close)


def search_windows(height, width, fraction=0.4, smallest=384):
    """(top, left, size) of square windows, overlapping by half, for images worth searching.

    A window is `fraction` of the longer side (at least `smallest` pixels);
    images no larger than a window are searched whole only.
    """
    size = max(smallest, round(fraction * max(height, width)))
    if size >= max(height, width):
        return []
    size = min(size, height, width)
    step = size // 2
    tops = sorted({*range(0, height - size, step), height - size})
    lefts = sorted({*range(0, width - size, step), width - size})
    return [(top, left, size) for top in tops for left in lefts]


def _whole_in_window(face, top, left, size, height, width, margin=2):
    """Whether a face found in a window (window pixels) keeps away from every window edge
    that lies inside the height x width image: a face the window cuts is not whole."""
    (x0, y0), (x1, y1) = face.min(axis=0), face.max(axis=0)
    return ((x0 > margin or left == 0) and (y0 > margin or top == 0)
            and (x1 < size - margin or left + size >= width)
            and (y1 < size - margin or top + size >= height))


def same_face(a, b):
    """Whether two landmark sets are one face: centres closer than half the larger inter-ocular distance."""
    return np.linalg.norm(a.mean(axis=0) - b.mean(axis=0)) < 0.5 * max(inter_ocular(a), inter_ocular(b))


def inter_ocular(face):
    """Distance between the outer eye corners, the face's natural unit of length."""
    return float(np.linalg.norm(face[LEFT_EYE_OUTER] - face[RIGHT_EYE_OUTER]))


def part_boxes(face):
    """{part: (x0, y0, x1, y1)} boxes around eyes, nose and mouth, with a margin.

    Each box is square, centred on the part and at least half the
    inter-ocular distance across, so a local loss sees the part and its
    surroundings at a similar scale on every face.
    """
    unit = inter_ocular(face)
    boxes = {}
    for name, indices in PARTS.items():
        points = face[list(indices)]
        low, high = points.min(axis=0), points.max(axis=0)
        centre = (low + high) / 2
        half = max(float((high - low).max()) * 0.6, unit * 0.25)
        boxes[name] = (*(centre - half), *(centre + half))
    return boxes
