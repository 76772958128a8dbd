"""Fixed vocabularies of the synthetic designs: colour names, shape names, words, fonts, photos.

Captions are built only from these lists, so a generated image can be checked against its caption
("a red circle" must show something red and round).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 38, 38),
    "orange": (245, 130, 20),
    "yellow": (250, 210, 30),
    "green": (40, 160, 70),
    "teal": (20, 150, 150),
    "blue": (40, 90, 220),
    "navy": (20, 30, 90),
    "purple": (130, 60, 190),
    "pink": (240, 120, 170),
    "brown": (120, 75, 40),
    "black": (15, 15, 15),
    "white": (245, 245, 245),
    "gray": (128, 128, 128),
}
"""Colour name -> sRGB (0-255). Rendered colours jitter by at most ``COLOR_JITTER`` per channel."""

COLOR_NAMES: tuple[str, ...] = tuple(COLORS)
COLOR_JITTER = 12

SHAPES: tuple[str, ...] = (
    "circle", "square", "rectangle", "triangle", "star", "ellipse", "rounded rectangle", "ring", "heart",
)

WORDS: tuple[str, ...] = (
    "SALE", "NEW", "Hello", "Summer", "Welcome", "OPEN", "Coffee", "Sunday Brunch", "50% OFF", "Join us",
    "Happy Birthday", "LIVE", "Thank you", "Menu", "Travel", "Best Deal", "Party", "Music Night", "Free",
    "Shop now", "2025", "Workshop", "Spring", "Big News", "Hot", "Fresh", "Good vibes", "Learn more",
    "Grand Opening", "Winter", "Book club", "Yoga", "Market", "Team", "Save the date", "WOW", "Enjoy",
)

_FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS: dict[str, str] = {
    "sans": "DejaVuSans.ttf",
    "bold sans": "DejaVuSans-Bold.ttf",
    "serif": "DejaVuSerif.ttf",
    "bold serif": "DejaVuSerif-Bold.ttf",
    "italic sans": "DejaVuSans-Oblique.ttf",
    "condensed bold sans": "DejaVuSansCondensed-Bold.ttf",
    "monospace": "DejaVuSansMono.ttf",
    "light sans": "DejaVuSans-ExtraLight.ttf",
}
"""Font style name (used in captions) -> DejaVu file name under ``font_dir()``."""


def font_dir() -> Path:
    """Folder of the DejaVu fonts (``LAYERDIFF_FONT_DIR`` overrides the Debian location)."""
    return Path(os.environ.get("LAYERDIFF_FONT_DIR", str(_FONT_DIR)))


PHOTOS: dict[str, str] = {
    "astronaut": "an astronaut",
    "coffee": "a cup of coffee",
    "chelsea": "a cat",
    "rocket": "a rocket on its launch pad",
    "hubble_deep_field": "deep space with galaxies",
    "immunohistochemistry": "a stained tissue sample",
    "colorwheel": "a colour wheel",
    "camera": "a man with a camera",
    "moon": "the surface of the moon",
    "grass": "grass",
    "gravel": "gravel",
    "brick": "a brick wall",
    "coins": "old coins",
}
"""``skimage.data`` function name -> caption phrase. All load offline from scikit-image's own files."""


def jitter_color(name: str, rng: np.random.Generator) -> np.ndarray:
    """The named colour with a small random jitter: float32 RGB in [0, 1], shape (3,)."""
    base = np.asarray(COLORS[name], np.float32)
    offset = rng.integers(-COLOR_JITTER, COLOR_JITTER + 1, size=3)
    return np.clip(base + offset, 0, 255).astype(np.float32) / 255.0


def pick_colors(rng: np.random.Generator, k: int, avoid: tuple[str, ...] = ()) -> list[str]:
    """``k`` distinct colour names, none of them in ``avoid``."""
    pool = [c for c in COLOR_NAMES if c not in avoid]
    idx = rng.choice(len(pool), size=k, replace=False)
    return [pool[int(i)] for i in idx]


def contrast_color(rng: np.random.Generator, behind: str | None) -> str:
    """A colour name that stands out on a background of colour ``behind`` (None: a photo)."""
    dark = {"black", "navy", "brown", "purple", "blue", "green", "teal", "red", "gray"}
    if behind is None:  # a photo: plain white, black or yellow read on most
        return ["white", "black", "yellow"][int(rng.integers(3))]
    light = ["white", "yellow", "pink", "orange"]
    pool = light if behind in dark else ["black", "navy", "red", "blue", "purple"]
    pool = [c for c in pool if c != behind]
    return pool[int(rng.integers(len(pool)))]


def article(phrase: str) -> str:
    """'orange circle' -> 'an orange circle'; 'red circle' -> 'a red circle'."""
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def join_phrases(phrases: list[str]) -> str:
    """['a', 'b', 'c'] -> 'a, b and c'."""
    if not phrases:
        return ""
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]
