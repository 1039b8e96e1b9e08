"""TFLite files for apps: one named signature, metadata that reads back, and docs/mobile.md's maths.

`app_stylize` is the pre- and post-processing docs/mobile.md gives in Kotlin
and Swift, written in NumPy and run through LiteRT's signature runner: it must
give anime-tf-edge's pixels exactly.
"""
import json

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from PIL import Image

from anime_tf.edge import EdgeModel
from anime_tf.edge.cli import main as edge_main
from anime_tf.edge.stylizer import fit_inside
from anime_tf.export import main as export_main
from anime_tf.export import tflite_metadata

SIZE = "64x48"  # width x height: a fixed size, as GPU delegates and Core ML need


@pytest.fixture(scope="module")
def calibration_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("calibration")
    for seed in range(3):
        photo_image(seed, (120, 90)).save(folder / f"c{seed}.png")
    return folder


@pytest.fixture(scope="module")
def app_exports(random_weights, calibration_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("app_exports")
    exports = {"float32": {}, "int8-io": {"quantize": "int8", "int8_io": True}}
    paths = {}
    for name, options in exports.items():
        paths[name] = folder / f"{name}.tflite"
        export_main.export(random_weights, paths[name], size=SIZE, calibration_dir=calibration_dir,
                           latency_runs=1, **options)
    return paths


def photo_image(seed, size):
    """A smooth, photo-like RGB image (random colour blobs) of (width, height)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    return Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)


def app_stylize(path, photo):
    """docs/mobile.md step by step: uint8 RGB photo (already scaled to fit) to uint8 RGB result."""
    runner = Interpreter(model_path=str(path), num_threads=2).get_signature_runner("stylize")
    image, stylized = runner.get_input_details()["image"], runner.get_output_details()["stylized"]
    height, width = image["shape"][1:3]
    rows, cols = photo.shape[:2]
    x = photo.astype(np.float32) / 127.5 - 1.0                                        # pixel to [-1, 1]
    x = np.pad(x, ((0, height - rows), (0, width - cols), (0, 0)), mode="reflect")[None]  # to the model size
    if image["dtype"] == np.int8:                                                     # --int8_io files
        scale, zero = image["quantization"]
        x = np.clip(np.round(x / scale + zero), -128, 127).astype(np.int8)
    y = runner(image=x)["stylized"]
    if stylized["dtype"] == np.int8:
        scale, zero = stylized["quantization"]
        y = (y.astype(np.float32) - zero) * scale
    y = y[0, :rows, :cols]                                                            # drop the padding
    out = np.clip(np.floor((y + 1.0) * 127.5 + 0.5), 0, 255).astype(np.uint8)         # [-1, 1] to pixel
    luma = np.array([0.299, 0.587, 0.114])                                            # keep the brightness
    ratio = float(np.mean(photo.reshape(-1, 3) @ luma)) / float(np.mean(out.reshape(-1, 3) @ luma))
    return np.clip(np.floor(out.astype(np.float32) * ratio + 0.5), 0, 255).astype(np.uint8)


def test_every_tflite_export_has_the_stylize_signature(app_exports):
    for name, path in app_exports.items():
        interpreter = Interpreter(model_path=str(path))
        assert interpreter.get_signature_list() == {"stylize": {"inputs": ["image"], "outputs": ["stylized"]}}
        runner = interpreter.get_signature_runner("stylize")
        dtype = np.int8 if name == "int8-io" else np.float32
        assert runner.get_input_details()["image"]["dtype"] == dtype
        assert list(runner.get_input_details()["image"]["shape"]) == [1, 48, 64, 3]
        sidecar = json.loads(path.with_name(path.name + ".json").read_text())
        assert sidecar["signature"] == {"key": "stylize", "input": "image", "output": "stylized"}
        assert EdgeModel(path).fixed_size == (48, 64)  # the edge runner reads new files as it read old ones


def test_metadata_reads_back_with_what_an_app_needs(app_exports):
    md = tflite_metadata.read_metadata(app_exports["float32"].read_bytes())
    assert md["name"] == "anime-tf custom (float32)" and md["version"] and md["min_parser_version"] == "1.0.0"
    assert "AnimeGANv2" in md["description"] and "anime-tf" in md["author"]
    assert "non-commercial" in md["license"]
    for tensor, name in ((md["inputs"][0], "image"), (md["outputs"][0], "stylized")):
        assert tensor["name"] == name and tensor["image"] and tensor["color_space"] == "RGB"
        assert tensor["mean"] == [127.5] and tensor["std"] == [127.5]
    assert md["inputs"][0]["min"] == [-1.0] and md["inputs"][0]["max"] == [1.0]  # (0 - 127.5) / 127.5
    assert "127.5" in md["inputs"][0]["description"] and "127.5" in md["outputs"][0]["description"]
    int8 = tflite_metadata.read_metadata(app_exports["int8-io"].read_bytes())
    assert int8["name"] == "anime-tf custom (int8)" and int8["inputs"][0]["mean"] == [127.5]


def test_metadata_is_replaced_not_stacked(app_exports):
    data = app_exports["float32"].read_bytes()
    again = tflite_metadata.for_apps(data, style="hayao", quantization="float32", version="9.9")
    assert tflite_metadata.read_metadata(again)["version"] == "9.9"
    assert abs(len(again) - len(data)) < 512
    assert tflite_metadata.read_metadata(_bare(data)) is None


def _bare(data):
    """The same model with no metadata entry, as the converter writes it."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    model.metadata = [m for m in model.metadata if m.name not in (b"TFLITE_METADATA", "TFLITE_METADATA")]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


@pytest.mark.parametrize("variant", ["float32", "int8-io"])
def test_the_apps_maths_gives_the_edge_runners_pixels_exactly(variant, app_exports, tmp_path):
    source = photo_image(11, (100, 60))  # fits as 64 x 38: 10 rows of reflect padding
    source.save(tmp_path / "photo.png")
    assert edge_main(["--model", str(app_exports[variant]), str(tmp_path / "photo.png"),
                      "-o", str(tmp_path / "out"), "--threads", "2"]) == 0
    edge = np.asarray(Image.open(tmp_path / "out" / "photo.png"))
    fitted = np.asarray(fit_inside(source, (48, 64)))
    assert fitted.shape == edge.shape == (38, 64, 3)
    ours = app_stylize(app_exports[variant], fitted)
    assert ours.std() > 5, "a flat result proves nothing"
    np.testing.assert_array_equal(ours, edge)
