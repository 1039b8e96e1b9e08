"""The edge runner: exported .tflite (LiteRT) and .onnx (ONNX Runtime) models with NumPy and Pillow,
never TensorFlow.

    model.py         the model interface, `open_model` (picks the runtime) and `benchmark`
    litert_model.py  .tflite files with LiteRT
    onnx_model.py    .onnx files with ONNX Runtime (the `onnx` extra)
    stylizer.py      `EdgeStylizer`: image handling and tiling shared with `anime_tf.Stylizer`
    cli.py           `anime-tf-edge`
"""
from anime_tf.edge.litert_model import LiteRTModel
from anime_tf.edge.model import benchmark, open_model
from anime_tf.edge.stylizer import EdgeStylizer

EdgeModel = LiteRTModel  # the name before the runtimes were split

__all__ = ["EdgeModel", "EdgeStylizer", "LiteRTModel", "benchmark", "open_model"]
