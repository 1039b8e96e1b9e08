"""anime-tf: AnimeGANv2 photo-to-anime in TensorFlow 2 / Keras 3.

Importing the package never imports TensorFlow, so the edge runner
(`anime_tf.edge`) works where only LiteRT is installed. `Stylizer` is loaded
lazily on first use.
"""
__version__ = "0.1.0"

__all__ = ["Stylizer", "__version__"]


def __getattr__(name):
    if name == "Stylizer":
        from anime_tf.inference import Stylizer
        return Stylizer
    raise AttributeError(f"module 'anime_tf' has no attribute {name!r}")
