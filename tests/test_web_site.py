"""`anime-tf export --format web`: the static site stylizes photos in Chromium, uploads nothing, gives
the edge runner's pixels for the same model, and tiles big photos as `anime-tf stylize` does."""
import base64
import io
import json
import shutil
import zipfile

import numpy as np
import pytest
from PIL import Image

from anime_tf.edge.cli import main as edge_main
from anime_tf.export import main as export_main
from anime_tf.export.web import serve_site
from anime_tf.files import OutputExistsError
from anime_tf.metrics import psnr

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("web") / "site"
    export_main.export("hayao-lite", folder, fmt="web", latency_runs=1)  # shipped, and quick in WASM
    return folder


def test_the_site_folder_holds_page_model_runtime_and_licence(site):
    for name in ["index.html", "app.js", "stylize.js", "zip.js", "app.css", "model.onnx", "site.json",
                 "model.onnx.json", "measure.onnx", "tile.onnx", "ort/ort.wasm.min.mjs", "ort/ort-wasm-simd-threaded.wasm", "ort/LICENSE"]:
        assert (site / name).is_file(), name
    config = json.loads((site / "site.json").read_text())
    assert config["model"] == "model.onnx" and config["default_side"] >= 1024
    assert config["runtime"].startswith("onnxruntime-web ")
    assert json.loads((site / "model.onnx.json").read_text())["input_size"] is None  # any size
    assert "MIT License" in (site / "ort" / "LICENSE").read_text()
    with pytest.raises(OutputExistsError):
        export_main.export("hayao-lite", site, fmt="web")
    with pytest.raises(export_main.AnimeTFError, match="writes a folder"):
        export_main.export("hayao-lite", site.with_name("x.onnx"), fmt="web")


@pytest.fixture(scope="module")
def static_server(site):
    server, url = serve_site(site)  # a plain static server: no isolation headers, one WASM thread
    yield url.rstrip("/")
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.skip(f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium; CI installs it)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def photo_file(path, seed, size):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (9, 12, 3), dtype=np.uint8)
    Image.fromarray(small).resize(size, Image.Resampling.BICUBIC).save(path)
    return path


def stylize_like_the_cli(site, rgb):
    """`anime-tf stylize`'s pixels (the Keras model, tiled with whole-photo moments) at the site's tiling."""
    from anime_tf.inference import Stylizer

    config = json.loads((site / "site.json").read_text())
    stylizer = Stylizer("hayao-lite", max_whole_pixels=config["max_whole_pixels"], tile_size=config["tile_size"],
                        tile_overlap=config["tile_overlap"])
    return stylizer.stylize_array(rgb)


def blob_bytes(page, url):
    data = page.evaluate("""async (url) => {
        const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
        let text = ""; for (const b of bytes) text += String.fromCharCode(b);
        return btoa(text);
    }""", url)
    return base64.b64decode(data)


@pytest.mark.browser
@pytest.mark.slow
def test_the_site_stylizes_in_the_browser_like_the_edge_runner_and_tiles_like_stylize(browser, static_server, site, tmp_path):
    from playwright.sync_api import expect

    photos = [photo_file(tmp_path / "small.png", 1, (300, 200)),
              photo_file(tmp_path / "tall.jpg", 2, (600, 1400))]  # scaled to 439 x 1024
    requests = []
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.on("request", lambda request: requests.append((request.method, request.url)))
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(static_server)
    expect(page.locator("body[data-ready=true]")).to_have_count(1, timeout=60_000)
    page.get_by_test_id("upload-input").set_input_files([str(p) for p in photos])
    page.get_by_test_id("start").click()
    expect(page.locator("[data-testid=job][data-state=done]")).to_have_count(2, timeout=300_000)
    page.screenshot(path=tmp_path / "phone.png", full_page=True)
    links = page.get_by_test_id("download")
    for index, photo in enumerate(photos):
        href = links.nth(index).get_attribute("href")
        assert href.startswith("blob:") and links.nth(index).get_attribute("download") == f"{photo.stem}.png"
        got = np.asarray(Image.open(io.BytesIO(blob_bytes(page, href))))
        out = tmp_path / f"edge_{index}"
        assert edge_main(["--model", str(site / "model.onnx"), str(photo), "-o", str(out),
                          "--max-side", "1024", "--threads", "2"]) == 0
        expected = np.asarray(Image.open(out / f"{photo.stem}.png"))
        assert got.shape[:2] == expected.shape[:2], (got.shape, expected.shape)
        assert (got[..., 3] == 255).all()  # a canvas PNG is RGBA; the photo had no alpha
        assert got[..., :3].std() > 5
        print(photo.name, psnr(got[..., :3], expected))
        assert psnr(got[..., :3], expected) >= 40.0, photo.name
    archive = zipfile.ZipFile(io.BytesIO(blob_bytes(page, page.get_by_test_id("download-all").get_attribute("href"))))
    assert archive.namelist() == ["small.png", "tall.png"] and archive.testzip() is None
    # Past the whole-image budget, tiles as anime-tf stylize makes them: anime_tf/tiling.py's boxes and
    # blend, every tile normalised with the moments of a scaled-down copy of the whole photo.
    big = photo_file(tmp_path / "big.png", 3, (1100, 1000))
    page.get_by_label("Output size").select_option("")
    page.get_by_test_id("upload-input").set_input_files([str(big)])
    page.get_by_test_id("start").click()
    expect(page.locator("[data-testid=job][data-state=done]")).to_have_count(3, timeout=300_000)
    got = np.asarray(Image.open(io.BytesIO(blob_bytes(page, links.first.get_attribute("href")))))[..., :3]
    assert got.shape == (1000, 1100, 3)
    print("tiled", psnr(got, stylize_like_the_cli(site, np.asarray(Image.open(big)))))
    assert psnr(got, stylize_like_the_cli(site, np.asarray(Image.open(big)))) >= 40.0
    assert errors == []
    host = static_server + "/"
    assert all(method == "GET" and (url.startswith(host) or url.startswith("blob:")) for method, url in requests), \
        [r for r in requests if not r[1].startswith(host)]
