"""Start a student as a slice of its teacher: the teacher's most important channels.

A randomly initialised student spends most of a CPU's training budget
learning what the teacher already knows. A student of the same family can
instead start as the teacher with its least important channels and its last
residual blocks removed (the usual start of structured pruning), so that
distillation only has to repair what the removal changed.

A channel's importance is what it carries into the layers that read it: the
size of its layer norm's output (|gamma| + |beta|, summed over the layers
that write it) times the L1 norm of the weights that read it (summed over
readers, each relative to its own mean). The residual stream is one group
of channels, written by every block's projection.
"""
from __future__ import annotations

import numpy as np

from anime_tf.errors import ConfigError

RGB = "rgb"
STREAM = "stream"


def layer_graph(generator):
    """The generator's layers as (layer, kind, channels read, channels written), in call order.

    kind is "conv" (a `ConvNormLReLU`), "block" (an `InvertedResBlock`) or
    "out" (the last 1x1 conv); channel groups are named by the layer that
    writes them, the residual stream `STREAM` and the input `RGB`.
    """
    graph, previous = [], RGB
    for layer in generator.block_a + generator.block_b + generator.block_c + generator.block_d + generator.block_e:
        if layer.name.startswith("C_r"):
            graph.append((layer, "block", previous, STREAM))
            previous = STREAM
        else:
            graph.append((layer, "conv", previous, layer.name))
            previous = layer.name
    graph.append((generator.out_conv, "out", previous, RGB))
    return graph


def _norm_size(norm):
    return np.abs(norm.gamma.numpy()) + np.abs(norm.beta.numpy())


def _reads(kernel):
    """Per input channel, the L1 norm of the kernel's weights that read it, over the mean of those."""
    size = np.abs(np.asarray(kernel)).sum(axis=(0, 1, 3))
    return size / max(float(size.mean()), 1e-12)


def channel_importance(generator):
    """{group: importance per channel} for every group of channels the generator's layers write."""
    written, read = {}, {}

    def add(table, group, values):
        table[group] = table.get(group, 0.0) + values

    for layer, kind, reads, writes in layer_graph(generator):
        if kind == "out":
            add(read, reads, _reads(layer.kernel))
            continue
        first = layer.expand.conv if kind == "block" else layer.conv
        add(read, reads, _reads(first.kernel))
        if kind == "block":
            hidden = f"{layer.name}/hidden"
            add(written, hidden, _norm_size(layer.expand.norm) + _norm_size(layer.depthwise_norm))
            add(read, hidden, _reads(layer.project.kernel))
            add(written, writes, _norm_size(layer.project_norm))
        else:
            add(written, writes, _norm_size(layer.norm))
    return {group: written[group] * read[group] for group in written}


def check_sliceable(teacher, student):
    """ValueError unless `student` is `teacher` with fewer (or as many) channels and blocks, at least one block."""
    if student.blocks < 1:
        raise ConfigError("a student sliced from its teacher needs at least one residual block")
    if student.blocks > teacher.blocks or student.width > teacher.width:
        raise ConfigError(f"cannot slice a student of width {student.width}, {student.blocks} blocks "
                         f"from a teacher of width {teacher.width}, {teacher.blocks} blocks")


def kept_channels(teacher, student):
    """{group: the teacher's channel indices the student keeps}, the most important, in their order."""
    kept = {RGB: np.arange(3)}
    for group, scores in channel_importance(teacher).items():
        count = _student_channels(student, group)
        if count is not None:
            kept[group] = np.sort(np.argsort(-scores, kind="stable")[:count])
    return kept


def _student_channels(student, group):
    """How many channels the student has in `group` (None: the student has no such layer)."""
    for layer, kind, _, writes in layer_graph(student):
        if kind == "block" and group == f"{layer.name}/hidden":
            return layer.expand.norm.gamma.shape[0]
        if kind != "out" and writes == group:
            return (layer.project_norm if kind == "block" else layer.norm).gamma.shape[0]
    return None


def _slice_conv(kernel, reads, writes):
    return np.asarray(kernel)[:, :, reads][..., writes]


def _slice_norm(target, source, channels):
    target.gamma.assign(source.gamma.numpy()[channels])
    target.beta.assign(source.beta.numpy()[channels])


def slice_teacher(teacher, student):
    """Set `student`'s weights to the teacher's most important channels and first blocks; returns the student."""
    check_sliceable(teacher, student)
    kept = kept_channels(teacher, student)
    teacher_layers = {layer.name: layer for layer, *_ in layer_graph(teacher)}
    for layer, kind, reads, writes in layer_graph(student):
        source = teacher_layers[layer.name]
        if kind == "out":
            layer.kernel.assign(_slice_conv(source.kernel, kept[reads], kept[RGB]))
        elif kind == "conv":
            layer.conv.kernel.assign(_slice_conv(source.conv.kernel, kept[reads], kept[writes]))
            _slice_norm(layer.norm, source.norm, kept[writes])
        else:
            hidden = kept[f"{layer.name}/hidden"]
            layer.expand.conv.kernel.assign(_slice_conv(source.expand.conv.kernel, kept[reads], hidden))
            _slice_norm(layer.expand.norm, source.expand.norm, hidden)
            layer.depthwise.kernel.assign(source.depthwise.kernel.numpy()[:, :, hidden])
            layer.depthwise.bias.assign(source.depthwise.bias.numpy()[hidden])
            _slice_norm(layer.depthwise_norm, source.depthwise_norm, hidden)
            layer.project.kernel.assign(_slice_conv(source.project.kernel, hidden, kept[writes]))
            _slice_norm(layer.project_norm, source.project_norm, kept[writes])
    return student
