"""Text-conditioned refiner of one generated layer's outline: the last stage of a generation cascade.

The layer transformer samples layers on a 16-pixel token grid, which is too coarse for straight edges,
square corners and holes (MODEL_CARD.md: boxes come out as blobs, rings without holes). Cascaded
generators (Ho et al. 2022, "Cascaded Diffusion Models for High Fidelity Image Generation"; Saharia et
al. 2022, "Imagen") hand the low-resolution sample and the text to a second model that adds the detail
the base grid cannot carry. This is that second stage for one layer, kept deterministic and small: a
U-Net (Ronneberger et al. 2015) reads a square crop around the layer (premultiplied RGBA) and predicts
the layer's alpha in the crop, with the layer's phrase embedding injected at every scale by FiLM
(Perez et al. 2018, "FiLM: Visual Reasoning with a General Conditioning Layer"). Cropping, pasting
back and colour filling are in :mod:`layerdiff.refine`; training in ``training/train_refiner.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn
from torch.nn import functional as F

from .weights import SafetensorsOnly


class _FiLMBlock(nn.Module):
    """Two 3x3 convolutions with group norm; the text scales and shifts the normalised features."""

    def __init__(self, c_in: int, c_out: int, text_dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm1 = nn.GroupNorm(min(8, c_out), c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.norm2 = nn.GroupNorm(min(8, c_out), c_out)
        self.film = nn.Linear(text_dim, 2 * c_out)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.norm1(self.conv1(x)))  # (B, C, H, W)
        scale, shift = self.film(text)[:, :, None, None].chunk(2, dim=1)  # (B, C, 1, 1) each
        h = self.norm2(self.conv2(h)) * (1 + scale) + shift  # (B, C, H, W)
        return F.silu(h) + self.skip(x)


class LayerRefiner(SafetensorsOnly, ModelMixin, ConfigMixin):
    """Crop of a coarse layer (premultiplied RGBA) + phrase embedding -> alpha logits of the refined layer.

    Args:
        in_channels: channels of the crop (4: premultiplied RGBA).
        text_dim: width of the phrase embedding (the text encoder's sentence embedding, see
            :func:`layerdiff.frames.encode_phrases`).
        widths: feature channels per U-Net level; each level after the first halves the resolution.
        crop_size: side of the square crop the model is trained on (pixels); any multiple of
            ``2 ** (len(widths) - 1)`` works.
    """

    @register_to_config
    def __init__(self, in_channels: int = 4, text_dim: int = 384, widths: Sequence[int] = (32, 64, 128),
                 crop_size: int = 64) -> None:
        super().__init__()
        widths = list(widths)
        if not widths:
            raise ValueError("widths needs at least one level")
        self.text_proj = nn.Sequential(nn.Linear(text_dim, 128), nn.SiLU())
        self.stem = nn.Conv2d(in_channels, widths[0], 3, padding=1)
        self.down = nn.ModuleList()
        c = widths[0]
        for w in widths:
            self.down.append(_FiLMBlock(c, w, 128))
            c = w
        self.mid = _FiLMBlock(c, c, 128)
        self.up = nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.up.append(_FiLMBlock(c + w, w, 128))
            c = w
        self.head = nn.Conv2d(c, 1, 3, padding=1)
        # The coarse alpha enters the output as a logit bias: untrained, the refiner returns a sharpened copy.
        self.input_gain = nn.Parameter(torch.tensor(6.0))

    @property
    def multiple(self) -> int:
        """Crop sides must be multiples of this."""
        return 2 ** (len(self.config.widths) - 1)

    def forward(self, crop: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """crop: (B, 4, S, S) premultiplied RGBA in [0, 1]; text: (B, text_dim). Returns alpha logits (B, 1, S, S)."""
        if crop.ndim != 4 or crop.shape[-1] % self.multiple or crop.shape[-2] % self.multiple:
            raise ValueError(f"crop must be (B, C, S, S) with S a multiple of {self.multiple}, got {tuple(crop.shape)}")
        t = self.text_proj(text.to(crop.dtype))  # (B, 128)
        h = self.stem(crop * 2 - 1)  # (B, w0, S, S)
        skips = []
        for i, block in enumerate(self.down):
            if i:
                h = F.avg_pool2d(h, 2)  # (B, C, S / 2^i, S / 2^i)
            h = block(h, t)
            skips.append(h)
        h = self.mid(h, t)
        for block, skip in zip(self.up, reversed(skips[:-1])):
            h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)  # (B, C, 2s, 2s)
            h = block(torch.cat([h, skip], dim=1), t)
        alpha = crop[:, 3:4]  # (B, 1, S, S)
        return self.head(h) + self.input_gain * (alpha - 0.5)  # (B, 1, S, S)
