"""The teacher's outputs for distillation, computed once per photo and scale and kept on disk.

Distillation crops, flips and scales photos as training does; running the
teacher on every crop of every step would cost more than the student's own
step. Instead each photo is scaled to a few fixed sizes (shorter side
`DISTILL_SCALES` x the crop size, the range `anime_tf.data.random_view`
draws from) and the teacher renders each once, through the same code path
as `anime-tf stylize`. Training crops the photo and the teacher's rendering
at the same place.

The cache folder is named by the teacher's weights (sha256 of its files) and
the crop size, so another teacher never reuses these outputs, and a killed
run keeps what it had written (every file is written atomically).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from anime_tf.imageio import ImageError, load_image, save_image, split_alpha
from anime_tf.weights import weights_identity

DISTILL_SCALES = (1.0, 1.125, 1.25)
MANIFEST = "teacher.json"


def cache_folder(root, identity, size):
    """The folder under `root` for a teacher (its weights' sha256) and crop size."""
    return Path(root) / f"{identity[:16]}-{size}"


def pair_paths(folder, photo, scale_index):
    """(scaled photo, teacher output) PNG paths of one photo at one scale."""
    stem = f"{Path(photo).name}.s{scale_index}"
    return folder / f"{stem}.photo.png", folder / f"{stem}.teacher.png"


def scaled_photo(path, shorter_side):
    """The photo as uint8 RGB with its shorter side `shorter_side` (Lanczos, as prepare-style)."""
    image = split_alpha(load_image(path))[0]
    scale = shorter_side / min(image.size)
    size = (max(shorter_side, round(image.width * scale)), max(shorter_side, round(image.height * scale)))
    return np.asarray(image.resize(size, Image.Resampling.LANCZOS))


def teacher_pairs(photos, teacher, size, root):
    """[(scaled photo PNG, teacher output PNG)] for every photo and scale, rendering what is missing.

    Photos that cannot be read are skipped with a message.
    """
    identity = weights_identity(teacher)
    folder = cache_folder(root, identity, size)
    folder.mkdir(parents=True, exist_ok=True)
    _write_manifest(folder, teacher, identity, size)
    jobs = [(photo, k) for photo in photos for k in range(len(DISTILL_SCALES))]
    missing = [(photo, k) for photo, k in jobs if not all(p.exists() for p in pair_paths(folder, photo, k))]
    skipped = set()
    if missing:
        from anime_tf.inference import Stylizer

        stylizer = Stylizer(teacher, keep_brightness=False)  # the model's own output is what is learnt
        for photo, k in tqdm(missing, desc="teacher outputs", unit="img", file=sys.stderr):
            try:
                _render_pair(stylizer, photo, k, size, folder)
            except ImageError as err:
                skipped.add(photo)
                tqdm.write(f"train.py: skipping {photo}: {err}", file=sys.stderr)
    return [pair_paths(folder, photo, k) for photo, k in jobs if photo not in skipped]


def _render_pair(stylizer, photo, scale_index, size, folder):
    photo_png, teacher_png = pair_paths(folder, photo, scale_index)
    rgb = scaled_photo(photo, round(DISTILL_SCALES[scale_index] * size))
    output = stylizer.stylize_array(rgb)
    for array, path in ((rgb, photo_png), (output, teacher_png)):
        save_image(Image.fromarray(array), path, overwrite=True)  # atomic: a killed run leaves no half file


def _write_manifest(folder, teacher, identity, size):
    """Say what the folder holds, for a person looking at it (the name is what is checked)."""
    path = folder / MANIFEST
    if not path.exists():
        text = json.dumps({"teacher": str(teacher), "sha256": identity, "crop_size": size,
                           "scales": DISTILL_SCALES}, indent=2)
        path.write_text(text + "\n")
