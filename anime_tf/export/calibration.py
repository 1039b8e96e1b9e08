"""INT8 calibration: sample inputs, and every activation's range measured at XNNPACK speed.

TFLite's converter calibrates by running the float model on each sample with
LiteRT's built-in kernels and logging every tensor's min and max: about 2.4 s
per 256x256 sample here, most of an INT8 export's time. `fast_calibration()`
has the converter measure the same ranges through XNNPACK instead, with every
activation made a graph output so that its values can be read (about 0.4 s
a sample); the converter's quantizer then takes them as its own. The ranges are
the true min and max of each activation (tested against the built-in kernels),
except that the two inputs of a residual add are given the sum's range too:
then the int8 add rounds once, not twice, which is worth 0.3 dB (docs/notes/2026-11-inference-and-export.md).
"""
from __future__ import annotations

import contextlib
import os

import numpy as np
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.python.optimize import calibrator as tflite_calibrator
from tensorflow.lite.tools import flatbuffer_utils
from tqdm import tqdm

DEFAULT_SAMPLES = 40  # more widens the min/max ranges and loses precision


def calibration_samples(images, size, count=DEFAULT_SAMPLES, seed=0):
    """`count` model inputs of `size` from RGB arrays: whole images and random crops, flipped.

    Few photos still give varied statistics this way; the whole-image views
    come first so that even a short run sees every photo.
    """
    if not images:
        raise ValueError("no calibration images")
    height, width = size
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(count):
        image = images[i % len(images)]
        if i >= len(images):
            image = _random_crop(image, width / height, rng)
            if rng.random() < 0.5:
                image = image[:, ::-1]
        resized = tf.image.resize(image[None].astype(np.float32), (height, width), method="area",
                                  antialias=True)
        samples.append((resized.numpy() / 127.5 - 1.0).astype(np.float32))
    return samples


def _random_crop(image, aspect, rng):
    h, w = image.shape[:2]
    scale = rng.uniform(0.4, 1.0)
    crop_h = int(min(h, w / aspect) * scale)
    crop_w = int(crop_h * aspect)
    top, left = rng.integers(0, h - crop_h + 1), rng.integers(0, w - crop_w + 1)
    return image[top:top + crop_h, left:left + crop_w]


def activation_ranges(model_content, inputs, threads=None):
    """{tensor index: (min, max)} of every float activation of a one-input TFLite model.

    The model runs through LiteRT with XNNPACK, once per input, with its
    activations made outputs so that XNNPACK has to write each of them out:
    all of them are held at once (the generator: 2 GB at 256x256, 6 GB at 512).
    """
    from ai_edge_litert.interpreter import Interpreter

    model = flatbuffer_utils.convert_bytearray_to_object(model_content)
    graph = model.subgraphs[0]
    (input_index,) = graph.inputs
    probe_outputs = [i for i in _float_activations(model) if i != input_index]
    graph.outputs = np.array(probe_outputs, dtype=np.int32)
    interpreter = Interpreter(model_content=bytes(flatbuffer_utils.convert_object_to_bytearray(model)),
                              num_threads=threads or os.cpu_count())
    interpreter.allocate_tensors()
    outputs = [d["index"] for d in interpreter.get_output_details()]
    views = [interpreter.tensor(i) for i in outputs]  # read in place: copies would double the time
    low = np.full(len(outputs) + 1, np.inf, np.float32)
    high = np.full(len(outputs) + 1, -np.inf, np.float32)
    for x in inputs:
        interpreter.set_tensor(input_index, x)
        interpreter.invoke()
        # Each view is dropped before the next invoke, as LiteRT requires.
        np.minimum(low, [x.min()] + [view().min() for view in views], out=low)
        np.maximum(high, [x.max()] + [view().max() for view in views], out=high)
    return {index: (float(lo), float(hi)) for index, lo, hi in zip([input_index] + outputs, low, high)}


def _float_activations(model):
    """Indices of the first graph's float tensors that hold no constant data."""
    graph = model.subgraphs[0]
    return [i for i, tensor in enumerate(graph.tensors)
            if tensor.type == schema.TensorType.FLOAT32 and model.buffers[tensor.buffer].data is None]


def residual_ranges(model_content, ranges):
    """`ranges` with each input of an add of two same-shape activations widened to the sum's range.

    Quantized on the sum's grid, the addends need no rescaling inside the int8
    add: the residual stream is rounded once per block instead of twice.
    """
    model = flatbuffer_utils.convert_bytearray_to_object(model_content)
    graph = model.subgraphs[0]
    ranges = dict(ranges)
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        if max(code.builtinCode, code.deprecatedBuiltinCode) != schema.BuiltinOperator.ADD:
            continue
        (out,) = op.outputs
        shape = list(graph.tensors[out].shape)
        if all(i in ranges and list(graph.tensors[i].shape) == shape for i in op.inputs) and out in ranges:
            for i in op.inputs:
                ranges[i] = (min(ranges[i][0], ranges[out][0]), max(ranges[i][1], ranges[out][1]))
    return ranges


def with_ranges(model_content, ranges):
    """The model with each tensor's (min, max) recorded where TFLite's calibrator records it."""
    model = flatbuffer_utils.convert_bytearray_to_object(model_content)
    tensors = model.subgraphs[0].tensors
    for index, (low, high) in ranges.items():
        quantization = tensors[index].quantization or schema.QuantizationParametersT()
        quantization.min, quantization.max = [low], [high]
        tensors[index].quantization = quantization
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


class XnnpackCalibrator:
    """What the converter calls to calibrate (`tflite_calibrator.Calibrator`'s interface), faster."""

    def __init__(self, model_content, *custom_op_registerers):
        if any(custom_op_registerers):
            raise ValueError("custom ops need TFLite's own calibrator")
        self._model = model_content

    def calibrate(self, dataset_gen):
        samples = tqdm(dataset_gen(), desc="calibrate", unit="img", leave=False)
        inputs = (_single_input(sample) for sample in samples)
        ranges = activation_ranges(self._model, inputs)
        return with_ranges(self._model, residual_ranges(self._model, ranges))


def _single_input(sample):
    if not isinstance(sample, (list, tuple)) or len(sample) != 1:
        raise ValueError("calibration samples must be [array] for a one-input model")
    return np.asarray(sample[0], np.float32)


@contextlib.contextmanager
def fast_calibration():
    """Within this block, `tf.lite.TFLiteConverter` calibrates with `XnnpackCalibrator`.

    The converter looks its calibrator up by name at conversion time; the name
    is put back on the way out, also after an error.
    """
    original = tflite_calibrator.Calibrator
    tflite_calibrator.Calibrator = XnnpackCalibrator
    try:
        yield
    finally:
        tflite_calibrator.Calibrator = original
