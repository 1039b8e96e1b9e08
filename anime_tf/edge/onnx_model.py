"""Run an exported .onnx generator with ONNX Runtime only (the `onnx` extra): no TensorFlow."""
from __future__ import annotations

import os

import numpy as np

from anime_tf.errors import ModelError


# Short names for `--provider`; any full ONNX Runtime provider name works too.
PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider",
             "tensorrt": "TensorrtExecutionProvider", "openvino": "OpenVINOExecutionProvider",
             "coreml": "CoreMLExecutionProvider", "directml": "DmlExecutionProvider"}


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError as err:
        raise ModelError("running .onnx models needs ONNX Runtime: pip install 'anime-tf[onnx]'") from err
    return onnxruntime


def choose_provider(name, available):
    """The execution provider to run on: `name` (short or full) if installed, else the CPU."""
    if not name:
        return "CPUExecutionProvider"
    full = PROVIDERS.get(name.lower(), name)
    if full not in available:
        raise ModelError(f"execution provider {name!r} is not in this ONNX Runtime; "
                         f"available: {', '.join(available)}")
    return full


class OnnxModel:
    """One .onnx generator: float in [-1, 1] (1xHxWx3) to float in [-1, 1], like `LiteRTModel`."""

    def __init__(self, path, threads=None, provider=None):
        ort = _onnxruntime()
        self.provider = choose_provider(provider, ort.get_available_providers())
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count()
        options.log_severity_level = 3  # errors only
        try:
            self.session = ort.InferenceSession(str(path), options, providers=[self.provider])
        except Exception as err:  # ONNX Runtime raises its own classes for missing and corrupt files
            raise ModelError(f"{path} is not a readable ONNX model: {str(err).strip()[:300]}") from err
        inputs = self.session.get_inputs()
        shape = inputs[0].shape
        if len(inputs) != 1 or len(shape) != 4 or shape[-1] != 3:
            raise ModelError(f"{path}: expected an image model with input 1xHxWx3, got {shape}")
        self._input = inputs[0].name
        fixed = all(isinstance(n, int) for n in shape[1:3])
        self.fixed_size = (shape[1], shape[2]) if fixed else None

    def __call__(self, x):
        return self.session.run(None, {self._input: np.asarray(x, np.float32)})[0]
