"""Inference speed and fidelity: Keras float, our TFLite and ONNX exports, and the reference INT8 model.

    python benchmarks/bench_inference.py --weights hayao.weights.h5 --images ../shared/images \\
        --workdir /tmp/bench_exports

All rows are measured in one run, interleaved round by round (each round a
different photo) so that load on this noisy machine hits every row alike;
each row's figure is the median over the rounds, after warm-up, and each
timed run follows an untimed run of the same model. Every row is
compared with the reference INT8 model at 256x256 (ONNX Runtime rows also
with our TFLite INT8 at the same size), and with this machine's
measured compute peak (a large 1x1 convolution through the same LiteRT
path, float32 and int8, timed in the same rounds). Calibration uses faces/
plus every third photo of photos/; fidelity is measured on the other photos
(held out).
"""
import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from PIL import Image
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from anime_tf.edge import EdgeModel
from anime_tf.edge.onnx_model import OnnxModel
from anime_tf.export import calibration, onnx, tflite
from anime_tf.metrics import psnr
from anime_tf.imageio import from_model_range, to_model_range
from anime_tf.weights import load_generator

VARIANTS = [("float32", {}), ("float16", {}), ("dynamic", {}), ("int8", {}),
            ("int8-strict", {"int8_strict": True})]
ONNX_VARIANTS = ["float32", "float16", "int8"]


def generator_flops(generator, size):
    """Floating-point operations of one forward pass of the official graph (TF profiler, frozen)."""
    spec = tf.TensorSpec([1, size, size, 3], tf.float32)
    official = tf.function(lambda x: generator(x, training=True))
    frozen = convert_variables_to_constants_v2(official.get_concrete_function(spec))
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return tf.compat.v1.profiler.profile(graph=frozen.graph, options=options).total_float_ops


def peak_probe(workdir, threads, int8):
    """A large 1x1 conv (a pure GEMM) through LiteRT and its FLOP count: this machine's compute limit.

    It is timed in every round beside the models, so load hits it alike.
    """
    path = workdir / f"peak_{'int8' if int8 else 'float32'}.tflite"
    shape, channels = (1, 64, 64, 512), 512
    if not path.exists():
        model = tf.keras.Sequential([tf.keras.Input(shape[1:], batch_size=1),
                                     tf.keras.layers.Conv2D(channels, 1, use_bias=False)])
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        if int8:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([np.random.uniform(-1, 1, shape).astype(np.float32)]
                                                        for _ in range(4))
        path.write_bytes(converter.convert())
    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], np.zeros(shape, np.float32))
    return (lambda _: interpreter.invoke()), 2 * np.prod(shape) * channels


def load_photos(folder, size):
    return {p.name: to_model_range(np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.BICUBIC)))
            for p in folder}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--images", required=True, type=Path, help="folder with faces/ and photos/")
    parser.add_argument("--reference", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared" / "models"
                        / "animeganv2_hayao_256x256_integer_quant.tflite")
    parser.add_argument("--workdir", type=Path, required=True, help="where exports are kept between runs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--sizes", default="256,512")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    generator = load_generator(args.weights)
    photos = sorted((args.images / "photos").glob("*.jpg"))
    calibration_files = sorted((args.images / "faces").glob("*.jpg")) + photos[::3]
    held_out = [p for p in photos if p not in calibration_files]
    calibration_photos = [np.asarray(Image.open(p).convert("RGB")) for p in calibration_files]
    sizes = [int(s) for s in args.sizes.split(",")]

    rows = []  # (name, size, run(x) -> y, file bytes)
    keras_fn = tf.function(lambda x: generator(x, training=False))
    for size in sizes:
        rows.append(("Keras float32 (tf.function)", size, lambda x: keras_fn(x).numpy(), None))
        for variant, options in VARIANTS:
            path = args.workdir / f"{variant}_{size}.tflite"
            if not path.exists():
                quantize = variant.split("-")[0]
                samples = (calibration.calibration_samples(calibration_photos, (size, size))
                           if quantize == "int8" else None)
                print(f"exporting {path.name} ...", flush=True)
                path.write_bytes(tflite.convert(generator, quantize, (size, size), samples, **options))
            model = EdgeModel(path, threads=args.threads)
            rows.append((f"TFLite {variant}", size, model, path.stat().st_size))
        for variant in ONNX_VARIANTS:
            path = args.workdir / f"{variant}_{size}.onnx"
            if not path.exists():
                samples = (calibration.calibration_samples(calibration_photos, (size, size))
                           if variant == "int8" else None)
                print(f"exporting {path.name} ...", flush=True)
                path.write_bytes(onnx.convert(generator, variant, (size, size), samples))
            rows.append((f"ONNX Runtime {variant}", size, OnnxModel(path, threads=args.threads),
                         path.stat().st_size))
    reference = EdgeModel(args.reference, threads=args.threads)
    rows.append(("reference INT8 (PINTO)", 256, reference, args.reference.stat().st_size))
    probes = {kind: peak_probe(args.workdir, args.threads, int8=kind == "int8") for kind in ("float32", "int8")}

    inputs = {size: load_photos(held_out, size) for size in set(sizes) | {256}}
    float_outputs = {size: {n: from_model_range(generator(x)) for n, x in inputs[size].items()} for size in inputs}
    fidelity = {}
    for name, size, run, _ in rows:
        scores = [psnr(from_model_range(run(x)), float_outputs[size][n]) for n, x in inputs[size].items()]
        fidelity[name, size] = (statistics.fmean(scores), min(scores))

    timed = rows + [(f"peak {kind}", 256, run, None) for kind, (run, _) in probes.items()]
    times = {(name, size): [] for name, size, _, _ in timed}
    names = list(inputs[256])
    for name, size, run, _ in timed:  # warm-up
        for _ in range(2):
            run(inputs[size][names[0]])
    for r in range(args.rounds):
        image = names[r % len(names)]
        for name, size, run, _ in timed:
            # One untimed run first: the previous model's thread pool and caches are not this one's.
            run(inputs[size][image])
            start = time.perf_counter()
            run(inputs[size][image])
            times[name, size].append(time.perf_counter() - start)
    median_ms = {key: 1000 * statistics.median(value) for key, value in times.items()}
    reference_ms = median_ms["reference INT8 (PINTO)", 256]

    flops = {size: generator_flops(generator, size) for size in set(sizes) | {256}}
    peak_f32, peak_i8 = (probes[kind][1] / median_ms[f"peak {kind}", 256] * 1000 for kind in ("float32", "int8"))
    print(f"\n{args.threads} threads, median of {args.rounds} interleaved rounds after warm-up; "
          f"fidelity: mean PSNR vs Keras float on {len(held_out)} held-out photos")
    print(f"generator: {', '.join(f'{flops[s] / 1e9:.1f} GFLOP at {s}' for s in sorted(flops))}; "
          f"measured peak: float32 {peak_f32 / 1e9:.1f} GFLOP/s, int8 {peak_i8 / 1e9:.1f} GOP/s "
          f"(limit at 256: float32 {flops[256] / peak_f32 * 1000:.0f} ms, int8 {flops[256] / peak_i8 * 1000:.0f} ms)")
    print("| model | size | ms/image | images/s | MB | PSNR vs float, mean / min (dB) | x reference@256 "
          "| x compute limit | share of peak |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, size, _, nbytes in rows:
        ms = median_ms[name, size]
        integer = any(word in name.lower() for word in ("int8", "dynamic"))  # int8 GEMMs
        peak = peak_i8 if integer else peak_f32
        limit_ms = flops[size] / peak * 1000
        mb = f"{nbytes / 1e6:.2f}" if nbytes else "-"
        mean, low = fidelity[name, size]
        print(f"| {name} | {size} | {ms:.0f} | {1000 / ms:.2f} | {mb} | {mean:.1f} / {low:.1f} | "
              f"{ms / reference_ms:.2f} | {ms / limit_ms:.2f} ({'int8' if integer else 'f32'}) | "
              f"{100 * limit_ms / ms:.0f}% |")
    for size in sizes:
        ratio = median_ms["ONNX Runtime int8", size] / median_ms["TFLite int8", size]
        print(f"ONNX Runtime INT8 / TFLite INT8 at {size}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
