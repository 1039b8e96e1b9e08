"""`anime-tf export --format web`: a static site that stylizes photos in the browser, uploading nothing.

The folder holds the page (`anime_tf/web/`: the same look as `anime-tf
serve`, whose stylesheet it copies), a dynamic-size ONNX export of the
generator (`model.onnx`, with the usual sidecar and report), two models that
tile big photos as `anime-tf stylize` does (`measure.onnx`, `tile.onnx`), `site.json`
(what the page needs to know), and onnxruntime-web's WASM build
(`anime_tf/web/ort/`, vendored from npm with its licence). Any static host
serves it; threads need the COOP/COEP headers (docs/web.md).
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import json
import shutil
import tempfile
import threading
from pathlib import Path

from anime_tf.config import MOMENTS_PIXELS
from anime_tf.files import OutputExistsError

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
SERVE_STATIC = Path(__file__).resolve().parents[1] / "serve" / "static"
PAGE_FILES = ("index.html", "app.js", "stylize.js", "zip.js")
SHARED_FILES = ("app.css", "favicon.svg")  # from anime-tf serve's page: one look
MODEL_FILE = "model.onnx"
MEASURE_FILE, TILE_FILE = "measure.onnx", "tile.onnx"  # tiles normalised like the whole photo
DEFAULT_SIDE = 1024  # the page's default output size (longer side)
MAX_WHOLE_PIXELS = 1024 * 1024  # larger images go through tiles (WASM memory is 4 GB at most)
TILE_SIZE, TILE_OVERLAP = 512, 32
# The headers that make a page cross-origin isolated, which browsers require for WASM threads.
ISOLATION_HEADERS = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}


@contextlib.contextmanager
def site_folder(output, overwrite=False):
    """A temporary folder beside `output` to write the site into; renamed to `output` on success.

    Nothing is left behind on failure, and an existing site is replaced only with `overwrite`.
    """
    output = Path(output)
    if output.exists() and not overwrite:
        raise OutputExistsError(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    work.chmod(0o755)  # mkdtemp makes it private; a web server may run as another user
    try:
        yield work
        if output.exists():
            old = output.with_name(f".{output.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            output.rename(old)
            work.rename(output)
            shutil.rmtree(old)
        else:
            work.rename(output)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_tile_models(folder, generator, quantize):
    """measure.onnx and tile.onnx (`export.onnx.tile_models`), with half-size weights unless float32.

    They stay float for an INT8 site too: they run on big photos only, where
    the whole-photo moments matter more than the last bit of speed.
    """
    import onnx

    from anime_tf.export.onnx import half_size_weights, tile_models

    for name, model in tile_models(generator).items():
        if quantize != "float32":
            model = half_size_weights(model)
        onnx.save(model, Path(folder) / {"measure": MEASURE_FILE, "tile": TILE_FILE}[name])


def write_page(folder, metadata):
    """Copy the page, its shared style and the runtime into `folder`, and write site.json."""
    folder = Path(folder)
    for name in PAGE_FILES:
        shutil.copy2(WEB_DIR / name, folder / name)
    for name in SHARED_FILES:
        shutil.copy2(SERVE_STATIC / name, folder / name)
    shutil.copytree(WEB_DIR / "ort", folder / "ort")
    site = {"model": MODEL_FILE, "style": metadata["style"], "quantization": metadata["quantization"],
            "version": metadata["version"], "default_side": DEFAULT_SIDE,
            "max_whole_pixels": MAX_WHOLE_PIXELS, "tile_size": TILE_SIZE, "tile_overlap": TILE_OVERLAP,
            "measure": MEASURE_FILE, "tile": TILE_FILE, "moments_pixels": min(MAX_WHOLE_PIXELS, MOMENTS_PIXELS),
            "runtime": "onnxruntime-web " + runtime_version()}
    (folder / "site.json").write_text(json.dumps(site, indent=2) + "\n")
    return site


def runtime_version():
    return json.loads((WEB_DIR / "ort" / "package.json").read_text())["version"]


def serve_site(folder, isolated=False):
    """Serve `folder` on a free local port in a background thread: (server, url); `server.shutdown()` stops it.

    `isolated` adds ISOLATION_HEADERS, as a host configured for threads would.
    """
    headers = ISOLATION_HEADERS if isolated else {}

    class Handler(http.server.SimpleHTTPRequestHandler):
        def end_headers(self):
            for key, value in headers.items():
                self.send_header(key, value)
            super().end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"
