"""Convert a generator to ONNX: float32, float16 (half-size weights) or static INT8 (QDQ).

The graph is the generator with the ops ONNX Runtime runs well
(`Generator(export_format="onnx")`: reflect padding as slices and
concatenation, the layer-norm variance as mean(x*x) - mean^2 with the mean of
squares from row norms, which tf2onnx is taught here to write as
ReduceSumSquare; no `tf.nn.l2_loss`, which ONNX lacks), converted by tf2onnx. A dynamic export
takes any height and width: the generator reflect-pads to a multiple of 4
inside, as the Keras model does. INT8 is ONNX Runtime's static quantization
in QDQ form, calibrated on the same samples as the TFLite INT8 export, with
float islands like the TFLite export's (the layer-norm statistics and the
last layer; TFLite also keeps the last block's conv in float) and the same
residual ranges (`anime_tf.export.calibration`).
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
FLOAT_ISLANDS = re.compile(r"/(moments|stats)(_\d+)?/|/E3(_\d+)?/(norm|LeakyRelu)|/out_layer(_\d+)?/|Tanh")
# The skip connection of each inverted residual block (r2..r4 in the official graph).
RESIDUAL_ADDS = re.compile(r"/C_r\d+(_\d+)?/add$")


def convert(generator, quantize="float32", size=(256, 256), calibration=None):
    """ONNX model bytes. `size`: (height, width), or None for any size; `calibration` for INT8."""
    check_options(quantize, size or "any", bool(calibration))  # static INT8 takes any size in ONNX
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
    clone = export_generator(generator, "onnx")
    spec = tf.TensorSpec([1, height, width, 3], tf.float32, name=INPUT_NAME)
    function = tf.function(lambda image: clone(image))
    model, _ = tf2onnx.convert.from_function(function, input_signature=[spec], opset=OPSET,
                                             custom_op_handlers={"EuclideanNorm": (_reduce_l2, [])})
    model.graph.output[0].name = _rename_output(model, "stylized")
    return model


MOMENTS_NAME = "moments"


def tile_models(generator):
    """Two float32 ONNX models (any size) that tile as `anime-tf stylize` does.

    `measure` takes `image` to `moments` [K, 2], every layer norm's mean and
    variance, for a scaled-down copy of a photo. `tile` takes `image` and those
    `moments` to `stylized`, so that each tile is normalised like the whole
    photo (`Generator.norm_moments`, `Generator(norm_moments=...)`).
    """
    import tf2onnx

    clone = export_generator(generator, "onnx")
    count = len(clone.zero_moments())
    image = tf.TensorSpec([1, None, None, 3], tf.float32, name=INPUT_NAME)
    moments = tf.TensorSpec([count, 2], tf.float32, name=MOMENTS_NAME)

    def measure(image):
        return tf.stack([tf.reshape(tf.stack([mean, variance]), [2]) for mean, variance in clone.norm_moments(image)])

    def tile(image, moments):
        given = [(tf.reshape(moments[k, 0], [1, 1, 1, 1]), tf.reshape(moments[k, 1], [1, 1, 1, 1]))
                 for k in range(count)]
        return clone(image, norm_moments=given)

    models = {}
    for name, function, signature, output in (("measure", measure, [image], MOMENTS_NAME),
                                              ("tile", tile, [image, moments], "stylized")):
        model, _ = tf2onnx.convert.from_function(tf.function(function), input_signature=signature, opset=OPSET,
                                                 custom_op_handlers={"EuclideanNorm": (_reduce_l2, [])})
        model.graph.output[0].name = _rename_output(model, output)
        models[name] = model
    return models


def _reduce_l2(ctx, node, name, args):
    """tf2onnx handler: TensorFlow's EuclideanNorm as ONNX's Sqrt(ReduceSumSquare).

    ONNX's ReduceL2 computes the same, 3x slower in ONNX Runtime's CPU kernels here.
    """
    from tf2onnx.onnx_opset.reduction import ReduceOpBase

    node.type = "ReduceSumSquare"
    ReduceOpBase.version_11(ctx, node)  # axes and keepdims as attributes, as Mean's
    ctx.insert_new_node_on_output("Sqrt", node.output[0], name=node.name + "/sqrt")


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
    """Static INT8 in QDQ form: per-channel 7-bit weights, uint8 activations, min/max calibration.

    uint8 activations with int8 weights (U8S8) are what ONNX Runtime's x86 CPU
    fuses into QLinearConv (int8 activations stayed float convolutions between
    Q/DQ pairs: 2.5x slower). x86 without VNNI multiplies U8S8 pairs into
    saturating 16-bit sums, so the weights keep 7 bits (`reduce_range`): the
    same model is right on every CPU (29.7 dB on AVX2 with 8-bit weights,
    docs/notes/2026-11-inference-and-export.md).
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not calibration:
        raise ExportError("INT8 needs calibration samples")
    with tempfile.TemporaryDirectory() as tmp:
        source, prepared, output, ranges = (Path(tmp) / name for name in
                                            ("float.onnx", "prep.onnx", "int8.onnx", "ranges.json"))
        onnx.save(model, source)
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        graph = onnx.load(prepared).graph
        keep_float = [node.name for node in graph.node if FLOAT_ISLANDS.search(node.name)]
        _save_ranges(residual_ranges(graph, activation_ranges(prepared, calibration, tmp)), ranges)
        quantize_static(str(prepared), str(output), None, calibration_cache_path=ranges,
                        quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=keep_float)
        return onnx.load(output)


def activation_ranges(path, calibration, workdir):
    """{tensor: (min, max)} of every activation of the ONNX model at `path` over the samples."""
    from onnxruntime.quantization import CalibrationMethod, create_calibrator

    calibrator = create_calibrator(Path(path), augmented_model_path=str(Path(workdir) / "augmented.onnx"),
                                   calibrate_method=CalibrationMethod.MinMax)
    calibrator.collect_data(_Samples(calibration))
    return {name: data.range_value for name, data in calibrator.compute_data().items()}


def residual_ranges(graph, ranges):
    """`ranges` with both inputs of each residual add widened to the sum's range.

    As in the TFLite export: quantized on the sum's grid, the addends need no
    rescaling inside the int8 add, and the residual stream is rounded once per
    block instead of twice. Graph nodes are in topological order.
    """
    ranges = dict(ranges)
    for node in reversed(graph.node):  # last block first: a sum widened by the next block passes it on
        if node.op_type == "Add" and RESIDUAL_ADDS.search(node.name):
            low, high = ranges[node.output[0]]
            for name in node.input:
                ranges[name] = (np.minimum(low, ranges[name][0]), np.maximum(high, ranges[name][1]))
    return ranges


def _save_ranges(ranges, path):
    from onnxruntime.quantization import CalibrationMethod, save_tensors_data
    from onnxruntime.quantization.calibrate import TensorsData

    save_tensors_data(TensorsData(CalibrationMethod.MinMax, ranges), path)
