"""Colour names a plan may use: the vocabulary's colours and their shades ("light green", "sky blue", "dark red").

A shade is a vocabulary colour (its *family*, the name the model knows) made lighter or darker: "light",
"pale" or "pastel" before a colour word is a tint toward white, "dark" or "deep" a shade toward black, and
named shades of :data:`~layerdiff.planning.lexicon.SHADE_PHRASES` ("sky blue", "hot pink", "off white") say
which. Exact layers (backgrounds, typeset text) are drawn in the shade's RGB (:func:`colour_rgb`); generated
objects are asked for by their family (:func:`family`).

The tint keeps the family's hue and saturation and moves its HLS lightness a share :func:`tone_step` of the
way to white (or black): the largest of 0.05, 0.10, ..., :data:`MAX_STEP` whose every step up to it is still
nearest (RGB distance, as :mod:`layerdiff.eval.generation` classifies colours) to the family with a margin
of :data:`MARGIN`, so a light gray stays gray, not white, and a dark blue stays blue, not navy or black.
"""

from __future__ import annotations

import re
from functools import cache

import numpy as np

from layerdiff.data.synth_vocab import COLORS

from .lexicon import COLOR_PHRASES, COLOR_WORDS, DARK_WORDS, LIGHT_WORDS, SHADE_PHRASES

MAX_STEP = 0.45
"""Largest share of the way to white / black a tint or shade moves the family's lightness."""
MARGIN = 12.0 / 255.0
"""RGB distance (in [0, 1] units) by which a shade must be nearer its family than any other vocabulary colour."""

_PALETTE = np.array(list(COLORS.values()), np.float32) / 255.0  # (K, 3)
_NAMES = list(COLORS)


def shade_of(name: str) -> tuple[str, str] | None:
    """(family, tone) of a plan colour name, tone "" (the family itself), "light" or "dark"; None if unknown.

    Known: a vocabulary colour, a two-word name of one (:data:`COLOR_PHRASES`: "navy blue", "dark blue"), a
    named shade (:data:`SHADE_PHRASES`), or a light / dark word followed by a colour word of
    :data:`COLOR_WORDS` ("pale grey", "deep crimson"). Case, hyphens and spacing do not matter.
    """
    if not isinstance(name, str):
        return None
    key = " ".join(name.lower().replace("-", " ").split())
    if key in COLORS:
        return key, ""
    if key in COLOR_PHRASES:
        return COLOR_PHRASES[key], ""
    if key in SHADE_PHRASES:
        return SHADE_PHRASES[key]
    words = key.split()
    if len(words) == 2 and words[1] in COLOR_WORDS:
        if words[0] in LIGHT_WORDS:
            return COLOR_WORDS[words[1]], "light"
        if words[0] in DARK_WORDS:
            return COLOR_WORDS[words[1]], "dark"
    return None


def is_colour(name: object) -> bool:
    """Whether ``name`` is a colour a plan may use (see :func:`shade_of`)."""
    return isinstance(name, str) and shade_of(name) is not None


def family(name: str) -> str:
    """The vocabulary colour a plan colour belongs to ("light green" -> "green"); KeyError when unknown."""
    got = shade_of(name)
    if got is None:
        raise KeyError(f"{name!r} is not a colour name")
    return got[0]


def tone(rgb: np.ndarray, which: str, step: float) -> np.ndarray:
    """RGB in [0, 1], shape (..., 3), with its HLS lightness moved ``step`` of the way to white ("light") or
    black ("dark"), hue and saturation kept (a grey stays grey). Any other ``which`` returns ``rgb``."""
    rgb = np.asarray(rgb, np.float32)
    if which not in ("light", "dark") or step <= 0:
        return rgb
    hi, lo = rgb.max(-1, keepdims=True), rgb.min(-1, keepdims=True)  # (..., 1)
    lum = (hi + lo) / 2  # (..., 1) HLS lightness
    new = lum + (1 - lum) * step if which == "light" else lum * (1 - step)  # (..., 1)
    room = np.minimum(lum, 1 - lum)
    # chroma scales with min(L, 1 - L) at a fixed saturation: rgb' = L' + (rgb - L) * chroma' / chroma
    k = np.where(room > 1e-6, np.minimum(new, 1 - new) / np.maximum(room, 1e-6), 0.0)
    return np.clip(new + (rgb - lum) * k, 0.0, 1.0).astype(np.float32)


def _in_family(rgb: np.ndarray, name: str) -> bool:
    d = np.sqrt(((_PALETTE - rgb) ** 2).sum(-1))  # (K,)
    order = np.argsort(d)
    return _NAMES[int(order[0])] == name and float(d[order[1]] - d[order[0]]) >= MARGIN


@cache
def tone_step(name: str, which: str) -> float:
    """Share of the way to white ("light") or black ("dark") a shade of vocabulary colour ``name`` moves:
    the largest multiple of 0.05 up to :data:`MAX_STEP` whose every smaller step stays in the family
    (0.0 when none does: the shade is drawn as the family)."""
    base = np.asarray(COLORS[name], np.float32) / 255.0
    best = 0.0
    for k in range(1, int(round(MAX_STEP / 0.05)) + 1):
        step = round(0.05 * k, 2)
        if not _in_family(tone(base, which, step), name):
            break
        best = step
    return best


def colour_rgb(name: str) -> np.ndarray:
    """A plan colour as float32 RGB in [0, 1], shape (3,): the family's colour, tinted or shaded by its tone."""
    got = shade_of(name)
    if got is None:
        raise KeyError(f"{name!r} is not a colour name")
    fam, which = got
    base = np.asarray(COLORS[fam], np.float32) / 255.0
    return tone(base, which, tone_step(fam, which)) if which else base


def model_phrase(phrase: str, colour: str | None) -> str:
    """An object's phrase in the model's words: its shade's name replaced by the family ("a light green star"
    -> "a green star"); unchanged without a shade."""
    if not colour or colour in COLORS or not is_colour(colour):
        return phrase
    return re.sub(rf"\b{re.escape(colour)}\b", family(colour), phrase, flags=re.IGNORECASE)


SHADE_WORDS_HELP = "a vocabulary colour, optionally after light/pale/pastel/dark/deep, or a named shade"
"""How plan colours are described in error messages."""
