"""Faces: MediaPipe landmarks and face2paint alignment (no TensorFlow); the face-structure metric
is in `anime_tf.metrics`.

Names are loaded on first use, so `anime_tf.face.landmarks` (and its error
types) import without OpenCV or MediaPipe: an edge-only install can then say
what to install instead of failing on an import.
"""
import importlib

_NAMES = {"FaceLandmarker": "landmarks", "FaceModelError": "landmarks", "face_model_path": "landmarks",
          "FacePainter": "paint"}
__all__ = sorted(_NAMES)


def __getattr__(name):
    if name in _NAMES:
        return getattr(importlib.import_module(f"anime_tf.face.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'anime_tf.face' has no attribute {name!r}")
