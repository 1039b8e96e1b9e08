"""The GPU distillation path (benchmarks/research/torch_distill.py, torch_weights.py).

The lent GPU machine has PyTorch and no TensorFlow, so students are distilled
there by a PyTorch port of the generator. The weights round trip runs
everywhere; the port's parity with Keras runs where PyTorch is installed.
"""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

RESEARCH = Path(__file__).resolve().parents[1] / "benchmarks" / "research"


def research_module(name):
    spec = importlib.util.spec_from_file_location(name, RESEARCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def random_student(width=0.3, blocks=2, seed=0):
    """A small generator whose layer norms are not the identity (so a wrong gamma or beta shows)."""
    import keras

    from anime_tf.models import Generator

    keras.utils.set_random_seed(seed)
    generator = Generator(width=width, blocks=blocks)
    generator(np.zeros([1, 32, 32, 3], np.float32))
    rng = np.random.default_rng(seed)
    for variable in generator.weights:
        if variable.path.endswith(("gamma", "beta", "bias")):
            variable.assign(rng.normal(1.0 if variable.path.endswith("gamma") else 0.0, 0.3, variable.shape))
    return generator


def test_weights_go_to_npz_and_back_unchanged(tmp_path):
    from anime_tf.weights import load_generator

    converter = research_module("torch_weights")
    generator = random_student()
    np.savez(tmp_path / "student.npz", **converter.generator_arrays(generator))
    with np.load(tmp_path / "student.npz") as arrays:
        back = converter.generator_from_arrays(dict(arrays))
    assert back.architecture == generator.architecture
    x = np.random.default_rng(1).uniform(-1, 1, [1, 48, 40, 3]).astype(np.float32)
    np.testing.assert_array_equal(back(x).numpy(), generator(x).numpy())

    converter.save_generator(back, tmp_path / "student.weights.h5", dtype="float16")
    stored = load_generator(tmp_path / "student.weights.h5")  # what shipping does with it
    assert stored.architecture == generator.architecture
    np.testing.assert_allclose(stored(x).numpy(), generator(x).numpy(), atol=0.05)


def test_an_incomplete_npz_is_refused():
    converter = research_module("torch_weights")
    arrays = converter.generator_arrays(random_student())
    arrays.pop(next(k for k in arrays if k.endswith("gamma")))
    with pytest.raises(SystemExit, match="lacks 1 variables"):
        converter.generator_from_arrays(arrays)


def test_the_torch_port_computes_what_the_keras_generator_computes(tmp_path):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (the GPU machine's port is checked where it is)")
    from anime_tf import losses

    port = research_module("torch_distill")
    generator = random_student(blocks=3)
    np.savez(tmp_path / "student.npz", **research_module("torch_weights").generator_arrays(generator))
    model, _ = port.load_generator(tmp_path / "student.npz", torch.device("cpu"))
    rng = np.random.default_rng(2)
    photo = rng.uniform(-1, 1, [2, 64, 64, 3]).astype(np.float32)
    context = (0.3 * rng.uniform(-1, 1, photo.shape) + 0.5).astype(np.float32)  # other moments than the photo's
    nchw = lambda x: torch.from_numpy(x).permute(0, 3, 1, 2)  # noqa: E731
    nhwc = lambda x: x.detach().permute(0, 2, 3, 1).numpy()  # noqa: E731

    with torch.no_grad():
        own, _ = model(nchw(photo))
        _, moments = model(nchw(context))
        with_context, _ = model(nchw(photo), moments)
    np.testing.assert_allclose(nhwc(own), generator(photo, training=True).numpy(), atol=1e-4)
    keras_context = generator(photo, norm_moments=generator.norm_moments(context), training=True).numpy()
    np.testing.assert_allclose(nhwc(with_context), keras_context, atol=1e-4)
    assert np.abs(nhwc(with_context) - nhwc(own)).max() > 1e-2  # the moments were used

    target = np.tanh(photo)
    assert float(port.pyramid_loss(nchw(target), nchw(photo)).mean()) == pytest.approx(
        float(np.mean(losses.pyramid_loss(target, photo))), rel=1e-4)
    assert float(port.block_color_loss(nchw(target), nchw(photo)).mean()) == pytest.approx(
        float(np.mean(losses.block_color_loss(target, photo))), rel=1e-4)

    back = model.arrays({"__width": np.float32(0.3), "__blocks": np.int32(3)})
    for variable in generator.weights:  # and the weights go back in Keras' layout
        np.testing.assert_array_equal(back[variable.path], variable.numpy())
