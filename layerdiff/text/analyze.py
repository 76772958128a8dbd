"""From recognised lines to styled text: glyph matting, colour, font matching, size, baseline and blocks.

For each line the glyphs are matted from the image: the padded line box is clustered into three colours
(k-means in RGB); the text colour is the cluster that touches the box border least and differs most from the
border's colour; a pixel's alpha is its projection between its nearest background colour and the text
colour. Every candidate font face sets the recognised string from its cached glyphs (no kerning) and the
best few set it exactly; each rendering is scaled to the glyphs' ink height and compared with the matte
(soft intersection over union, with a penalty when the face's width at that height disagrees with the
glyphs'). The best face gives family, weight and style; the scale gives
the font size (em px); the face's ink box relative to its pen origin gives the baseline and the origin x.
Lines of similar size and colour stacked closely form one block; its alignment is the edge (left, centre,
right) along which its lines agree best.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from .fonts import FontFace, available_fonts, glyph_run_mask, load_font, render_mask
from .info import TextInfo, TextLine
from .ocr import Detection

__all__ = ["LineFit", "matte_line", "own_glyphs", "fit_line", "merge_pieces", "restore_spaces", "group_lines",
           "blocks_to_info"]

_REF_SIZE = 40  # px per em of the reference renderings
_CMP_HEIGHT = 32  # glyph masks are compared at this height
_ASPECT_WEIGHT = 0.6
_SHORTLIST = 8  # faces set exactly after the quick ranking on cached glyphs


@dataclass
class LineFit:
    """One line measured in the image: matte, colour and the per-face match scores (``exact``: the faces
    scored on an exact rendering; the others carry their quick score, see :func:`fit_line`)."""

    detection: Detection
    ink_box: tuple[int, int, int, int]
    color: tuple[int, int, int]
    scores: dict[FontFace, float] = field(default_factory=dict)
    sizes: dict[FontFace, float] = field(default_factory=dict)
    best: FontFace | None = None
    exact: set[FontFace] = field(default_factory=set)
    target: np.ndarray | None = field(default=None, repr=False)  # (32, cw) glyphs at the comparison height
    glyph_size: tuple[int, int] = (0, 0)  # (gh, gw) of the glyphs in the image

    def score_exactly(self, face: FontFace) -> None:
        """Score ``face`` on an exact rendering of the line (kerning and shaping) unless done already."""
        if face in self.exact or self.target is None:
            return
        self.exact.add(face)
        exact = _compare(self.target, self.glyph_size, render_mask(self.detection.text, face.path, _REF_SIZE)[0])
        if exact is None:
            self.scores.pop(face, None)
            self.sizes.pop(face, None)
        else:
            self.scores[face], self.sizes[face] = exact[0], _REF_SIZE * exact[1]

    @property
    def font_size(self) -> float:
        return self.sizes[self.best] if self.best is not None else float(self.ink_box[3] - self.ink_box[1])

    def placement(self, face: FontFace) -> tuple[float, float]:
        """(pen origin x, baseline y) of this line set in ``face`` at its fitted size."""
        size = self.sizes[face]
        mask, (left, top) = render_mask(self.detection.text, face.path, size)
        ink = _ink_box(mask) or (0, 0, 0, 0)
        return float(self.ink_box[0] - left - ink[0]), float(self.ink_box[1] - top - ink[1])

    def to_line(self, face: FontFace | None = None) -> TextLine:
        face = face or self.best
        if face is None:
            x, baseline = float(self.ink_box[0]), float(self.ink_box[3])
        else:
            x, baseline = self.placement(face)
        return TextLine(self.detection.text, self.ink_box, baseline, x, self.detection.confidence)


def _kmeans(pixels: np.ndarray, k: int, iters: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic k-means of (N, 3) colours seeded at luminance quantiles: (centres (k, 3), labels (N,))."""
    lum = pixels @ np.array([0.299, 0.587, 0.114], np.float32)  # (N,)
    order = np.argsort(lum, kind="stable")
    seeds = [order[int(q * (len(order) - 1))] for q in np.linspace(0.02, 0.98, k)]
    centres = pixels[seeds].astype(np.float32)  # (k, 3)
    labels = np.zeros(len(pixels), np.int64)
    for _ in range(iters):
        labels = _nearest(pixels, centres)[0]
        counts = np.bincount(labels, minlength=k)  # (k,)
        sums = np.stack([np.bincount(labels, weights=pixels[:, c], minlength=k) for c in range(3)], 1)  # (k, 3)
        present = counts > 0
        centres[present] = (sums[present] / counts[present, None]).astype(np.float32)
    return centres, labels


def _nearest(pixels: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index (N,), squared distances (N, k)) of the nearest of ``centres`` (k, 3) to each of ``pixels`` (N, 3)."""
    d = np.zeros((len(pixels), len(centres)), np.float32)  # (N, k)
    for c in range(3):
        d += (pixels[:, c:c + 1] - centres[None, :, c]) ** 2
    return d.argmin(1), d


def matte_line(rgb: np.ndarray, box: tuple[int, int, int, int], alpha: np.ndarray | None = None,
               ) -> tuple[np.ndarray, tuple[int, int], tuple[int, int, int]]:
    """Matte the glyphs of one line.

    ``rgb``: (H, W, 3) float32 in [0, 1]. ``box``: the detector's line box. ``alpha``: an optional (H, W) matte
    that is used instead of clustering (a text layer's own alpha). Returns ``(matte (h, w) float32, (x, y) of the
    matte's corner on the canvas, text colour RGB 0-255)``.
    """
    H, W = rgb.shape[:2]
    x0, y0, x1, y1 = box
    pad = max(2, int(round(0.15 * (y1 - y0))))
    x0, y0, x1, y1 = max(x0 - pad, 0), max(y0 - pad, 0), min(x1 + pad, W), min(y1 + pad, H)
    crop = rgb[y0:y1, x0:x1].astype(np.float32)  # (h, w, 3)
    h, w = crop.shape[:2]
    if alpha is not None:
        matte = np.clip(alpha[y0:y1, x0:x1].astype(np.float32), 0, 1)  # (h, w)
        core = matte > 0.9
        colour = np.median(crop[core], axis=0) if core.sum() >= 4 else crop.reshape(-1, 3).mean(0)
        return matte, (x0, y0), tuple(int(round(c * 255)) for c in colour)  # type: ignore[return-value]
    pixels = crop.reshape(-1, 3)  # (N, 3)
    step = max(1, len(pixels) // 60000)
    centres, _ = _kmeans(pixels[::step], 3)
    nearest, d = _nearest(pixels, centres)  # (N,), (N, 3)
    labels = nearest.reshape(h, w)  # (h, w)
    ring = np.zeros((h, w), bool)
    ring[[0, -1], :] = True
    ring[:, [0, -1]] = True
    border_labels = labels[ring]
    border_colour = np.median(crop[ring], axis=0)  # (3,)
    sizes = np.bincount(labels.ravel(), minlength=3) / labels.size
    border_frac = np.bincount(border_labels, minlength=3) / max(len(border_labels), 1)
    dist = np.linalg.norm(centres - border_colour[None], axis=1)  # (3,)
    score = border_frac + 0.5 * (1.0 - dist / max(dist.max(), 1e-6))
    score[sizes < 0.01] = np.inf
    text = int(np.argmin(score))
    fg = centres[text]
    # Each pixel's background: the nearest non-text centre; alpha: its projection from there to the text colour.
    others = [c for c in range(3) if c != text]
    d_bg = d[:, others]  # (N, 2)
    bg = centres[others][d_bg.argmin(1)]  # (N, 3)
    span = fg[None] - bg  # (N, 3)
    denom = np.maximum((span**2).sum(1), 1e-4)
    matte = np.clip(((pixels - bg) * span).sum(1) / denom, 0, 1).reshape(h, w)  # (h, w)
    matte[np.sqrt(denom).reshape(h, w) < 0.08] = 0.0  # background clusters too close to the text colour
    core = (labels == text) & (matte > 0.85)
    colour = np.median(crop[core], axis=0) if core.sum() >= 4 else fg
    return matte.astype(np.float32), (x0, y0), tuple(int(round(c * 255)) for c in colour)  # type: ignore[return-value]


def _ink_box(matte: np.ndarray, threshold: float = 0.5) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the matte's ink, ignoring rows/columns with only stray pixels."""
    ink = matte > threshold
    rows, cols = ink.sum(1), ink.sum(0)
    if rows.max(initial=0) == 0:
        return None
    ys = np.nonzero(rows >= max(1, 0.02 * rows.max()))[0]
    xs = np.nonzero(cols >= 1)[0]
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def own_glyphs(matte: np.ndarray, box: tuple[int, int, int, int], corner: tuple[int, int]) -> np.ndarray:
    """Keep the glyphs of this line: connected ink whose centre lies inside the detector's box and which the
    crop does not cut at its edges (those belong to the lines or words above, below or beside)."""
    from scipy import ndimage

    labels, n = ndimage.label(matte > 0.5, structure=np.ones((3, 3)))  # (h, w)
    if n == 0:
        return matte
    y_lo, y_hi = box[1] - corner[1], box[3] - corner[1]
    x_lo, x_hi = box[0] - corner[0], box[2] - corner[0]
    found = ndimage.find_objects(labels)
    keep = np.zeros(n + 1, bool)
    h, w = matte.shape
    for i, sl in enumerate(found, start=1):
        ys, xs = sl
        cy, cx = (ys.start + ys.stop) / 2, (xs.start + xs.stop) / 2
        cut = (ys.start == 0 and corner[1] > 0) or ys.stop == h or (xs.start == 0 and corner[0] > 0) or xs.stop == w
        keep[i] = y_lo <= cy <= y_hi and x_lo <= cx <= x_hi and not cut
    if not keep.any():
        return matte
    near = ndimage.binary_dilation(keep[labels], iterations=2)  # (h, w): anti-aliased rims of kept glyphs
    return np.where(near, matte, 0.0).astype(np.float32)


def _resize(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(mask.astype(np.float32), "F").resize(size, Image.BILINEAR), np.float32)


def _word_gaps(glyphs: np.ndarray, min_width: float) -> list[tuple[int, int]]:
    """(start, end) columns of the ink-free runs inside a line's glyphs at least ``min_width`` wide."""
    empty = ~(glyphs > 0.5).any(0)  # (gw,)
    gaps, start = [], None
    for x, e in enumerate(empty):
        if e and start is None:
            start = x
        elif not e and start is not None:
            if x - start >= min_width:
                gaps.append((start, x))
            start = None
    return gaps


def restore_spaces(text: str, glyphs: np.ndarray, face: FontFace, size: float) -> str:
    """Put back word spaces the recogniser dropped (it often reads widely spaced capitals as one word).

    Word gaps are ink-free column runs wider than 0.15 em and 2.5 times the median gap between letters. When
    there are more of them than spaces in ``text``, the spaces are rebuilt from the gaps: each gap, with the
    other gaps' widths taken out, is mapped onto the nearest character boundary of ``text`` (without spaces)
    set in ``face`` at ``size``.
    """
    letter_gaps = [e - s for s, e in _word_gaps(glyphs, 1)]
    gaps = _word_gaps(glyphs, max(0.15 * size, 2.5 * float(np.median(letter_gaps)) if letter_gaps else 0.0))
    if len(gaps) <= text.count(" ") or len(text.replace(" ", "")) < 2:
        return text
    bare = text.replace(" ", "")
    mask, (left, _) = render_mask(bare, face.path, size)
    font_px = load_font(face.path, size)
    bounds = np.array([font_px.getlength(bare[:k]) - left for k in range(1, len(bare))])  # (n - 1,) rendered x
    ink_width = glyphs.shape[1] - sum(e - s for s, e in gaps)
    scale = mask.shape[1] / max(ink_width, 1)
    cuts, removed = set(), 0
    for s, e in gaps:
        centre = (s - removed) * scale
        removed += e - s
        cuts.add(int(np.argmin(np.abs(bounds - centre))) + 1)
    return "".join((" " if k in cuts else "") + ch for k, ch in enumerate(bare))


def fit_line(rgb: np.ndarray, det: Detection, faces: tuple[FontFace, ...] | None = None,
             alpha: np.ndarray | None = None) -> LineFit | None:
    """Matte one detected line and score every candidate face against it; None when no glyphs are found.

    When the best face shows that word spaces are missing from the recognised text (:func:`restore_spaces`),
    the faces are scored again on the text with the spaces put back, which is kept if it matches better.
    """
    matte, (mx, my), colour = matte_line(rgb, det.box, alpha)
    matte = own_glyphs(matte, det.box, (mx, my))
    ib = _ink_box(matte)
    if ib is None:
        return None
    ix0, iy0, ix1, iy1 = ib
    glyphs = matte[iy0:iy1, ix0:ix1]  # (gh, gw)
    fit = _score_faces(det, glyphs, (mx + ix0, my + iy0, mx + ix1, my + iy1), colour, faces)
    if fit.best is not None:
        text = restore_spaces(det.text, glyphs, fit.best, fit.sizes[fit.best])
        if text != det.text:
            spaced = _score_faces(Detection(text, det.quad, det.confidence), glyphs, fit.ink_box, colour, faces)
            if spaced.best is not None and spaced.scores[spaced.best] > fit.scores[fit.best] + 0.02:
                fit = spaced
    return fit


def _compare(target: np.ndarray, glyph_size: tuple[int, int], ref: np.ndarray) -> tuple[float, float] | None:
    """(score, ink height of the glyphs / ink height of ``ref``) of a reference rendering (h, w) against the
    glyphs (``target``: (32, cw) at the comparison height; ``glyph_size``: their (gh, gw) in the image): soft
    intersection over union at the comparison height, less the width disagreement at the glyphs' height.
    Both are cropped to their ink by the same rule (:func:`_ink_box`: rows with stray ink left out)."""
    ref_box = _ink_box(ref)
    if ref_box is None:
        return None
    gh, gw = glyph_size
    rx0, ry0, rx1, ry1 = ref_box
    ref = ref[ry0:ry1, rx0:rx1]  # (rh, rw)
    scale = gh / ref.shape[0]
    aspect = abs(np.log(gw / max(ref.shape[1] * scale, 1.0)))
    cand = _resize(ref, (target.shape[1], _CMP_HEIGHT))  # (32, cw)
    iou = np.minimum(target, cand).sum() / max(np.maximum(target, cand).sum(), 1e-6)
    return float(iou - _ASPECT_WEIGHT * aspect), float(scale)


def _score_faces(det: Detection, glyphs: np.ndarray, ink_box: tuple[int, int, int, int],
                 colour: tuple[int, int, int], faces: tuple[FontFace, ...] | None) -> LineFit:
    """Score each candidate face against the glyphs (h, w). With more than :data:`_SHORTLIST` candidates,
    every face is first ranked on the string assembled from its cached glyphs
    (:func:`~layerdiff.text.fonts.glyph_run_mask`), and only the best :data:`_SHORTLIST` are set exactly (with
    kerning and shaping) and scored again; the others keep their quick score."""
    gh, gw = glyphs.shape
    cmp_w = max(4, int(round(gw * _CMP_HEIGHT / gh)))
    target = _resize(glyphs, (cmp_w, _CMP_HEIGHT))  # (32, cw)
    fit = LineFit(det, ink_box, colour, target=target, glyph_size=(gh, gw))
    candidates = tuple(faces if faces is not None else available_fonts())
    if len(candidates) > _SHORTLIST:
        for face in candidates:
            quick = _compare(target, (gh, gw), glyph_run_mask(det.text, face.path, _REF_SIZE))
            if quick is not None:
                fit.scores[face], fit.sizes[face] = quick[0], _REF_SIZE * quick[1]
        candidates = tuple(sorted(fit.scores, key=lambda f: -fit.scores[f])[:_SHORTLIST])
    for face in candidates:
        fit.score_exactly(face)
    if fit.scores:
        fit.best = max(fit.scores, key=fit.scores.__getitem__)
        # Refine the size at the fitted scale (ink heights do not scale exactly linearly with hinting).
        size = fit.sizes[fit.best]
        ref, _ = render_mask(det.text, fit.best.path, size)
        ref_box = _ink_box(ref)
        if ref_box is not None and ref_box[3] > ref_box[1]:
            fit.sizes[fit.best] = size * gh / (ref_box[3] - ref_box[1])
    return fit


def merge_pieces(rgb: np.ndarray, fits: list[LineFit], faces: tuple[FontFace, ...] | None = None,
                 alpha: np.ndarray | None = None) -> list[LineFit]:
    """Join the pieces of one line that the detector split at a wide word gap (monospace and widely spaced
    display type): a piece and the nearest piece to its right on the same baseline (within 0.15 em), of a
    similar size (ratio < 1.25) and colour, at most 1.2 em away, are read as one line and fitted again."""
    fits = list(fits)
    merged = True
    while merged:
        merged = False
        for a in sorted(fits, key=lambda f: f.ink_box[0]):
            base_a = a.to_line().baseline
            partners = []
            for b in fits:
                size = max(a.font_size, b.font_size)
                gap = b.ink_box[0] - a.ink_box[2]
                ratio = size / max(min(a.font_size, b.font_size), 1e-6)
                if (b is not a and b.ink_box[0] > a.ink_box[0] and -0.3 * size <= gap <= 1.2 * size and ratio < 1.25
                        and abs(b.to_line().baseline - base_a) <= 0.15 * size
                        and _colour_distance(a.color, b.color) < 60):
                    partners.append((gap, b))
            if not partners:
                continue
            b = min(partners, key=lambda t: t[0])[1]
            x0, y0 = min(a.detection.box[0], b.detection.box[0]), min(a.detection.box[1], b.detection.box[1])
            x1, y1 = max(a.detection.box[2], b.detection.box[2]), max(a.detection.box[3], b.detection.box[3])
            det = Detection(f"{a.detection.text} {b.detection.text}",
                            np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32),
                            min(a.detection.confidence, b.detection.confidence))
            joined = fit_line(rgb, det, faces, alpha)
            if joined is not None:
                fits = [f for f in fits if f is not a and f is not b] + [joined]
                merged = True
                break
    return fits


def _colour_distance(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    return float(np.linalg.norm(np.subtract(a, b, dtype=np.float64)))


def group_lines(fits: list[LineFit]) -> list[list[LineFit]]:
    """Group lines into blocks: consecutive lines (top to bottom) of similar size and colour, at most 1.9
    font sizes apart (baseline to baseline), whose boxes overlap horizontally."""
    blocks: list[list[LineFit]] = []
    for fit in sorted(fits, key=lambda f: (f.ink_box[1], f.ink_box[0])):
        placed = False
        for block in blocks:
            last = block[-1]
            size_a, size_b = last.font_size, fit.font_size
            ratio = max(size_a, size_b) / max(min(size_a, size_b), 1e-6)
            gap = fit.to_line().baseline - last.to_line().baseline
            overlap = min(last.ink_box[2], fit.ink_box[2]) - max(last.ink_box[0], fit.ink_box[0])
            if (ratio < 1.3 and 0 < gap <= 1.9 * max(size_a, size_b) and overlap > 0
                    and _colour_distance(last.color, fit.color) < 80):
                block.append(fit)
                placed = True
                break
        if not placed:
            blocks.append([fit])
    return blocks


def _alignment(lines: list[TextLine], canvas_width: int) -> str:
    if len(lines) == 1:
        x0, _, x1, _ = lines[0].box
        return "center" if abs((x0 + x1) / 2 - canvas_width / 2) <= 0.03 * canvas_width else "left"
    lefts = np.array([ln.box[0] for ln in lines], np.float64)
    rights = np.array([ln.box[2] for ln in lines], np.float64)
    spreads = {"left": np.ptp(lefts), "center": np.ptp((lefts + rights) / 2), "right": np.ptp(rights)}
    return min(spreads, key=lambda k: (spreads[k], list(spreads).index(k)))


def _face_totals(block: list[LineFit]) -> dict[FontFace, float]:
    """Each face's score summed over the lines of a block, weighted by line length."""
    totals: dict[FontFace, float] = {}
    for fit in block:
        weight = max(len(fit.detection.text), 1)
        for face, score in fit.scores.items():
            totals[face] = totals.get(face, 0.0) + weight * score
    return totals


def blocks_to_info(blocks: list[list[LineFit]], canvas_width: int) -> list[TextInfo]:
    """One :class:`TextInfo` per block: the face with the best summed score over its lines (weighted by
    line length), the median fitted size, the median colour and the block's alignment. In a block of
    several lines the :data:`_SHORTLIST` faces with the best sums are scored exactly on every line before
    the vote (each line's own shortlist differs)."""
    out = []
    for block in blocks:
        totals = _face_totals(block)
        if len(block) > 1 and totals:
            for leader in sorted(totals, key=lambda f: -totals[f])[:_SHORTLIST]:
                for fit in block:
                    fit.score_exactly(leader)
            totals = _face_totals(block)
        face = max(totals, key=totals.__getitem__) if totals else None
        lines = [fit.to_line(face) for fit in block]
        sizes = [fit.sizes[face] if face is not None else fit.font_size for fit in block]
        colour = tuple(int(np.median([f.color[c] for f in block])) for c in range(3))
        box = (min(ln.box[0] for ln in lines), min(ln.box[1] for ln in lines),
               max(ln.box[2] for ln in lines), max(ln.box[3] for ln in lines))
        size = float(np.median(sizes))
        line_height = float(np.median(np.diff([ln.baseline for ln in lines]))) if len(lines) > 1 else 1.2 * size
        out.append(TextInfo(
            text="\n".join(ln.text for ln in lines), box=box, baseline=lines[0].baseline, font_size=size,
            color=colour,  # type: ignore[arg-type]
            font_family=face.family if face else "DejaVu Sans", font_weight=face.weight if face else 400,
            font_style=face.style if face else "normal", generic_family=face.generic if face else "sans-serif",
            alignment=_alignment(lines, canvas_width), line_height=line_height, lines=lines,
            confidence=float(np.mean([ln.confidence for ln in lines])), font_file=face.path if face else None))
    return out
