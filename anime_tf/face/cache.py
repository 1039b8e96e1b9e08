"""Face parts of a training photo set, found once and cached next to the photos (no TensorFlow).

The training step never runs the landmarker: before training, each photo's
largest faces are reduced to boxes around eyes, nose and mouth (fractions of
the image size) and kept in a JSON file beside the photos. A later run reuses
every entry whose file has not changed, and only looks at new or changed
photos.
"""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from anime_tf.face.landmarks import PARTS, part_boxes
from anime_tf.files import atomic_path

CACHE_FILE = ".anime_tf_faces.json"
CACHE_VERSION = 1
FACES_PER_PHOTO = 2  # the largest ones; more rarely fit in one training crop
PARTS_PER_PHOTO = FACES_PER_PHOTO * len(PARTS)


def default_cache_path(photo_dir):
    return Path(photo_dir) / CACHE_FILE


def photo_parts(files, cache_path, face_model=None, progress=True):
    """{file: [(x0, y0, x1, y1), ...]} part boxes as fractions of each photo's width and height.

    Photos without faces map to []. Landmarks are computed only for photos
    not in the cache (or changed since), with a progress bar; the cache is
    rewritten atomically.
    """
    cache_path = Path(cache_path)
    entries = _read(cache_path)
    todo = [f for f in files if entries.get(Path(f).name, {}).get("stamp") != _stamp(f)]
    if todo:
        from anime_tf.face.landmarks import FaceLandmarker

        with FaceLandmarker(face_model) as landmarker:
            for file in tqdm(todo, desc="face landmarks", unit="photo", file=sys.stderr, disable=not progress):
                entries[Path(file).name] = {"stamp": _stamp(file), "parts": _find_parts(landmarker, file)}
        with atomic_path(cache_path, overwrite=True) as tmp:
            tmp.write_text(json.dumps({"version": CACHE_VERSION, "photos": entries}))
    return {f: [tuple(box) for box in entries[Path(f).name]["parts"]] for f in files}


def training_parts(files, cache_path, face_model=None):
    """(boxes, valid) of `parts_array` for training on `files`, or None (and says so) when none has a face."""
    return usable_parts(files, photo_parts(files, cache_path, face_model), f"landmarks cached in {cache_path}")


def usable_parts(files, parts, where, what="photos"):
    """`parts_array(files, parts)`, or None when no file has a part; says which it is."""
    boxes, valid = parts_array(files, parts)
    with_faces = int(valid.any(axis=1).sum())
    if not with_faces:
        print(f"no faces in the {what}: face sampling and the face loss are off", file=sys.stderr)
        return None
    print(f"faces in {with_faces} of {len(files)} {what} ({where})", file=sys.stderr)
    return boxes, valid


def parts_array(files, parts):
    """(boxes [N, PARTS_PER_PHOTO, 4] float32, valid [N, PARTS_PER_PHOTO] bool) for tf.data."""
    boxes = np.zeros((len(files), PARTS_PER_PHOTO, 4), np.float32)
    valid = np.zeros((len(files), PARTS_PER_PHOTO), bool)
    for i, file in enumerate(files):
        found = parts.get(file, [])[:PARTS_PER_PHOTO]
        if found:
            boxes[i, :len(found)] = found
            valid[i, :len(found)] = True
    return boxes, valid


def _find_parts(landmarker, file):
    # Without EXIF rotation: the pixels as tf.io.decode_image gives them to training.
    try:
        with Image.open(file) as image:
            rgb = np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as err:
        logging.warning("no face landmarks for unreadable photo %s: %s", file, err)
        return []
    height, width = rgb.shape[:2]
    scale = np.array([width, height, width, height], np.float64)
    return [[round(float(v), 5) for v in np.asarray(box) / scale]
            for face in landmarker.detect(rgb)[:FACES_PER_PHOTO]
            for box in part_boxes(face).values()]


def _stamp(file):
    stat = Path(file).stat()
    return [stat.st_size, stat.st_mtime_ns]


def _read(cache_path):
    if not cache_path.exists():
        return {}
    try:
        content = json.loads(cache_path.read_text())
        if content.get("version") == CACHE_VERSION:
            return dict(content["photos"])
        logging.warning("face cache %s is from another version; finding faces again", cache_path)
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        logging.warning("face cache %s is unreadable (%s); finding faces again", cache_path, err)
    return {}
