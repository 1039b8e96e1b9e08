"""Distilled students against their teacher: cost, speed, and how close they stay, small and large.

    python benchmarks/bench_student.py --teacher hayao.weights.h5 --students hayao-lite hayao-tiny \
        --reference ../shared/models/animeganv2_hayao_256x256_integer_quant.tflite \
        --val ../shared/images/bsds500/val --calibration ../shared/images/bsds500/train \
        --large ../shared/images/photos ../shared/images/faces \
        --faces ../shared/images/faces --face_model ../shared/models/face_landmarker.task \
        --cache runs/bench_cache --out student/

Students are anything `--weights` takes (a shipped style's name, a file, a
run folder). For the teacher and each student:
- cost: FLOPs (TensorFlow's profiler on the frozen graph) at 256 and 512, parameters;
- speed at 256: Keras, and the default INT8 export (LiteRT, XNNPACK), medians
  over interleaved rounds, with ratios against the teacher's and against the
  reference INT8 TFLite (--reference) measured in the same run; the INT8
  export's PSNR against its own float model (its export report);
- closeness on the held-out photos (--val): PSNR and SSIM against the teacher
  at 256x256 (bicubic, as the export report) and at full size, naming the
  two photos furthest from the teacher at 256;
- large photos (--large) at full size, each model as `anime-tf stylize` runs
  it (whole when memory allows, else tiled with the whole photo's moments):
  PSNR against the teacher and the colour shift, the 95th percentile of the
  CIELAB distance of 64-pixel block means (`anime_tf.metrics.block_color_shift`);
- face error on --faces: the student's landmarks against the teacher's.
The teacher's large outputs are kept in --cache (they take minutes); side-by-side
PNGs (photo | teacher | students) go to --out.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image

from anime_tf.edge import EdgeModel
from anime_tf.export import main as export_main
from anime_tf.imageio import find_images, load_image, split_alpha, to_model_range
from anime_tf.inference import Stylizer
from anime_tf.metrics import block_color_shift, psnr, ssim
from anime_tf.models.cost import forward_flops
from anime_tf.weights import load_generator, weights_identity

INT8_REFERENCE = "reference INT8"


def read_photos(*folders):
    found = find_images([str(folder) for folder in folders])[0]
    return {path.stem: np.asarray(split_alpha(load_image(path))[0]) for path, _ in found}


def at_256(rgb):
    return np.asarray(Image.fromarray(rgb).resize((256, 256), Image.Resampling.BICUBIC))


def model_name(weights):
    """A short label: the style's name, or the file's (its run folder's for a run's generator.weights.h5)."""
    path = Path(str(weights))
    name = path.name.replace(".weights.h5", "")
    return path.parent.name if name == "generator" and path.parent.name else name


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


def print_cost(generators):
    print(f"{'model':<14} {'width':>5} {'blocks':>6} {'params':>9} {'GFLOPs 256':>10} {'GFLOPs 512':>10} "
          f"{'x teacher':>9}")
    cost = {n: forward_flops(g, 256) for n, g in generators.items()}
    for n, g in generators.items():
        print(f"{n:<14} {g.width:5.3f} {g.blocks:6d} {g.count_params():9d} {cost[n] / 1e9:10.2f} "
              f"{forward_flops(g, 512) / 1e9:10.2f} {cost[n] / cost['teacher']:9.3f}")


def print_latency(args, generators, weights, val, out):
    """Keras and INT8 latency at 256, against the teacher and the reference INT8 in the same rounds."""
    reports = {n: export_main.export(weights[n], out / f"{n}.int8.tflite", "int8", "256",
                                     calibration_dir=args.calibration, eval_dir=args.val,
                                     threads=args.threads, latency_runs=2, overwrite=True)
               for n in generators}
    x = to_model_range(at_256(next(iter(val.values()))))
    keras_runs = {n: (lambda f=tf.function(g): f(x).numpy()) for n, g in generators.items()}
    int8_paths = {**({INT8_REFERENCE: args.reference} if args.reference else {}),
                  **{n: out / f"{n}.int8.tflite" for n in generators}}
    int8_runs = {n: (lambda m=EdgeModel(p, threads=args.threads): m(x)) for n, p in int8_paths.items()}
    for runs in (keras_runs, int8_runs):
        interleaved_medians(runs, 1, 2)  # warm up
    keras_ms = interleaved_medians(keras_runs, args.rounds, args.runs)
    int8_ms = interleaved_medians(int8_runs, args.rounds, args.runs)
    reference = int8_ms.get(INT8_REFERENCE, float("nan"))
    print(f"\nlatency at 256x256, {args.threads} threads, median of {args.rounds}x{args.runs} interleaved runs")
    print(f"{'model':<14} {'Keras ms':>9} {'x teacher':>9} {'INT8 ms':>8} {'x teacher':>9} {'x reference':>11} "
          f"{'INT8 vs own float dB mean/min':>30}")
    if args.reference:
        print(f"{INT8_REFERENCE:<14} {'':>9} {'':>9} {reference:8.1f} {reference / int8_ms['teacher']:9.3f} "
              f"{1.0:11.3f}")
    for n in generators:
        r = reports[n]
        print(f"{n:<14} {keras_ms[n]:9.1f} {keras_ms[n] / keras_ms['teacher']:9.3f} {int8_ms[n]:8.1f} "
              f"{int8_ms[n] / int8_ms['teacher']:9.3f} {int8_ms[n] / reference:11.3f} "
              f"{r['psnr_mean']:20.2f} / {r['psnr_min']:.2f}")


def print_closeness(stylizers, val):
    """PSNR and SSIM against the teacher on the held-out photos, at 256 and at their own size."""
    print(f"\nagainst the teacher on {len(val)} held-out photos (dB; SSIM)")
    print(f"{'model':<14} {'PSNR 256 mean':>13} {'min':>6} {'SSIM 256':>8} {'PSNR full mean':>14} {'min':>6} "
          f"{'SSIM full':>9}  worst at 256 (the next)")
    inputs = {**{(n, "256"): at_256(rgb) for n, rgb in val.items()}, **{(n, "full"): rgb for n, rgb in val.items()}}
    teacher = {key: stylizers["teacher"].stylize_array(image) for key, image in inputs.items()}
    for n, stylizer in list(stylizers.items())[1:]:
        rows = {"256": ([], []), "full": ([], [])}
        for key, image in inputs.items():
            output = stylizer.stylize_array(image)
            rows[key[1]][0].append(psnr(teacher[key], output))
            rows[key[1]][1].append(ssim(teacher[key], output))
        (p256, s256), (pfull, sfull) = rows["256"], rows["full"]
        # The minimum is often one photo: name it and the runner-up, so a low min is read for what it is.
        worst = sorted(zip(p256, val))[:2]
        print(f"{n:<14} {statistics.fmean(p256):13.2f} {min(p256):6.2f} {statistics.fmean(s256):8.3f} "
              f"{statistics.fmean(pfull):14.2f} {min(pfull):6.2f} {statistics.fmean(sfull):9.3f}  "
              + " ".join(f"{name} {value:.2f}" for value, name in worst))


def teacher_outputs(stylizer, teacher_weights, photos, cache):
    """The teacher's full-size outputs, kept in `cache` under the teacher's identity (minutes to make)."""
    folder = Path(cache) / weights_identity(teacher_weights)[:16] if cache else None
    outputs = {}
    for name, rgb in photos.items():
        path = folder / f"{name}.png" if folder else None
        if path is not None and path.exists():
            outputs[name] = np.asarray(Image.open(path).convert("RGB"))
            continue
        outputs[name] = stylizer.stylize_array(rgb)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(outputs[name]).save(path)
    return outputs


def print_large(stylizers, teacher, photos, out):
    """Per photo at full size: PSNR against the teacher and the block colour shift (p95, CIELAB)."""
    students = list(stylizers)[1:]
    print(f"\nat full size against the teacher ({len(photos)} photos): PSNR dB / colour shift p95 (delta E)")
    print(f"{'photo':<18} {'size':>10} " + " ".join(f"{n:>20}" for n in students))
    scores = {n: [] for n in students}
    for name, rgb in photos.items():
        cells = []
        for n in students:
            output = stylizers[n].stylize_array(rgb)
            scores[n].append((psnr(teacher[name], output), block_color_shift(teacher[name], output)))
            cells.append(f"{scores[n][-1][0]:11.2f} / {scores[n][-1][1]:5.2f}")
            if out:
                (out / "large").mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.concatenate([teacher[name], output], axis=1)).save(
                    out / "large" / f"{name}.{n}.png")
        print(f"{name:<18} {rgb.shape[1]:>5}x{rgb.shape[0]:<4} " + " ".join(cells))
    for n in students:
        p, shift = zip(*scores[n])
        print(f"{n}: PSNR mean {statistics.fmean(p):.2f} min {min(p):.2f}; colour shift p95 mean "
              f"{statistics.fmean(shift):.2f} max {max(shift):.2f}")


def print_faces(stylizers, faces, face_model):
    """Median face-structure error of each student's landmarks against the teacher's, and faces lost."""
    from anime_tf.face import FaceLandmarker
    from anime_tf.metrics import face_structure

    with FaceLandmarker(face_model) as landmarker:
        reference = {n: landmarker.detect(stylizers["teacher"].stylize_array(rgb)) for n, rgb in faces.items()}
        print(f"\nface error against the teacher's landmarks ({len(faces)} photos)")
        for n, stylizer in list(stylizers.items())[1:]:
            errors, lost = [], 0
            for name, rgb in faces.items():
                result = face_structure(reference[name], landmarker.detect(stylizer.stylize_array(rgb)))
                errors += result["errors"]
                lost += result["lost"]
            print(f"{n:<14} median {statistics.median(errors) if errors else float('nan'):.4f}  lost {lost}")


def side_by_side(photos, stylizers, out, count=6):
    out.mkdir(parents=True, exist_ok=True)
    for name in sorted(photos)[:count]:
        rgb = photos[name]
        row = [rgb] + [s.stylize_array(rgb) for s in stylizers.values()]
        Image.fromarray(np.concatenate(row, axis=1)).save(out / f"{name}.png")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", required=True, help="the teacher's weights")
    parser.add_argument("--students", nargs="+", required=True, help="students: style names, files or run folders")
    parser.add_argument("--val", required=True, help="held-out photos (never trained on)")
    parser.add_argument("--calibration", help="photos to calibrate the INT8 exports on (with latency)")
    parser.add_argument("--reference", help="a reference INT8 .tflite, timed with the others")
    parser.add_argument("--large", nargs="*", default=[], help="folders of large photos, measured at full size")
    parser.add_argument("--faces", help="photos with faces, for the face-structure error")
    parser.add_argument("--face_model", help="face_landmarker.task (default: the cached copy)")
    parser.add_argument("--no_latency", action="store_true", help="skip the exports and timings")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5, help="runs per model per round")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", type=Path, help="keep the teacher's large outputs here")
    parser.add_argument("--out", type=Path, help="side-by-side PNGs and the INT8 exports go here")
    args = parser.parse_args()
    if not args.no_latency and not args.calibration:
        parser.error("--calibration is needed for the INT8 exports (or give --no_latency)")

    weights = {"teacher": args.teacher, **{model_name(s): s for s in args.students}}
    if len(weights) != 1 + len(args.students):
        parser.error("two students have the same label; give their weights distinct file or folder names")
    generators = {n: load_generator(w) for n, w in weights.items()}
    stylizers = {n: Stylizer(g, keep_brightness=False) for n, g in generators.items()}  # the models' own output
    out = args.out or Path(tempfile.mkdtemp())
    val = read_photos(args.val)

    print_cost(generators)
    if not args.no_latency:
        print_latency(args, generators, weights, val, out)
    print_closeness(stylizers, val)
    if args.large:
        large = read_photos(*args.large)
        print_large(stylizers, teacher_outputs(stylizers["teacher"], args.teacher, large, args.cache), large, out)
    if args.faces:
        print_faces(stylizers, read_photos(args.faces), args.face_model)
    side_by_side(val, stylizers, out / "side_by_side")
    print(f"\nINT8 exports in {out}; side-by-side PNGs (photo | {' | '.join(weights)}) in {out}/side_by_side, "
          f"large ones (teacher | student) in {out}/large")


if __name__ == "__main__":
    main()
