"""In-browser speed of an `anime-tf export --format web` site against the edge runner on the same model.

    python benchmarks/bench_web.py --weights hayao-lite --sizes 512 1024 --runs 5
    python benchmarks/bench_web.py --site my_site/        # an existing export

Chromium (Debian's, through Playwright) runs the page's own `stylizeBitmap` on a
photo-like image of each size, twice per round: once served plainly (one WASM
thread: browsers allow threads only to cross-origin isolated pages) and once with
the COOP/COEP headers (threads). The edge runner (ONNX Runtime, native) runs the
same model on the same image, one thread and all threads, in the same rounds.
Prints medians and ratios (browser / native).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

PAGE_TIMING = """async ([side, runs]) => {
    const { loadModel, stylizeBitmap } = await import("./stylize.js");
    window.benchModel ??= await loadModel(await (await fetch("site.json")).json());
    const canvas = new OffscreenCanvas(side, side);
    const context = canvas.getContext("2d");
    const gradient = context.createLinearGradient(0, 0, side, side);
    gradient.addColorStop(0, "#3a6ea5"); gradient.addColorStop(0.5, "#c8b27a"); gradient.addColorStop(1, "#2d5a27");
    context.fillStyle = gradient; context.fillRect(0, 0, side, side);
    const bitmap = await createImageBitmap(canvas);
    await stylizeBitmap(window.benchModel, bitmap, { maxSide: null });  // warm-up
    const times = [];
    for (let i = 0; i < runs; i++) {
        const start = performance.now();
        await stylizeBitmap(window.benchModel, bitmap, { maxSide: null });
        times.push(performance.now() - start);
    }
    return { times, threads: window.benchModel.threads, isolated: self.crossOriginIsolated };
}"""


def browser_times(browser, url, side, runs):
    page = browser.new_page()
    page.goto(url)
    result = page.evaluate(PAGE_TIMING, [side, runs])
    page.close()
    return result


def native_times(model_path, side, runs, threads):
    from anime_tf.edge import EdgeStylizer, open_model

    stylizer = EdgeStylizer(open_model(model_path, threads=threads))
    rgb = np.asarray(Image.linear_gradient("L").resize((side, side)).convert("RGB"))
    stylizer.stylize_array(rgb)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        stylizer.stylize_array(rgb)
        times.append(1000 * (time.perf_counter() - start))
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--site", type=Path, help="an exported site (default: export --weights into a temp folder)")
    parser.add_argument("--weights", default="hayao-lite", help="weights to export when no --site is given")
    parser.add_argument("--quantize", default="float32", choices=["float32", "float16", "int8"])
    parser.add_argument("--calibration_dir", help="photos for --quantize int8")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per size and setting (median)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    site = args.site
    if site is None:
        from anime_tf.export import main as export_main

        site = Path(tempfile.mkdtemp()) / "site"
        export_main.export(args.weights, site, quantize=args.quantize, calibration_dir=args.calibration_dir,
                           fmt="web", latency_runs=1)
    config = json.loads((site / "site.json").read_text())
    threads = os.cpu_count()
    from anime_tf.export.web import serve_site

    plain, plain_url = serve_site(site)
    isolated, isolated_url = serve_site(site, isolated=True)
    rows = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        for side in args.sizes:
            one = browser_times(browser, plain_url, side, args.runs)
            many = browser_times(browser, isolated_url, side, args.runs)
            native_one = native_times(site / "model.onnx", side, args.runs, 1)
            native_many = native_times(site / "model.onnx", side, args.runs, threads)
            rows.append((side, one, many, native_one, native_many))
        browser.close()
    plain.shutdown()
    isolated.shutdown()
    print(f"{config['style']} ({config['quantization']}), {config['runtime']}, Chromium, {threads} CPU threads")
    print(f"{'size':>6} {'browser 1 thr':>14} {'native 1 thr':>13} {'ratio':>6} "
          f"{'browser threads':>16} {'native threads':>15} {'ratio':>6}")
    for side, one, many, native_one, native_many in rows:
        b1, n1 = statistics.median(one["times"]), statistics.median(native_one)
        bt, nt = statistics.median(many["times"]), statistics.median(native_many)
        print(f"{side:>6} {b1:>11.0f} ms {n1:>10.0f} ms {b1 / n1:>5.2f}x "
              f"{bt:>10.0f} ms ({many['threads']}) {nt:>9.0f} ms ({threads}) {bt / nt:>5.2f}x")
        if not many["isolated"]:
            print("  warning: the isolated page was not cross-origin isolated; its numbers are one thread's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
