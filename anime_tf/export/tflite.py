"""Convert a generator to TFLite: float32, float16, dynamic-range or full-integer INT8.

The exported graph is the Keras generator with the ops XNNPACK runs
(`Generator(export_format="tflite")`: reflect padding as slices and concatenation,
the variance as mean(x*x) - mean^2, each mean taken one axis at a time so that
XNNPACK's int8 MEAN is right on every CPU), frozen to constants at a fixed
input size. INT8 calibration runs through XNNPACK (`export.calibration`).
For INT8 the layer-norm statistics (per-sample scalars), the last conv block
(conv, layer norm, activation) and the output conv stay in float by default:
small float islands that cost little time and keep the clipped-statistics and
8-bit-resolution errors out of the picture. The last block's conv output, read
before its norm, had the largest quantization error of any tensor; in float it
adds 1.6 dB (Hayao) for 3% more time (docs/notes/2026-11-inference-and-export.md).
`int8_strict` quantizes everything, for accelerators without float ops.
"""
from __future__ import annotations

import re

import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from anime_tf.config import QUANTIZATIONS
from anime_tf.errors import AnimeTFError
from anime_tf.export.calibration import fast_calibration
from anime_tf.weights import build_generator

# Output tensors kept in float in the default INT8 export (see module doc): every layer
# norm's statistics, the last conv block (E3: conv, norm, activation), the 1x1 output
# conv and tanh. Scopes may be suffixed (E3_1 from tracing; moments_1 for a block's second
# layer norm, as in the ONNX export's list); the tanh output is named Identity.
FLOAT_ISLANDS = re.compile(r"/(moments|stats)(_\d+)?/|/E3(_\d+)?/(conv|norm|LeakyRelu)|/out_layer(_\d+)?/|^Identity")


class ExportError(AnimeTFError, ValueError):
    """An export that cannot be done as asked; the message says why."""


def parse_size(text):
    """'256' -> (256, 256); '512x384' -> (384, 512) as (height, width); 'dynamic' -> None."""
    text = str(text).strip().lower()
    if text == "dynamic":
        return None
    match = re.fullmatch(r"(\d+)(?:x(\d+))?", text)
    if not match:
        raise ExportError(f"bad size {text!r}: use 256, WIDTHxHEIGHT such as 512x384, or dynamic")
    width = int(match.group(1))
    height = int(match.group(2) or width)
    if width < 32 or height < 32 or width % 4 or height % 4:
        raise ExportError(f"bad size {text!r}: each side must be a multiple of 4 and at least 32")
    return height, width


def export_generator(generator, export_format="tflite"):
    """A copy of `generator` with the ops `export_format` runs fastest and the same weights."""
    clone = build_generator(generator.architecture, export_format)
    clone.set_weights(generator.get_weights())
    return clone


def frozen_function(model, size):
    """The model as a frozen concrete function (INT8 calibration needs constants)."""
    height, width = size if size else (None, None)
    spec = tf.TensorSpec([1, height, width, 3], tf.float32, name="image")
    concrete = tf.function(lambda image: model(image)).get_concrete_function(spec)
    return convert_variables_to_constants_v2(concrete)


def check_options(quantize, size, calibrated, int8_io=False, int8_strict=False):
    """Raise ExportError for a combination that cannot be exported (before any work is done)."""
    if quantize not in QUANTIZATIONS:
        raise ExportError(f"unknown quantization {quantize!r}; choose one of {', '.join(QUANTIZATIONS)}")
    if (int8_io or int8_strict) and quantize != "int8":
        raise ExportError("--int8_io and --int8_strict go with --quantize int8")
    if quantize == "int8" and not calibrated:
        raise ExportError("--quantize int8 needs --calibration_dir")
    if quantize == "int8" and size is None:
        raise ExportError("--quantize int8 needs a fixed --size")


def convert(generator, quantize="float32", size=(256, 256), calibration=None, int8_io=False,
            int8_strict=False):
    """TFLite model bytes. `calibration`: arrays (1xHxWx3 in [-1, 1]) for INT8."""
    check_options(quantize, size, bool(calibration), int8_io, int8_strict)
    model = export_generator(generator)
    # Without trackable_obj: the path whose tensor names FLOAT_ISLANDS matches (tested).
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen_function(model, size)])
    if quantize == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantize == "int8":
        return _convert_int8(converter, calibration, int8_io, int8_strict)
    return converter.convert()


def _convert_int8(converter, calibration, int8_io, int8_strict):
    float_model = None if int8_strict else converter.convert()  # names the tensors, cheaply
    def representative_dataset():
        return ([sample] for sample in calibration)

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset
    if int8_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    with fast_calibration():
        if int8_strict:
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            return converter.convert()
        float_nodes = [name for name in _tensor_names(float_model) if FLOAT_ISLANDS.search(name)]
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=representative_dataset,
            debug_options=tf.lite.experimental.QuantizationDebugOptions(
                denylisted_nodes=float_nodes, fully_quantize=int8_io))
        return debugger.get_nondebug_quantized_model()


def _tensor_names(model):
    from ai_edge_litert.interpreter import Interpreter

    return [t["name"] for t in Interpreter(model_content=model).get_tensor_details()]
