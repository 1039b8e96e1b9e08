"""What the edge stylizer needs of a model, and `open_model`, which picks the runtime by file name.

A model is any object with `fixed_size` (the (height, width) it takes, or
None for any size) that maps 1xHxWx3 float32 in [-1, 1] to the same. Two
runtimes provide one: LiteRT for .tflite (`edge.litert_model`) and ONNX
Runtime for .onnx (`edge.onnx_model`, the `onnx` extra). Neither imports the
other, and neither imports TensorFlow.
"""
from __future__ import annotations

import statistics
import time
from typing import Protocol

import numpy as np

from anime_tf.errors import ModelError


class ImageModel(Protocol):
    """An exported generator: 1xHxWx3 float32 in [-1, 1] to the same."""

    fixed_size: tuple[int, int] | None

    def __call__(self, x: np.ndarray) -> np.ndarray: ...


def open_model(path, threads=None, xnnpack=True, provider=None):
    """A `LiteRTModel` for a .tflite file, an `OnnxModel` for a .onnx file.

    `xnnpack` applies to LiteRT only, `provider` (an ONNX Runtime execution
    provider such as "openvino" or "cuda") to ONNX Runtime only.
    """
    if str(path).lower().endswith(".onnx"):
        from anime_tf.edge.onnx_model import OnnxModel

        return OnnxModel(path, threads=threads, provider=provider)
    if provider:
        raise ModelError(f"--provider is for .onnx models; {path} runs with LiteRT")
    from anime_tf.edge.litert_model import LiteRTModel

    return LiteRTModel(path, threads=threads, xnnpack=xnnpack)


def benchmark(model, runs, size=None, warmup=2):
    """Median milliseconds per run of `model` on a mid-grey image, after warm-up runs.

    The image is the model's fixed size, else `size` (height, width), else 256x256.
    """
    height, width = model.fixed_size or size or (256, 256)
    x = np.zeros((1, height, width, 3), np.float32)
    for _ in range(warmup):
        model(x)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)
