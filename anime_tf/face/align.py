"""Aligning faces to an upright square crop and warping crops back (OpenCV, no TensorFlow).

The alignment is the FFHQ one that face2paint uses: a similarity transform
built from the eye centres and the mouth, so the eyes are level, the face is
centred and it fills about half the crop's width. Matrices are OpenCV's 2x3
affine matrices mapping source pixel coordinates to destination ones.
"""
from __future__ import annotations

import cv2
import numpy as np

from anime_tf.face.landmarks import MOUTH_CORNERS

RIGHT_EYE_CORNERS, LEFT_EYE_CORNERS = (33, 133), (362, 263)
# Sharper than cubic: measured lower landmark error (docs/notes/2026-11-training-tiling-faces-web.md).
INTERPOLATION = cv2.INTER_LANCZOS4


def alignment_matrix(face, size):
    """2x3 similarity mapping image pixels to a size x size crop of the face (478x2 landmarks)."""
    eye_right = face[list(RIGHT_EYE_CORNERS)].mean(axis=0)
    eye_left = face[list(LEFT_EYE_CORNERS)].mean(axis=0)
    mouth = face[list(MOUTH_CORNERS)].mean(axis=0)
    eye_centre = (eye_right + eye_left) / 2
    eye_to_eye = eye_left - eye_right
    eye_to_mouth = mouth - eye_centre
    # The crop's x axis: the eye line, corrected by the eye-to-mouth direction (FFHQ).
    x_axis = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x_axis /= np.hypot(*x_axis)
    y_axis = np.flipud(x_axis) * [-1, 1]
    half = max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    centre = eye_centre + eye_to_mouth * 0.1
    scale = size / (2 * half)
    rotation = scale * np.stack([x_axis, y_axis])
    return np.hstack([rotation, (size / 2 - rotation @ centre)[:, None]]).astype(np.float64)


def source_side(matrix):
    """How many source pixels one side of the crop that `matrix` makes covers, per crop pixel times its size."""
    return 1.0 / np.sqrt(abs(np.linalg.det(np.asarray(matrix, np.float64)[:, :2])))


def invert(matrix):
    return cv2.invertAffineTransform(np.asarray(matrix, np.float64))


def scaled(matrix, sx, sy):
    """The matrix for a source image that was resized by (sx, sy).

    Pixel centres map as resizing maps them: x_source = (x_resized + 0.5) / sx - 0.5.
    """
    resized_to_source = np.array([[1 / sx, 0, 0.5 / sx - 0.5], [0, 1 / sy, 0.5 / sy - 0.5], [0, 0, 1]])
    return np.asarray(matrix, np.float64) @ resized_to_source


def warp(image, matrix, size, border=cv2.BORDER_REFLECT101):
    """`image` seen through `matrix` in a (width, height) canvas.

    A map that shrinks is first resized with area averaging, so a large face
    going into a crop, or a crop going back into a small image, does not alias.
    """
    matrix = np.asarray(matrix, np.float64)
    shrink = np.sqrt(abs(np.linalg.det(matrix[:, :2])))
    if shrink < 0.8:
        height, width = image.shape[:2]
        new = (max(1, round(width * shrink)), max(1, round(height * shrink)))
        sx, sy = new[0] / width, new[1] / height
        image = cv2.resize(image, new, interpolation=cv2.INTER_AREA)
        matrix = scaled(matrix, sx, sy)
    return cv2.warpAffine(image, matrix, size, flags=INTERPOLATION, borderMode=border)


def feather_mask(size, feather):
    """size x size float32 weights: 1 inside, falling linearly to 0 over `feather` pixels at the edges."""
    ramp = np.minimum(np.arange(size) + 0.5, size - np.arange(size) - 0.5) / max(feather, 1)
    ramp = np.clip(ramp, 0, 1).astype(np.float32)
    return ramp[:, None] * ramp[None, :]


def match_low_frequencies(crop, beneath, sigma):
    """`crop`'s detail on `beneath`'s colours and shading (uint8 arrays of one size).

    The result's frequencies above a Gaussian of `sigma` pixels are `crop`'s, those below it `beneath`'s.
    """
    crop = crop[..., :3].astype(np.float32)
    detail = crop - cv2.GaussianBlur(crop, (0, 0), sigma)
    tone = cv2.GaussianBlur(beneath[..., :3].astype(np.float32), (0, 0), sigma)
    return np.clip(detail + tone + 0.5, 0, 255).astype(np.uint8)


def paste(target, crop, matrix, mask):
    """Blend `crop` (aligned by `matrix`, target pixels to crop pixels) into `target` in place.

    Only the target's pixels under the crop's footprint are touched.
    """
    height, width = target.shape[:2]
    size = crop.shape[1], crop.shape[0]
    back = invert(matrix)
    corners = np.array([[0, 0, 1], [size[0], 0, 1], [0, size[1], 1], [size[0], size[1], 1]], np.float64)
    points = corners @ back.T
    left, top = np.maximum(np.floor(points.min(axis=0)).astype(int) - 1, 0)
    right, bottom = np.minimum(np.ceil(points.max(axis=0)).astype(int) + 2, (width, height))
    if left >= right or top >= bottom:
        return target
    box = (right - left, bottom - top)
    back[:, 2] -= (left, top)
    pixels = warp(crop.astype(np.float32), back, box, border=cv2.BORDER_REPLICATE)
    weight = warp(mask, back, box, border=cv2.BORDER_CONSTANT)[..., None].clip(0, 1)
    region = target[top:bottom, left:right].astype(np.float32)
    blended = region * (1 - weight) + pixels * weight
    target[top:bottom, left:right] = np.clip(blended + 0.5, 0, 255).astype(target.dtype)
    return target
