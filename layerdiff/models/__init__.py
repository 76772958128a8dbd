"""layerdiff's model components: the RGBA autoencoders, text encoders, the region layerer, the layer refiner and
VAE losses.

The transformer is diffusers' ``QwenImageTransformer2DModel`` used directly with the layer axis in
its rotary code (see ``layerdiff.registry``).
"""

from .layer_refiner import LayerRefiner
from .losses import (
    VAELossWeights,
    alpha_weighted_l1,
    composite_loss,
    edge_loss,
    kl_loss,
    random_backgrounds,
    rgba_vae_loss,
    ssim_loss,
)
from .patch_vae import PatchAutoencoder, patchify, unpatchify
from .region_layerer import RegionLayerer
from .rgba_vae import RGBAAutoencoder, RGBAReconstruction, premultiply, unpremultiply
from .text_encoder import HashTextEncoder, MiniLMTextEncoder, hash_tokenize, mean_pool

__all__ = [
    "LayerRefiner", "PatchAutoencoder", "patchify", "unpatchify", "RegionLayerer",
    "RGBAAutoencoder", "RGBAReconstruction", "premultiply", "unpremultiply",
    "HashTextEncoder", "MiniLMTextEncoder", "hash_tokenize", "mean_pool",
    "VAELossWeights", "alpha_weighted_l1", "composite_loss", "edge_loss", "kl_loss",
    "random_backgrounds", "rgba_vae_loss", "ssim_loss",
]
