"""Feature distillation: the student's activations, mapped to the teacher's channels, learn the teacher's.

A student that only sees the teacher's pixels must find out for itself what
the teacher computes on the way; its activations at the end of each stage
(`anime_tf.models.generator.FEATURE_TAPS`) can be told directly, as GAN
Compression (Li et al., 2020) distils pix2pix and CycleGAN generators. The
student has fewer channels, so a learned 1x1 convolution per tap maps its
activations to the teacher's; the maps are trained with the student and
thrown away after (the exported generator is unchanged). They start as the
least-squares map on a first batch, so the first steps' gradients already
point the student toward the teacher instead of toward a random projection.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

FIT_ROWS = 65536  # pixels per tap the least-squares start is fitted on
RIDGE = 1e-3  # relative to the mean activation energy: keeps the fit stable where channels are near-constant


def feature_loss(teacher_taps, mapped_taps):
    """L1 between the teacher's activations and the student's mapped ones, per example, averaged over taps."""
    per_tap = [tf.reduce_mean(tf.abs(tf.cast(t, tf.float32) - tf.cast(s, tf.float32)), axis=[1, 2, 3])
               for t, s in zip(teacher_taps, mapped_taps)]
    return tf.add_n(per_tap) / len(per_tap)


class FeatureMaps:
    """One 1x1 convolution per tap, from the student's channels to the teacher's."""

    def __init__(self, student_channels, teacher_channels):
        self.convs = []
        for i, (inputs, outputs) in enumerate(zip(student_channels, teacher_channels)):
            conv = keras.layers.Conv2D(outputs, 1, name=f"feature_map_{i}")
            conv.build((None, None, None, inputs))
            self.convs.append(conv)

    @classmethod
    def between(cls, student, teacher, size=32):
        """Maps for `student`'s taps to `teacher`'s (two generators), sized by one forward pass each."""
        probe = tf.zeros([1, size, size, 3])
        channels = [[int(t.shape[-1]) for t in model.features(probe)[1]] for model in (student, teacher)]
        return cls(*channels)

    @property
    def variables(self):
        return [v for conv in self.convs for v in conv.variables]

    def __call__(self, student_taps):
        return [conv(tap) for conv, tap in zip(self.convs, student_taps)]

    def fit(self, student_taps, teacher_taps, seed=0):
        """Start each map as the ridge least-squares map from the student's activations to the teacher's."""
        rng = np.random.default_rng(seed)
        for conv, s, t in zip(self.convs, student_taps, teacher_taps):
            s = np.asarray(s, np.float64).reshape(-1, s.shape[-1])
            t = np.asarray(t, np.float64).reshape(-1, t.shape[-1])
            rows = rng.choice(len(s), min(len(s), FIT_ROWS), replace=False)
            s, t = np.concatenate([s[rows], np.ones((len(rows), 1))], axis=1), t[rows]
            gram = s.T @ s
            gram += RIDGE * np.trace(gram) / len(gram) * np.eye(len(gram))
            solution = np.linalg.solve(gram, s.T @ t)
            conv.kernel.assign(solution[:-1][None, None].astype(np.float32))
            conv.bias.assign(solution[-1].astype(np.float32))
