"""Batches of video frames through the Keras generator, as `anime-tf stylize` runs one photo.

Without smoothing each frame gets exactly the stylize path's pixels (its own
layer-norm statistics, the same brightness matching); with smoothing the
layer-norm moments are a running average over frames, restarted at cuts
(`Generator.call_running`).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from anime_tf.imageio import from_model_range, match_brightness, to_model_range

KEEP = 0.8  # share of the previous frame's layer-norm moments in each frame's (time constant 5 frames)


class KerasFrames:
    """`__call__(frames, cuts)`: same-size uint8 RGB frames, in order, to stylized frames."""

    def __init__(self, stylizer, smooth=True, keep=KEEP):
        self.generator = stylizer.generator
        self.keep_brightness = stylizer.keep_brightness
        self.smooth, self.keep = smooth, keep
        images = tf.TensorSpec([None, None, None, 3], tf.float32)
        self._plain = tf.function(self.generator.__call__, input_signature=[images])
        self._running = tf.function(self.generator.call_running, reduce_retracing=True)
        self._moments = self.generator.zero_moments()

    def state(self):
        """The running layer-norm moments ({name: array}), to resume a run."""
        return {"moments": np.array([[m.numpy().item(), v.numpy().item()] for m, v in self._moments])}

    def load_state(self, state):
        shape = [1, 1, 1, 1]
        self._moments = [(tf.constant(m, tf.float32, shape), tf.constant(v, tf.float32, shape))
                         for m, v in state["moments"]]

    def __call__(self, frames, cuts):
        x = np.concatenate([to_model_range(frame) for frame in frames])
        if self.smooth:
            keep = tf.constant([0.0 if cut else self.keep for cut in cuts])
            y, self._moments = self._running(tf.constant(x), self._moments, keep)
        else:
            y = self._plain(x)
        out = [from_model_range(image) for image in y.numpy()]
        if self.keep_brightness:
            return [match_brightness(o, f) for o, f in zip(out, frames)]
        return out
