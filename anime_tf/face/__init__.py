"""Faces: MediaPipe landmarks, face2paint alignment, and the face-structure metric (no TensorFlow)."""
from anime_tf.face.landmarks import FaceLandmarker, FaceModelError, face_model_path
from anime_tf.face.paint import FacePainter

__all__ = ["FaceLandmarker", "FaceModelError", "FacePainter", "face_model_path"]
