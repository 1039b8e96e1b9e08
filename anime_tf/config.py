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


# One forward pass of the official generator at 256 x 256 (benchmarks/bench_student.py measures it).
TEACHER_GFLOPS_256 = 52.82
# Students shipped inside the package (distilled from the official Hayao weights) live here.
PACKAGED_STYLES_DIR = Path(__file__).parent / "styles"


@dataclasses.dataclass(frozen=True)
class Style:
    """A named style: official weights fetched on first use, or a student shipped in the package.

    Official styles name a checkpoint (`folder`, `prefix`) in the official
    repository; shipped ones a `.weights.h5` file (`packaged`) in
    `anime_tf/styles/`, which needs no network.
    """

    name: str
    gflops: float  # one forward pass at 256 x 256
    folder: str | None = None  # official: folder of the official repository under checkpoint/
    prefix: str | None = None  # official: checkpoint prefix inside that folder
    packaged: str | None = None  # shipped: file name in PACKAGED_STYLES_DIR
    about: str = ""
    face_style: str | None = None  # the style that stylizes this one's face crops by default

    @property
    def shipped(self) -> bool:
        return self.packaged is not None

    @property
    def files(self) -> tuple[str, ...]:
        """The official checkpoint's two files (none for a shipped style)."""
        return () if self.shipped else (f"{self.prefix}.index", f"{self.prefix}.data-00000-of-00001")

    @property
    def packaged_path(self) -> Path:
        return PACKAGED_STYLES_DIR / self.packaged

    def origin(self) -> str:
        """Where this style's weights come from, in words."""
        if self.shipped:
            return f"in the package ({self.packaged}); {self.about}"
        return f"official checkpoint {self.folder}/{self.prefix}, fetched on first use into the cache"


DISTILLED = "distilled from the official Hayao weights, under their terms"
STYLES = {
    "hayao": Style("hayao", TEACHER_GFLOPS_256, "generator_Hayao_weight", "Hayao-64.ckpt"),
    "paprika": Style("paprika", TEACHER_GFLOPS_256, "generator_Paprika_weight", "Paprika-54.ckpt"),
    "shinkai": Style("shinkai", TEACHER_GFLOPS_256, "generator_Shinkai_weight", "Shinkai-53.ckpt"),
    "hayao-lite": Style("hayao-lite", 15.24, packaged="hayao-lite.weights.h5",
                        about=f"width 0.55, 4 blocks, {DISTILLED}"),
    "hayao-tiny": Style("hayao-tiny", 8.21, packaged="hayao-tiny.weights.h5",
                        about=f"width 0.4, 3 blocks, {DISTILLED}"),
}


def face_style_for(weights) -> str | None:
    """The face-tuned style the face pass uses for `weights`' crops by default, where one is shipped.

    Only a named style has one: a file or run folder is the user's own model,
    and its faces are stylized by it unless --face-weights says otherwise.
    """
    style = STYLES.get(str(weights)) if isinstance(weights, str) else None
    return style.face_style if style is not None and style.face_style in STYLES else None


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
# Face crops (face2paint) are square, the face about half their width: as many pixels as the face has
# in the photo (its own resolution, whatever the output's size), at least FACE_CROP_SIZE (small faces
# are stylized larger, which keeps eyes and mouths) and at most FACE_CROP_MAX (time and memory).
FACE_CROP_SIZE = 512
# `anime-tf prepare-faces` leaves out faces under this many photo pixels across (the crop's face area):
# the face pass still paints such faces, but from so few pixels a crop is blur.
FACE_TRAINING_MIN = 24
FACE_CROP_MAX = 1536
# A face crop's colours and shading (below a Gaussian of this fraction of its side) come from the
# whole-image result beneath it, its detail from the crop. On tuned-on faces (bsds500/train and three
# shared portraits) 1/32 keeps at least 0.87 of full resolution's strength (brightness alone: 0.77) at
# about the same landmark error; 1/64 is stronger, 1/16 loses fewer small faces
# (docs/notes/2026-12-faces.md).
FACE_TONE_BLUR = 1 / 32
# The pasted crop fades out over this fraction of its side, so no seam shows.
FACE_FEATHER = 0.125
# Raised whenever the face pass paints other pixels with the same settings (2: crops at the face's
# size in the photo, tone from the result beneath), so that a resumed video or a cached web result
# made by an earlier version is not mixed with this one's.
FACE_PASS_VERSION = 2


def face_pass_rule() -> dict:
    """What the face pass paints by beyond its settings; part of video resume and web cache keys."""
    return {"version": FACE_PASS_VERSION, "crop": [FACE_CROP_SIZE, FACE_CROP_MAX],
            "tone_blur": FACE_TONE_BLUR, "feather": FACE_FEATHER}


def face_model_url() -> str:
    """Where the Face Landmarker model is fetched from: $ANIME_TF_FACE_MODEL_URL, else MediaPipe."""
    return os.environ.get(FACE_MODEL_URL_ENV) or FACE_MODEL_URL
