"""Video frames through an exported model (.tflite or .onnx) with the edge runner: no TensorFlow.

An exported model has no running layer-norm moments, so smoothing is the
optical-flow blend alone (`anime_tf.video.smooth`). A fixed-size model
works at its own size; its output is scaled back to the frame's size.
"""
from __future__ import annotations

import cv2


class ExportedFrames:
    """`__call__(frames, cuts)`: uint8 RGB frames to stylized frames of the same size, one at a time."""

    def __init__(self, stylizer):
        self.stylizer = stylizer  # an `anime_tf.edge.EdgeStylizer`

    def __call__(self, frames, cuts):
        return [self._stylize(frame) for frame in frames]

    def _stylize(self, frame):
        out = self.stylizer.stylize_array(frame)
        height, width = frame.shape[:2]
        if out.shape[:2] != (height, width):
            out = cv2.resize(out, (width, height), interpolation=cv2.INTER_CUBIC)
        return out

    def state(self):
        return {}  # nothing is carried from frame to frame

    def load_state(self, state):
        pass
