"""The edge runner: exported .tflite models with LiteRT, NumPy and Pillow only (never TensorFlow)."""
from anime_tf.edge.runner import EdgeModel, EdgeStylizer

__all__ = ["EdgeModel", "EdgeStylizer"]
