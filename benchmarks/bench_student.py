"""Distilled students against their teacher: cost, speed and how close they stay.

    python benchmarks/bench_student.py --teacher hayao.weights.h5 --students runs/w50b2 runs/w38b2 \
        --val ../shared/images/bsds500/val --calibration ../shared/images/bsds500/train \
        --faces ../shared/images/faces --face_model ../shared/models/face_landmarker.task --out student/

For the teacher and each student: FLOPs (TensorFlow's profiler on the frozen
graph) and parameters at 256x256 and 512x512; Keras latency at 256 and the
default INT8 export's latency (LiteRT, XNNPACK), medians over interleaved
rounds with ratios against the teacher measured in the same run; the INT8
export's PSNR against its own float model on the held-out photos (the export
report); PSNR and SSIM against the teacher on the held-out photos, resized to
256x256 (bicubic, as the export report does) and at full size; and the
face-structure error of the student's landmarks against the teacher's on the
face photos. Side-by-side PNGs (photo | teacher | students) go to --out.
"""
import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from anime_tf.edge import EdgeModel
from anime_tf.export import main as export_main
from anime_tf.metrics import psnr, ssim
from anime_tf.imageio import find_images, load_image, split_alpha, to_model_range
from anime_tf.inference import Stylizer
from anime_tf.weights import load_generator


def flops(generator, size):
    """Floating-point operations of one forward pass at size x size."""
    spec = tf.TensorSpec([1, size, size, 3], tf.float32)
    graph = convert_variables_to_constants_v2(tf.function(generator).get_concrete_function(spec)).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return tf.compat.v1.profiler.profile(graph=graph, options=options).total_float_ops


def read_photos(folder):
    return {path.stem: np.asarray(split_alpha(load_image(path))[0]) for path, _ in find_images([str(folder)])[0]}


def at_256(rgb):
    return np.asarray(Image.fromarray(rgb).resize((256, 256), Image.Resampling.BICUBIC))


def interleaved_medians(runners, rounds, runs):
    """{name: median ms} over `rounds` rounds; in each, every runner runs `runs` times in turn."""
    times = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            for _ in range(runs):
                start = time.perf_counter()
                run()
                times[name].append(1000 * (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in times.items()}


def at_sizes(photos):
    """{(name, "256" or "full"): uint8 RGB}: each held-out photo at 256x256 and at its own size."""
    return {**{(n, "256"): at_256(rgb) for n, rgb in photos.items()}, **{(n, "full"): rgb for n, rgb in photos.items()}}


def closeness(teacher_outputs, student, inputs):
    """{"psnr256", "ssim256", "psnr_full", "ssim_full"}: lists of the student against the teacher."""
    rows = {"psnr256": [], "ssim256": [], "psnr_full": [], "ssim_full": []}
    for key, image in inputs.items():
        suffix = "256" if key[1] == "256" else "_full"
        a, b = teacher_outputs[key], student.stylize_array(image)
        rows[f"psnr{suffix}"].append(psnr(a, b))
        rows[f"ssim{suffix}"].append(ssim(a, b))
    return rows


def face_errors(teacher_landmarks, student, faces, landmarker):
    """Median face-structure error of the student's landmarks against the teacher's, and faces lost."""
    from anime_tf.metrics import face_structure

    errors, lost = [], 0
    for name, rgb in faces.items():
        result = face_structure(teacher_landmarks[name], landmarker.detect(student.stylize_array(rgb)))
        errors += result["errors"]
        lost += result["lost"]
    return (statistics.median(errors) if errors else float("nan")), lost


def side_by_side(photos, stylizers, out, count=6):
    out.mkdir(parents=True, exist_ok=True)
    for name in sorted(photos)[:count]:
        rgb = photos[name]
        row = [rgb] + [s.stylize_array(rgb) for s in stylizers.values()]
        Image.fromarray(np.concatenate(row, axis=1)).save(out / f"{name}.png")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", required=True, help="the teacher's weights")
    parser.add_argument("--students", nargs="+", required=True, help="students' weights or run folders")
    parser.add_argument("--val", required=True, help="held-out photos (never trained on)")
    parser.add_argument("--calibration", required=True, help="photos to calibrate the INT8 exports on")
    parser.add_argument("--faces", help="photos with faces, for the face-structure error")
    parser.add_argument("--face_model", help="face_landmarker.task (default: the cached copy)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5, help="runs per model per round")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, help="side-by-side PNGs and the INT8 exports go here")
    args = parser.parse_args()

    names = ["teacher"] + [Path(s).name.replace(".weights.h5", "") for s in args.students]
    generators = dict(zip(names, [load_generator(w) for w in [args.teacher] + args.students]))
    weights = dict(zip(names, [args.teacher] + args.students))
    stylizers = {n: Stylizer(g, keep_brightness=False) for n, g in generators.items()}  # the models' own output
    out = args.out or Path(tempfile.mkdtemp())
    val = read_photos(args.val)

    print(f"{'model':<12} {'width':>5} {'blocks':>6} {'params':>9} {'GFLOPs 256':>10} {'GFLOPs 512':>10} "
          f"{'x teacher':>9}")
    cost = {n: flops(g, 256) for n, g in generators.items()}
    for n, g in generators.items():
        print(f"{n:<12} {g.width:5.3f} {g.blocks:6d} {g.count_params():9d} {cost[n] / 1e9:10.2f} "
              f"{flops(g, 512) / 1e9:10.2f} {cost[n] / cost['teacher']:9.3f}")

    reports = {}
    for n in names:
        reports[n] = export_main.export(weights[n], out / f"{n}.int8.tflite", "int8", "256",
                                        calibration_dir=args.calibration, eval_dir=args.val,
                                        threads=args.threads, latency_runs=2, overwrite=True)
    x = to_model_range(at_256(next(iter(val.values()))))
    keras_runs = {n: (lambda f=tf.function(g): f(x).numpy()) for n, g in generators.items()}
    edge_models = {n: EdgeModel(out / f"{n}.int8.tflite", threads=args.threads) for n in names}
    int8_runs = {n: (lambda m=m: m(x)) for n, m in edge_models.items()}
    for runs in (keras_runs, int8_runs):
        interleaved_medians(runs, 1, 2)  # warm up
    keras_ms = interleaved_medians(keras_runs, args.rounds, args.runs)
    int8_ms = interleaved_medians(int8_runs, args.rounds, args.runs)
    print(f"\nlatency at 256x256, {args.threads} threads, median of {args.rounds}x{args.runs} interleaved runs")
    print(f"{'model':<12} {'Keras ms':>9} {'x teacher':>9} {'INT8 ms':>8} {'x teacher':>9} "
          f"{'INT8 vs own float dB mean/min':>30}")
    for n in names:
        r = reports[n]
        print(f"{n:<12} {keras_ms[n]:9.1f} {keras_ms[n] / keras_ms['teacher']:9.3f} {int8_ms[n]:8.1f} "
              f"{int8_ms[n] / int8_ms['teacher']:9.3f} {r['psnr_mean']:20.2f} / {r['psnr_min']:.2f}")

    print(f"\nagainst the teacher on {len(val)} held-out photos (dB; SSIM)")
    print(f"{'model':<12} {'PSNR 256 mean':>13} {'min':>6} {'SSIM 256':>8} {'PSNR full mean':>14} {'min':>6} "
          f"{'SSIM full':>9} {'face err':>8} {'lost':>4}")
    faces = read_photos(args.faces) if args.faces else {}
    inputs = at_sizes(val)
    teacher_outputs = {key: stylizers["teacher"].stylize_array(image) for key, image in inputs.items()}
    landmarker = None
    if faces:
        from anime_tf.face import FaceLandmarker

        landmarker = FaceLandmarker(args.face_model)
        teacher_landmarks = {n: landmarker.detect(stylizers["teacher"].stylize_array(rgb)) for n, rgb in faces.items()}
    for n in names[1:]:
        rows = closeness(teacher_outputs, stylizers[n], inputs)
        error, lost = face_errors(teacher_landmarks, stylizers[n], faces, landmarker) if faces else (
            float("nan"), 0)
        print(f"{n:<12} {statistics.fmean(rows['psnr256']):13.2f} {min(rows['psnr256']):6.2f} "
              f"{statistics.fmean(rows['ssim256']):8.3f} {statistics.fmean(rows['psnr_full']):14.2f} "
              f"{min(rows['psnr_full']):6.2f} {statistics.fmean(rows['ssim_full']):9.3f} {error:8.4f} {lost:4d}")
    if landmarker:
        landmarker.close()
    side_by_side(val, stylizers, out / "side_by_side")
    if faces:
        side_by_side(faces, stylizers, out / "side_by_side_faces")
    print(f"\nINT8 exports in {out}; side-by-side PNGs (photo | {' | '.join(names)}) in {out}/side_by_side*")


if __name__ == "__main__":
    main()
