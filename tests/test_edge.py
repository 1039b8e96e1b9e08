"""The edge runner: LiteRT, NumPy and Pillow only, on the reference model and our exports."""
import subprocess
import sys
import textwrap

import numpy as np
from PIL import Image

from anime_tf.edge import EdgeModel, EdgeStylizer
from anime_tf.edge.cli import main

NO_TENSORFLOW = textwrap.dedent("""
    import importlib.abc, sys

    class NoTensorFlow(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "keras"):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked for this test)", name=name)

    sys.meta_path.insert(0, NoTensorFlow())
    from anime_tf.edge.cli import main
    code = main(sys.argv[1:])
    assert "tensorflow" not in sys.modules
    sys.exit(code)
""")


def test_runs_without_tensorflow(hayao_tflite, shared_images, tmp_path):
    photo = shared_images / "photos" / "street_3.jpg"
    result = subprocess.run([sys.executable, "-c", NO_TENSORFLOW, "--model", str(hayao_tflite), str(photo),
                             "-o", str(tmp_path), "--threads", "2"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    out = Image.open(tmp_path / "street_3.png")
    source = Image.open(photo)
    assert max(out.size) == 256 and abs(out.width / out.height - source.width / source.height) < 0.02
    pixels = np.asarray(out).astype(float)
    assert pixels.std() > 20


def test_fit_tile_and_batch_handling(hayao_tflite, shared_images, tmp_path, capsys):
    model = EdgeModel(hayao_tflite, threads=2)
    assert model.fixed_size == (256, 256)
    photo = Image.open(shared_images / "photos" / "scene_44.jpg")
    photo.thumbnail((400, 400))
    fitted = EdgeStylizer(model).stylize(photo)
    assert max(fitted.size) == 256
    tiled = EdgeStylizer(model, tile=True).stylize(photo)
    assert tiled.size == photo.size
    small = EdgeStylizer(model, tile=True).stylize(photo.resize((100, 60)))
    assert small.size == (100, 60)
    (tmp_path / "in").mkdir()
    photo.save(tmp_path / "in" / "good.jpg")
    (tmp_path / "in" / "bad.jpg").write_bytes(b"not a jpeg")
    code = main(["--model", str(hayao_tflite), str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                 "--benchmark", "2"])
    captured = capsys.readouterr()
    assert code == 1
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["good.png"]
    assert "bad.jpg: not an image" in captured.err
    assert "median" in captured.out and "ms over 2 runs" in captured.out


def test_dynamic_model_keeps_full_size(hayao_generator, shared_images, tmp_path):
    from anime_tf.export import tflite

    path = tmp_path / "dynamic.tflite"
    path.write_bytes(tflite.convert(hayao_generator, "float32", None))
    photo = Image.open(shared_images / "faces" / "portrait_1.jpg")
    photo.thumbnail((150, 150))
    out = EdgeStylizer(EdgeModel(path)).stylize(photo.convert("RGBA"))
    assert out.size == photo.size and out.mode == "RGBA"


def test_unusable_model_and_no_inputs_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\0" * 100)
    assert main(["--model", str(bad), "--benchmark", "1"]) == 2
    assert "not a readable TFLite model" in capsys.readouterr().err
    assert main(["--model", str(bad)]) == 2
    assert "give INPUT images" in capsys.readouterr().err


def test_anime_tf_without_tensorflow_says_what_to_install(shared_images, tmp_path):
    script = NO_TENSORFLOW.replace("from anime_tf.edge.cli import main", "from anime_tf.cli import main")
    script = script.replace('assert "tensorflow" not in sys.modules\n', "")
    result = subprocess.run([sys.executable, "-c", script, "stylize", str(shared_images / "photos" / "scene_2.jpg"),
                             "-o", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert "needs TensorFlow" in result.stderr and "pip install 'anime-tf[tf]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_video_without_tensorflow(hayao_tflite, tmp_path):
    from fractions import Fraction

    from clips import decoded, moving_frames, write_clip

    source, out = tmp_path / "in.mkv", tmp_path / "anime.mp4"
    stamps = [Fraction(n, 25) for n in range(12)]
    write_clip(source, moving_frames(12, 72, 96), stamps, Fraction(1, 1000), audio_codec="aac")
    result = subprocess.run([sys.executable, "-c", NO_TENSORFLOW, "--model", str(hayao_tflite), "--video",
                             str(source), "-o", str(out), "--threads", "2"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "12 frames" in result.stdout and "audio copied (aac)" in result.stdout
    frames = decoded(out)
    assert [t for _, t in frames] == stamps  # every frame, at its time, at the input's size
    assert frames[0][0].shape == (72, 96, 3)
    model = EdgeStylizer(EdgeModel(hayao_tflite, threads=2))
    expected = np.asarray(Image.fromarray(model.stylize_array(moving_frames(1, 72, 96)[0])).resize((96, 72)))
    assert np.abs(frames[0][0].astype(float) - expected).mean() < 8  # the first frame is not blended
    again = subprocess.run([sys.executable, "-c", NO_TENSORFLOW, "--model", str(hayao_tflite), "--video",
                            str(source), "-o", str(out)], capture_output=True, text=True)
    assert again.returncode == 2 and "--overwrite" in again.stderr
