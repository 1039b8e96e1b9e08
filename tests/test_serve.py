"""`anime-tf serve` as a client sees it: a real server process, its HTTP API, its limits and its files."""
import io
import json
import secrets
import zipfile

import numpy as np
import pytest
from PIL import Image

from anime_tf.cli import main
from serving import Server, photo_bytes

pytest.importorskip("fastapi")

LIMITS = ["--max-upload-mb", "2", "--max-pixels", "1000000", "--max-files", "8",
          "--max-queued-per-client", "6"]


@pytest.fixture(scope="module")
def server(random_weights, tmp_path_factory):
    data = tmp_path_factory.mktemp("serve")
    server = Server(data / "data", data / "server.log", "--weights", f"test={random_weights}", *LIMITS)
    yield server
    server.kill()


def cli_result(tmp_path, weights, name, body, *flags):
    """What `anime-tf stylize` writes for the same file and options."""
    src = tmp_path / "cli_in" / name
    src.parent.mkdir(exist_ok=True)
    src.write_bytes(body)
    out = tmp_path / "cli_out"
    assert main(["stylize", str(src), "--weights", str(weights), "-o", str(out), "--overwrite", *flags]) == 0
    return np.asarray(Image.open(out / (src.stem + ".png")))


def jpeg_with_gps_and_rotation(seed):
    image = Image.open(io.BytesIO(photo_bytes(seed, (120, 64))))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: the upright picture is 64x120
    exif.get_ifd(0x8825)[2] = (51.0, 30.0, 0.0)  # GPSLatitude
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif.tobytes(), quality=95)
    return buffer.getvalue()


def test_results_are_the_cli_pixels_without_the_upload_exif(server, random_weights, tmp_path):
    files = [("rotated.jpg", jpeg_with_gps_and_rotation(1)), ("plain.png", photo_bytes(2, (80, 60)))]
    response = server.submit(files, max_side=64)
    assert response.status_code == 202
    answer = response.json()
    assert [job["name"] for job in answer["jobs"]] == ["rotated.jpg", "plain.png"]
    for (name, body), job in zip(files, answer["jobs"]):
        assert len(job["id"]) == 32 and job["state"] in ("queued", "running", "done")
        assert server.wait(job["id"])["state"] == "done"
        result = server.client.get(f"/api/jobs/{job['id']}/result")
        assert result.headers["content-type"] == "image/png"
        image = Image.open(io.BytesIO(result.content))
        assert not image.getexif() and "exif" not in image.info, "the upload's EXIF leaked"
        np.testing.assert_array_equal(np.asarray(image), cli_result(tmp_path, random_weights, name, body,
                                                                    "--max-side", "64"))
    assert Image.open(io.BytesIO(server.client.get(answer["jobs"][0]["id"].join(
        ["/api/jobs/", "/result"])).content)).size == (34, 64), "EXIF rotation not applied"


def test_events_follow_a_job_until_it_ends(server):
    job = server.submit([("events.png", photo_bytes(3))]).json()["jobs"][0]
    states = []
    with server.client.stream("GET", f"/api/jobs/{job['id']}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("data: ") and line != "data: {}":
                states.append(json.loads(line[6:])["state"])
    assert states[-1] == "done" and set(states) <= {"queued", "running", "done"}
    assert server.client.get(f"/api/jobs/{job['id']}").json()["result_url"].endswith("/result")


def test_the_same_photo_and_options_answer_from_the_cache(server):
    body = photo_bytes(4)
    first = server.submit([("a.png", body)], max_side=48).json()["jobs"][0]
    assert server.wait(first["id"])["cached"] is False
    again = server.submit([("renamed.png", body)], max_side=48).json()["jobs"][0]
    assert again["state"] == "done" and again["cached"] is True, "the model ran again"
    assert (server.client.get(again["result_url"]).content
            == server.client.get(f"/api/jobs/{first['id']}/result").content)
    other = server.submit([("a.png", body)], max_side=40).json()["jobs"][0]
    assert other["cached"] is False, "a different size must not come from the cache"
    assert server.wait(other["id"])["state"] == "done"


def test_bad_files_fail_with_a_reason_and_the_rest_run(server):
    truncated = photo_bytes(5, (200, 150), "JPEG")[:600]
    files = [("empty.jpg", b""), ("cut.jpg", truncated), ("notes.png", b"not pixels at all"),
             ("../../etc/good.png", photo_bytes(6))]
    response = server.submit(files)
    assert response.status_code == 202
    jobs = response.json()["jobs"]
    errors = {job["name"]: job["error"] for job in jobs if job["state"] == "failed"}
    assert set(errors) == {"empty.jpg", "cut.jpg", "notes.png"}
    assert "empty" in errors["empty.jpg"]
    assert "truncated or corrupt" in errors["cut.jpg"]
    assert "not an image" in errors["notes.png"]
    assert not any("/" in error.split(":")[0] for error in errors.values()), "server paths leaked"
    assert jobs[3]["name"] == "good.png", "a client's folders must not survive into names"
    assert server.wait(jobs[3]["id"])["state"] == "done"


def bomb():
    buffer = io.BytesIO()
    Image.new("1", (15_000, 15_000)).save(buffer, "PNG")
    return buffer.getvalue()


def test_limits_answer_413_400_and_429(server):
    too_big = server.submit([("big.png", b"\0" * 2_100_000)])
    assert too_big.status_code == 413 and "2 MB" in too_big.json()["detail"]
    alone = server.submit([("bomb.png", bomb())])
    assert alone.status_code == 413 and "decompression bomb" in alone.json()["detail"]
    over = server.submit([("wide.png", photo_bytes(12, (1500, 1000)))])
    assert over.status_code == 413 and "1.5 megapixels, above the limit of 1 " in over.json()["detail"]
    mixed = server.submit([("bomb.png", bomb()), ("fine.png", photo_bytes(7))])
    assert mixed.status_code == 202
    assert mixed.json()["jobs"][0]["state"] == "failed" and mixed.json()["jobs"][1]["error"] is None
    assert server.submit([(f"{i}.png", photo_bytes(8)) for i in range(9)]).status_code == 400
    busy = server.submit([(f"{i}.png", photo_bytes(100 + i)) for i in range(7)])
    assert busy.status_code == 429 and int(busy.headers["retry-after"]) >= 1
    assert server.submit([("x.png", photo_bytes(9))], style="nope").status_code == 400
    assert server.submit([("x.png", photo_bytes(9))], faces=True).status_code == 400


@pytest.mark.parametrize("path", [
    "/api/jobs/{guess}", "/api/jobs/{guess}/result", "/api/jobs/{guess}/events", "/api/batches/{guess}.zip",
    "/api/batches/{guess}", "/api/jobs/..%2F..%2Fjobs.sqlite3/result", "/api/jobs/1/result"])
def test_unknown_or_guessed_ids_are_404(server, path):
    response = server.client.get(path.format(guess=secrets.token_hex(16)))
    assert response.status_code == 404


def test_a_batch_downloads_as_a_zip_with_unique_names(server):
    files = [("same.png", photo_bytes(10)), ("same.png", photo_bytes(11))]
    answer = server.submit(files).json()
    for job in answer["jobs"]:
        server.wait(job["id"])
    archive = zipfile.ZipFile(io.BytesIO(server.client.get(f"/api/batches/{answer['batch']}.zip").content))
    assert sorted(archive.namelist()) == ["same (2).png", "same.png"]
    first = server.client.get(f"/api/jobs/{answer['jobs'][0]['id']}/result").content
    assert archive.read("same.png") == first


def test_page_styles_health_and_headers(server):
    page = server.client.get("/")
    assert page.status_code == 200 and 'data-testid="upload-input"' in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "unsafe" not in csp and "frame-ancestors 'none'" in csp
    styles = server.client.get("/api/styles").json()
    assert [s["name"] for s in styles["styles"]] == ["test"] and styles["faces"] is False
    assert server.client.get("/api/health").json()["status"] == "ok"
    paths = server.client.get("/openapi.json").json()["paths"]
    assert {"/api/jobs", "/api/jobs/{job_id}", "/api/jobs/{job_id}/events", "/api/jobs/{job_id}/result",
            "/api/batches/{batch_id}.zip", "/api/styles", "/api/health"} <= set(paths)
    assert server.client.get("/docs").status_code == 200
