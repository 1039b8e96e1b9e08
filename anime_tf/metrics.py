"""Image and face metrics, one place for the export report, the benchmarks and the tests.

`psnr` and `ssim` compare two uint8 images. The face-structure error asks
whether the landmarks of a stylized face sit where the photo's did: per
matched face, the mean distance over the 478 landmarks divided by the
inter-ocular distance, capped so that one failed fit cannot dominate; faces
the landmarker no longer finds are counted as lost. The stylization strength
inside the face boxes keeps a face pass from winning by stylizing less.
NumPy only, except `ssim` (TensorFlow's, imported when called).
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from anime_tf.face.landmarks import inter_ocular

MAX_PSNR = 100.0  # reported for identical images (keeps JSON reports finite)
ERROR_CAP = 0.1


def psnr_outside_faces(a, b, faces):
    """PSNR of two same-size uint8 images over the pixels outside every face's box (`faces` in their pixels)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    keep = np.ones(a.shape[:2], bool)
    for face in faces:
        x0, y0, x1, y1 = face_box(face, a.shape[1], a.shape[0])
        keep[y0:y1, x0:x1] = False
    return psnr(a[keep], b[keep]) if keep.any() else float("nan")


def psnr(a, b):
    """Peak signal-to-noise ratio in dB of two uint8 images, at most `MAX_PSNR`."""
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return MAX_PSNR if mse == 0 else min(MAX_PSNR, float(10 * np.log10(255.0 ** 2 / mse)))


def ssim(a, b):
    """Structural similarity of two uint8 HxWx3 images (TensorFlow's `tf.image.ssim`)."""
    import tensorflow as tf

    return float(tf.image.ssim(tf.constant(a[None]), tf.constant(b[None]), max_val=255)[0])



def rescaled(faces, from_size, to_size):
    """Landmarks found in an image of (width, height) `from_size`, in the pixels of `to_size`.

    MediaPipe's pixel coordinates put pixel centres on whole numbers (measured:
    landmarks of a photo and of its half-size copy agree only this way), so
    centres map as resizing maps them.
    """
    factor = np.array(to_size, np.float32) / np.array(from_size, np.float32)
    return [(face + 0.5) * factor - 0.5 for face in faces]


def match_faces(reference, found, max_offset=0.5):
    """[(i, j)] pairs of reference and found faces, greedily by centre distance.

    A pair counts only when the centres are closer than `max_offset`
    inter-ocular distances of the reference face.
    """
    costs = sorted(
        (float(np.linalg.norm(ref.mean(axis=0) - got.mean(axis=0))) / inter_ocular(ref), i, j)
        for i, ref in enumerate(reference) for j, got in enumerate(found))
    pairs, used_i, used_j = [], set(), set()
    for cost, i, j in costs:
        if cost < max_offset and i not in used_i and j not in used_j:
            pairs.append((i, j))
            used_i.add(i)
            used_j.add(j)
    return sorted(pairs)


def landmark_error(reference, found, cap=ERROR_CAP):
    """Mean landmark distance over the reference's inter-ocular distance, capped at `cap`."""
    distance = np.linalg.norm(np.asarray(found) - np.asarray(reference), axis=1).mean()
    return min(float(distance) / inter_ocular(reference), cap)


def face_structure(reference, found):
    """{'errors': per matched face, 'lost': reference faces not found} for two landmark sets."""
    pairs = match_faces(reference, found)
    return {"errors": [landmark_error(reference[i], found[j]) for i, j in pairs],
            "lost": len(reference) - len(pairs)}


def face_box(face, width, height):
    """Integer (x0, y0, x1, y1) bounding box of a face's landmarks, inside the image."""
    x0, y0 = np.floor(face.min(axis=0)).astype(int)
    x1, y1 = np.ceil(face.max(axis=0)).astype(int) + 1
    return max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)


def stylization_strength(photo, stylized, faces):
    """Mean absolute difference (0-255) between photo and stylized output inside the face boxes.

    `photo` is resized to the output's size; `faces` are in the output's pixels.
    """
    stylized = np.asarray(stylized, np.float32)
    height, width = stylized.shape[:2]
    photo = np.asarray(Image.fromarray(np.asarray(photo)).resize((width, height), Image.Resampling.LANCZOS),
                       np.float32)
    diffs = []
    for face in faces:
        x0, y0, x1, y1 = face_box(face, width, height)
        if x1 > x0 and y1 > y0:
            diffs.append(np.abs(stylized[y0:y1, x0:x1] - photo[y0:y1, x0:x1]).reshape(-1))
    return float(np.concatenate(diffs).mean()) if diffs else float("nan")


def srgb_to_lab(rgb):
    """uint8 (or 0-255 float) sRGB, HxWx3, to CIELAB (D65): L in 0-100, a and b about -128..127."""
    c = np.asarray(rgb, np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ np.array([[0.4124564, 0.2126729, 0.0193339],
                             [0.3575761, 0.7151522, 0.1191920],
                             [0.1804375, 0.0721750, 0.9503041]])
    xyz /= np.array([0.95047, 1.0, 1.08883])  # the D65 white point
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def block_color_shift(reference, image, block=64, percentile=95):
    """The `percentile` of the CIELAB distance (delta E 1976) between the two images' block means.

    Mean colour per `block` x `block` square (whole blocks only): a tint over a
    wall or a sky shows here even where PSNR, dominated by edges, barely moves.
    """
    a, b = srgb_to_lab(reference), srgb_to_lab(image)
    if a.shape != b.shape:
        raise ValueError(f"images differ in size: {a.shape} and {b.shape}")
    rows, cols = a.shape[0] // block, a.shape[1] // block
    if not rows or not cols:
        raise ValueError(f"images of {a.shape[1]}x{a.shape[0]} hold no {block}-pixel block")

    def means(lab):
        return lab[:rows * block, :cols * block].reshape(rows, block, cols, block, 3).mean(axis=(1, 3))

    return float(np.percentile(np.linalg.norm(means(a) - means(b), axis=-1), percentile))
