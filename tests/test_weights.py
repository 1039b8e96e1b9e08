"""Weight import: official TF1 checkpoints (written here under official names), the shared TFLite file, named styles."""
import numpy as np
import pytest
import tensorflow as tf

from anime_tf import weights
from anime_tf.official import OFFICIAL_SCOPE, official_names
from anime_tf.download import DownloadError

STYLE_PREFIX = "Hayao-64.ckpt"


@pytest.fixture(scope="module")
def official():
    """Official variable names and shapes, from our generator's mapping."""
    generator = weights.build_generator()
    return {name: tuple(v.shape) for name, v in official_names(generator).items()}


def random_official_arrays(official, seed=0):
    rng = np.random.default_rng(seed)
    return {name: rng.normal(size=shape).astype(np.float32) for name, shape in official.items()}


def write_checkpoint(prefix, arrays):
    """A TF1-format checkpoint, as the official `tf.train.Saver` writes it."""
    names = sorted(arrays)
    tf.raw_ops.SaveV2(prefix=str(prefix), tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[arrays[n] for n in names])
    (prefix.parent / "checkpoint").write_text(f'model_checkpoint_path: "{prefix.name}"\n')
    return prefix


def test_official_names_cover_every_variable_once(official):
    assert len(official) == 77
    assert sum(int(np.prod(s)) for s in official.values()) == weights.PARAMETER_COUNT
    scope = OFFICIAL_SCOPE
    for name, shape in [("A/Conv/weights", (7, 7, 3, 32)), ("A/LayerNorm_2/gamma", (64,)),
                        ("C/r1/Conv/weights", (1, 1, 128, 256)), ("C/r1/r1/w", (3, 3, 256, 1)),
                        ("C/r1/r1/bias", (256,)), ("C/r1/1/gamma", (256,)),
                        ("C/r1/Conv_1/weights", (1, 1, 256, 256)), ("C/r1/2/beta", (256,)),
                        ("C/r2/LayerNorm/beta", (512,)), ("C/Conv_1/weights", (3, 3, 256, 128)),
                        ("D/LayerNorm_1/gamma", (128,)), ("E/Conv_2/weights", (7, 7, 64, 32)),
                        ("out_layer/Conv/weights", (1, 1, 32, 3))]:
        assert official[f"{scope}/{name}"] == shape


def test_checkpoint_import_puts_every_variable_in_its_layer(official, tmp_path):
    arrays = random_official_arrays(official)
    # Full training checkpoints also hold optimizer slots and the discriminator: ignored.
    extra = {"generator/G_MODEL/A/Conv/weights/Adam": np.zeros((7, 7, 3, 32), np.float32),
             "discriminator/Conv/weights": np.zeros((3, 3, 3, 32), np.float32)}
    write_checkpoint(tmp_path / "Hayao-64.ckpt", {**arrays, **extra})
    generator = weights.load_generator(tmp_path)  # the folder, as the official repo ships it
    for name, variable in official_names(generator).items():
        np.testing.assert_array_equal(variable.numpy(), arrays[name], err_msg=name)


def test_checkpoint_import_names_missing_unexpected_and_misshapen(official, tmp_path):
    arrays = random_official_arrays(official)
    del arrays["generator/G_MODEL/C/r3/1/gamma"]
    arrays["generator/G_MODEL/C/r5/Conv/weights"] = np.zeros((1, 1, 256, 512), np.float32)
    arrays["generator/G_MODEL/A/Conv/weights"] = np.zeros((3, 3, 3, 32), np.float32)
    write_checkpoint(tmp_path / "bad.ckpt", arrays)
    with pytest.raises(weights.WeightsError) as err:
        weights.load_generator(tmp_path / "bad.ckpt")
    message = str(err.value)
    assert "missing 1 variable(s): generator/G_MODEL/C/r3/1/gamma" in message
    assert "unexpected 1 variable(s): generator/G_MODEL/C/r5/Conv/weights" in message
    assert "generator/G_MODEL/A/Conv/weights has shape (3, 3, 3, 32), the generator needs (7, 7, 3, 32)" in message


def test_missing_weights_and_empty_folders_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="weights not found: .*nope.weights.h5"):
        weights.load_generator(tmp_path / "nope.weights.h5")
    (tmp_path / "empty").mkdir()
    with pytest.raises(weights.WeightsError, match="holds no TF1 checkpoint"):
        weights.load_generator(tmp_path / "empty")
    junk = tmp_path / "junk.weights.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(weights.WeightsError, match="junk.weights.h5"):
        weights.load_generator(junk)
    junk_tflite = tmp_path / "junk.tflite"
    junk_tflite.write_bytes(b"\0" * 64)
    with pytest.raises(weights.WeightsError, match="not a readable TFLite model"):
        weights.load_generator(junk_tflite)


def test_tflite_import_dequantizes_and_transposes(hayao_tflite, hayao_generator):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(hayao_tflite))
    tensors = {t["name"]: t for t in interpreter.get_tensor_details()}
    variables = official_names(hayao_generator)

    def dequantized(name):
        t = tensors[name]
        q = t["quantization_parameters"]
        values = interpreter.get_tensor(t["index"]).astype(np.float32)
        scale = q["scales"].reshape([-1] + [1] * (values.ndim - 1)) if values.ndim > 1 else q["scales"]
        zero = q["zero_points"].reshape(scale.shape)
        return (values - zero) * scale

    scope = OFFICIAL_SCOPE
    # A plain conv kernel: OHWI int8 with per-output-channel scales -> HWIO.
    expected = np.transpose(dequantized(f"{scope}/A/Conv/Conv2D"), (1, 2, 3, 0))
    np.testing.assert_allclose(variables[f"{scope}/A/Conv/weights"].numpy(), expected, rtol=1e-6)
    # A kernel whose plain name is a merged zero bias: the real one carries a `1` suffix.
    expected = np.transpose(dequantized(f"{scope}/E/Conv_2/Conv2D1"), (1, 2, 3, 0))
    np.testing.assert_allclose(variables[f"{scope}/E/Conv_2/weights"].numpy(), expected, rtol=1e-6)
    # A depthwise bias under a `;`-joined name.
    joined = next(n for n in tensors if n.split(";")[-1] == f"{scope}/C/r2/r2/bias")
    bias = tensors[joined]
    values = interpreter.get_tensor(bias["index"]) * bias["quantization_parameters"]["scales"]
    np.testing.assert_allclose(variables[f"{scope}/C/r2/r2/bias"].numpy(), values, rtol=1e-6)
    # A layer-norm gamma with one scale and zero point.
    gamma = tensors[f"{scope}/C/r4/2/gamma"]
    scale, zero = gamma["quantization_parameters"]["scales"][0], gamma["quantization_parameters"]["zero_points"][0]
    np.testing.assert_allclose(variables[f"{scope}/C/r4/2/gamma"].numpy(),
                               (interpreter.get_tensor(gamma["index"]).astype(np.float32) - zero) * scale,
                               rtol=1e-6)


def test_import_weights_command_writes_a_loadable_file(hayao_tflite, hayao_generator, tmp_path, capsys):
    from anime_tf.cli import main

    out = tmp_path / "hayao.weights.h5"
    assert main(["import-weights", str(hayao_tflite), "-o", str(out)]) == 0
    assert "2,143,552 parameters" in capsys.readouterr().out
    x = np.random.default_rng(0).uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32)
    np.testing.assert_array_equal(weights.load_generator(out)(x).numpy(), hayao_generator(x).numpy())
    assert main(["import-weights", str(hayao_tflite), "-o", str(out)]) == 2
    assert "exists (pass --overwrite" in capsys.readouterr().err
    assert main(["import-weights", str(hayao_tflite), "-o", str(tmp_path / "x.h5")]) == 2
    assert "must end in .weights.h5 or .keras" in capsys.readouterr().err


def test_float16_storage_halves_the_file_and_loads_as_float32(tmp_path):
    generator = weights.build_generator({"width": 0.5, "blocks": 2})
    generator.set_weights([np.random.default_rng(1).normal(0, 0.1, v.shape) for v in generator.variables])
    full = weights.save_generator(generator, tmp_path / "full.weights.h5")
    half = weights.save_generator(generator, tmp_path / "half.weights.h5", dtype="float16")
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded = weights.load_generator(half)
    assert weights.read_architecture(half) == {"width": 0.5, "blocks": 2}
    assert {v.dtype for v in loaded.variables} == {"float32"}
    for stored, original in zip(loaded.variables, generator.variables):
        np.testing.assert_allclose(stored.numpy(), original.numpy(), rtol=1e-3, atol=1e-4)


# --- named styles: fetched from a local folder standing in for the official repository ---

@pytest.fixture
def mirror(official, tmp_path, monkeypatch):
    """A local 'official repository' with a Hayao checkpoint, served by file:// URLs."""
    folder = tmp_path / "mirror" / "generator_Hayao_weight"
    folder.mkdir(parents=True)
    arrays = random_official_arrays(official, seed=3)
    write_checkpoint(folder / STYLE_PREFIX, arrays)
    monkeypatch.setenv("ANIME_TF_WEIGHTS_URL", (tmp_path / "mirror").as_uri())
    return folder, arrays


def test_named_style_is_fetched_once_then_loaded_from_the_cache(mirror, tmp_path):
    folder, arrays = mirror
    generator = weights.load_generator("hayao")
    name = "generator/G_MODEL/C/r2/r2/w"
    np.testing.assert_array_equal(official_names(generator)[name].numpy(), arrays[name])
    cached = tmp_path / "cache" / "styles" / "generator_Hayao_weight"
    assert sorted(p.name for p in cached.iterdir()) == sorted(
        [f"{STYLE_PREFIX}.index", f"{STYLE_PREFIX}.data-00000-of-00001"])
    for file in folder.iterdir():  # the "network" goes away: the cache must serve
        file.unlink()
    again = weights.load_generator("Hayao")
    np.testing.assert_array_equal(official_names(again)[name].numpy(), arrays[name])


def test_offline_style_says_which_files_to_put_where(tmp_path):
    with pytest.raises(DownloadError) as err:
        weights.load_generator("shinkai")
    message = str(err.value)
    assert str(tmp_path / "cache" / "styles" / "generator_Shinkai_weight") in message
    assert "Shinkai-53.ckpt.index" in message and "Shinkai-53.ckpt.data-00000-of-00001" in message
    assert not list((tmp_path / "cache").rglob("*.ckpt*"))  # nothing half-written


def test_a_truncated_cached_style_is_reported_not_replaced(mirror, tmp_path):
    weights.load_generator("hayao")
    data = tmp_path / "cache" / "styles" / "generator_Hayao_weight" / f"{STYLE_PREFIX}.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:1000])
    with pytest.raises(weights.WeightsError, match="truncated"):
        weights.load_generator("hayao")
    assert data.stat().st_size == 1000


def test_unknown_style_lists_the_known_ones():
    with pytest.raises(weights.WeightsError, match="unknown style 'ghibli'; choose one of hayao, paprika, shinkai, hayao-lite, hayao-tiny"):
        weights.style_checkpoint("ghibli")


def test_the_committed_from_scratch_run_loads_and_continues(tmp_path):
    """examples/from_scratch holds a float16 generator that stylizes, and a discriminator that a run can start from."""
    from pathlib import Path

    from anime_tf.inference import Stylizer

    folder = Path(__file__).resolve().parents[1] / "examples" / "from_scratch"
    generator = weights.load_generator(folder / "hayao.weights.h5")
    assert {v.dtype for v in generator.variables} == {"float32"}
    rgb = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    out = Stylizer(folder / "hayao.weights.h5").stylize_array(rgb)
    assert out.shape == rgb.shape and np.abs(out.astype(float) - rgb).mean() > 1
    discriminator = weights.load_discriminator(folder / "hayao.discriminator.weights.h5")
    assert float(tf.math.reduce_std(discriminator(tf.random.uniform([1, 64, 64, 3], -1, 1)))) > 0
