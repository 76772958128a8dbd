"""What the background explains: a smooth colour model of the background layer, the regions it does
not explain, and the halos (drop shadows, glows) that belong to the layers above it.

Designs fill their backgrounds with a solid colour or a gradient. A region the solver puts in the
background although that fill does not explain its colours is an object (a disc cut by the canvas
border, a translucent shape over a gradient); background pixels next to a layer that are darker (or
tinted) than the fill predicts are that layer's shadow or glow. Here:

1. :func:`fit_background`: a quadratic polynomial in (x, y) per sRGB channel (solid fills, linear
   gradients and the centre part of radial ones), fitted by iteratively reweighted least squares
   (Tukey's biweight, narrow from the start or annealed from coarse to fine, whichever explains more:
   objects and shadows inside the background do not bend it) on a sample of the background regions'
   pixels; or, when that is not accepted and it explains clearly more of the sample, a radial gradient
   as design tools draw it (two colours mixed in proportion to the distance from a centre, the outer
   colour beyond a radius that spans at least half the canvas: a cone the quadratic cannot follow);
   when neither explains it, or an accepted smooth fit leaves more than 5% of the sample unexplained
   (polka dots on a fill: the fill alone explains most of them), a repeating pattern (stripes, dots:
   the lattice of its repeat found by autocorrelation, each position of the repeat the median of its
   copies over the background regions, so objects on a few copies do not enter it), which replaces an
   accepted smooth fit only when it explains clearly more; accepted when most of the sample lies within
   a few 8-bit steps of it (photos and textures are not fitted: nothing below changes for them);
2. :func:`missed_pixels`: what the accepted fit misses by more than ``object_error``, shadows aside;
   :func:`split_unexplained`: flat pieces of background regions that the fit misses (an object close
   in colour to a gradient band shares its region) become regions of their own;
   :func:`unexplained_regions`: background regions most of whose pixels the fit misses (flat fills,
   not specks);
3. :func:`~layerdiff.regions.halos.attach_halos` (its own module): the shadows and glows the fit does
   not explain join the layer they surround, and the background under every layer becomes the fit;
4. :func:`objects_on_background`: a proposed layer that is one compact shape lying on the background
   alone (a badge, a disc with its icon) is an object a designer placed, not a fragment of another
   layer: the fragment test leaves it a layer of its own;
5. :func:`translucent_layers`: a layer lying directly on the background whose visible colours are the
   fit seen through one colour at one opacity (``c = (1 - a) fit + a C``, fitted by reweighted least
   squares where the fit varies under it: a panel over a gradient, stripes or dots) keeps that opacity:
   alpha ``a``, colours unblended; what no blend explains (letters painted into its layer) stays opaque.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..morphology import dilate_square, erode_square
from .graph import RegionGraph

__all__ = ["BackgroundFit", "fit_background", "pattern_lattice", "pattern_model", "missed_pixels", "shaded",
           "split_unexplained", "explained_regions", "unexplained_regions", "translucent_layers",
           "robust_blend", "blend_line", "blend_error", "objects_on_background"]

_SAMPLES = 4000  # background pixels the fit is computed on
# Tukey widths (sRGB mean absolute error) per reweighting round, from a plain least-squares start; the
# schedule whose fit explains most of the sample wins
_SCHEDULES = ((0.03,) * 6, (0.12, 0.06, 0.03, 0.03, 0.03, 0.03))
_GOOD = 4.0 / 255.0  # a pixel within this of the fit is explained by it
_FLAT = 0.9  # share of flat pixels of a region or piece that is a flat fill, not texture
_SHADE_SPREAD = 0.12  # largest spread of the per-channel ratios image / fit of a shadowed pixel
_OVERLAY_CORE = 15  # side (px) of the square whose opening keeps the thick part of a dark overlay
_MIN_PERIOD = 6.0  # shortest period (px) of a repeating pattern
_RADIAL_WIDTHS = (0.12, 0.06, 0.03)  # Tukey widths of the radial candidates' reweighting rounds
_RADIAL_GAIN = 0.05  # share of the sample a radial gradient must explain beyond the quadratic to replace it
_PATTERN_TRY = 0.95  # an accepted smooth fit explaining less of the sample than this is compared with a pattern
_COVER_PIECE = 0.005  # least share of the canvas of a piece the pattern misses that is a layer over it
_COVER_MAX = 0.5  # most share of the known pixels such pieces may take: beyond, the pattern is wrong
_SHOWN = 0.4  # least share of the canvas the pattern must show on outside such pieces
_PATTERN_GAIN = 0.03  # share of the sample a pattern must explain beyond an accepted smooth fit to replace it
_OUTSIDE = 2.0 / 255.0  # how far outside the sRGB cube an unblended colour may fall before it counts as opaque paint


@dataclass
class BackgroundFit:
    """A colour model ``c(u, v)`` of the background, ``u, v`` the pixel centres divided by the longer side
    minus 1/2. Quadratic (``radial`` None): ``coef`` (6, 3) coefficients of 1, u, v, u², uv, v². Radial
    (``radial`` = (cu, cv, radius)): ``coef`` (2, 3) the colour at the centre and its change out to the
    radius, ``c = coef[0] + min(dist / radius, 1) coef[1]``. ``inlier_share``: share of the sample within
    4/255 of the model; ``accepted``: the fit explains the background. Pattern (``pattern`` (h, w, 3), the
    repeat rendered over the canvas; ``lattice`` (2, 2), its two period vectors (x, y) as columns, in
    pixels): ``coef`` is unused."""

    coef: np.ndarray
    shape: tuple[int, int]
    inlier_share: float
    accepted: bool
    radial: tuple[float, float, float] | None = None
    pattern: np.ndarray | None = None
    lattice: np.ndarray | None = None

    def render(self) -> np.ndarray:
        """The model over the whole canvas: (h, w, 3) float32 sRGB, clipped to [0, 1]."""
        if self.pattern is not None:
            return np.clip(self.pattern, 0.0, 1.0).astype(np.float32)
        h, w = self.shape
        ys, xs = np.mgrid[0:h, 0:w]
        if self.radial is None:
            out = _design(ys.ravel(), xs.ravel(), float(max(h, w))) @ self.coef  # (h * w, 3)
        else:
            u, v = _coords(ys.ravel(), xs.ravel(), float(max(h, w)))
            t = _radial_t(u, v, *(np.array([p]) for p in self.radial))[0]  # (h * w,)
            out = self.coef[0] + t[:, None] * self.coef[1]  # (h * w, 3)
        return np.clip(out, 0.0, 1.0).reshape(h, w, 3).astype(np.float32)


def _coords(ys: np.ndarray, xs: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Normalised coordinates (u, v) (N,) each of pixel rows ``ys`` and columns ``xs`` (N,)."""
    return (np.asarray(xs, np.float64) + 0.5) / scale - 0.5, (np.asarray(ys, np.float64) + 0.5) / scale - 0.5


def _design(ys: np.ndarray, xs: np.ndarray, scale: float) -> np.ndarray:
    """(N, 6) quadratic design matrix of pixel rows ``ys`` and columns ``xs`` (N,)."""
    u, v = _coords(ys, xs, scale)
    return np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], 1)


def _radial_t(u: np.ndarray, v: np.ndarray, cu: np.ndarray, cv: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """(C, N) gradient position ``min(dist / radius, 1)`` of the points (u, v) (N,) for C radial
    gradients (centres ``cu``, ``cv`` and ``radius`` (C,))."""
    dist = np.hypot(u[None] - cu[:, None], v[None] - cv[:, None])  # (C, N)
    return np.minimum(dist / radius[:, None], 1.0)


def _fit_radials(u: np.ndarray, v: np.ndarray, c: np.ndarray, cu: np.ndarray, cv: np.ndarray,
                 radius: np.ndarray, widths: tuple[float, ...] = _RADIAL_WIDTHS,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Robust colours of C candidate radial gradients (centres ``cu``, ``cv``, ``radius`` (C,)) on the
    sample (u, v) (N,) with colours ``c`` (N, 3): Tukey-reweighted least squares of ``c = a + t d``
    annealed through ``widths`` (float32). Returns ``coef`` (C, 2, 3), the share of the sample within 4/255
    (C,) and the mean error clipped at the narrowest width (C,): a robust cost that varies smoothly."""
    t = _radial_t(u, v, cu, cv, radius).astype(np.float32)  # (C, N)
    c = c.astype(np.float32)
    w = np.ones_like(t)
    a = d = np.zeros((len(cu), 3), np.float32)
    err = np.zeros_like(t)
    for width in widths:
        sw, st, stt = w.sum(1), (w * t).sum(1), (w * t * t).sum(1)  # (C,)
        sc, stc = w @ c, (w * t) @ c  # (C, 3)
        det = sw * stt - st * st  # (C,)
        ok = det > 1e-9 * np.maximum(sw, 1.0) ** 2
        d = np.where(ok[:, None], (sw[:, None] * stc - st[:, None] * sc) / np.where(ok, det, 1.0)[:, None], 0.0)
        a = (sc - st[:, None] * d) / np.maximum(sw, 1e-9)[:, None]  # (C, 3)
        err = np.abs(a[:, None] + t[..., None] * d[:, None] - c[None]).mean(-1)  # (C, N)
        w = np.where(err < width, (1.0 - (err / width) ** 2) ** 2, 0.0)
    return np.stack([a, d], 1).astype(np.float64), (err < _GOOD).mean(1), np.minimum(err, widths[-1]).mean(1)


def _radial_cover(params: tuple[float, float, float], shape: tuple[int, int]) -> float:
    """Share of the canvas ``shape`` (h, w) inside the radius of the radial gradient ``params`` (cu, cv,
    radius): a background gradient spans most of the canvas; a small one centred on an object is its
    glow or shadow, which :func:`~layerdiff.regions.halos.attach_halos` gives to the object."""
    h, w = shape
    ys, xs = np.mgrid[0:h:4, 0:w:4]
    u, v = _coords(ys.ravel(), xs.ravel(), float(max(h, w)))
    return float((np.hypot(u - params[0], v - params[1]) < params[2]).mean())


def _radial_fit(u: np.ndarray, v: np.ndarray, c: np.ndarray) -> tuple[tuple[float, float, float], np.ndarray, float]:
    """The radial gradient explaining most of the sample (u, v) (N,), colours ``c`` (N, 3): a grid of
    centres over the canvas and a little beyond and of radii from a fifth of the canvas to twice it
    (the least clipped error, coarsely reweighted on a part of the sample), then a compass search (the
    largest share, with the quadratic's annealing). Returns ((cu, cv, radius), coef (2, 3), share)."""
    cu, cv, rad = (g.ravel() for g in np.meshgrid(np.linspace(-0.75, 0.75, 13), np.linspace(-0.75, 0.75, 13),
                                                  np.geomspace(0.2, 2.0, 8), indexing="ij"))
    coarse, fine = slice(0, min(len(u), 250)), slice(0, min(len(u), 1000))  # parts of the (random) sample
    k = int(np.argmin(_fit_radials(u[coarse], v[coarse], c[coarse], cu, cv, rad)[2]))  # smooth on few pixels
    best = np.array([cu[k], cv[k], rad[k]])
    step, ratio = 0.0625, 1.2
    offsets = np.array([-1.0, 0.0, 1.0])
    du, dv, dr = (g.ravel() for g in np.meshgrid(offsets, offsets, offsets, indexing="ij"))  # (27,) each
    for _ in range(24):  # compass search: move to the best neighbour, halve the steps when none is better
        cand_u, cand_v = best[0] + du * step, best[1] + dv * step
        cand_r = best[2] * ratio ** dr
        _, share, spread = _fit_radials(u[fine], v[fine], c[fine], cand_u, cand_v, cand_r, _SCHEDULES[1])
        k = int(np.lexsort((spread, -share))[0])  # the largest share, the least clipped error among equals
        if k == 13:  # the centre of the 3 x 3 x 3 neighbourhood
            step, ratio = step / 2.0, np.sqrt(ratio)
            if step < 0.002:
                break
        best = np.array([cand_u[k], cand_v[k], cand_r[k]])
    coef, share, _ = _fit_radials(u, v, c, best[:1], best[1:2], best[2:], _SCHEDULES[1])
    return (float(best[0]), float(best[1]), float(best[2])), coef[0], float(share[0])


def _neighbour_max(a: np.ndarray) -> np.ndarray:
    """(H, W) largest of the 8 neighbours of every element of ``a`` (H, W), wrapping around."""
    out = np.full_like(a, -np.inf)
    for sy in (-1, 0, 1):
        for sx in (-1, 0, 1):
            if sy or sx:
                out = np.maximum(out, np.roll(a, (sy, sx), (0, 1)))
    return out


def _vertex(a: float, b: float, c: float) -> float:
    """Offset in [-1/2, 1/2] of the vertex of the parabola through (-1, a), (0, b), (1, c)."""
    den = a - 2.0 * b + c
    return 0.0 if abs(den) < 1e-12 else float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))


def _reduced(t1: np.ndarray, t2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The shortest basis of the lattice spanned by the vectors ``t1``, ``t2`` (2,) (Lagrange-Gauss
    reduction), each in the half-plane of the shifts (y > 0, or y = 0 and x > 0), the shorter first."""
    for _ in range(32):
        if t2 @ t2 < t1 @ t1:
            t1, t2 = t2, t1
        step = np.round(float(t2 @ t1) / max(float(t1 @ t1), 1e-12))
        if step == 0:
            break
        t2 = t2 - step * t1
    return tuple(t if t[1] > 0 or (t[1] == 0 and t[0] > 0) else -t for t in (t1, t2))  # type: ignore[return-value]


def pattern_lattice(rgb: np.ndarray, known: np.ndarray, min_corr: float = 0.6) -> np.ndarray | None:
    """The two period vectors (x, y) (2, 2) as columns, in pixels, of a pattern repeating over the pixels
    ``known`` (h, w) of ``rgb`` (h, w, 3), or None. From the normalised autocorrelation of their grey
    levels (FFT, over overlaps of at least a quarter of them): its local maxima at shifts from
    ``_MIN_PERIOD`` px to half the canvas; the first vector is the shortest within 0.1 of the strongest,
    the second the shortest within 0.05 of the strongest more than 20 degrees from it (both at least
    ``min_corr``; along a stripe every shift repeats it), the pair reduced to the lattice's shortest basis
    (:func:`_reduced`: a hole in the known pixels can make a longer vector the stronger peak), each refined
    to a fraction of a pixel at its farthest strong multiple."""
    h, w = known.shape
    m = known.astype(np.float64)
    g = rgb.mean(-1).astype(np.float64)
    g0 = (g - g[known].mean()) * m  # (h, w)
    size = (2 * h, 2 * w)  # padded: no wrap-around
    fg, fm = np.fft.rfft2(g0, size), np.fft.rfft2(m, size)
    ac = np.fft.irfft2(fg * np.conj(fg), size)  # (2h, 2w) sums of g0(p) g0(p + t) over the overlaps
    count = np.fft.irfft2(fm * np.conj(fm), size)  # (2h, 2w) overlap sizes
    var = float((g0 ** 2).sum() / max(m.sum(), 1.0))
    nac = np.where(count > 0.25 * m.sum(), ac / np.maximum(count, 1.0) / max(var, 1e-12), -1.0)  # (2h, 2w)
    dy = np.fft.fftfreq(2 * h, 1.0 / (2 * h))[:, None]  # (2h, 1) shift rows
    dx = np.fft.fftfreq(2 * w, 1.0 / (2 * w))[None]  # (1, 2w) shift columns
    r = np.hypot(dy, dx)
    valid = (r >= _MIN_PERIOD) & (r <= min(h, w) / 2) & ((dy > 0) | ((dy == 0) & (dx > 0)))  # half-plane
    cand = np.where(valid & (nac >= _neighbour_max(nac) - 0.01), nac, -1.0)  # local maxima
    top = float(cand.max())
    if top < min_corr:
        return None
    y1, x1 = np.unravel_index(int(np.argmin(np.where(cand >= top - 0.1, r, np.inf))), nac.shape)
    t1 = np.array([dx[0, x1], dy[y1, 0]])
    apart = np.abs(t1[0] * dy - t1[1] * dx) > 0.35 * np.hypot(*t1) * np.maximum(r, 1e-9)  # > 20 degrees
    cand2 = np.where(apart, cand, -1.0)
    top2 = float(cand2.max())
    if top2 < min_corr:
        return None
    y2, x2 = np.unravel_index(int(np.argmin(np.where(cand2 >= top2 - 0.05, r, np.inf))), nac.shape)
    t1, t2 = _reduced(t1.astype(np.float64), np.array([dx[0, x2], dy[y2, 0]], np.float64))
    out = []
    for t, strong in ((t1, top), (t2, top2)):
        best = t.astype(np.float64)
        for k in range(int((min(h, w) / 2) // max(np.hypot(*t), 1.0)), 1, -1):
            cy, cx = int(round(t[1] * k)), int(round(t[0] * k))
            win = [(cy + a, cx + b) for a in range(-2, 3) for b in range(-2, 3)]
            vals = [nac[a % (2 * h), b % (2 * w)] for a, b in win]
            j = int(np.argmax(vals))
            if vals[j] < strong - 0.15:
                continue
            py, px = win[j][0] % (2 * h), win[j][1] % (2 * w)
            sy = _vertex(nac[(py - 1) % (2 * h), px], nac[py, px], nac[(py + 1) % (2 * h), px])
            sx = _vertex(nac[py, (px - 1) % (2 * w)], nac[py, px], nac[py, (px + 1) % (2 * w)])
            best = np.array([win[j][1] + sx, win[j][0] + sy]) / k
            break
        out.append(best)
    return np.stack(out, 1)


def pattern_model(rgb: np.ndarray, known: np.ndarray, lattice: np.ndarray, bins_per_px: int = 2) -> np.ndarray:
    """The repeat of a pattern with period vectors ``lattice`` (2, 2) (columns, pixels) rendered over the
    canvas, (h, w, 3): every pixel's position in the repeat (half-pixel bins) takes the median colour of
    the pixels ``known`` (h, w) of ``rgb`` (h, w, 3) at that position (their overall median where none
    is)."""
    h, w = known.shape
    ys, xs = np.mgrid[0:h, 0:w]
    phase = np.einsum("ij,jhw->ihw", np.linalg.inv(lattice), np.stack([xs, ys]).astype(np.float64)) % 1.0
    nb = [max(1, int(round(bins_per_px * np.hypot(*lattice[:, i])))) for i in range(2)]
    ids = (np.minimum((phase[0] * nb[0]).astype(np.int64), nb[0] - 1) * nb[1]
           + np.minimum((phase[1] * nb[1]).astype(np.int64), nb[1] - 1))  # (h, w) bin of every pixel
    kid = ids[known]  # (m,)
    counts = np.bincount(kid, minlength=nb[0] * nb[1])  # (B,)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    mid = np.minimum(starts + (counts - 1) // 2, len(kid) - 1)  # (B,) the median's rank in each bin
    tile = np.empty((nb[0] * nb[1], 3), np.float32)
    for ch in range(3):
        vals = rgb[..., ch][known]
        tile[:, ch] = np.where(counts > 0, vals[np.lexsort((vals, kid))][mid], np.median(vals))
    return tile[ids]  # (h, w, 3)


def fit_background(rgb: np.ndarray, known: np.ndarray, min_share: float = 0.6, seed: int = 0,
                   radial: bool = True, pattern: bool = True, smooth: bool = True) -> BackgroundFit | None:
    """Robust fit (step 1 of the module docstring) of ``rgb`` (h, w, 3) in [0, 1] on the pixels where
    ``known`` (h, w) is True; None when fewer than 64 are. Quadratic, or (``radial``, the quadratic not
    accepted) a radial gradient when that explains at least ``_RADIAL_GAIN`` more of the sample and
    spans at least half the canvas (:func:`_radial_cover`). With ``pattern`` set, when neither is
    accepted or the accepted one explains less than ``_PATTERN_TRY`` of the sample, a repeating pattern
    (:func:`pattern_lattice`, :func:`pattern_model`) that is accepted and explains at least
    ``_PATTERN_GAIN`` more of the sample than the accepted smooth fit (when the pattern was refitted away
    from large areas it misses, :func:`_covered`, on the pixels outside them, and more than a flat fill
    there too: a flat canvas around a textured object is no pattern). ``smooth`` False (a background of
    textured regions): the pattern only (None when there is none).
    Accepted when at least ``min_share`` of the sampled pixels lie within 4/255 of it."""
    ys, xs = np.nonzero(known)
    if len(ys) < 64:
        return None
    h, w = known.shape
    pick = np.random.default_rng(seed).choice(len(ys), size=min(_SAMPLES, len(ys)), replace=False)
    ys, xs = ys[pick], xs[pick]
    c = np.asarray(rgb[ys, xs], np.float64)  # (N, 3)
    fit = _smooth_fit(ys, xs, c, (h, w), min_share, radial) if smooth else None
    smooth_share = fit.inlier_share if fit is not None and fit.accepted else -1.0
    if pattern and smooth_share < _PATTERN_TRY:
        lattice = pattern_lattice(rgb, known)
        if lattice is not None:
            model = pattern_model(rgb, known, lattice)  # (h, w, 3)
            hidden = _covered(rgb, known, model)  # (h, w) large areas the pattern misses: layers over it
            if hidden is not None:  # the repeat again from where the pattern shows
                model = pattern_model(rgb, known & ~hidden, lattice)
            shown = np.ones(len(ys), bool) if hidden is None else ~hidden[ys, xs]  # (N,)
            share = float((np.abs(model[ys, xs] - c).mean(1)[shown] < _GOOD).mean())
            if hidden is not None:  # judged against the smooth fit and a flat fill, on the same pixels
                flat = float((np.abs(c[shown] - np.median(c[shown], 0)).mean(1) < _GOOD).mean())
                if smooth_share >= 0:
                    smooth_share = float((np.abs(fit.render()[ys, xs] - c).mean(1)[shown] < _GOOD).mean())
                smooth_share = max(smooth_share, flat)
            if share >= min_share and share >= smooth_share + _PATTERN_GAIN:
                return BackgroundFit(np.zeros((6, 3)), (h, w), share, True, pattern=model, lattice=lattice)
    return fit


def _covered(rgb: np.ndarray, known: np.ndarray, model: np.ndarray) -> np.ndarray | None:
    """The large compact areas (h, w) of ``known`` (h, w) a pattern ``model`` (h, w, 3) misses (a panel or a
    banner over it: pieces wider than 5 px, each over ``_COVER_PIECE`` of the canvas, grown by 3 px), or
    None when there are none, when they are over ``_COVER_MAX`` of the known pixels or the known pixels
    left are under ``_SHOWN`` of the canvas (the model is wrong, not hidden)."""
    missed = known & (np.abs(model - rgb).mean(-1) >= _GOOD)  # (h, w)
    pieces, num = ndimage.label(dilate_square(erode_square(missed, 2), 2))  # pieces wider than 5 px
    if num == 0:
        return None
    sizes = np.bincount(pieces.ravel())[1:]  # (num,)
    big = np.isin(pieces, 1 + np.nonzero(sizes > _COVER_PIECE * missed.size)[0])  # (h, w)
    big = ndimage.binary_dilation(big, iterations=3)
    if not big.any() or (big & known).sum() > _COVER_MAX * known.sum() or (known & ~big).mean() < _SHOWN:
        return None
    return big


def _smooth_fit(ys: np.ndarray, xs: np.ndarray, c: np.ndarray, shape: tuple[int, int], min_share: float,
                radial: bool) -> BackgroundFit:
    """The quadratic, or (``radial``, the quadratic not accepted) the radial gradient when it explains
    clearly more and spans half the canvas, fitted to the sample of pixel rows ``ys``, columns ``xs``
    (N,) with colours ``c`` (N, 3) on a canvas of ``shape``."""
    h, w = shape
    a = _design(ys, xs, float(max(h, w)))  # (N, 6)
    best = (-1.0, np.zeros((6, 3)))
    for widths in _SCHEDULES:
        weight = np.ones(len(ys))
        coef = np.zeros((6, 3))
        for width in widths:
            if weight.sum() < 12:
                break
            coef = np.linalg.lstsq(a * weight[:, None], c * weight[:, None], rcond=None)[0]  # (6, 3)
            err = np.abs(a @ coef - c).mean(1)  # (N,)
            weight = np.where(err < width, (1.0 - (err / width) ** 2) ** 2, 0.0)
        share = float((np.abs(a @ coef - c).mean(1) < _GOOD).mean())
        if share > best[0]:
            best = (share, coef)
    share, coef = best
    if radial and share < min_share:  # the quadratic does not explain the background
        u, v = _coords(ys, xs, float(max(h, w)))
        params, coef_r, share_r = _radial_fit(u, v, c)
        if share_r >= share + _RADIAL_GAIN and _radial_cover(params, (h, w)) >= 0.5:
            return BackgroundFit(coef_r, (h, w), share_r, share_r >= min_share, radial=params)
    return BackgroundFit(coef, (h, w), share, share >= min_share)


def shaded(rgb: np.ndarray, model: np.ndarray) -> np.ndarray:
    """(...) bool: colours ``rgb`` (..., 3) darker than the fit ``model`` (..., 3) by about one factor in
    every channel (the per-channel ratios below 1 and within ``_SHADE_SPREAD`` of each other): a shadow."""
    ratio = rgb / np.maximum(model, 1e-3)  # (..., 3)
    return (ratio.max(-1) < 1.0) & (ratio.max(-1) - ratio.min(-1) < _SHADE_SPREAD)


def missed_pixels(rgb: np.ndarray, model: np.ndarray, object_error: float = 0.06,
                  min_overlay: float = 0.005) -> np.ndarray:
    """(h, w) bool: pixels of ``rgb`` (h, w, 3) that ``model`` (h, w, 3) misses by more than
    ``object_error`` (sRGB mean absolute error) and that are not shaded (darker than the fit by about
    one factor in every channel: a shadow, left to :func:`~layerdiff.regions.halos.attach_halos`), unless
    the shaded pixels make a dark translucent overlay (:func:`_dark_overlays`, pieces of at least
    ``min_overlay`` of the canvas)."""
    missed = np.abs(model - rgb).mean(-1) > object_error  # (h, w)
    ys, xs = np.nonzero(missed)
    shade = shaded(rgb[ys, xs], model[ys, xs])  # (m,)
    missed[ys[shade], xs[shade]] = False
    if shade.any():
        dark = np.zeros(missed.shape, bool)  # (h, w)
        dark[ys[shade], xs[shade]] = True
        missed |= _dark_overlays(dark, rgb, model, min_overlay)
    return missed


def _dark_overlays(shaded: np.ndarray, rgb: np.ndarray, model: np.ndarray, min_overlay: float,
                   tolerance: float = 6.0 / 255.0) -> np.ndarray:
    """(h, w) bool: the thick parts (what an opening by a ``_OVERLAY_CORE``-px square keeps) of the shaded
    pixels ``shaded`` (h, w) that form pieces of at least ``min_overlay`` of the canvas showing the fit
    ``model`` (h, w, 3) through one colour at one opacity: the least-squares line ``rgb = s model + b``
    (one slope, an offset per channel: :func:`blend_line`, unweighted) leaves an RMS error under
    ``tolerance`` with ``s`` in [0.05, 0.95]. A translucent dark band over a gradient is such a piece; a
    drop shadow is a blurred rim whose opacity runs from 0 to its darkest."""
    h, w = shaded.shape
    out = np.zeros((h, w), bool)
    if shaded.sum() < min_overlay * h * w:
        return out
    reach = _OVERLAY_CORE // 2
    core = dilate_square(erode_square(shaded, reach), reach)  # (h, w) the opening by the square
    if core.sum() < min_overlay * h * w:
        return out
    pieces, num = ndimage.label(core, np.ones((3, 3), bool))
    sizes = np.bincount(pieces.ravel(), minlength=num + 1)
    for p in np.nonzero(sizes[1:] >= min_overlay * h * w)[0] + 1:
        piece = pieces == p
        base, seen = model[piece].astype(np.float64), rgb[piece].astype(np.float64)  # (m, 3)
        slope, offset = blend_line(base, seen, np.ones(len(base)))
        rms = np.sqrt(((seen - slope * base - offset) ** 2).mean())
        if 0.05 <= slope <= 0.95 and rms < tolerance:
            out |= piece
    return out


def _sharp(mask: np.ndarray, flat: np.ndarray) -> bool:
    """Whether the outline of ``mask`` (h, w) is an edge: at least half the pixels just outside it (on
    the canvas) are not flat (``flat`` (h, w)). A part of a gradient that the fit misses has a soft
    outline; an object has an edge."""
    ring = ndimage.binary_dilation(mask, np.ones((3, 3), bool)) & ~mask
    return bool(ring.any()) and (~flat[ring]).mean() >= 0.5


def split_unexplained(graph: RegionGraph, background: np.ndarray, missed: np.ndarray, flat: np.ndarray,
                      min_area: float = 16.0) -> np.ndarray | None:
    """New labels (h, w) in which every connected piece of at least ``min_area`` flat pixels (``flat``
    (h, w): no texture) that the background fit misses (``missed`` (h, w), :func:`missed_pixels`)
    inside a region flagged in ``background`` (n,), making less than 60% of it and outlined by an edge
    (half the pixels around it not flat) is a region of its own (an object close enough in colour to
    a gradient band to share its region); None when there is none."""
    labels = graph.regions.labels
    missed = missed & np.asarray(background, bool)[labels] & flat  # (h, w)
    pieces, num = ndimage.label(ndimage.binary_opening(missed, np.ones((3, 3), bool)), np.ones((3, 3), bool))
    if num == 0:
        return None
    sizes = np.bincount(pieces.ravel(), minlength=num + 1)  # (num + 1,)
    host = np.zeros(num + 1, np.int64)  # the region holding most of each piece
    for p in np.nonzero(sizes[1:] >= min_area)[0] + 1:
        host[p] = np.bincount(labels[pieces == p]).argmax()
    big = (sizes >= min_area) & (np.arange(num + 1) > 0)
    big &= sizes < 0.6 * graph.regions.area[host]
    for p in np.nonzero(big)[0]:
        big[p] = _sharp(pieces == p, flat)
    if not big.any():
        return None
    out = labels.copy()
    ids = np.cumsum(big) - 1 + graph.count  # piece -> new region id
    sel = big[pieces]
    out[sel] = ids[pieces[sel]]
    return out


def explained_regions(graph: RegionGraph, model: np.ndarray, error: float = 0.03, share: float = 0.7) -> np.ndarray:
    """(n,) bool: regions of ``graph`` at least ``share`` of whose pixels the background fit ``model``
    (h, w, 3) explains within ``error`` (sRGB mean absolute error): the background's own paint (a
    pattern's dots, a stripe)."""
    near = np.abs(graph.image[..., :3] - model).mean(-1) <= error  # (h, w)
    hits = np.bincount(graph.regions.labels.ravel(), near.ravel(), minlength=graph.count)  # (n,)
    return hits >= share * np.maximum(graph.regions.area, 1.0)


def unexplained_regions(graph: RegionGraph, background: np.ndarray, missed: np.ndarray,
                        min_share: float = 0.6, min_area: float = 0.0, flat: np.ndarray | None = None,
                        ) -> np.ndarray:
    """Indices of the regions flagged in ``background`` (n,) bool whose pixels are mostly (at least
    ``min_share``) missed by the accepted background fit (``missed`` (h, w), :func:`missed_pixels`:
    shaded pixels of a shadow do not count), that cover at least ``min_area`` pixels and are flat fills
    (at least 90% flat pixels: parts of a photo are not objects on the background), and, given ``flat``
    (h, w), the flat pixels, outlined by an edge. The largest background region is never among them."""
    labels = graph.regions.labels
    n = graph.count
    area = np.maximum(graph.regions.area, 1.0)
    share = np.bincount(labels.ravel(), missed.ravel(), minlength=n) / area
    flagged = (np.asarray(background, bool) & (share >= min_share) & (graph.regions.area >= min_area)
               & (graph.regions.flat >= _FLAT))
    bg_idx = np.nonzero(background)[0]
    if len(bg_idx):
        flagged[bg_idx[np.argmax(graph.regions.area[bg_idx])]] = False
    if flat is not None:
        for r in np.nonzero(flagged)[0]:
            flagged[r] = _sharp(labels == r, flat)
    return np.nonzero(flagged)[0]


def blend_line(base: np.ndarray, seen: np.ndarray, weight: np.ndarray) -> tuple[float, np.ndarray]:
    """Weighted least-squares line ``seen = slope base + offset`` (one slope, an offset per channel) of
    colours (m, 3) with weights (m,): (slope, offset (3,))."""
    wsum = max(float(weight.sum()), 1e-12)
    mb = (weight[:, None] * base).sum(0) / wsum  # (3,)
    ms = (weight[:, None] * seen).sum(0) / wsum  # (3,)
    centred = base - mb
    slope = float((weight[:, None] * centred * (seen - ms)).sum() / max((weight[:, None] * centred ** 2).sum(), 1e-12))
    return slope, ms - slope * mb


def blend_error(base: np.ndarray, seen: np.ndarray, slope: float, offset: np.ndarray) -> np.ndarray:
    """RMS over the channels of ``seen - (slope base + offset)``: each colour's distance from a blend line,
    colours (..., 3) -> (...,)."""
    return np.sqrt(((seen - slope * base - offset) ** 2).mean(-1))


def robust_blend(base: np.ndarray, seen: np.ndarray, tolerance: float, min_weight: float = 0.0,
                  ) -> tuple[float, np.ndarray, float]:
    """The blend line ``seen = slope base + offset`` of colours (m, 3) by iteratively reweighted least squares
    (Tukey's biweight, annealed: the edges of dots or stripes the fit blurs, and letters painted into the
    same layer, do not bend it; stops early when the weights sum under ``min_weight``), refitted on the
    pixels within ``tolerance`` (RMS over the channels): (slope, offset (3,), share of pixels within
    ``tolerance``)."""
    weight = np.ones(len(base))
    for width in (0.12, 0.06, 0.03, 0.03):
        slope, offset = blend_line(base, seen, weight)
        err = blend_error(base, seen, slope, offset)  # (m,)
        weight = np.where(err < width, (1.0 - (err / width) ** 2) ** 2, 0.0)
        if weight.sum() < max(min_weight, 1e-9):
            break
    slope, offset = blend_line(base, seen, (err < tolerance).astype(np.float64))
    err = blend_error(base, seen, slope, offset)
    return slope, offset, float((err < tolerance).mean())


def translucent_layers(stack: np.ndarray, rgb: np.ndarray, own: np.ndarray, model: np.ndarray,
                       min_pixels: int = 200, tolerance: float = 6.0 / 255.0, min_share: float = 0.8,
                       ) -> np.ndarray:
    """``stack`` (K, h, w, 4) with every translucent layer's opacity recovered (step 5 of the module
    docstring); ``rgb`` (h, w, 3) the image, ``own`` (K, h, w) each layer's visible pixels, ``model``
    (h, w, 3) the accepted background fit, which is also the background under the layers.

    A layer qualifies on its visible interior pixels that only the background lies under (at least
    ``min_pixels``, the fit varying there by at least 0.03 in some channel): the line ``c = s fit + b``
    (one slope for the three channels), fitted by iteratively reweighted least squares (Tukey's
    biweight, annealed: the edges of dots or stripes the fit blurs, and letters painted into the same
    layer, do not bend it), explains at least ``min_share`` of them within ``tolerance`` (RMS over the
    channels), with opacity ``a = 1 - s`` in [0.05, 0.95] (an opaque uniform layer has ``s`` near 0) and
    colour ``C = b / a`` in the sRGB cube. Its alpha is then multiplied by ``a`` and its visible colours
    are unblended over the layers below, hidden ones become ``C``; visible pixels whose unblended colour
    falls outside the sRGB cube by more than ``_OUTSIDE`` (something opaque painted into the layer:
    letters, an icon) keep their alpha and colour, so the composite stays the image."""
    out = stack.copy()
    for k in range(1, min(len(out), len(own))):  # padded empty layers own nothing
        lower = (out[1:k, ..., 3] > 0).any(0) if k > 1 else np.zeros(model.shape[:2], bool)  # (h, w)
        interior = ndimage.binary_erosion(own[k], np.ones((5, 5), bool)) & ~lower
        if interior.sum() < min_pixels:
            continue
        base, seen = model[interior].astype(np.float64), rgb[interior].astype(np.float64)  # (m, 3)
        if base.std(0).max() < 0.03:
            continue  # the background does not vary under it: opacity cannot be told from colour
        slope, offset, inliers = robust_blend(base, seen, tolerance, min_pixels / 2)
        a = 1.0 - slope
        colour = offset / max(a, 1e-6)
        if not (0.05 <= a <= 0.95 and inliers >= min_share
                and (colour > -0.02).all() and (colour < 1.02).all()):
            continue
        before = out[k].copy()  # (h, w, 4)
        out[k, ..., 3] *= a
        out[k, ..., :3] = np.clip(colour, 0.0, 1.0)
        below = out[0, ..., :3].copy()  # (h, w, 3) composite of the layers under k
        for j in range(1, k):
            aj = out[j, ..., 3:]
            below = out[j, ..., :3] * aj + below * (1.0 - aj)
        alpha = out[k, ..., 3:]  # (h, w, 1)
        mixed = (rgb - below * (1.0 - alpha)) / np.maximum(alpha, 1e-6)  # (h, w, 3)
        visible = own[k] & (alpha[..., 0] > 0.02)
        out[k, visible, :3] = np.clip(mixed[visible], 0.0, 1.0)
        opaque = visible & ((mixed < -_OUTSIDE) | (mixed > 1.0 + _OUTSIDE)).any(-1)  # paint no blend explains
        out[k][opaque] = before[opaque]
    return out


def objects_on_background(graph: RegionGraph, layer: np.ndarray, min_area: float = 0.01,
                          min_solidity: float = 0.85, ring: int = 2) -> np.ndarray:
    """(n,) bool: the regions of every proposed layer (``layer`` (n,), above the background) whose pixels
    form one connected shape of at least ``min_area`` of the canvas, filling at least ``min_solidity``
    of its convex hull (holes filled), with at least 95% of the ``ring``-px ring around it (on the
    canvas) in the background layer: an object lying on the background, which the fragment test
    (:func:`layerdiff.regions.fragments.absorb_fragments`) keeps as a layer of its own."""
    from scipy.spatial import ConvexHull, QhullError

    labels = graph.regions.labels
    h, w = labels.shape
    px_layer = np.asarray(layer)[labels]  # (h, w)
    out = np.zeros(graph.count, bool)
    for k in range(1, int(np.max(layer)) + 1):
        mask = px_layer == k
        if mask.sum() < min_area * h * w:
            continue
        _, num = ndimage.label(mask, np.ones((3, 3), bool))
        if num != 1:
            continue
        around = ndimage.binary_dilation(mask, np.ones((2 * ring + 1, 2 * ring + 1), bool)) & ~mask
        if not around.any() or (px_layer[around] == 0).mean() < 0.95:
            continue
        filled = ndimage.binary_fill_holes(mask)
        ys, xs = np.nonzero(filled & ~ndimage.binary_erosion(filled))
        try:
            hull = ConvexHull(np.stack([xs, ys], 1).astype(np.float64))
        except (QhullError, ValueError):
            continue
        if filled.sum() >= min_solidity * hull.volume:  # a 2-D hull's volume is its area
            out[np.asarray(layer) == k] = True
    return out
