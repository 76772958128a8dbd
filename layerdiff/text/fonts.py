"""The fonts this machine can render with: discovery through fontconfig (``fc-list``), a fallback scan of the
usual font folders, and helpers that render a line of text to an alpha mask with PIL/FreeType.

Only upright and italic faces of regular and bold weight are candidates (the four faces most families
ship); symbol, math and hairline faces are left out.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["FontFace", "available_fonts", "find_face", "load_font", "render_mask", "glyph_run_mask", "generic_of"]

_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")
_SKIP = ("math", "symbol", "dingbat", "emoji", "z003", "d050000l", "standard symbols")
_SERIF_WORDS = ("serif", "roman", "times", "bookman", "c059", "p052", "caladea", "georgia", "garamond",
                "cambria", "schoolbook", "palatino", "baskerville", "merriweather", "playfair")
_MONO_WORDS = ("mono", "courier", "code", "consol")


@dataclass(frozen=True)
class FontFace:
    """One font file: family name, CSS weight (400 or 700) and style (``"normal"``/``"italic"``)."""

    family: str
    weight: int
    style: str
    path: str
    generic: str

    @property
    def label(self) -> str:
        parts = [self.family]
        if self.weight >= 600:
            parts.append("Bold")
        if self.style == "italic":
            parts.append("Italic")
        return " ".join(parts)


def generic_of(family: str, spacing_mono: bool = False) -> str:
    """The CSS generic family (``serif``, ``sans-serif`` or ``monospace``) a family name falls under."""
    low = family.lower()
    if spacing_mono or any(w in low for w in _MONO_WORDS):
        return "monospace"
    if "sans" in low:
        return "sans-serif"
    return "serif" if any(w in low for w in _SERIF_WORDS) else "sans-serif"


def _face_from_style(family: str, style: str, path: str, mono: bool) -> FontFace | None:
    low = style.lower().replace(" ", "")
    words = ("regular", "book", "roman", "normal", "bold", "italic", "oblique", "bolditalic", "boldoblique")
    if low not in words and low not in ("", "medium"):
        return None  # light, condensed, black ... faces are not candidates
    weight = 700 if "bold" in low else 400
    slant = "italic" if ("italic" in low or "oblique" in low) else "normal"
    return FontFace(family, weight, slant, path, generic_of(family, mono))


def _from_fc_list() -> list[FontFace]:
    exe = shutil.which("fc-list")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "--format", "%{file}\t%{family[0]}\t%{style[0]}\t%{spacing}\n"],
                             capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    faces = []
    for row in out.splitlines():
        parts = row.split("\t")
        if len(parts) != 4:
            continue
        path, family, style, spacing = parts
        face = _face_from_style(family, style, path, spacing.strip() == "100")
        if face is not None:
            faces.append(face)
    return faces


def _from_folders() -> list[FontFace]:
    faces = []
    for folder in _FONT_DIRS:
        root = Path(os.path.expanduser(folder))
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() not in (".ttf", ".otf"):
                continue
            try:
                family, style = ImageFont.truetype(str(path), 12).getname()
            except OSError:
                continue
            face = _face_from_style(family or path.stem, style or "Regular", str(path), False)
            if face is not None:
                faces.append(face)
    return faces


@functools.lru_cache(maxsize=1)
def available_fonts() -> tuple[FontFace, ...]:
    """Every candidate face on this machine (one per family, weight and style), sorted by label."""
    faces = _from_fc_list() or _from_folders()
    chosen: dict[tuple[str, int, str], FontFace] = {}
    for face in faces:
        if not face.path.lower().endswith((".ttf", ".otf")):
            continue
        if any(w in face.family.lower() for w in _SKIP):
            continue
        key = (face.family, face.weight, face.style)
        if key not in chosen or face.path < chosen[key].path:
            chosen[key] = face
    return tuple(sorted(chosen.values(), key=lambda f: (f.family, f.weight, f.style)))


def find_face(family: str, weight: int = 400, style: str = "normal", generic: str = "sans-serif",
              path: str | None = None) -> FontFace:
    """The face to render ``family`` with here: ``path`` if it exists, else the closest face of that family,
    else a face of the same generic family, else any face. Raises ``LookupError`` when there is no font."""
    faces = available_fonts()
    if path and Path(path).is_file():
        for face in faces:
            if face.path == path:
                return face
        return FontFace(family, weight, style, path, generic)
    if not faces:
        raise LookupError("no TrueType/OpenType fonts found on this machine (install fonts-dejavu)")

    def distance(face: FontFace) -> tuple[int, int, int, int]:
        return (face.family.lower() != family.lower(), face.generic != generic,
                abs(face.weight - weight) // 100, face.style != style)

    return min(faces, key=distance)


def load_font(path: str, size: float) -> ImageFont.FreeTypeFont:
    """A cached PIL font of ``path`` at ``size`` px per em (to 0.1 px)."""
    return _load_font(path, max(round(float(size), 1), 1.0))


@functools.lru_cache(maxsize=256)
def _load_font(path: str, size: float) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def render_mask(text: str, path: str, size: float) -> tuple[np.ndarray, tuple[int, int]]:
    """Render ``text`` in the font at ``path``, ``size`` px per em, as an alpha mask cropped to its ink box.

    Returns ``(mask, (left, top))``: ``mask`` (h, w) float32 in [0, 1], read-only (renderings are cached);
    ``left``/``top`` the ink box corner relative to the pen origin on the baseline (``top`` is negative above
    the baseline). An empty string gives a (1, 1) mask.
    """
    return _render_mask(text, path, max(round(float(size), 1), 1.0))


@functools.lru_cache(maxsize=256)
def _render_mask(text: str, path: str, size: float) -> tuple[np.ndarray, tuple[int, int]]:
    font = load_font(path, size)
    left, top, right, bottom = font.getbbox(text, anchor="ls")
    w, h = max(int(right - left) + 2, 1), max(int(bottom - top) + 2, 1)
    im = Image.new("L", (w, h), 0)
    ImageDraw.Draw(im).text((1 - left, 1 - top), text, font=font, fill=255, anchor="ls")
    mask = np.asarray(im, np.float32) / 255.0  # (h, w)
    ys, xs = np.nonzero(mask > 0)
    if len(xs) == 0:
        mask, corner = np.zeros((1, 1), np.float32), (0, 0)
    else:
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        mask, corner = mask[y0:y1, x0:x1].copy(), (int(left - 1 + x0), int(top - 1 + y0))  # ink-tight (h, w)
    mask.flags.writeable = False
    return mask, corner


@functools.lru_cache(maxsize=16384)
def _glyph(path: str, char: str, size: float) -> tuple[np.ndarray | None, int, int, float]:
    """One character of the font at ``size``: (ink-tight uint8 mask (h, w) or None when it has no ink,
    left, top of the mask relative to the pen origin, advance)."""
    font = load_font(path, size)
    left, top, right, bottom = font.getbbox(char, anchor="ls")
    w, h = max(int(right - left) + 2, 1), max(int(bottom - top) + 2, 1)
    im = Image.new("L", (w, h), 0)
    ImageDraw.Draw(im).text((1 - left, 1 - top), char, font=font, fill=255, anchor="ls")
    mask = np.asarray(im, np.uint8)  # (h, w)
    ys, xs = np.nonzero(mask)
    advance = float(font.getlength(char))
    if len(xs) == 0:
        return None, 0, 0, advance
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    ink = mask[y0:y1, x0:x1].copy()  # (gh, gw)
    ink.flags.writeable = False
    return ink, int(left - 1 + x0), int(top - 1 + y0), advance


def glyph_run_mask(text: str, path: str, size: float) -> np.ndarray:
    """An ink-tight (h, w) float32 mask of ``text`` in the font at ``path``, ``size`` px per em, assembled from
    cached single-character renderings placed at their advances: :func:`render_mask` without kerning,
    ligatures or shaping, and much cheaper once the characters have been set (the quick ranking of font
    candidates). A run without ink gives a (1, 1) zero mask."""
    size = max(round(float(size), 1), 1.0)
    parts, pen = [], 0.0
    for char in text:
        ink, left, top, advance = _glyph(path, char, size)
        if ink is not None:
            parts.append((ink, int(round(pen)) + left, top))
        pen += advance
    if not parts:
        return np.zeros((1, 1), np.float32)
    x0, y0 = min(p[1] for p in parts), min(p[2] for p in parts)
    x1 = max(p[1] + p[0].shape[1] for p in parts)
    y1 = max(p[2] + p[0].shape[0] for p in parts)
    out = np.zeros((y1 - y0, x1 - x0), np.uint8)  # (h, w)
    for ink, left, top in parts:
        view = out[top - y0:top - y0 + ink.shape[0], left - x0:left - x0 + ink.shape[1]]
        np.maximum(view, ink, out=view)
    return out.astype(np.float32) / 255.0
