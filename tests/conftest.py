"""Shared fixtures. Real data lives in ../shared beside the project; tests that need it skip without it."""
import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
HAYAO_TFLITE = SHARED / "models" / "animeganv2_hayao_256x256_integer_quant.tflite"
FACE_MODEL = SHARED / "models" / "face_landmarker.task"
IMAGES = SHARED / "images"


# Fixtures whose tests read ../shared: those tests are marked `shared`.
SHARED_FIXTURES = {"hayao_tflite", "shared_images", "shared_photos", "face_model", "landmarker",
                   "hayao_generator", "hayao_weights"}


# Fixtures that export whole models or run the INT8 reference over many photos (a minute per module):
# the tests that use them are marked `slow`, as are those marked one by one.
SLOW_FIXTURES = {"exports", "reference_outputs"}


def pytest_collection_modifyitems(items):
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if SHARED_FIXTURES & fixtures:
            item.add_marker(pytest.mark.shared)
        if SLOW_FIXTURES & fixtures:
            item.add_marker(pytest.mark.slow)


def _need(path):
    if not path.exists():
        pytest.skip(f"needs {path} (the shared test data beside the project; absent in a user's clone)")
    return path


@pytest.fixture(scope="session")
def hayao_tflite():
    return _need(HAYAO_TFLITE)


@pytest.fixture(scope="session")
def shared_images():
    return _need(IMAGES)


@pytest.fixture(scope="session")
def shared_photos(shared_images):
    return sorted(shared_images.glob("*/*.jpg"))


@pytest.fixture(scope="session")
def face_model():
    return _need(FACE_MODEL)


@pytest.fixture(scope="session")
def landmarker(face_model):
    """One Face Landmarker for the whole session (closed at the end)."""
    from anime_tf.face import FaceLandmarker
    with FaceLandmarker(face_model) as landmarker:
        yield landmarker


@pytest.fixture(scope="session")
def hayao_generator(hayao_tflite):
    from anime_tf.weights import load_generator
    return load_generator(hayao_tflite)


@pytest.fixture(scope="session")
def hayao_weights(hayao_generator, tmp_path_factory):
    """The shared Hayao model imported once and saved as .weights.h5."""
    from anime_tf.weights import save_generator
    return save_generator(hayao_generator, tmp_path_factory.mktemp("weights") / "hayao.weights.h5")


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """No test reads or writes the user's cache, and none reaches the network."""
    monkeypatch.setenv("ANIME_TF_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("ANIME_TF_WEIGHTS_URL", (tmp_path / "no-network").as_uri())
    monkeypatch.setenv("ANIME_TF_FACE_MODEL_URL", (tmp_path / "no-network" / "face_landmarker.task").as_uri())


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory):
    """A generator with seeded random weights, for tests that need a model but not a real style."""
    import keras
    from anime_tf.weights import build_generator, save_generator
    keras.utils.set_random_seed(7)
    return save_generator(build_generator(), tmp_path_factory.mktemp("random") / "random.weights.h5")


@pytest.fixture(scope="session")
def train_data(hayao_tflite, shared_images, tmp_path_factory):
    """(photos, style folder) for the training tests, made once (tests/training.py)."""
    from training import make_train_data
    return make_train_data(tmp_path_factory.mktemp("train_data"), shared_images, hayao_tflite)
