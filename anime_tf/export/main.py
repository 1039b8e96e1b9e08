"""Export a generator to TFLite or ONNX, with a metadata sidecar and a fidelity and latency report.

    python export_tflite.py --weights hayao.weights.h5 --quantize int8 --size 256 \\
        --calibration_dir photos/ --output hayao_int8.tflite
    anime-tf export --weights hayao.weights.h5 --format onnx --quantize int8 --size dynamic \\
        --calibration_dir photos/ --output hayao_int8.onnx

Writes OUTPUT (the model; a .tflite also carries the signature `stylize`,
`image` to `stylized`, and TFLite metadata: `export.tflite_metadata`),
OUTPUT.json (metadata: style, input range, size, quantization, source
weights, version, signature) and OUTPUT.report.json (file size,
PSNR/SSIM against the float Keras model per image, latency in the runtime
that will run it: LiteRT or ONNX Runtime), all atomically; nothing is written
when an argument is wrong.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path

from absl import flags

from anime_tf.config import QUANTIZATIONS
from anime_tf.errors import AnimeTFError

FORMATS = ("tflite", "onnx", "web")
CALIBRATION_SIZE = (256, 256)  # INT8 calibration samples of a dynamic-size ONNX export


def define_flags(fv):
    """The export's flags, on the FlagValues `fv`."""
    on = {"flag_values": fv}
    flags.DEFINE_string("weights", None, "Generator weights: .weights.h5, .keras, AnimeGANv2 .tflite, "
                        "official TF1 checkpoint folder, training run folder, or a style name.", **on)
    flags.DEFINE_enum("format", None, FORMATS, "tflite (LiteRT), onnx (ONNX Runtime), or web (a static "
                      "site, OUTPUT a folder, that stylizes in the browser with onnxruntime-web; "
                      "always any size); default: from the --output name (.tflite or .onnx).", **on)
    flags.DEFINE_enum("quantize", "float32", QUANTIZATIONS,
                      "float32; float16 (half-size weights); dynamic (TFLite: int8 weights, float "
                      "compute); int8 (TFLite full-integer, ONNX static QDQ; needs --calibration_dir).", **on)
    flags.DEFINE_string("size", "256", "Input size: 256, WIDTHxHEIGHT such as 512x384, or dynamic "
                        "(any size; CPU only: GPU and NNAPI delegates need a fixed size).", **on)
    flags.DEFINE_string("calibration_dir", None, "Photos for INT8 calibration (representative data).", **on)
    flags.DEFINE_integer("calibration_samples", 40, "INT8 calibration samples (whole photos, then "
                         "random crops); more widens the ranges and can lose precision.", lower_bound=1, **on)
    flags.DEFINE_bool("int8_io", False, "TFLite int8: int8 input and output tensors instead of float32.", **on)
    flags.DEFINE_bool("int8_strict", False, "TFLite int8: every op in int8, for NPUs without float ops "
                      "(default keeps tiny float islands for the layer-norm statistics, the last "
                      "conv block and the output conv, for fidelity).", **on)
    flags.DEFINE_string("output", None, "The .tflite or .onnx file to write (a folder for --format web).", **on)
    flags.DEFINE_bool("overwrite", False, "Replace existing output files.", **on)
    flags.DEFINE_string("eval_dir", None, "Photos for the fidelity report (default: the calibration "
                        "photos; give held-out photos for an honest figure).", **on)
    flags.DEFINE_integer("threads", os.cpu_count(), "Runtime threads for the latency report.", lower_bound=1, **on)
    flags.DEFINE_integer("latency_runs", 10, "Timed runs (median) for the latency report.", lower_bound=1, **on)
    flags.mark_flags_as_required(["weights", "output"], **on)


def export(weights, output, quantize="float32", size="256", calibration_dir=None,
           calibration_samples=40, int8_io=False, int8_strict=False, overwrite=False,
           eval_dir=None, threads=None, latency_runs=10, fmt=None):
    """Export and report; returns the report dict. Raises with a clear message on bad input."""
    options = dict(quantize=quantize, size=size, calibration_dir=calibration_dir,
                   calibration_samples=calibration_samples, int8_io=int8_io, int8_strict=int8_strict,
                   eval_dir=eval_dir, threads=threads, latency_runs=latency_runs)
    if fmt != "web":
        return _export_model(weights, output, fmt=fmt, overwrite=overwrite, **options)
    from anime_tf.export import web

    check_format(Path(output), fmt)
    with web.site_folder(output, overwrite) as folder:
        generator = {}  # the one load, shared with the tile models
        report = _export_model(weights, folder / web.MODEL_FILE, fmt="onnx", loaded=generator,
                               **options | {"size": "dynamic"})
        with _stage("convert the tile models", report["seconds"], "tile models"):
            web.write_tile_models(folder, generator["model"], quantize)
        report["site"] = web.write_page(folder, report)
        report["model"] = str(Path(output) / web.MODEL_FILE)
        _write_json(folder / f"{web.MODEL_FILE}.report.json", report, overwrite=True)
    return report


def _export_model(weights, output, quantize="float32", size="256", calibration_dir=None,
                  calibration_samples=40, int8_io=False, int8_strict=False, overwrite=False,
                  eval_dir=None, threads=None, latency_runs=10, fmt=None, loaded=None):
    """One model file and its sidecars; `loaded` (a dict), if given, receives the generator as "model"."""
    from anime_tf import __version__
    from anime_tf.export import calibration, tflite
    from anime_tf.export.report import build_report
    from anime_tf.files import OutputExistsError, atomic_path
    from anime_tf.weights import load_generator

    output = Path(output)
    fmt = check_format(output, fmt)
    shape = tflite.parse_size(size)
    sidecars = [output.with_name(output.name + ".json"), output.with_name(output.name + ".report.json")]
    for path in [output] + sidecars:
        if path.exists() and not overwrite:
            raise OutputExistsError(path)
    if fmt == "onnx" and (quantize == "dynamic" or int8_io or int8_strict):
        raise tflite.ExportError("--quantize dynamic, --int8_io and --int8_strict are TFLite options; "
                                 "ONNX takes float32, float16 or int8")
    tflite.check_options(quantize, (shape or CALIBRATION_SIZE) if fmt == "onnx" else shape,
                         bool(calibration_dir), int8_io, int8_strict)
    samples, calibration_photos = None, None
    if quantize == "int8":
        calibration_photos = read_photos(calibration_dir)
        samples = calibration.calibration_samples(list(calibration_photos.values()), shape or CALIBRATION_SIZE,
                                                  calibration_samples)
    if eval_dir:
        eval_photos = read_photos(eval_dir)
    else:  # the calibration photos, already read (not held out: say so with --eval_dir)
        eval_photos = calibration_photos or (read_photos(calibration_dir) if calibration_dir else {})

    seconds, label = {}, quantize + ("-strict" if int8_strict else "")
    with _stage("load weights", seconds):
        generator = load_generator(weights)
    if loaded is not None:
        loaded["model"] = generator
    with _stage(f"convert to {fmt} {quantize}" + (f", calibrated on {len(samples)} samples" if samples else ""),
                seconds, "convert"):
        if fmt == "onnx":
            from anime_tf.export import onnx

            model = onnx.convert(generator, quantize, shape, samples)
        else:
            from anime_tf.export import tflite_metadata

            model = tflite.convert(generator, quantize, shape, samples, int8_io, int8_strict)
            model = tflite_metadata.for_apps(model, style=_style_name(weights), quantization=label,
                                             version=__version__)
    metadata = {
        "format": "anime-tf generator", "file_format": fmt, "version": __version__, "source_weights": str(weights),
        "style": _style_name(weights), "quantization": label,
        "input_size": list(shape) if shape else None, "input_layout": "NHWC RGB",
        "input_range": [-1.0, 1.0], "output_range": [-1.0, 1.0],
        "io_dtype": "int8" if int8_io else "float32", "generator": generator.architecture,
    }
    if fmt == "tflite":
        from anime_tf.export.tflite_metadata import INPUT_NAME, OUTPUT_NAME, SIGNATURE_KEY

        metadata["signature"] = {"key": SIGNATURE_KEY, "input": INPUT_NAME, "output": OUTPUT_NAME}
    with atomic_path(output, overwrite=overwrite) as tmp:
        tmp.write_bytes(model)
    _write_json(sidecars[0], metadata, overwrite)
    with _stage(f"measure fidelity on {len(eval_photos)} photos and latency", seconds, "report"):
        report = build_report(output, metadata, generator, eval_photos, threads or os.cpu_count(),
                              latency_runs)
    report["eval_photos"] = str(eval_dir or calibration_dir or "")
    report["seconds"] = seconds
    _write_json(sidecars[1], report, overwrite)
    return report


def check_format(output, fmt=None):
    """The export format: `fmt` if given, else the output's suffix; the two must agree."""
    from anime_tf.export.tflite import ExportError

    suffix = output.suffix.lower().lstrip(".")
    if fmt == "web":
        if suffix in FORMATS:
            raise ExportError(f"{output}: --format web writes a folder; give a folder name, not a .{suffix} file")
        return fmt
    if suffix not in FORMATS:
        raise ExportError(f"{output}: the output name must end in .tflite or .onnx")
    if fmt and fmt != suffix:
        raise ExportError(f"{output}: --format {fmt} needs an output name ending in .{fmt}")
    return suffix


@contextlib.contextmanager
def _stage(text, seconds, key=None):
    """Say what the export is doing (stderr) and record how long it took in `seconds`."""
    print(f"export: {text} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    yield
    seconds[key or text] = round(time.perf_counter() - start, 1)


def read_photos(directory):
    """{file name: uint8 RGB array} for the images in a folder; bad files are skipped with a warning."""
    import numpy as np

    from anime_tf.export.tflite import ExportError
    from anime_tf.imageio import ImageError, find_images, load_image, split_alpha

    if not Path(directory).is_dir():
        raise ExportError(f"{directory}: no such folder")
    pairs, _ = find_images([str(directory)])
    photos = {}
    for path, _ in pairs:
        try:
            photos[path.name] = np.asarray(split_alpha(load_image(path))[0])
        except ImageError as err:
            print(f"warning: skipped {err}", file=sys.stderr)
    if not photos:
        raise ExportError(f"{directory}: no readable images")
    return photos


def _style_name(weights):
    from anime_tf import config

    name = Path(str(weights)).name.lower()
    # the longest name first, so that hayao-lite's files are not taken for hayao's
    return next((style for style in sorted(config.STYLES, key=len, reverse=True) if style in name), "custom")


def _write_json(path, data, overwrite):
    from anime_tf.files import atomic_path

    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=float) + "\n")


def main(argv=None, prog="export_tflite.py"):
    """export_tflite.py and `anime-tf export`: flags to `export`; the exit code (0 written, 2 not)."""
    from anime_tf import absl_app

    fv, code = absl_app.parse(define_flags, argv, prog, __doc__, __name__)
    if fv is None:
        return code
    from anime_tf.export.report import format_report

    try:
        report = export(fv.weights, fv.output, fv.quantize, fv.size, fv.calibration_dir, fv.calibration_samples,
                        fv.int8_io, fv.int8_strict, fv.overwrite, fv.eval_dir, fv.threads, fv.latency_runs,
                        fv.format)
    except AnimeTFError as err:
        print(f"export: error: {err}", file=sys.stderr)
        return 2
    print(format_report(report))
    return 0
