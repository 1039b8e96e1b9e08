"""face2paint: stylize each face from an aligned crop of the full-resolution photo, paste it back.

A generator run on a whole image that was scaled down (a phone, a fixed-size
edge model, `--max-side`) sees faces a few dozen pixels wide and warps eyes
and mouths. Here every face is also cut from the original photo, upright and
about half the crop's width, stylized at the crop's size, and warped back
with a feathered edge, so eyes, nose and mouth stay where they were. A
crop has the face's own resolution in the photo (at least
`config.FACE_CROP_SIZE`, at most `config.FACE_CROP_MAX`), whatever size the
output is, so a large face is never stylized from fewer pixels than full
resolution gives it; a smaller output takes the crop scaled down.

A crop stylized larger than the face's own size comes out weaker (flatter
colours, fainter shading: 0.77 of full resolution's strength where a crop is
twice the face's size). So each crop keeps only its detail (lines, eyes,
mouths: what holds the face's shape) and takes its colours and shading, the
frequencies below `config.FACE_TONE_BLUR` of its side, from the whole-image
result beneath it: the face keeps the image's tone and the strength of its
stylization. Pixels away from faces are exactly the plain stylization's.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from anime_tf import config
from anime_tf.face.align import (alignment_matrix, feather_mask, match_low_frequencies, paste, scaled, source_side,
                                 warp)
from anime_tf.imageio import shrink_to, stylize_image


class FacePainter:
    """Wraps a stylizer (Keras `Stylizer` or `EdgeStylizer`) with a face pass.

    `landmarker`: an `anime_tf.face.FaceLandmarker`.
    `face_stylizer`: stylizes the face crops (default: `stylizer`).
    `crop_size`: edge of the aligned face crops (None: each face's own size in
    the photo, within `config.FACE_CROP_SIZE` and `config.FACE_CROP_MAX`).
    `max_side`: the whole image is stylized at most this large; faces are
    cut from the full-resolution photo whatever it is.
    """

    def __init__(self, stylizer, landmarker, *, face_stylizer=None, crop_size=None,
                 max_side=None, feather=config.FACE_FEATHER):
        self.stylizer = stylizer
        self.face_stylizer = face_stylizer or stylizer
        self.landmarker = landmarker
        self.crop_size = crop_size
        self.max_side = max_side
        self.feather = feather
        self._masks = {}

    def stylize(self, image):
        """PIL image (any mode, EXIF-rotated or not) to stylized PIL image; alpha is kept."""
        return stylize_image(image, self.stylize_array)

    def stylize_array(self, rgb, on_progress=None):
        """uint8 RGB array to stylized uint8 RGB, at most `max_side` on its longer side.

        `on_progress(done, total)` counts the whole image as one step and each face as one more.
        """
        faces = self.landmarker.detect(rgb)
        small = np.asarray(shrink_to(Image.fromarray(rgb), self.max_side))
        out = np.array(self.stylizer.stylize_array(small))
        if on_progress:
            on_progress(1, 1 + len(faces))
        return self.paint_faces(rgb, out, faces, on_progress)

    def paint_faces(self, rgb, out, faces, on_progress=None):
        """Paste a stylized aligned crop of `rgb` for each face (478x2 landmarks in `rgb`'s pixels) into `out`."""
        sx, sy = out.shape[1] / rgb.shape[1], out.shape[0] / rgb.shape[0]
        for done, face in enumerate(faces, 2):
            side = self.crop_side(face)
            size = (side, side)
            matrix = alignment_matrix(face, side)  # photo pixels to crop pixels
            in_out = scaled(matrix, sx, sy)  # output pixels to crop pixels
            painted = self._stylize_crop(warp(rgb, matrix, size))
            painted = match_low_frequencies(painted, warp(out, in_out, size), config.FACE_TONE_BLUR * side)
            paste(out, painted, in_out, self._mask(side))
            if on_progress:
                on_progress(done, 1 + len(faces))
        return out

    def crop_side(self, face):
        """The crop's edge for `face` (landmarks in photo pixels): the photo pixels its crop covers."""
        if self.crop_size:
            return self.crop_size
        own = source_side(alignment_matrix(face, 1))
        return int(np.clip(round(own), config.FACE_CROP_SIZE, config.FACE_CROP_MAX))

    def close(self):
        """Close the landmarker (MediaPipe's graph)."""
        self.landmarker.close()

    def _mask(self, side):
        if side not in self._masks:
            self._masks[side] = feather_mask(side, self.feather * side)
        return self._masks[side]

    def _stylize_crop(self, crop):
        painted = np.asarray(self.face_stylizer.stylize_array(crop))
        if painted.shape[:2] != crop.shape[:2]:  # a fixed-size edge model fits the crop to its size
            painted = np.asarray(Image.fromarray(painted).resize(crop.shape[1::-1], Image.Resampling.BICUBIC))
        return painted
