"""Keras models: the AnimeGANv2 generator and its PatchGAN discriminator."""
from anime_tf.models.discriminator import Discriminator
from anime_tf.models.generator import Generator, LayerNorm

__all__ = ["Discriminator", "Generator", "LayerNorm"]
