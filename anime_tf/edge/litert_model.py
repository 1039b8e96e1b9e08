"""One .tflite generator run with LiteRT (`ai-edge-litert`): no TensorFlow.

Any generator model works: ours (float32, float16, dynamic-range, INT8 with
float or integer I/O; fixed or dynamic size) and third-party AnimeGANv2
conversions with the same [-1, 1] NHWC convention, such as the reference INT8
model.
"""
from __future__ import annotations

import os

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from anime_tf.errors import ModelError


class LiteRTModel:
    """float32 in [-1, 1] (1xHxWx3) to float32 in [-1, 1], whatever the file's I/O types.

    `xnnpack=False` runs LiteRT's built-in kernels instead of XNNPACK: slower,
    but their integer results are the same on every x86 CPU (and within 0.1 dB on
    ARM), which makes them the reference to check a board's XNNPACK results against.
    """

    def __init__(self, path, threads=None, xnnpack=True):
        resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        try:
            self.interpreter = Interpreter(model_path=str(path), num_threads=threads or os.cpu_count(),
                                           experimental_op_resolver_type=resolver)
        except (ValueError, RuntimeError) as err:
            raise ModelError(f"{path} is not a readable TFLite model: {err}") from err
        self.interpreter.allocate_tensors()
        self._input = self.interpreter.get_input_details()[0]
        signature = self._input["shape_signature"]
        if len(signature) != 4 or signature[-1] != 3:
            raise ModelError(f"{path}: expected an image model with input 1xHxWx3, got {list(signature)}")
        dynamic = signature[1] < 0 or signature[2] < 0
        self.fixed_size = None if dynamic else (int(signature[1]), int(signature[2]))

    def __call__(self, x):
        interpreter, details = self.interpreter, self._input
        if tuple(details["shape"]) != x.shape:
            interpreter.resize_tensor_input(details["index"], list(x.shape))
            interpreter.allocate_tensors()
            self._input = details = interpreter.get_input_details()[0]
        interpreter.set_tensor(details["index"], quantize(x, details))
        interpreter.invoke()
        output = interpreter.get_output_details()[0]
        return dequantize(interpreter.get_tensor(output["index"]), output)


def quantize(x, details):
    """Floats to what the tensor described by `details` holds (itself if float32)."""
    if details["dtype"] == np.float32:
        return x.astype(np.float32)
    scale, zero = details["quantization"]
    info = np.iinfo(details["dtype"])
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(details["dtype"])


def dequantize(y, details):
    """A tensor's values as floats (themselves if float32)."""
    if y.dtype == np.float32:
        return y
    scale, zero = details["quantization"]
    return (y.astype(np.float32) - zero) * scale
