"""Convert a generator to ONNX: float32, float16 (half-size weights) or static INT8 (QDQ).

The graph is the same export-friendly generator as the TFLite export's
(`export_generator`: reflect padding as slices and concatenation, the
layer-norm variance as mean(x*x) - mean^2, no `tf.nn.l2_loss`, which ONNX has
no op for), converted by tf2onnx. A dynamic export takes any height and width:
the generator reflect-pads to a multiple of 4 inside, as the Keras model does.
INT8 is ONNX Runtime's static quantization in QDQ form, calibrated on the
same samples as the TFLite INT8 export, with the same float islands: the
layer-norm statistics and the last layer stay in float.
"""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
import onnx
import tensorflow as tf

from anime_tf.export.tflite import ExportError, check_options, export_generator

OPSET = 17
INPUT_NAME = "image"
# Nodes kept in float in the INT8 export (see the module doc); tf2onnx keeps the TF scopes.
FLOAT_ISLANDS = re.compile(r"/(moments|stats)/|/E3(_\d+)?/(norm|LeakyRelu)|/out_layer(_\d+)?/|Tanh")


def convert(generator, quantize="float32", size=(256, 256), calibration=None):
    """ONNX model bytes. `size`: (height, width), or None for any size; `calibration` for INT8."""
    check_options(quantize, size, bool(calibration))
    model = float_model(generator, size)
    if quantize == "float16":
        model = half_size_weights(model)
    elif quantize == "int8":
        model = quantize_int8(model, calibration)
    return model.SerializeToString()


def float_model(generator, size):
    """The generator as a float32 ONNX model with input `image` (1xHxWx3, NHWC as in TFLite)."""
    import tf2onnx

    height, width = size if size else (None, None)
    clone = export_generator(generator)
    spec = tf.TensorSpec([1, height, width, 3], tf.float32, name=INPUT_NAME)
    function = tf.function(lambda image: clone(image))
    model, _ = tf2onnx.convert.from_function(function, input_signature=[spec], opset=OPSET)
    model.graph.output[0].name = _rename_output(model, "stylized")
    return model


def _rename_output(model, name):
    old = model.graph.output[0].name
    for node in model.graph.node:
        node.output[:] = [name if o == old else o for o in node.output]
    return name


def half_size_weights(model):
    """Every float32 weight stored as float16 and cast back to float32 when the model loads.

    Half the file, float32 arithmetic: ONNX Runtime's CPU kernels have few
    float16 ops, and the layer norm's one-pass variance would lose its
    precision in float16 (the TFLite float16 export does the same).
    """
    casts = []
    for tensor in model.graph.initializer:
        if tensor.data_type != onnx.TensorProto.FLOAT or _count(tensor) < 16:
            continue
        values = onnx.numpy_helper.to_array(tensor).astype(np.float16)
        name = tensor.name
        tensor.CopyFrom(onnx.numpy_helper.from_array(values, name + "_fp16"))
        casts.append(onnx.helper.make_node("Cast", [name + "_fp16"], [name], to=onnx.TensorProto.FLOAT,
                                           name=name + "_to_float"))
    nodes = casts + list(model.graph.node)  # casts first: ONNX wants nodes in topological order
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.checker.check_model(model)
    return model


def _count(tensor):
    return int(np.prod(tensor.dims)) if tensor.dims else 1


class _Samples:
    """ONNX Runtime's calibration reader over our calibration samples."""

    def __init__(self, samples):
        self._samples = iter(samples)

    def get_next(self):
        sample = next(self._samples, None)
        return None if sample is None else {INPUT_NAME: np.asarray(sample, np.float32)}


def quantize_int8(model, calibration):
    """Static INT8 in QDQ form: per-channel int8 weights, int8 activations, min/max calibration."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not calibration:
        raise ExportError("INT8 needs calibration samples")
    with tempfile.TemporaryDirectory() as tmp:
        source, prepared, output = (Path(tmp) / name for name in ("float.onnx", "prep.onnx", "int8.onnx"))
        onnx.save(model, source)
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        keep_float = [node.name for node in onnx.load(prepared).graph.node if FLOAT_ISLANDS.search(node.name)]
        quantize_static(str(prepared), str(output), _Samples(calibration), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=keep_float)
        return onnx.load(output)
