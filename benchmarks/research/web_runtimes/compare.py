"""onnxruntime-web against LiteRT.js on the same generator, in Chromium (docs/notes/2026-12-web-runtimes.md).

    python benchmarks/research/web_runtimes/compare.py --weights hayao-lite --sizes 512 1024 --runs 3

Fetches @litertjs/core and @litertjs/wasm-utils with `npm pack` (the version
given), exports the weights as fixed-size float32 .tflite files (LiteRT.js
2.5 takes no other input shape) and as a web site (onnxruntime-web, any size),
and times each runtime's model call alone on the same input in one page,
plainly served (one thread) or with COOP/COEP (`--isolated`, threads).
"""
import argparse
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def npm_package(name, version, folder):
    subprocess.run(["npm", "pack", "--silent", f"{name}@{version}"], cwd=folder, check=True,
                   stdout=subprocess.DEVNULL)
    (tgz,) = Path(folder).glob(f"{name.lstrip('@').replace('/', '-')}-*.tgz")
    target = Path(folder) / name.replace("/", "_")
    with tarfile.open(tgz) as archive:
        archive.extractall(target, filter="data")
    tgz.unlink()
    return target / "package"


def build(folder, weights, sizes, version):
    from anime_tf.export import main as export_main

    core, utils = (npm_package(n, version, folder) for n in ("@litertjs/core", "@litertjs/wasm-utils"))
    for sub, source in (("litert", core / "dist" / "index.js"), ("wu", utils / "dist" / "index.js")):
        (folder / sub).mkdir()
        shutil.copy(source, folder / sub / "index.js")
    shutil.copytree(core / "wasm", folder / "wasm")
    export_main.export(weights, folder / "site", fmt="web", latency_runs=1)
    shutil.copytree(folder / "site" / "ort", folder / "ort")
    shutil.copy(folder / "site" / "model.onnx", folder / "model.onnx")
    for size in sizes:
        export_main.export(weights, folder / f"m{size}.tflite", size=str(size), latency_runs=1)
    shutil.copy(HERE / "index.html", folder / "index.html")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="hayao-lite")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--isolated", action="store_true", help="serve with COOP/COEP (threads)")
    parser.add_argument("--litert_version", default="2.5.3")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp())
    build(folder, args.weights, args.sizes, args.litert_version)
    from anime_tf.export.web import serve_site

    server, url = serve_site(folder, args.isolated)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(url)
        page.wait_for_function("window.ready === true")
        for size in args.sizes:
            lite = page.evaluate(f"window.benchLiteRt({size}, {args.runs})")
            ort = page.evaluate(f"window.benchOrt({size}, {args.runs})")
            gap = max(abs(a - b) for a, b in zip(lite["out"], ort["out"]))
            print(f"{size}: LiteRT.js {statistics.median(lite['times']):.0f} ms, onnxruntime-web "
                  f"{statistics.median(ort['times']):.0f} ms ({ort['threads']} threads), "
                  f"outputs {gap:.1e} apart; isolated: {lite['isolated']}")
        browser.close()
    server.shutdown()
    shutil.rmtree(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
