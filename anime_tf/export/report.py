"""What an export is worth: file size, fidelity to the float Keras model, latency in its runtime."""
from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image
from tqdm import tqdm

from anime_tf.edge import benchmark, open_model
from anime_tf.imageio import from_model_range, to_model_range
from anime_tf.metrics import psnr, ssim


def fidelity(model, generator, images, size):
    """PSNR and SSIM of an edge model's output against the Keras generator's, per named image.

    `images`: {name: uint8 RGB array}; each is resized (bicubic) to `size`.
    """
    height, width = size
    run_keras = tf.function(lambda x: generator(x, training=False))  # traced once: 5x eager speed
    rows = []
    for name, rgb in tqdm(images.items(), desc="fidelity", unit="img", leave=False):
        x = to_model_range(np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.BICUBIC)))
        expected = from_model_range(run_keras(x))
        got = from_model_range(model(x))
        rows.append({"image": name, "psnr": psnr(got, expected), "ssim": ssim(got, expected)})
    return rows


def build_report(model_path, metadata, generator, images, threads, latency_runs):
    size = tuple(metadata["input_size"]) if metadata["input_size"] else (256, 256)
    report = {"model": str(model_path), "bytes": Path(model_path).stat().st_size, **metadata,
              "threads": threads}
    model = open_model(model_path, threads=threads)
    if images:
        rows = fidelity(model, generator, images, size)
        report["fidelity"] = rows
        report["psnr_mean"] = statistics.fmean(r["psnr"] for r in rows)
        report["psnr_min"] = min(r["psnr"] for r in rows)
        report["ssim_mean"] = statistics.fmean(r["ssim"] for r in rows)
    report["latency_ms"] = benchmark(model, latency_runs, size=size)
    report["latency_size"] = list(size)
    return report


def format_report(report):
    lines = [f"{report['model']}: {report['bytes'] / 1e6:.2f} MB, {report['quantization']}, "
             f"input {report['latency_size'][1]}x{report['latency_size'][0]}"]
    for row in report.get("fidelity", []):
        lines.append(f"  {row['image']:<28} PSNR {row['psnr']:6.2f} dB  SSIM {row['ssim']:.4f}")
    if "fidelity" in report:
        lines.append(f"  {'mean':<28} PSNR {report['psnr_mean']:6.2f} dB  SSIM {report['ssim_mean']:.4f}"
                     f"  (min PSNR {report['psnr_min']:.2f} dB; against the float Keras model)")
    else:
        lines.append("  fidelity: not measured (give --eval_dir)")
    lines.append(f"  latency: median {report['latency_ms']:.1f} ms with {report['threads']} threads")
    if "seconds" in report:
        lines.append("  export took " + ", ".join(f"{name} {s:.1f} s" for name, s in report["seconds"].items()))
    return "\n".join(lines)
