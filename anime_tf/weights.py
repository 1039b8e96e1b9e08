"""Generator weights from any source: official TF1 checkpoints, AnimeGANv2 TFLite files, Keras
files and training runs, named styles; and saving them.

A `.weights.h5` file written here carries the generator's architecture (width
and residual blocks, see `anime_tf.models.generator`), so a distilled
student loads with no extra flag.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from anime_tf import config
from anime_tf.download import DownloadError, fetch
from anime_tf.files import atomic_path, sha256_of
from anime_tf.official import WeightsError, assign_official, official_names, read_checkpoint, read_tflite

PARAMETER_COUNT = 2_143_552
GENERATOR_WEIGHTS_FILE = "generator.weights.h5"  # what a training run directory holds
ARCHITECTURE_ATTRIBUTE = "anime_tf_generator"  # JSON {"width": W, "blocks": B} on the .h5 root

__all__ = ["WeightsError", "WeightsNotFound", "build_generator", "load_generator", "save_generator", "save_weights",
           "load_discriminator", "packaged_weights",
           "style_checkpoint", "weights_identity", "read_architecture", "PARAMETER_COUNT",
           "GENERATOR_WEIGHTS_FILE"]


class WeightsNotFound(WeightsError, FileNotFoundError):
    """No weights at the path given (also a FileNotFoundError, as it always was)."""


def build_generator(architecture=None, export_format=None):
    """A Generator (the official one unless `architecture` says otherwise) with its variables created."""
    import tensorflow as tf

    from anime_tf.models import Generator

    generator = Generator(export_format=export_format, **(architecture or {}))
    generator(tf.zeros([1, 32, 32, 3]))
    return generator


def weights_identity(weights, cache=None) -> str:
    """sha256 over the bytes of the files behind `weights` (a style name, a file or a folder)."""
    style = config.STYLES.get(str(weights).lower())
    if style is not None and style.shipped:
        files = [packaged_weights(style.name)]
    elif style is not None:
        prefix = style_checkpoint(style.name, cache)
        files = sorted(prefix.parent.glob(prefix.name + ".*"))
    else:
        path = Path(weights).expanduser()
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    listing = "\n".join(f"{file.name} {sha256_of(file)}" for file in files)
    return hashlib.sha256(listing.encode()).hexdigest()


# --- named styles ---------------------------------------------------------------------------

def _style(name):
    style = config.STYLES.get(name.lower())
    if style is None:
        raise WeightsError(f"unknown style {name!r}; choose one of {', '.join(config.STYLES)}")
    return style


def packaged_weights(name):
    """The `.weights.h5` file of a style shipped in the package (no network needed)."""
    style = _style(name)
    if not style.shipped:
        raise WeightsError(f"style {name!r} is not shipped in the package; it is fetched on first use")
    if not style.packaged_path.is_file():
        raise WeightsNotFound(f"style {name!r}: {style.packaged_path} is missing from this install; "
                              "reinstall anime-tf")
    return style.packaged_path


def style_checkpoint(name, cache=None):
    """The local checkpoint prefix of an official named style, fetched on first use."""
    base_url = config.weights_url()
    style = _style(name)
    if style.shipped:
        raise WeightsError(f"style {name!r} is shipped in the package, not an official checkpoint")
    folder = Path(cache or config.cache_dir()) / "styles" / style.folder
    try:
        for file in style.files:
            fetch(f"{base_url}/{style.folder}/{file}", folder / file)
    except DownloadError as err:
        raise DownloadError(
            f"{err}\nStyle {name!r} needs these files in {folder}: {', '.join(style.files)} "
            f"(from {base_url}/{style.folder}/), or use --weights with a file you have.") from err
    data = folder / style.files[1]
    if data.stat().st_size < 4 * PARAMETER_COUNT:
        raise WeightsError(f"{data} is truncated ({data.stat().st_size} bytes); delete {folder} "
                           "to fetch it again")
    return folder / style.prefix


# --- loading and saving ---------------------------------------------------------------------

def load_generator(source, cache=None):
    """A Generator with weights from any source the project knows.

    `source`: a style name (`config.STYLES`: official or shipped), a `.weights.h5` file, a
    `.keras` model, an AnimeGANv2 `.tflite`, an official TF1 checkpoint (folder
    or prefix), or a training run folder holding `generator.weights.h5`.
    """
    source = str(source)
    style = config.STYLES.get(source.lower())
    if style is not None and style.shipped:
        return _checked(_load_keras_weights, packaged_weights(source))
    if style is not None:
        prefix = style_checkpoint(source, cache)
        return assign_official(build_generator(), read_checkpoint(prefix), str(prefix))
    path = Path(source).expanduser()
    if not path.exists() and not Path(f"{path}.index").exists():
        raise WeightsNotFound(
            f"weights not found: {source} (give a .weights.h5, .keras or .tflite file, an official "
            f"checkpoint folder, a training run folder, or a style: {', '.join(config.STYLES)})")
    if path.is_dir() and (path / GENERATOR_WEIGHTS_FILE).exists():
        path = path / GENERATOR_WEIGHTS_FILE
    if path.name.endswith(".weights.h5"):
        return _checked(_load_keras_weights, path)
    if path.suffix == ".keras":
        return _load_keras_model(path)
    if path.suffix == ".tflite":  # an official-architecture AnimeGANv2 TFLite file
        generator = build_generator()
        return assign_official(generator, read_tflite(path, list(official_names(generator))), str(path))
    return assign_official(build_generator(), read_checkpoint(path), str(path))


def _checked(loader, *args):
    """Run a loader, turning library errors into WeightsError that names the file."""
    try:
        return loader(*args)
    except WeightsError:
        raise
    except (ValueError, OSError, KeyError) as err:
        raise WeightsError(f"cannot load weights from {args[-1]}: {err}") from err


def _load_keras_weights(path):
    generator = build_generator(read_architecture(path))
    generator.load_weights(str(path))
    return generator


def read_architecture(path):
    """The {"width", "blocks"} a `.weights.h5` file was saved with (the official one if it says none)."""
    import h5py

    from anime_tf.models.generator import TEACHER_ARCHITECTURE, check_architecture

    with h5py.File(path, "r") as file:
        text = file.attrs.get(ARCHITECTURE_ATTRIBUTE)
    if text is None:
        return dict(TEACHER_ARCHITECTURE)
    try:
        architecture = json.loads(text)
        check_architecture(architecture["width"], architecture["blocks"])
    except (ValueError, KeyError, TypeError) as err:
        raise WeightsError(f"{path}: unreadable generator architecture {text!r}: {err}") from err
    return {"width": float(architecture["width"]), "blocks": int(architecture["blocks"])}


def _load_keras_model(path):
    import keras

    import anime_tf.models  # noqa: F401  (registers the custom layers)

    try:
        return keras.saving.load_model(str(path))
    except (ValueError, OSError, TypeError) as err:
        raise WeightsError(f"cannot load Keras model {path}: {err}") from err


def load_discriminator(path, into=None):
    """A PatchGAN discriminator with the weights a training run exported (`discriminator.weights.h5`).

    `into`: a built Discriminator to load them into (a run's own), else a new one.
    """
    import tensorflow as tf

    from anime_tf.models import Discriminator

    if into is None:
        into = Discriminator()
        into(tf.zeros([1, 32, 32, 3]))
    try:
        into.load_weights(str(path))
    except (OSError, ValueError) as error:
        raise WeightsError(f"{path}: not discriminator weights this run can load ({error})") from error
    return into


def save_generator(generator, dest, overwrite=False, dtype=None):
    """Save weights (`.weights.h5`) or the whole model (`.keras`), atomically.

    `dtype="float16"` stores a weights file at half the size; loading restores float32.
    """
    dest = Path(dest)
    if not (dest.name.endswith(".weights.h5") or dest.suffix == ".keras"):
        raise WeightsError(f"{dest}: the output name must end in .weights.h5 or .keras")
    if dest.suffix == ".keras":
        with atomic_path(dest, overwrite=overwrite) as tmp:
            generator.save(str(tmp))  # the architecture travels in the model's config
        return dest
    return save_weights(generator, dest, overwrite, dtype)


def save_weights(model, dest, overwrite=True, dtype=None):
    """A model's `.weights.h5`, atomically; a generator's records its architecture too."""
    with atomic_path(Path(dest), overwrite=overwrite) as tmp:
        model.save_weights(str(tmp))
        if hasattr(model, "architecture"):
            _write_architecture(tmp, model.architecture)
        if dtype is not None:
            _cast_stored_weights(tmp, dtype)
    return Path(dest)


def _cast_stored_weights(path, dtype):
    """Rewrite every floating-point array of a weights file in `dtype` (Keras casts back on load).

    HDF5 never gives back the space of a deleted array, so the file is copied, not edited.
    """
    import h5py
    import numpy as np

    path = Path(path)
    cast = path.with_name(path.name + ".cast")
    with h5py.File(path, "r") as source, h5py.File(cast, "w") as dest:
        def copy(name, item):
            if isinstance(item, h5py.Group):
                dest.require_group(name).attrs.update(item.attrs)
                return
            values = item[()]
            if np.issubdtype(values.dtype, np.floating):
                values = values.astype(dtype)
            dest.create_dataset(name, data=values).attrs.update(item.attrs)

        dest.attrs.update(source.attrs)
        source.visititems(copy)
    cast.replace(path)


def _write_architecture(path, architecture):
    import h5py

    with h5py.File(path, "a") as file:
        file.attrs[ARCHITECTURE_ATTRIBUTE] = json.dumps(architecture)
