"""Everything `anime-tf serve` and `anime-tf worker` can be told, with defaults, in one place."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from anime_tf.config import face_style_for
from anime_tf.weights import weights_identity

# Output sizes the page offers (longer side in pixels; None keeps the photo's size).
PAGE_SIZES = (None, 2048, 1024, 512)
OUTPUT_FORMATS = ("png", "jpg", "webp")
JOB_ID_BYTES = 16  # 128 random bits: ids are unguessable and are the only key to a result


@dataclasses.dataclass(frozen=True)
class StyleSpec:
    """A style the server offers: its name on the page and the weights behind it."""

    name: str
    weights: str  # anything `anime_tf.weights.load_generator` takes

    @property
    def face_weights(self) -> str | None:
        """What stylizes this style's face crops, when not its own weights (`config.face_style_for`)."""
        return face_style_for(self.weights)

    def identity(self, cache=None) -> str:
        """What makes this style's output what it is: a hash of its weight files' bytes (and of its
        face weights', which change a face-pass result).

        Named styles are identified by their official checkpoint, which the
        cache fetches and keeps; a file or folder by its contents, so
        retraining into the same path does not serve stale cached results.
        """
        own = weights_identity(self.weights, cache)
        return f"{own}+{weights_identity(self.face_weights, cache)}" if self.face_weights else own


@dataclasses.dataclass(frozen=True)
class Settings:
    """The server's options (flags of `anime-tf serve`)."""

    styles: tuple[StyleSpec, ...] = (StyleSpec("hayao", "hayao"),)
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("anime-tf-data")
    workers: int = 1
    faces: bool = False
    face_model: str | None = None
    max_upload_mb: float = 100.0
    max_pixels: int = 50_000_000
    max_files: int = 100
    max_queued_per_client: int = 200
    retention_hours: float = 24.0
    cache_mb: float = 2048.0
    broker: str | None = None

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1e6)

    @property
    def cache_bytes(self) -> int:
        return int(self.cache_mb * 1e6)

    def style(self, name):
        return next((style for style in self.styles if style.name == name), None)


def parse_style(text, named=False) -> StyleSpec:
    """`NAME=WEIGHTS`, a named style (`hayao`), or weights whose file name gives the style's name."""
    if "=" in text:
        name, weights = text.split("=", 1)
        return StyleSpec(name.strip(), weights.strip())
    if named:
        return StyleSpec(text.lower(), text.lower())
    path = Path(text)
    name = path.name.removesuffix(".weights.h5").removesuffix(".keras").removesuffix(".tflite")
    return StyleSpec(name or text, text)
