"""The face pass on video: face2paint on every frame, with landmarks smoothed over time.

MediaPipe finds a still face's landmarks a pixel or two apart from frame to
frame; the aligned crop follows them and the pasted face jitters. Here each
face is followed from frame to frame (the nearest face of the previous
frame) and its landmarks are a running average whose weight falls as the
face really moves, so a still face holds still and a moving one is followed
without lag. A scene cut starts afresh. No TensorFlow here.
"""
from __future__ import annotations

import numpy as np

from anime_tf.face.landmarks import inter_ocular, same_face

KEEP = 0.75  # weight of the previous frame's landmarks for a still face
MOVING = 0.04  # mean landmark movement (in inter-ocular distances) where the weight falls to KEEP/e


class LandmarkSmoother:
    """Calls with each frame's faces (478x2 landmark arrays) and whether it starts a shot; smoothed faces."""

    def __init__(self, keep=KEEP, moving=MOVING):
        self.keep, self.moving = keep, moving
        self._faces = []

    def __call__(self, faces, cut=False):
        previous = [] if cut else self._faces
        smoothed = []
        for face in faces:
            before = _nearest(face, previous)
            if before is not None:
                movement = float(np.linalg.norm(face - before, axis=1).mean()) / max(inter_ocular(face), 1.0)
                weight = self.keep * np.exp(-(movement / self.moving) ** 2)
                face = weight * before + (1.0 - weight) * face
            smoothed.append(np.asarray(face, np.float32))
        self._faces = smoothed
        return smoothed

    def state(self):
        return {"faces": np.stack(self._faces)} if self._faces else {}

    def load_state(self, state):
        self._faces = list(state.get("faces", []))


def _nearest(face, candidates):
    """The candidate that is the same face (see `anime_tf.face.landmarks`), nearest first, or None."""
    same = [c for c in candidates if same_face(c, face)]
    return min(same, key=lambda c: float(np.linalg.norm(c.mean(axis=0) - face.mean(axis=0)))) if same else None


class FaceFrames:
    """A frame model followed by the face pass (`FacePainter.paint_faces`) on smoothed landmarks."""

    def __init__(self, frame_model, painter, smoother=None):
        self.frame_model, self.painter = frame_model, painter
        self.smoother = smoother or LandmarkSmoother()

    def __call__(self, frames, cuts):
        outputs = self.frame_model(frames, cuts)
        return [self.painter.paint_faces(frame, np.array(out), self.smoother(self.painter.landmarker.detect(frame), cut))
                for frame, out, cut in zip(frames, outputs, cuts)]

    def state(self):
        return {**{f"model.{k}": v for k, v in self.frame_model.state().items()},
                **{f"faces.{k}": v for k, v in self.smoother.state().items()}}

    def load_state(self, state):
        self.frame_model.load_state({k[6:]: v for k, v in state.items() if k.startswith("model.")})
        self.smoother.load_state({k[6:]: v for k, v in state.items() if k.startswith("faces.")})

    def close(self):
        self.painter.close()


def jitter(tracks):
    """Mean second difference of landmark positions over frames, in inter-ocular distances.

    `tracks`: one face's 478x2 landmarks per frame. Steady motion has no
    second difference; frame-to-frame jitter does.
    """
    tracks = np.asarray(tracks, np.float64)
    if len(tracks) < 3:
        return float("nan")
    accel = np.linalg.norm(tracks[2:] - 2 * tracks[1:-1] + tracks[:-2], axis=2).mean(axis=1)
    units = np.array([inter_ocular(face) for face in tracks[1:-1]])
    return float(np.mean(accel / units))
