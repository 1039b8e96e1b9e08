"""What a generator costs: floating-point operations of one forward pass, counted by TF's profiler."""
from __future__ import annotations

import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2


def forward_flops(generator, size):
    """Floating-point operations of one forward pass of a size x size image (batch 1)."""
    spec = tf.TensorSpec([1, size, size, 3], tf.float32)
    graph = convert_variables_to_constants_v2(tf.function(generator).get_concrete_function(spec)).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return tf.compat.v1.profiler.profile(graph=graph, options=options).total_float_ops
