"""The top-level absl scripts: required flags, --help, and clear errors for bad data."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TRAIN_FLAGS = ["photo_dir", "style_dir", "model_dir", "teacher", "width", "blocks", "d_warmup_steps",
               "keep_weight", "pyramid_weight", "preset", "init_from", "image_size", "batch_size",
               "init_epochs", "epochs", "steps_per_epoch", "save_every_steps", "vgg_weights", "strategy",
               "mixed_precision", "clip_norm"]


def run(*args):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True)


@pytest.mark.parametrize("script, required", [("train.py", ["photo_dir", "model_dir"]),
                                              ("export_tflite.py", ["weights", "output"])])
def test_missing_required_flags_are_named(script, required):
    result = run(ROOT / script)
    assert result.returncode != 0
    for flag in required:
        assert f"Flag --{flag} must have a value" in result.stderr


def test_train_help_lists_every_flag():
    result = run(ROOT / "train.py", "--helpshort")
    assert result.returncode == 0
    for flag in TRAIN_FLAGS:
        assert f"--{flag}" in result.stdout or f"--[no]{flag}" in result.stdout, flag


def test_train_reports_an_empty_photo_folder(tmp_path):
    (tmp_path / "photos").mkdir()
    result = run(ROOT / "train.py", f"--photo_dir={tmp_path / 'photos'}", f"--style_dir={tmp_path}",
                 f"--model_dir={tmp_path / 'run'}", "--vgg_weights=none")
    assert result.returncode == 2
    assert "holds no readable images" in result.stderr
