"""The top-layer network: predicts the alpha of the top, unoccluded layers of a design.

LayerD (Suzuki et al. 2025, "LayerD: Decomposing Raster Graphic Designs into Layers") decomposes a
graphic by repetition: a network predicts the alpha of the layers nothing lies over, their colours are
unblended, what they hid is inpainted, and the inpainted rest goes back to the network until only the
background is left (:mod:`layerdiff.layerd`). This is that network, kept small enough to train on a CPU:
a U-Net (Ronneberger et al. 2015) that reads the current composite at a low native size (RGB and its
alpha, in [-1, 1]) and returns alpha logits at the same size; the full-resolution edge is made later by
matting against the input.

Each level holds two 3x3 convolutions with group norm and SiLU and a residual connection; levels after
the first halve the resolution (average pooling), the decoder upsamples bilinearly and concatenates the
skip. A coordinate pair (x, y in [-1, 1]) is appended to the input so that the network can tell the
canvas border from the middle (a background touching the border, an object cut by it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn
from torch.nn import functional as F

from .weights import SafetensorsOnly

__all__ = ["TopLayerNet"]


class _Block(nn.Module):
    """Two 3x3 convolutions with group norm and SiLU, plus a (1x1 when the width changes) residual path."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm1 = nn.GroupNorm(min(8, c_out), c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.norm2 = nn.GroupNorm(min(8, c_out), c_out)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.norm1(self.conv1(x)))  # (B, C, H, W)
        h = self.norm2(self.conv2(h))  # (B, C, H, W)
        return F.silu(h + self.skip(x))


class TopLayerNet(SafetensorsOnly, ModelMixin, ConfigMixin):
    """Composite (RGBA) at the native size -> alpha logits of the union of its top, unoccluded layers.

    Args:
        in_channels: channels of the input image (4: straight RGB and alpha).
        widths: feature channels per U-Net level; each level after the first halves the resolution.
        native_size: the side the model is trained at (inputs are resized to it by :meth:`predict`);
            any multiple of ``2 ** (len(widths) - 1)`` works in :meth:`forward`.
    """

    @register_to_config
    def __init__(self, in_channels: int = 4, widths: Sequence[int] = (16, 32, 64, 96),
                 native_size: int = 128) -> None:
        super().__init__()
        widths = [int(w) for w in widths]
        if not widths:
            raise ValueError("widths needs at least one level")
        if native_size % (2 ** (len(widths) - 1)):
            raise ValueError(f"native_size {native_size} must be a multiple of {2 ** (len(widths) - 1)}")
        self.stem = nn.Conv2d(in_channels + 2, widths[0], 3, padding=1)
        self.down = nn.ModuleList()
        c = widths[0]
        for w in widths:
            self.down.append(_Block(c, w))
            c = w
        self.mid = _Block(c, c)
        self.up = nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.up.append(_Block(c + w, w))
            c = w
        self.head = nn.Conv2d(c, 1, 3, padding=1)

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this."""
        return 2 ** (len(self.config.widths) - 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """image: (B, C, S, S') straight RGBA in [0, 1]. Returns alpha logits (B, 1, S, S')."""
        if image.ndim != 4 or image.shape[1] != self.config.in_channels or \
                image.shape[-1] % self.multiple or image.shape[-2] % self.multiple:
            raise ValueError(f"image must be (B, {self.config.in_channels}, H, W) with H and W multiples of "
                             f"{self.multiple}, got {tuple(image.shape)}")
        b, _, h, w = image.shape
        ys = torch.linspace(-1.0, 1.0, h, dtype=image.dtype, device=image.device)  # (H,)
        xs = torch.linspace(-1.0, 1.0, w, dtype=image.dtype, device=image.device)  # (W,)
        grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij"))[None].expand(b, 2, h, w)  # (B, 2, H, W)
        x = self.stem(torch.cat([image * 2 - 1, grid], dim=1))  # (B, w0, H, W)
        skips = []
        for i, block in enumerate(self.down):
            if i:
                x = F.avg_pool2d(x, 2)  # (B, C, H / 2^i, W / 2^i)
            x = block(x)
            skips.append(x)
        x = self.mid(x)
        for block, skip in zip(self.up, reversed(skips[:-1])):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)  # (B, C, 2h, 2w)
            x = block(torch.cat([x, skip], dim=1))
        return self.head(x)  # (B, 1, H, W)

    @torch.no_grad()
    def predict(self, image: np.ndarray) -> np.ndarray:
        """Top-layer alpha (h, w) float32 in [0, 1] of an (h, w, 4) straight RGBA float image in [0, 1]:
        the image is resized to ``native_size`` (premultiplied, area-averaged), predicted, and the alpha
        is resized back bilinearly."""
        arr = np.asarray(image, np.float32)
        if arr.ndim != 3 or arr.shape[-1] != self.config.in_channels:
            raise ValueError(f"image must be (H, W, {self.config.in_channels}), got shape {arr.shape}")
        h, w = arr.shape[:2]
        n = int(self.config.native_size)
        x = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))[None]  # (1, 4, h, w)
        premult = torch.cat([x[:, :3] * x[:, 3:], x[:, 3:]], dim=1)  # (1, 4, h, w)
        small = F.interpolate(premult, size=(n, n), mode="area" if min(h, w) >= n else "bilinear",
                              align_corners=None if min(h, w) >= n else False)  # (1, 4, n, n)
        a = small[:, 3:].clamp(0.0, 1.0)  # (1, 1, n, n)
        small = torch.cat([torch.where(a > 1e-4, small[:, :3] / a.clamp(min=1e-4), 0.0), a], 1).clamp(0.0, 1.0)
        prob = torch.sigmoid(self(small.to(self.dtype)).float())  # (1, 1, n, n)
        out = F.interpolate(prob, size=(h, w), mode="bilinear", align_corners=False)  # (1, 1, h, w)
        return out[0, 0].clamp(0.0, 1.0).numpy()
