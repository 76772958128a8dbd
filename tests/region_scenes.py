"""Small designs and stack helpers shared by the region-engine tests (test_poster_layers,
test_regions_background, test_regions_designer)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

SIZE = 320


def gradient(top=(30, 90, 150), bottom=(230, 160, 110), size=SIZE) -> np.ndarray:
    """(size, size, 3) float 8-bit values of a vertical gradient."""
    t = np.linspace(0.0, 1.0, size)[:, None, None]
    return np.broadcast_to(np.array(top, float) + (np.array(bottom, float) - np.array(top, float)) * t,
                           (size, size, 3))


def border_disc(colour=(250, 210, 80)) -> tuple[Image.Image, np.ndarray]:
    """A gradient with a disc cut by the top-right corner of the canvas, and the disc's mask."""
    img = Image.fromarray(gradient().astype(np.uint8))
    mask = Image.new("L", img.size, 0)
    ImageDraw.Draw(mask).ellipse([200, -60, 380, 120], fill=255)
    ImageDraw.Draw(img).ellipse([200, -60, 380, 120], fill=colour)
    return img, np.asarray(mask) > 250


def topmost(stack: np.ndarray) -> np.ndarray:
    """(H, W) index of the topmost layer of an (L, H, W, 4) stack with alpha > 0.5 (0 where none is)."""
    top = np.zeros(stack.shape[1:3], np.int64)
    for k in range(1, len(stack)):
        top[stack[k, ..., 3] > 0.5] = k
    return top


def over(stack: np.ndarray) -> np.ndarray:
    """(H, W, 3) composite of an (L, H, W, 4) straight-alpha stack."""
    out = np.zeros(stack.shape[1:3] + (3,), np.float32)
    for layer in stack:
        a = layer[..., 3:]
        out = layer[..., :3] * a + out * (1.0 - a)
    return out
