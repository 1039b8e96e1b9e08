"""ONNX export and the ONNX Runtime runner: every variant matches the Keras model; no TensorFlow to run."""
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from anime_tf.edge import EdgeStylizer, open_model
from anime_tf.edge.cli import main as edge_main
from anime_tf.edge.onnx_model import OnnxModel, choose_provider
from anime_tf.export import main as export_main
from anime_tf.export import calibration as calibration_module
from anime_tf.export import onnx as onnx_export
from anime_tf.metrics import psnr
from anime_tf.export.tflite import ExportError
from anime_tf.imageio import from_model_range, to_model_range
from test_edge import NO_TENSORFLOW

SIZE = (64, 64)
# float32 must match Keras within 1e-4 (max abs, [-1, 1] scale; 6e-6 measured). PSNR floors for
# the rest, 3 dB under the minimum over the 6 photos measured here at 64x64 (float16 63.9,
# int8 30.8), as the TFLite tests' floors.
FLOAT32_MAX_ABS = 1e-4
FLOORS = {"float16": 58.0, "int8": 27.0}


@pytest.fixture(scope="module")
def photos(shared_images):
    return {p.name: np.asarray(Image.open(p).convert("RGB"))
            for p in sorted((shared_images / "photos").glob("*.jpg"))[:6]}


@pytest.fixture(scope="module")
def exports(hayao_generator, hayao_weights, shared_images, tmp_path_factory):
    """The four ONNX variants; the dynamic one through `anime-tf export`'s own path, with its sidecars."""
    faces = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((shared_images / "faces").glob("*.jpg"))]
    samples = calibration_module.calibration_samples(faces, SIZE, count=6)
    folder = tmp_path_factory.mktemp("onnx")
    paths = {}
    for name in ("float32", "float16", "int8"):
        paths[name] = folder / f"{name}.onnx"
        paths[name].write_bytes(onnx_export.convert(hayao_generator, name, SIZE, samples))
    paths["int8_dynamic"] = folder / "int8_dynamic.onnx"  # the README's command: static INT8 at any size
    paths["int8_dynamic"].write_bytes(onnx_export.convert(hayao_generator, "int8", None, samples))
    paths["dynamic"] = folder / "dynamic.onnx"
    paths["dynamic_report"] = export_main.export(hayao_weights, paths["dynamic"], "float32", "dynamic",
                                                 eval_dir=shared_images / "faces", latency_runs=2)
    return paths


def keras_and_onnx(generator, model, rgb, size):
    x = to_model_range(np.asarray(Image.fromarray(rgb).resize(size[::-1], Image.Resampling.BICUBIC)))
    return generator(x).numpy(), model(x)


def test_float32_matches_keras(exports, hayao_generator, photos):
    model = OnnxModel(exports["float32"], threads=2)
    assert model.fixed_size == SIZE and model.provider == "CPUExecutionProvider"
    errors = [np.abs(np.subtract(*keras_and_onnx(hayao_generator, model, rgb, SIZE))).max()
              for rgb in photos.values()]
    assert max(errors) < FLOAT32_MAX_ABS, errors


@pytest.mark.parametrize("variant", list(FLOORS))
def test_float16_and_int8_stay_close_to_keras(variant, exports, hayao_generator, photos):
    model = OnnxModel(exports[variant], threads=2)
    scores = [psnr(*(from_model_range(y) for y in keras_and_onnx(hayao_generator, model, rgb, SIZE)))
              for rgb in photos.values()]
    print(variant, [round(s, 1) for s in scores])
    assert min(scores) >= FLOORS[variant], scores
    float_size, size = exports["float32"].stat().st_size, exports[variant].stat().st_size
    assert size < 0.55 * float_size if variant == "float16" else size < 0.35 * float_size


def test_int8_is_qdq_with_float_islands_7_bit_weights_and_residual_ranges(exports):
    import onnx
    from onnx.numpy_helper import to_array

    graph = onnx.load(exports["int8"]).graph
    kinds = [node.op_type for node in graph.node]
    assert kinds.count("QuantizeLinear") > 25 and kinds.count("DequantizeLinear") > 25
    produced_by = {out: node for node in graph.node for out in node.output}
    # Each layer norm's statistics (a square root of its variance and one per row norm) and the tanh stay float.
    float_inputs = [produced_by[node.input[0]].op_type for node in graph.node if node.op_type in ("Sqrt", "Tanh")]
    assert len(float_inputs) == 2 * 24 + 1 and "DequantizeLinear" not in float_inputs
    # Weights in 7 bits (reduce_range), so U8S8 products never saturate on x86 without VNNI.
    constants = {t.name: to_array(t) for t in graph.initializer}
    dequantized = {node.output[0]: constants[node.input[0]] for node in graph.node
                   if node.op_type == "DequantizeLinear" and node.input[0] in constants}
    kernels = [dequantized[node.input[1]] for node in graph.node if node.op_type == "Conv"
               and node.input[1] in dequantized]
    assert len(kernels) == 24 and all(k.dtype == np.int8 and np.abs(k).max() == 64 for k in kernels)
    # The residual stream and what each block adds to it share one grid: the adds need no rescaling.
    adds = [node for node in graph.node if node.op_type == "Add" and onnx_export.RESIDUAL_ADDS.search(node.name)]
    assert len(adds) == 3
    for add in adds:
        (quantize,) = [node for node in graph.node if node.op_type == "QuantizeLinear" and node.input[0] == add.output[0]]
        scales = [constants[produced_by[name].input[1]] for name in add.input]
        assert all(np.isclose(scale, constants[quantize.input[1]]) for scale in scales)


def test_dynamic_model_takes_any_size(exports, hayao_generator, photos):
    model = open_model(exports["dynamic"], threads=2)
    assert model.fixed_size is None
    rgb = next(iter(photos.values()))
    for size in [(48, 80), (68, 36), (51, 77)]:  # the last is padded to a multiple of 4 inside the model
        keras, onnx_out = keras_and_onnx(hayao_generator, model, rgb, size)
        assert onnx_out.shape == (1, *size, 3)
        assert np.abs(keras - onnx_out).max() < FLOAT32_MAX_ABS
    out = EdgeStylizer(model, keep_brightness=False).stylize_array(rgb[:101, :67])
    assert out.shape == (101, 67, 3)
    int8 = open_model(exports["int8_dynamic"], threads=2)
    assert int8.fixed_size is None
    for size in [(64, 64), (48, 80)]:
        keras, int8_out = keras_and_onnx(hayao_generator, int8, rgb, size)
        assert psnr(from_model_range(int8_out), from_model_range(keras)) >= FLOORS["int8"]


def test_export_writes_onnx_metadata_and_report(exports):
    out, report = exports["dynamic"], exports["dynamic_report"]
    metadata = json.loads(out.with_name("dynamic.onnx.json").read_text())
    assert metadata["file_format"] == "onnx" and metadata["input_size"] is None
    assert metadata["generator"] == {"width": 1.0, "blocks": 4}
    saved = json.loads(out.with_name("dynamic.onnx.report.json").read_text())
    assert saved["bytes"] == out.stat().st_size == report["bytes"]
    assert len(saved["fidelity"]) == 6 and saved["psnr_mean"] > 70 and saved["latency_ms"] > 0


@pytest.mark.parametrize("options, error", [
    ({"fmt": "tflite"}, "--format tflite needs an output name ending in .tflite"),
    ({"output": "m.pt"}, "must end in .tflite or .onnx"),
    ({"quantize": "dynamic"}, "TFLite options"),
    ({"quantize": "int8"}, "needs --calibration_dir"),
])
def test_bad_onnx_export_arguments_fail_clearly_and_write_nothing(options, error, hayao_weights, tmp_path):
    args = {"weights": hayao_weights, "output": "m.onnx", "size": "64", **options}
    args["output"] = tmp_path / "out" / args["output"]
    with pytest.raises(ExportError, match=error):
        export_main.export(**args)
    assert not (tmp_path / "out").exists()


def test_edge_runs_onnx_without_tensorflow_or_tf2onnx(exports, shared_images, tmp_path):
    script = NO_TENSORFLOW.replace('"tensorflow", "keras"', '"tensorflow", "keras", "tf2onnx", "onnx"')
    photo = shared_images / "photos" / "street_3.jpg"
    result = subprocess.run([sys.executable, "-c", script, "--model", str(exports["dynamic"]), str(photo),
                             "-o", str(tmp_path), "--max-side", "96", "--provider", "cpu", "--benchmark", "1"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    out = Image.open(tmp_path / "street_3.png")
    source = Image.open(photo)
    assert max(out.size) == 96 and abs(out.width / out.height - source.width / source.height) < 0.03
    assert np.asarray(out).astype(float).std() > 20


def test_bad_onnx_model_and_provider_exit_2(exports, tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\0" * 100)
    assert edge_main(["--model", str(bad), "--benchmark", "1"]) == 2
    assert "not a readable ONNX model" in capsys.readouterr().err
    assert edge_main(["--model", str(exports["float32"]), "--provider", "nope", "--benchmark", "1"]) == 2
    assert "execution provider 'nope' is not in this ONNX Runtime" in capsys.readouterr().err
    assert choose_provider("cpu", ["CPUExecutionProvider"]) == "CPUExecutionProvider"
    assert choose_provider("openvino", ["OpenVINOExecutionProvider", "CPUExecutionProvider"]) \
        == "OpenVINOExecutionProvider"
