"""The official AnimeGANv2 formats: TF1 checkpoints and AnimeGANv2 TFLite files.

Every importer produces a dict from official variable name (as in the TF1
graph, e.g. `generator/G_MODEL/C/r1/r1/w`) to a float32 array in Keras layout;
`assign_official` places it into a `Generator` with name and shape checks.
The mapping holds for students too (same scopes, fewer and narrower layers).
"""
from __future__ import annotations

import collections
import re
from pathlib import Path

import numpy as np

from anime_tf.errors import AnimeTFError

OFFICIAL_SCOPE = "generator/G_MODEL"
OPTIMIZER_SLOT = re.compile(r"/(Adam|Adam_1|Momentum|RMSProp\w*)$")


class WeightsError(AnimeTFError, ValueError):
    """Weights that cannot be loaded: missing, unexpected or misshapen variables, bad files."""


def official_names(generator):
    """Map official TF1 variable names to the generator's Keras variables.

    TF1 named layers by scope and order: the first conv in scope `A` is
    `A/Conv`, the next `A/Conv_1`; layer norms likewise; an inverted residual
    block `rN` in `C` holds `C/rN/Conv` (expand), `C/rN/rN/w` and `/bias`
    (depthwise), `C/rN/1` and `C/rN/2` (its two named layer norms) and
    `C/rN/Conv_1` (project).
    """
    from anime_tf.models.generator import InvertedResBlock

    names = {}

    def add_conv_norm(scope, block, counts):
        names[f"{scope}/{_tf1_name('Conv', counts)}/weights"] = block.conv.kernel
        norm = _tf1_name("LayerNorm", counts)
        names[f"{scope}/{norm}/gamma"] = block.norm.gamma
        names[f"{scope}/{norm}/beta"] = block.norm.beta

    groups = (("A", generator.block_a), ("B", generator.block_b), ("C", generator.block_c),
              ("D", generator.block_d), ("E", generator.block_e))
    for scope, blocks in groups:
        counts = collections.Counter()
        residual_index = 0
        for block in blocks:
            if not isinstance(block, InvertedResBlock):
                add_conv_norm(scope, block, counts)
                continue
            residual_index += 1
            r = f"r{residual_index}"
            sub, sub_counts = f"{scope}/{r}", collections.Counter()
            add_conv_norm(sub, block.expand, sub_counts)
            names[f"{sub}/{r}/w"] = block.depthwise.kernel
            names[f"{sub}/{r}/bias"] = block.depthwise.bias
            names[f"{sub}/1/gamma"] = block.depthwise_norm.gamma
            names[f"{sub}/1/beta"] = block.depthwise_norm.beta
            names[f"{sub}/{_tf1_name('Conv', sub_counts)}/weights"] = block.project.kernel
            names[f"{sub}/2/gamma"] = block.project_norm.gamma
            names[f"{sub}/2/beta"] = block.project_norm.beta
    names["out_layer/Conv/weights"] = generator.out_conv.kernel
    return {f"{OFFICIAL_SCOPE}/{name}": variable for name, variable in names.items()}


def _tf1_name(base, counts):
    """TF1's unique naming within a scope: Conv, Conv_1, Conv_2, ..."""
    index = counts[base]
    counts[base] += 1
    return base if index == 0 else f"{base}_{index}"


def assign_official(generator, arrays, source="weights"):
    """Assign official-named arrays to the generator; every variable exactly once, shapes checked."""
    variables = official_names(generator)
    missing = sorted(set(variables) - set(arrays))
    unexpected = sorted(set(arrays) - set(variables))
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} variable(s): {_few(missing)}")
    if unexpected:
        problems.append(f"unexpected {len(unexpected)} variable(s): {_few(unexpected)}")
    for name in sorted(set(variables) & set(arrays)):
        want, got = tuple(variables[name].shape), tuple(np.shape(arrays[name]))
        if want != got:
            problems.append(f"{name} has shape {got}, the generator needs {want}")
    if problems:
        raise WeightsError(f"{source} is not an AnimeGANv2 generator: " + "; ".join(problems))
    for name, variable in variables.items():
        variable.assign(np.asarray(arrays[name], dtype=np.float32))
    return generator


def _few(names, limit=6):
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


# --- official TF1 checkpoints -------------------------------------------------------------

def checkpoint_prefix(path):
    """The checkpoint prefix for a folder (`generator_Hayao_weight/`) or a prefix path."""
    import tensorflow as tf

    path = Path(path)
    if path.is_dir():
        latest = tf.train.latest_checkpoint(str(path))
        if latest:
            return latest
        indexes = sorted(path.glob("*.index"))
        if len(indexes) == 1:
            return str(indexes[0].with_suffix(""))
        if not indexes:
            raise WeightsError(f"{path} holds no TF1 checkpoint (no *.index file)")
        raise WeightsError(f"{path} holds several checkpoints ({_few([i.stem for i in indexes])}); "
                           f"name one by its prefix, e.g. {indexes[0].with_suffix('')}")
    if Path(f"{path}.index").exists():
        return str(path)
    raise WeightsError(f"{path} is not a TF1 checkpoint (no {path}.index)")


def read_checkpoint(path):
    """Official-named generator arrays from a TF1 checkpoint (optimizer slots are skipped)."""
    import tensorflow as tf

    prefix = checkpoint_prefix(path)
    try:
        reader = tf.train.load_checkpoint(prefix)
        names = reader.get_variable_to_shape_map()
        return {name: reader.get_tensor(name) for name in names
                if name.startswith("generator/") and not OPTIMIZER_SLOT.search(name)}
    except (tf.errors.OpError, ValueError) as err:
        raise WeightsError(f"cannot read checkpoint {prefix}: {err}") from err


# --- AnimeGANv2 TFLite files ----------------------------------------------------------------

def read_tflite(path, expected_names):
    """Official-named generator arrays, dequantized, from an AnimeGANv2 .tflite file.

    `expected_names`: the official names in graph order (`official_names(generator)`).

    Tensor names keep the official graph names, but the converter merged
    identical buffers and added zero biases, so a name can mislead: a kernel
    may carry a `1` suffix, a zero bias may carry a conv's name, and depthwise
    biases have `;`-joined names. We pick candidates by name and check them by
    rank and type, then check every kernel against the graph's conv op order.
    """
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_path=str(path))
    except (ValueError, RuntimeError) as err:
        raise WeightsError(f"{path} is not a readable TFLite model: {err}") from err
    tensors = interpreter.get_tensor_details()
    by_name = {t["name"]: t for t in tensors}

    def pick(base, rank):
        for name in (base, base + "1"):
            t = by_name.get(name)
            if t is not None and len(t["shape"]) == rank and t["dtype"] in (np.int8, np.float32, np.float16):
                return t
        return None

    found = {}
    for name in expected_names:
        short = name[len(OFFICIAL_SCOPE) + 1:]
        scope, leaf = short.rsplit("/", 1)
        if leaf == "weights":
            t = pick(f"{OFFICIAL_SCOPE}/{scope}/Conv2D", 4)
        elif leaf == "w":
            t = pick(f"{OFFICIAL_SCOPE}/{scope}/{scope.rsplit('/', 1)[1]}", 4)
        elif leaf == "bias":
            t = next((t for t in tensors if name in t["name"].split(";")), None)
        else:
            t = pick(name, 1)
        if t is not None:
            found[name] = t
    missing = [name for name in expected_names if name not in found]
    if missing:
        raise WeightsError(f"{path} is not an AnimeGANv2 generator: no tensor for {_few(missing)}")
    _check_conv_order(interpreter, [found[n] for n in expected_names], path)
    return {name: _to_keras_layout(name, _dequantize(interpreter, t)) for name, t in found.items()}


def _check_conv_order(interpreter, tensors, path):
    """Second check: kernels in official order must be the graph's conv ops' weights in order."""
    try:
        ops = interpreter._get_ops_details()  # not public API; skip the check if it goes away
    except AttributeError:
        return
    graph = [op["inputs"][1] for op in ops if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    ours = [t["index"] for t in tensors if len(t["shape"]) == 4]
    if graph != ours:
        raise WeightsError(f"{path}: conv kernels found by name do not match the graph's conv order")


def _dequantize(interpreter, tensor):
    values = interpreter.get_tensor(tensor["index"]).astype(np.float32)
    q = tensor["quantization_parameters"]
    scales, zero_points = q["scales"], q["zero_points"]
    if len(scales) == 0:
        return values
    shape = [1] * values.ndim
    if len(scales) > 1:
        shape[q["quantized_dimension"]] = -1
    return (values - zero_points.reshape(shape)) * scales.reshape(shape)


def _to_keras_layout(name, array):
    """TFLite stores conv kernels OHWI and depthwise kernels 1HWC; Keras wants HWIO and HWC1."""
    if array.ndim == 4:
        return np.transpose(array, (1, 2, 3, 0))
    return array
