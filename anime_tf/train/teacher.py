"""The teacher's outputs for distillation, rendered once per view and kept on disk.

A student learns a function of what it sees, so each target must be the
teacher's output on exactly the student's input. A crop of the teacher's
rendering of a whole photo is not: the teacher's layer norms and borders see
the rest of the photo (a 128 crop of a 256 rendering is 25.9 dB PSNR from the
teacher's rendering of that crop), and the teacher is not mirror-symmetric
(its rendering of a mirrored photo, mirrored back, is 28.4 dB from the
original; `benchmarks/research/teacher_consistency.py`). Targets like that cap the
student near those figures.

So the cache holds views: each photo is scaled to a few sizes (shorter side
`DISTILL_SCALES` x `size`, the range `anime_tf.data.random_view` draws from),
and from each, `views_per_scale` crops of `crop` pixels at fixed places, every
other one mirrored. The teacher renders every view through the same code path
as `anime-tf stylize`, running once per view for the life of the cache
instead of on every step.

With `context`, every other view is rendered, by the teacher here and by the
student in training, with the layer-norm moments of a context picture
instead of its own: the same place of the photo at `CONTEXT_SCALE` times the
view's scale, as smooth as a large photo is at the pixel level. A student
trained on its own moments alone answers to a picture's statistics about
half as much as the teacher, which turns large flat walls and skies greener
on big photos (docs/notes/2026-11-distillation.md); these views teach it
that answer. The other views' context is the view itself (its own moments).

The cache folder is named by the teacher's weights (sha256 of its files),
the scale, the crop size and whether it holds contexts, so another teacher never reuses these outputs,
and a killed run keeps what it had written (every file is written atomically).
"""
from __future__ import annotations

import json
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from anime_tf.errors import ConfigError
from anime_tf.imageio import ImageError, load_image, save_image, split_alpha
from anime_tf.weights import weights_identity

DISTILL_SCALES = (1.0, 1.125, 1.25)
CONTEXT_SCALE = 2.0
MANIFEST = "teacher.json"
EXIF_ORIENTATION = 0x0112


def views_per_scale(size, crop):
    """Crops taken from each scaled photo: enough to cover it about twice, and at least two."""
    return max(2, round(2 * (size / crop) ** 2))


def cache_folder(root, identity, size, crop, context=False):
    """The folder under `root` for a teacher (its weights' sha256), scale, crop size and contexts."""
    return Path(root) / f"{identity[:16]}-{size}-{crop}{'-context' if context else ''}"


def pair_paths(folder, photo, scale_index, view_index, context=False):
    """(photo view, teacher output[, context]) PNG paths of one view of one photo at one scale."""
    stem = f"{Path(photo).name}.s{scale_index}.v{view_index}"
    paths = folder / f"{stem}.photo.png", folder / f"{stem}.teacher.png"
    return (*paths, folder / f"{stem}.context.png") if context else paths


def scaled_photo(path, shorter_side):
    """The photo as uint8 RGB with its shorter side `shorter_side` (Lanczos, as prepare-style)."""
    image = split_alpha(load_image(path))[0]
    height, width = scaled_shape(image.size, shorter_side)
    return np.asarray(image.resize((width, height), Image.Resampling.LANCZOS))


def photo_view(rgb, photo, scale_index, view_index, crop):
    """(the crop x crop view `view_index` of a scaled photo, its centre (y, x)): a fixed place per
    (photo, scale, view), odd views mirrored."""
    y, x = view_corner(rgb.shape[:2], photo, scale_index, view_index, crop)
    return _mirrored(rgb[y:y + crop, x:x + crop], view_index), (y + crop / 2, x + crop / 2)


def view_corner(shape, photo, scale_index, view_index, crop):
    """The (y, x) of view `view_index`'s top left corner in a scaled photo of `shape` (height, width)."""
    rng = np.random.default_rng([zlib.crc32(Path(photo).name.encode()), scale_index, view_index])
    return tuple(int(rng.integers(0, room + 1)) for room in (shape[0] - crop, shape[1] - crop))


def stored_size(path):
    """(width, height) of the photo's pixels as stored, or None where EXIF turns them (face parts are
    found on the stored pixels, the views cut from the turned ones)."""
    try:
        with Image.open(path) as image:
            return image.size if image.getexif().get(EXIF_ORIENTATION, 1) == 1 else None
    except OSError:
        return None


def scaled_shape(image_size, shorter_side):
    """(height, width) of `scaled_photo` for a photo of `image_size` (width, height)."""
    scale = shorter_side / min(image_size)
    return max(shorter_side, round(image_size[1] * scale)), max(shorter_side, round(image_size[0] * scale))


def view_boxes(boxes, image_size, photo, size, crop, inside=0.8):
    """{view PNG name: boxes} for every scale and view of `photo`: its part `boxes` (x0, y0, x1, y1
    fractions of the photo of `image_size`) as fractions of each view, mirrored with it. A part
    less than `inside` within a view is left out of it, so a view holds the parts it shows."""
    found = {}
    for k, scale in enumerate(DISTILL_SCALES):
        height, width = scaled_shape(image_size, round(scale * size))
        for v in range(views_per_scale(size, crop)):
            y, x = view_corner((height, width), photo, k, v, crop)
            kept = []
            for x0, y0, x1, y1 in boxes:
                box = np.array([x0 * width - x, y0 * height - y, x1 * width - x, y1 * height - y]) / crop
                clipped = np.clip(box, 0, 1)
                area = np.prod(box[2:] - box[:2])
                if area > 0 and np.prod(np.maximum(clipped[2:] - clipped[:2], 0)) >= inside * area:
                    kept.append((1 - clipped[2], clipped[1], 1 - clipped[0], clipped[3]) if v % 2
                                else tuple(clipped))
            found[pair_paths(Path(), photo, k, v)[0].name] = kept
    return found


def _mirrored(view, view_index):
    return np.ascontiguousarray(view[:, ::-1] if view_index % 2 else view)


def context_view(larger, centre, crop, view_index):
    """The crop x crop picture around `centre` (y, x of the view) of `larger`, the scaled photo at
    CONTEXT_SCALE, mirrored as the view."""
    height, width = larger.shape[:2]
    y, x = (int(np.clip(round(CONTEXT_SCALE * c - crop / 2), 0, room))
            for c, room in zip(centre, (height - crop, width - crop)))
    return _mirrored(larger[y:y + crop, x:x + crop], view_index)


def uses_context(scale_index, view_index):
    """Every other view (alternating with the scale) is rendered with a context's moments."""
    return (scale_index + view_index) % 2 == 1


def teacher_pairs(photos, teacher, size, root, crop=None, context=False):
    """[(photo view PNG, teacher output PNG[, context PNG])] for every photo, scale and view, rendering what is missing.

    Views are `crop` pixels square (default `size`). With `context`, each
    pair has a third picture whose layer-norm moments the view is rendered
    with (the view itself where `uses_context` says no). Photos that cannot
    be read are skipped with a message.
    """
    crop = crop or size
    if crop > size:
        raise ConfigError(f"the crop ({crop}) must fit in the scaled photo's shorter side ({size})")
    identity = weights_identity(teacher)
    folder = cache_folder(root, identity, size, crop, context)
    folder.mkdir(parents=True, exist_ok=True)
    views = views_per_scale(size, crop)
    _write_manifest(folder, teacher, identity, size, crop, views, context)
    jobs = [(photo, k) for photo in photos for k in range(len(DISTILL_SCALES))]
    missing = [(photo, k) for photo, k in jobs
               if not all(p.exists() for v in range(views) for p in pair_paths(folder, photo, k, v, context))]
    skipped = set()
    if missing:
        from anime_tf.inference import Stylizer

        stylizer = Stylizer(teacher, keep_brightness=False)  # the model's own output is what is learnt
        for photo, k in tqdm(missing, desc="teacher outputs", unit="scale", file=sys.stderr):
            try:
                _render_views(stylizer, photo, k, size, crop, views, folder, context)
            except ImageError as err:
                skipped.add(photo)
                tqdm.write(f"train.py: skipping {photo}: {err}", file=sys.stderr)
    return [pair_paths(folder, photo, k, v, context) for photo, k in jobs if photo not in skipped
            for v in range(views)]


def _render_views(stylizer, photo, scale_index, size, crop, views, folder, context):
    rgb = scaled_photo(photo, round(DISTILL_SCALES[scale_index] * size))
    if context:  # the photo at CONTEXT_SCALE, made once for all its views
        larger = np.asarray(Image.fromarray(rgb).resize(
            [round(CONTEXT_SCALE * n) for n in rgb.shape[1::-1]], Image.Resampling.LANCZOS))
    for v in range(views):
        paths = pair_paths(folder, photo, scale_index, v, context)
        view, centre = photo_view(rgb, photo, scale_index, v, crop)
        if context:
            picture = context_view(larger, centre, crop, v) if uses_context(scale_index, v) else view
            output = rendered_with_context(stylizer, view, picture)
            arrays = view, output, picture
        else:
            arrays = view, stylizer.stylize_array(view)
        for array, path in zip(arrays, paths):
            save_image(Image.fromarray(array), path, overwrite=True)  # atomic: a killed run leaves no half file


def rendered_with_context(stylizer, view, picture):
    """The stylizer's output for `view` with every layer norm using the moments of `picture`."""
    from anime_tf.imageio import from_model_range, to_model_range

    moments = stylizer.norm_moments(to_model_range(picture))
    return from_model_range(stylizer.run_tiled(to_model_range(view), moments=moments))


def _write_manifest(folder, teacher, identity, size, crop, views, context):
    """Say what the folder holds, for a person looking at it (the name is what is checked)."""
    path = folder / MANIFEST
    if not path.exists():
        text = json.dumps({"teacher": str(teacher), "sha256": identity, "shorter_side": size,
                           "scales": DISTILL_SCALES, "crop_size": crop, "views_per_scale": views,
                           "context_scale": CONTEXT_SCALE if context else None}, indent=2)
        path.write_text(text + "\n")
