"""`anime-tf prepare-faces`: aligned face crops to fine-tune the face pass's generator on.

Each face found in the photos is cut out as the face pass cuts it
(`anime_tf.face.align`: upright, about half the crop's width, `size` pixels),
so a generator tuned on these crops sees faces at the scale and place it will
stylize them at. Beside each crop, `augment` copies with a small random
rotation, scale, shift and colour change (mirrors come from the distillation
views). Faces smaller than `min_face` photo pixels are left out: enlarged
that far they are blur, not eyes and mouths. So is a face the landmarker does
not find again in its own crop: on photos it also finds faces in lions, corn
and railings, and a face loss there would teach nothing.
"""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageEnhance
from tqdm import tqdm

from anime_tf import config
from anime_tf.face.align import alignment_matrix, source_side, warp
from anime_tf.files import OutputExistsError
from anime_tf.imageio import ImageError, find_images, load_image, save_image, split_alpha

MAX_ROTATION = 8.0  # degrees
SCALES = (0.9, 1.15)
MAX_SHIFT = 0.04  # of the crop's side
MAX_COLOUR = 0.12  # brightness and saturation change, either way


def jittered(matrix, size, rng):
    """`matrix` followed by a random rotation and scale about the crop's centre and a small shift."""
    angle = rng.uniform(-MAX_ROTATION, MAX_ROTATION)
    scale = rng.uniform(*SCALES)
    turn = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
    turn[:, 2] += rng.uniform(-MAX_SHIFT, MAX_SHIFT, 2) * size
    return turn @ np.vstack([matrix, [0, 0, 1]])


def recoloured(rgb, rng):
    """A small random change of brightness and saturation."""
    image = Image.fromarray(rgb)
    image = ImageEnhance.Brightness(image).enhance(1 + rng.uniform(-MAX_COLOUR, MAX_COLOUR))
    return np.asarray(ImageEnhance.Color(image).enhance(1 + rng.uniform(-MAX_COLOUR, MAX_COLOUR)))


def found_again(landmarker, crop):
    """Whether the landmarker finds a face near the middle of an aligned crop."""
    middle = np.array(crop.shape[1::-1]) / 2
    return any(np.abs(face.mean(axis=0) - middle).max() < crop.shape[0] / 4 for face in landmarker.detect(crop))


def face_crops(rgb, faces, size, augment, rng, min_face=config.FACE_TRAINING_MIN, keep=lambda crop: True):
    """[(face index, copy index, crop)]: copy 0 is the face pass's own crop, the rest jittered.

    `keep(crop)` says whether a face's own crop is a face worth training on.
    """
    crops = []
    for i, face in enumerate(faces):
        matrix = alignment_matrix(face, size)
        if source_side(matrix) * size / 2 < min_face:
            continue
        crop = warp(rgb, matrix, (size, size))
        if not keep(crop):
            continue
        crops.append((i, 0, crop))
        for k in range(1, augment + 1):
            crops.append((i, k, recoloured(warp(rgb, jittered(matrix, size, rng), (size, size)), rng)))
    return crops


def prepare_faces(sources, out, *, size=config.FACE_CROP_SIZE, augment=3, seed=0, min_face=config.FACE_TRAINING_MIN,
                  face_model=None, overwrite=False, recursive=False):
    """Write the crops of every face in `sources` to `out`; returns (crops written, crops already
    there and kept, photos failed)."""
    from anime_tf.face.landmarks import FaceLandmarker

    pairs, problems = find_images([str(s) for s in sources], recursive=recursive)
    for problem in problems:
        print(f"prepare-faces: error: {problem}", file=sys.stderr)
    rng = np.random.default_rng(seed)
    written = kept = failed = 0
    with FaceLandmarker(face_model) as landmarker:
        for path, relative in tqdm(pairs, desc="prepare-faces", unit="photo", file=sys.stderr):
            try:
                rgb = np.asarray(split_alpha(load_image(path))[0])
            except ImageError as err:
                failed += 1
                tqdm.write(f"prepare-faces: error: {err}", file=sys.stderr)
                continue
            stem = "_".join(relative.with_suffix("").parts)
            crops = face_crops(rgb, landmarker.detect(rgb), size, augment, rng, min_face,
                               keep=lambda crop: found_again(landmarker, crop))
            for face, copy, crop in crops:
                try:
                    save_image(Image.fromarray(crop), Path(out) / f"{stem}.f{face}.{copy}.png", overwrite=overwrite)
                    written += 1
                except OutputExistsError:
                    kept += 1  # already prepared: a second run only adds what is new
    return written, kept, failed + len(problems)
