"""Configuration in one place: named styles, cache location and defaults.

Importing this module never imports TensorFlow.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

CACHE_ENV = "ANIME_TF_HOME"
DEFAULT_CACHE = Path("~/.cache/anime_tf")

# The official repository keeps each style's generator as a TF1 checkpoint;
# $ANIME_TF_WEIGHTS_URL points at a mirror of its checkpoint/ folder instead.
WEIGHTS_URL_ENV = "ANIME_TF_WEIGHTS_URL"
OFFICIAL_REPO_URL = "https://github.com/TachibanaYoshino/AnimeGANv2/raw/master/checkpoint"


@dataclasses.dataclass(frozen=True)
class Style:
    """A named style whose official weights are fetched on first use."""

    name: str
    folder: str  # folder of the official repository under checkpoint/
    prefix: str  # checkpoint prefix inside that folder

    @property
    def files(self) -> tuple[str, ...]:
        return (f"{self.prefix}.index", f"{self.prefix}.data-00000-of-00001")


STYLES = {
    "hayao": Style("hayao", "generator_Hayao_weight", "Hayao-64.ckpt"),
    "paprika": Style("paprika", "generator_Paprika_weight", "Paprika-54.ckpt"),
    "shinkai": Style("shinkai", "generator_Shinkai_weight", "Shinkai-53.ckpt"),
}


def cache_dir() -> Path:
    """Where fetched weights live: $ANIME_TF_HOME, else ~/.cache/anime_tf."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser()


def weights_url() -> str:
    """Base URL of the official checkpoint folders: $ANIME_TF_WEIGHTS_URL, else GitHub."""
    return (os.environ.get(WEIGHTS_URL_ENV) or OFFICIAL_REPO_URL).rstrip("/")


# Images above this many pixels are refused before decoding (decompression bombs);
# the same limit at which Pillow itself refuses (twice its warning level).
MAX_IMAGE_PIXELS = 178_956_970
# Tile edge (pixels) used when an image is too large to stylize whole.
DEFAULT_TILE_SIZE = 1024
# Overlap between neighbouring tiles, blended with a linear feather.
DEFAULT_TILE_OVERLAP = 128
# Fraction of available memory a whole-image run may use before we tile.
MEMORY_FRACTION = 0.5
# Peak memory of a whole-image generator run per input pixel (measured 1.7 KB at 1-3 MP).
BYTES_PER_PIXEL = 1800
# Moments for tiled runs are taken from the image downscaled to at most this many pixels.
MOMENTS_PIXELS = 2_000_000
# The generator has two stride-2 convs down and two x2 resizes up: sizes that are multiples of
# this round-trip, and tiles that start on multiples of it see the whole image's sampling grid.
SIZE_MULTIPLE = 4
# Smaller images are upscaled to this shortest side for the generator, then scaled back.
MIN_SIDE = 32
# TFLite export variants (anime_tf.export).
QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")

# --- faces (anime_tf.face) ---
# MediaPipe's Face Landmarker bundle, fetched on first use into the cache and checked;
# $ANIME_TF_FACE_MODEL_URL points at a mirror of the file instead.
FACE_MODEL_URL_ENV = "ANIME_TF_FACE_MODEL_URL"
FACE_MODEL_URL = ("https://storage.googleapis.com/mediapipe-models/face_landmarker/"
                  "face_landmarker/float16/1/face_landmarker.task")
FACE_MODEL_FILE = "face_landmarker.task"
FACE_MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
# Most faces the landmarker looks for in one image.
MAX_FACES = 16
# Face crops (face2paint) are this many pixels square, the face about half their width.
FACE_CROP_SIZE = 512
# The pasted crop fades out over this fraction of its side, so no seam shows.
FACE_FEATHER = 0.125


def face_model_url() -> str:
    """Where the Face Landmarker model is fetched from: $ANIME_TF_FACE_MODEL_URL, else MediaPipe."""
    return os.environ.get(FACE_MODEL_URL_ENV) or FACE_MODEL_URL
