"""The page in a real browser: Playwright driving Debian's Chromium, as a user would use it."""
import io
import shutil
import zipfile

import numpy as np
import pytest
from PIL import Image

from serving import Server
from test_serve import cli_result

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.skip(f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium; CI installs it)")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(hayao_weights, tmp_path_factory):
    data = tmp_path_factory.mktemp("browser")
    server = Server(data / "data", data / "server.log", "--weights", f"hayao={hayao_weights}")
    yield server
    server.kill()


def wait_until_done(page, count, timeout=300_000):
    expect = playwright_api.expect
    jobs = page.locator(".batch [data-testid=job]")
    expect(jobs).to_have_count(count)
    expect(page.locator(".batch [data-testid=job][data-state=done]")).to_have_count(count, timeout=timeout)


def test_upload_two_photos_and_download_the_zip(browser, server, hayao_weights, shared_images, tmp_path):
    photos = [shared_images / "photos" / "scene_16.jpg", shared_images / "faces" / "portrait_0.jpg"]
    for name, viewport in [("desktop", {"width": 1280, "height": 900}), ("phone", {"width": 390, "height": 844})]:
        page = browser.new_page(viewport=viewport)
        errors = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(server.url)
        page.get_by_test_id("upload-input").set_input_files([str(p) for p in photos])
        assert page.get_by_test_id("style-select").input_value() == "hayao"
        assert page.get_by_test_id("faces-toggle").is_disabled(), "faces offered by a server without --faces"
        page.get_by_test_id("start").click()
        wait_until_done(page, 2)
        results = page.locator(".batch").first.get_by_test_id("result")
        playwright_api.expect(results.first).to_have_js_property("complete", True)
        assert results.first.evaluate("img => img.naturalWidth") > 0, "the result image did not load"
        page.screenshot(path=tmp_path / f"{name}.png", full_page=True)
        with page.expect_download() as download:
            page.locator(".batch").first.get_by_test_id("download-all").click()
        archive = zipfile.ZipFile(download.value.path())
        assert sorted(archive.namelist()) == sorted(p.stem + ".png" for p in photos)
        assert not errors, errors
        page.close()
    for photo in photos:  # the page's default output size is 1024
        zipped = np.asarray(Image.open(io.BytesIO(archive.read(photo.stem + ".png"))))
        np.testing.assert_array_equal(zipped, cli_result(tmp_path, hayao_weights, photo.name,
                                                         photo.read_bytes(), "--max-side", "1024"))


def test_the_page_works_with_the_keyboard_alone(browser, server, shared_images, tmp_path):
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    page.goto(server.url)
    playwright_api.expect(page.get_by_test_id("style-select")).to_have_value("hayao")  # set up
    # Listening before the first key press gives Playwright time to intercept the chooser.
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.dataset.testid") == "upload-input"
        page.keyboard.press("Space")
    chooser.value.set_files([str(shared_images / "photos" / "scene_19.jpg")])
    for _ in range(8):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.dataset.testid") == "start":
            break
    else:
        pytest.fail("Tab never reached the Start button")
    page.keyboard.press("Enter")
    wait_until_done(page, 1)
    page.keyboard.press("Tab")  # the focus moved to the new card; the slider and the link come next
    focused = [page.evaluate("document.activeElement.className")]
    for _ in range(3):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.className"))
    assert "slider" in focused and "download" in focused, focused
    page.screenshot(path=tmp_path / "keyboard.png", full_page=True)
