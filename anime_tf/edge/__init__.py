"""The edge runner: exported .tflite (LiteRT) and .onnx (ONNX Runtime) models with NumPy and Pillow,
never TensorFlow."""
from anime_tf.edge.runner import EdgeModel, EdgeStylizer, open_model

__all__ = ["EdgeModel", "EdgeStylizer", "open_model"]
