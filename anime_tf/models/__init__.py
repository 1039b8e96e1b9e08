"""Keras models: the AnimeGANv2 generator (and, with training, the discriminator)."""
from anime_tf.models.generator import Generator, LayerNorm

__all__ = ["Generator", "LayerNorm"]
