"""Named styles shipped in the package (distilled students): every interface takes them with no network."""
import json

import numpy as np
import pytest

from anime_tf import config, weights
from anime_tf.cli import main
from anime_tf.metrics import psnr

SHIPPED = [name for name, style in config.STYLES.items() if style.shipped]


def smooth_picture(seed=0, size=(80, 64)):
    from PIL import Image

    small = np.random.default_rng(seed).integers(0, 256, (4, 4, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize(size, Image.Resampling.BICUBIC))


def test_some_styles_ship_in_the_package():
    assert SHIPPED, "no student is shipped"
    for name in SHIPPED:
        path = weights.packaged_weights(name)
        assert path.parent == config.PACKAGED_STYLES_DIR and path.stat().st_size < 4_000_000


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_style_loads_offline_as_the_architecture_and_cost_it_claims(name):
    from anime_tf.models.cost import forward_flops

    generator = weights.load_generator(name)  # the autouse fixture points every download at nothing
    assert {v.dtype for v in generator.variables} == {"float32"}
    style = config.STYLES[name]
    assert f"width {generator.width:g}, {generator.blocks} blocks" in style.about
    assert forward_flops(generator, 256) / 1e9 == pytest.approx(style.gflops, rel=0.01)
    teacher = weights.build_generator()
    assert forward_flops(teacher, 256) / 1e9 == pytest.approx(config.TEACHER_GFLOPS_256, rel=0.01)
    assert style.gflops < config.TEACHER_GFLOPS_256 / 2
    assert weights.weights_identity(name) == weights.weights_identity(weights.packaged_weights(name))


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_student_stays_close_to_the_teacher(name, hayao_generator, shared_images):
    """On held-out photos the student renders what the official Hayao weights render (it was distilled from them)."""
    from anime_tf.imageio import load_image
    from anime_tf.inference import Stylizer

    teacher, student = Stylizer(hayao_generator), Stylizer(name)
    scores, photo_scores = [], []
    for path in sorted((shared_images / "bsds500" / "val").glob("*.jpg"))[:6]:
        rgb = np.asarray(load_image(path).convert("RGB"))
        target = teacher.stylize_array(rgb)
        scores.append(psnr(target, student.stylize_array(rgb)))
        photo_scores.append(psnr(target, rgb))
    # the photo itself is ~19.5 dB from the teacher's output; a student of another style is not closer
    assert np.mean(scores) > max(21.0, np.mean(photo_scores) + 1.5), (scores, photo_scores)


def test_a_missing_packaged_file_says_to_reinstall(monkeypatch, tmp_path):
    monkeypatch.setattr(config, "PACKAGED_STYLES_DIR", tmp_path)
    with pytest.raises(weights.WeightsNotFound, match="reinstall"):
        weights.load_generator(SHIPPED[0])


def test_unknown_and_mismatched_style_names_are_clear_errors():
    with pytest.raises(weights.WeightsError, match="unknown style 'ghibli'; choose one of hayao, paprika"):
        weights.style_checkpoint("ghibli")
    with pytest.raises(weights.WeightsError, match="shipped in the package"):
        weights.style_checkpoint(SHIPPED[0])


def test_styles_command_lists_every_style_with_its_cost_and_source(capsys):
    assert main(["styles"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == set(config.STYLES)
    assert "fetched on first use" in rows["hayao"] and f"{config.TEACHER_GFLOPS_256:.2f}" in rows["hayao"]
    for name in SHIPPED:
        assert "in the package" in rows[name] and "distilled from the official Hayao weights" in rows[name]
        assert f"{config.STYLES[name].gflops:.2f}" in rows[name]


def test_stylize_and_the_python_api_take_a_shipped_style(tmp_path):
    from PIL import Image

    from anime_tf.inference import Stylizer

    name = SHIPPED[0]
    rgb = smooth_picture()
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    assert main(["stylize", str(tmp_path / "photo.png"), "-o", str(tmp_path / "out"), "--style", name]) == 0
    assert main(["stylize", str(tmp_path / "photo.png"), "-o", str(tmp_path / "out2"), "--weights", name]) == 0
    by_style = np.asarray(Image.open(tmp_path / "out" / "photo.png"))
    by_weights = np.asarray(Image.open(tmp_path / "out2" / "photo.png"))
    api = Stylizer(weights=name).stylize_array(rgb)
    np.testing.assert_array_equal(by_style, by_weights)
    assert psnr(by_style, api) > 50 and np.abs(api.astype(float) - rgb).mean() > 2


@pytest.mark.slow
def test_video_takes_a_shipped_style(tmp_path):
    from fractions import Fraction

    from clips import decoded, moving_frames, write_clip

    source, out = tmp_path / "clip.mp4", tmp_path / "anime.mp4"
    frames = moving_frames(6)
    write_clip(source, frames, [i / 12 for i in range(len(frames))], Fraction(1, 12))
    assert main(["video", str(source), "-o", str(out), "--style", SHIPPED[0], "--no-smooth"]) == 0
    written = decoded(out)
    assert len(written) == len(frames) and written[0][0].shape == frames[0].shape


@pytest.mark.slow
def test_serve_lists_and_runs_a_shipped_style(tmp_path):
    """The page offers the style, and its results are the CLI's pixels for the same photo."""
    pytest.importorskip("fastapi")
    import io

    from PIL import Image
    from serving import Server, photo_bytes

    name, body = SHIPPED[0], photo_bytes(3, (80, 60))
    server = Server(tmp_path / "data", tmp_path / "server.log", "--style", name)
    try:
        assert [s["name"] for s in server.client.get("/api/styles").json()["styles"]] == [name]
        (job,) = server.submit([("a.png", body)], style=name).json()["jobs"]
        assert server.wait(job["id"])["state"] == "done"
        served = np.asarray(Image.open(io.BytesIO(server.client.get(f"/api/jobs/{job['id']}/result").content)))
    finally:
        server.kill()
    (tmp_path / "a.png").write_bytes(body)
    assert main(["stylize", str(tmp_path / "a.png"), "-o", str(tmp_path / "cli"), "--style", name]) == 0
    np.testing.assert_array_equal(served, np.asarray(Image.open(tmp_path / "cli" / "a.png")))


@pytest.mark.slow
def test_export_takes_a_shipped_style_and_the_edge_runner_runs_it(tmp_path):
    from anime_tf.edge import EdgeModel, EdgeStylizer
    from anime_tf.export.main import export
    from anime_tf.inference import Stylizer

    name = SHIPPED[0]
    out = tmp_path / f"{name}.tflite"
    export(name, out, "float32", "64", latency_runs=1)
    assert json.loads(out.with_name(out.name + ".json").read_text())["style"] == name
    rgb = smooth_picture(1, (64, 64))
    assert psnr(EdgeStylizer(EdgeModel(out)).stylize_array(rgb), Stylizer(name).stylize_array(rgb)) > 40


@pytest.mark.slow
def test_the_wheel_carries_the_shipped_weights(tmp_path):
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(root)], check=True, timeout=300)
    (wheel,) = tmp_path.glob("anime_tf-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for name in SHIPPED:
        assert f"anime_tf/styles/{config.STYLES[name].packaged}" in names
    from anime_tf.export import web  # the in-browser site works offline from the wheel alone

    for name in [*web.PAGE_FILES, "ort/ort.wasm.min.mjs", "ort/ort-wasm-simd-threaded.wasm", "ort/LICENSE"]:
        assert f"anime_tf/web/{name}" in names, name
