"""Patch autoencoder: a linear RGBA autoencoder on 8x8 patches, fitted in closed form (PCA).

Why a second autoencoder
------------------------
The best rank-``k`` linear map of premultiplied patches is found by principal component analysis in
closed form, in a minute on a CPU, where the convolutional
:class:`~layerdiff.models.rgba_vae.RGBAAutoencoder` needs long training; its encode/decode are two
matrix products. On small hardware it reconstructs layers better than a briefly trained convolutional
VAE (the comparison is in MODEL_CARD.md). A linear latent is what "patchify" pixel-space diffusion
transformers use (Peebles & Xie 2023, DiT, sec. 3.2, with the projection fixed by PCA instead of
learned); the transformer above it supplies all the non-linearity. The convolutional VAE stays the
architecture for presets trained on bigger hardware.

Conventions (the same public API as RGBAAutoencoder)
----------------------------------------------------
Public tensors are straight RGBA in [0, 1], ``(N, 4, H, W)`` with H, W multiples of ``patch_size``.
Inside, colour is premultiplied (so invisible colour cannot leak into the latent), patches are
flattened in (channel, row, column) order and projected: ``z = (p - mean) @ encoder``,
``p' = z @ decoder + mean``. A PCA fit sets ``encoder`` to the top principal directions divided by
their root mean squares, so latents are whitened (unit second moment per channel: the VAE owns its
latent scaling), and ``decoder`` to its pseudo-inverse. By default the fit is uncentred
(``mean = 0``): a fully transparent patch is then the zero latent and decodes to exactly nothing. Decoding
clamps, snaps alpha within ``alpha_snap`` of 0 or 1 and un-premultiplies, exactly as
:func:`~layerdiff.models.rgba_vae.unpremultiply` does.
"""

from __future__ import annotations

import numpy as np
import torch
from diffusers import ModelMixin
from diffusers.configuration_utils import ConfigMixin, register_to_config
from torch import nn

from .rgba_vae import DEFAULT_ALPHA_SNAP, check_rgba, premultiply, unpremultiply
from .weights import SafetensorsOnly

__all__ = ["PatchAutoencoder", "patchify", "unpatchify"]


def patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, H/p, W/p, C*p*p), patches flattened in (channel, row, column) order."""
    n, c, h, w = x.shape
    x = x.reshape(n, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)  # (N, H/p, W/p, C, p, p)
    return x.reshape(n, h // p, w // p, c * p * p)


def unpatchify(y: torch.Tensor, p: int, c: int) -> torch.Tensor:
    """Inverse of :func:`patchify`: (N, h, w, C*p*p) -> (N, C, h*p, w*p)."""
    n, h, w, _ = y.shape
    y = y.reshape(n, h, w, c, p, p).permute(0, 3, 1, 4, 2, 5)  # (N, C, h, p, w, p)
    return y.reshape(n, c, h * p, w * p)


class PatchAutoencoder(SafetensorsOnly, ModelMixin, ConfigMixin):
    """Linear RGBA patch autoencoder (see the module docstring).

    Args:
        in_channels: image channels (4: RGBA).
        patch_size: side of the square patch = spatial downsampling factor.
        latent_channels: latent channels per patch (principal components kept).
        alpha_snap: alpha within this distance of 0 or 1 decodes to exactly 0 or 1.
    """

    @register_to_config
    def __init__(self, in_channels: int = 4, patch_size: int = 8, latent_channels: int = 16,
                 alpha_snap: float = DEFAULT_ALPHA_SNAP) -> None:
        super().__init__()
        if in_channels != 4:
            raise ValueError(f"PatchAutoencoder encodes RGBA: in_channels must be 4, got {in_channels}")
        d = in_channels * patch_size * patch_size
        if not 1 <= latent_channels <= d:
            raise ValueError(f"latent_channels must be in [1, {d}], got {latent_channels}")
        eye = torch.eye(d)[:, :latent_channels]  # until fitted: the first pixels of each patch
        self.patch_mean = nn.Parameter(torch.zeros(d))
        self.encoder = nn.Parameter(eye.clone())  # (d, k)
        self.decoder = nn.Parameter(eye.T.clone())  # (k, d)

    @property
    def spatial_scale(self) -> int:
        return int(self.config.patch_size)

    @property
    def latent_channels(self) -> int:
        return int(self.config.latent_channels)

    def encode_rgba(self, x: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None
                    ) -> torch.Tensor:
        """Straight RGBA (N, 4, H, W) in [0, 1] -> whitened latents (N, k, H/p, W/p) (deterministic)."""
        check_rgba(x, self.spatial_scale)
        x = premultiply(x.to(self.patch_mean.device, self.patch_mean.dtype).clamp(0, 1))
        patches = patchify(x, self.spatial_scale)  # (N, h, w, d)
        z = (patches - self.patch_mean) @ self.encoder  # (N, h, w, k)
        return z.permute(0, 3, 1, 2).contiguous()  # (N, k, h, w)

    def decode_rgba_premultiplied(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (N, k, h, w) -> premultiplied RGBA (N, 4, p*h, p*w), clamped to [0, 1]."""
        if not isinstance(z, torch.Tensor) or z.ndim != 4 or z.shape[1] != self.latent_channels:
            shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"latents must have shape (N, {self.latent_channels}, h, w), got {shape}")
        z = z.to(self.decoder.device, self.decoder.dtype).permute(0, 2, 3, 1)  # (N, h, w, k)
        patches = z @ self.decoder + self.patch_mean  # (N, h, w, d)
        return unpatchify(patches, self.spatial_scale, 4).float().clamp(0.0, 1.0)  # (N, 4, H, W)

    def decode_rgba(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (N, k, h, w) -> straight RGBA (N, 4, p*h, p*w) float32 in [0, 1]."""
        return unpremultiply(self.decode_rgba_premultiplied(z), float(self.config.alpha_snap))

    @torch.no_grad()
    def fit_pca(self, images: torch.Tensor | list[torch.Tensor], center: bool = False, eps: float = 1e-6
                ) -> np.ndarray:
        """Set mean, encoder and decoder by PCA of the patches of ``images`` (straight RGBA tensors
        (N, 4, H, W)). Returns the explained-variance ratio of every component (descending).

        ``center=False`` (default) analyses second moments about 0 instead of the mean, so an empty
        (fully transparent) patch encodes to the zero latent and decodes to exactly nothing: padding
        layers stay exactly empty. ``center=True`` is classic PCA (slightly lower error)."""
        chunks = images if isinstance(images, list) else [images]
        d = self.patch_mean.numel()
        count, total, outer = 0, torch.zeros(d, dtype=torch.float64), torch.zeros(d, d, dtype=torch.float64)
        for x in chunks:
            check_rgba(x, self.spatial_scale)
            p = patchify(premultiply(x.double().clamp(0, 1)), self.spatial_scale).reshape(-1, d)  # (M, d)
            count += p.shape[0]
            total += p.sum(0)
            outer += p.T @ p
        if count < 2:
            raise ValueError("fit_pca needs at least two patches")
        mean = total / count if center else torch.zeros_like(total)
        cov = outer / count - torch.outer(mean, mean)  # (d, d) covariance, or second moments about 0
        evals, evecs = torch.linalg.eigh(cov)
        order = torch.argsort(evals, descending=True)
        evals, evecs = evals[order].clamp_min(0), evecs[:, order]
        k = self.latent_channels
        std = evals[:k].sqrt().clamp_min(eps)  # (k,)
        self.patch_mean.copy_(mean.to(self.patch_mean.dtype))
        self.encoder.copy_((evecs[:, :k] / std).to(self.encoder.dtype))  # whitened projection
        self.decoder.copy_((evecs[:, :k] * std).T.to(self.decoder.dtype))
        return (evals / evals.sum().clamp_min(eps)).numpy()
