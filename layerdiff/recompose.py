"""Exact recomposition and full-resolution refinement of a decomposition ("think low, paint high").

See docs DESIGN-NOTES.md, "Exact recomposition" and "Any resolution".

For straight-alpha layers ``(c_i, a_i)`` stacked bottom to top, the composite is
``A = sum_i w_i`` and ``C = sum_i w_i c_i / A`` with the visibility weights
``w_i = a_i prod_{j>i} (1 - a_j)`` (Porter & Duff 1984). :func:`project_residual` changes the layers as
little as possible so that this composite equals a target image: alphas first (the bottom layer takes
up the difference), then colours by the minimum-norm update ``c_i += w_i A r / sum_k w_k^2`` of the
residual ``r``, clipped and repeated, with a final in-range exact step. Fully hidden colours
(``w_i = 0``) are never touched: they hold the content a model completed behind other layers.

The projection is per pixel, so large images are processed in bands of rows in float32; the alpha
refinement runs only in crops (with a halo as wide as its largest window) around the places where it
can change something, found on the low-resolution alphas (:func:`_refine_regions`). The peak memory
stays near the size of the output stack, and the result equals that of filtering the whole image.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image
from scipy import ndimage

from .blend import visibility_weights
from .layered import to_float
from .morphology import dilate_square
from .parallel import parallel_map

__all__ = ["project_residual", "refine_alpha", "upsample_layers", "paint_full_resolution", "guided_filter",
           "colour_line_matte", "match_alpha"]

_TINY = 1e-12
_PROJECT_BAND_PX = 1 << 17  # (layers x pixels) per band of the projection: temporaries stay in cache-sized blocks
_DENSE_FRACTION = 0.25  # projection steps run on whole bands while more colour elements than this miss
_REFINE_CROP_PX = 1 << 20  # pixels per crop of the alpha refinement (about 150 B of temporaries each)
_PIXEL = np.dtype((np.void, 12))  # an RGB float32 pixel as one item
_SHIFT_REACH = 8  # square dilations up to this reach run as shifted ORs (layerdiff.morphology)


# ------------------------------------------------------------------------------------- helpers
def _levels(bit_depth: int | None) -> float | None:
    if bit_depth is None:
        return None
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8, 16 or None, got {bit_depth}")
    return 255.0 if bit_depth == 8 else 65535.0


def _snap(x: np.ndarray, levels: float | None, inplace: bool = False) -> np.ndarray:
    """Round values in [0, 1] to the nearest of ``levels + 1`` steps (identity for None)."""
    if levels is None:
        return x
    if not inplace:
        return np.round(np.clip(x, 0.0, 1.0) * levels) / np.float32(levels)
    np.clip(x, 0.0, 1.0, out=x)
    x *= levels
    np.round(x, out=x)
    x /= np.float32(levels)
    return x


def _check_target(target: np.ndarray, what: str = "target") -> np.ndarray:
    """Validate an (H, W, 3|4) image without converting it (bands are converted with ``to_float``)."""
    arr = np.asarray(target)
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4):
        raise ValueError(f"{what}: expected an (H, W, 3) or (H, W, 4) image, got shape {arr.shape}")
    if not (arr.dtype in (np.uint8, np.uint16, np.bool_) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{what}: unsupported pixel dtype {arr.dtype} (use uint8, uint16 or float)")
    return arr


def _rgb_crop(image: np.ndarray, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """float32 (h, w, 3) colours of a crop of an image accepted by :func:`_check_target`."""
    return np.ascontiguousarray(to_float(image[y0:y1, x0:x1])[..., :3])


def _check_layers(layers: np.ndarray, what: str = "layers") -> np.ndarray:
    arr = np.asarray(layers)
    if arr.ndim != 4 or arr.shape[-1] != 4 or arr.shape[0] < 1:
        raise ValueError(f"{what}: expected an (L, H, W, 4) RGBA stack with L >= 1, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{what}: expected float values in [0, 1], got dtype {arr.dtype}")
    return arr


def _row_bands(height: int, width: int, layers: int, budget_px: int = 1 << 21) -> list[tuple[int, int]]:
    """Bands of rows ``[(y0, y1), ...]`` covering ``height`` with about ``budget_px`` values per band."""
    rows = max(1, budget_px // max(1, width * max(1, layers)))
    return [(y, min(height, y + rows)) for y in range(0, height, rows)]


# ---------------------------------------------------------------------------------- alpha match
def match_alpha(alphas: np.ndarray, target_alpha: np.ndarray, levels: float | None = None) -> np.ndarray:
    """Adjust a bottom-to-top stack of alphas (L, H, W) in place so that ``1 - prod(1 - a_i)`` equals
    ``target_alpha`` (H, W).

    Where the layers above the bottom one cover no more than the target, only the bottom alpha changes
    (``a_0 = 1 - (1 - A_t) / T``, T the transmittance above it). Where they cover more, the bottom one
    becomes transparent and the upper ones are thinned together (``1 - a_j -> (1 - a_j)^s``). With
    ``levels`` (255 or 65535) the alphas are snapped to that grid and each pixel still off by more than
    half a step re-solves the layer with the largest effect, so the quantised composite alpha is within
    half a step of the target.
    """
    n = alphas.shape[0]
    at = target_alpha.astype(np.float32)  # (H, W)
    if n > 1:
        trans_up = np.prod(1.0 - alphas[1:], axis=0)  # (H, W) transmittance above the bottom layer
    else:
        trans_up = np.ones_like(at)
    fits = (1.0 - trans_up) <= at + 1e-7  # (H, W) upper layers cover no more than the target
    with np.errstate(divide="ignore", invalid="ignore"):
        a0 = 1.0 - (1.0 - at) / trans_up
    alphas[0] = np.where(fits & (trans_up > _TINY), np.clip(a0, 0.0, 1.0), alphas[0])
    over = ~fits
    if over.any() and n > 1:
        alphas[0][over] = 0.0
        keep = np.clip(1.0 - alphas[1:, over], 1e-6, 1.0)  # (L-1, N) transmittances of the upper layers
        s = np.log(np.maximum(1.0 - at[over], 1e-30)) / np.sum(np.log(keep), axis=0)  # (N,) in [0, 1)
        s = np.where(at[over] >= 1.0, 0.0, np.clip(s, 0.0, 1.0))
        alphas[1:, over] = 1.0 - keep ** s[None]
    if levels is None:
        return alphas
    alphas[:] = _snap(alphas, levels)
    comp = 1.0 - np.prod(1.0 - alphas, axis=0)  # (H, W)
    bad = np.abs(comp - at) > 0.5 / levels + 1e-6
    if bad.any():
        sub = alphas[:, bad].astype(np.float64)  # (L, N)
        one_minus = 1.0 - sub
        others = np.empty_like(sub)  # (L, N) prod_{j != k} (1 - a_j), by prefix/suffix products
        prefix = np.ones(sub.shape[1])
        for k in range(n):
            others[k] = prefix
            prefix = prefix * one_minus[k]
        suffix = np.ones(sub.shape[1])
        for k in range(n - 1, -1, -1):
            others[k] *= suffix
            suffix = suffix * one_minus[k]
        k_best = np.argmax(others, axis=0)  # (N,) layer whose alpha moves the composite most
        d = others[k_best, np.arange(sub.shape[1])]
        solved = np.clip(1.0 - (1.0 - at[bad]) / np.maximum(d, _TINY), 0.0, 1.0)
        sub[k_best, np.arange(sub.shape[1])] = np.round(solved * levels) / levels
        alphas[:, bad] = sub.astype(np.float32)
    return alphas


# ---------------------------------------------------------------------------------- projection
def _solve_elements(c: np.ndarray, w: np.ndarray, t: np.ndarray, idx: np.ndarray, iterations: int, tol: float,
                    ) -> None:
    """In place: make the composite ``sum_i w_i c_i / sum_i w_i`` of the chosen colour elements equal ``t``.

    ``c``: (L, E) colours as (pixel, channel) elements, ``E = 3 N``; ``w``: (L, N) visibility weights;
    ``t``: (E,) target colours; ``idx``: (K,) elements to solve (pixel ``idx // 3``, all with
    ``sum_i w_i > 0``). Channels are independent, so each element stops as soon as it is solved (residual
    within ``tol``) or stuck (the clipped update no longer moves it), and later steps touch only the rest.
    """
    pix = idx // 3
    wk = np.take(w, pix, axis=1)  # (L, K); np.take: far faster than fancy indexing of the second axis
    ck = np.take(c, idx, axis=1)  # (L, K) copy
    tk = t[idx]  # (K,)
    total = wk.sum(0)  # (K,) composite alpha A
    sq = np.maximum((wk * wk).sum(0), _TINY)  # (K,)
    r = tk - (wk * ck).sum(0) / total  # (K,) residual
    # 1. minimum-norm updates c_i += w_i A r / sum w^2, clipped to [0, 1], repeated
    act = np.flatnonzero(np.abs(r) > tol)
    for _ in range(iterations):
        if act.size == 0:
            break
        w_a, c_a = np.take(wk, act, axis=1), np.take(ck, act, axis=1)  # (L, M)
        new = c_a + w_a * (total[act] * r[act] / sq[act])
        np.clip(new, 0.0, 1.0, out=new)
        moved = (new != c_a).any(0)  # (M,) an element whose update clipped away entirely stays put
        ck[:, act] = new
        act = act[moved]
        r[act] = tk[act] - (np.take(wk, act, axis=1) * np.take(ck, act, axis=1)).sum(0) / total[act]
        act = act[np.abs(r[act]) > tol]
    act = np.flatnonzero(np.abs(r) > tol)
    if act.size:
        w_a, c_a, tot = np.take(wk, act, axis=1), np.take(ck, act, axis=1), total[act]  # (L, M), (L, M), (M,)
        cols = np.arange(act.size)
        # 2. what clipping left goes to the most visible layer
        top = np.argmax(w_a, axis=0)  # (M,)
        c_a[top, cols] += tot * r[act] / np.maximum(w_a[top, cols], _TINY)
        np.clip(c_a, 0.0, 1.0, out=c_a)
        # 3. exact and in range: spread the rest over the visible layers in proportion to their headroom
        #    (1 - c_i when raising, c_i when lowering); sum_i w_i (1 - c_i) = A (1 - C) >= A r.
        comp = (w_a * c_a).sum(0) / tot  # (M,)
        rest = tk[act] - comp
        up = np.minimum(np.where(rest > 0, rest / np.maximum(1.0 - comp, _TINY), 0.0), 1.0)  # (M,)
        down = np.minimum(np.where(rest < 0, -rest / np.maximum(comp, _TINY), 0.0), 1.0)
        c_a += np.where(w_a > 0, (1.0 - c_a) * up - c_a * down, 0.0)
        np.clip(c_a, 0.0, 1.0, out=c_a)
        ck[:, act] = c_a
    for i in range(c.shape[0]):  # row by row: scattering along one axis is faster
        c[i, idx] = ck[i]


def _composite_rgb(rgb: np.ndarray, weights: np.ndarray, safe_total: np.ndarray) -> np.ndarray:
    """Straight composite colour ``sum_i w_i c_i / A`` of ``rgb`` (L, ..., 3) with ``weights`` (L, ...)."""
    comp = rgb[0] * weights[0][..., None]  # (..., 3)
    term = np.empty_like(comp)
    for i in range(1, rgb.shape[0]):
        np.multiply(rgb[i], weights[i][..., None], out=term)
        comp += term
    comp /= safe_total
    return comp


def _project_colours(rgb: np.ndarray, weights: np.ndarray, target_rgb: np.ndarray, iterations: int,
                     tol: float = 1e-6, snapped: bool = False) -> None:
    """In place: exact colours for fixed weights. ``rgb`` (L, ..., 3) C-contiguous, ``weights`` (L, ...),
    ``target_rgb`` (..., 3).

    Clipped minimum-norm steps run on every pixel, one layer at a time (no (L, ...) temporaries), while
    many colour elements still miss the target; the remaining steps and the exact finish
    (:func:`_solve_elements`) run only on those elements once they are a minority.

    ``snapped``: the caller snaps the result to a grid of at most 65535 steps. Pixels whose only visible
    layer has weight 1 (inside opaque layers: most pixels) then take the target colour directly: the
    first step moves such a layer's colour to the target within one float32 step and nothing moves it
    after, so the snapped result is the same. The steps run on the other pixels only, with the decisions
    (whole-band steps or elements) the full band would take: every pixel's result is unchanged.
    """
    n = rgb.shape[0]
    if not snapped or not rgb.flags.c_contiguous:
        _project_pixels(rgb, weights, target_rgb, iterations, tol, 0, target_rgb.size)
        return
    flat_w = weights.reshape(n, -1)  # (L, P)
    flat_t = target_rgb.reshape(-1, 3)  # (P, 3)
    count_type = np.uint8 if n < 255 else np.int64
    visible = np.zeros(flat_w.shape[1], count_type)  # (P,) layers with a weight > 0
    top = np.zeros(flat_w.shape[1], count_type)  # (P,) 1 + the layer with weight 1 (at most one), or 0
    for i in range(n):
        visible += flat_w[i] > 0
        top += (flat_w[i] == 1.0) * count_type(i + 1)
    sole = (visible == 1) & (top > 0)  # (P,)
    pix = np.flatnonzero(sole)
    rest = np.flatnonzero(~sole)
    # one 12-byte item per pixel colour: gathers and scatters move whole pixels
    items = rgb.reshape(-1, 3).view(_PIXEL).reshape(-1)  # (L P,) view
    at = (top[pix].astype(np.intp) - 1) * flat_w.shape[1] + pix  # (S,) the visible layer's pixel
    t_sole = np.take(np.ascontiguousarray(flat_t).view(_PIXEL).reshape(-1), pix)  # (S,)
    first_off = int(np.count_nonzero(np.abs(t_sole.view(np.float32) - np.take(items, at).view(np.float32))
                                     > tol))  # the band's first count of elements off, for these pixels
    items[at] = t_sole
    if rest.size == 0:
        return
    flat_rgb = rgb.reshape(n, -1, 3)  # (L, P, 3) view
    sub = np.take(flat_rgb, rest, axis=1)  # (L, M, 3) copy
    _project_pixels(sub, np.take(flat_w, rest, axis=1), flat_t[rest], iterations, tol, first_off,
                    flat_t.size)
    flat_rgb[:, rest] = sub


def _project_pixels(rgb: np.ndarray, weights: np.ndarray, target_rgb: np.ndarray, iterations: int,
                    tol: float, first_off: int, size: int) -> None:
    """:func:`_project_colours` on pixels ``rgb`` (L, ..., 3) of a band of ``size`` colour elements whose
    other pixels held ``first_off`` elements off the target before the first step and none after it."""
    n = rgb.shape[0]
    total = weights.sum(0)  # (...,) composite alpha A
    live = total > _TINY
    safe_total = np.where(live, total, np.float32(1.0))[..., None]  # (..., 1)
    sq = None
    done = 0
    while True:
        r = np.subtract(target_rgb, _composite_rgb(rgb, weights, safe_total))  # (..., 3) residual
        r[~live] = 0.0
        off = np.abs(r) > tol  # (..., 3) colour elements still off (never dead pixels: r = 0)
        count = int(np.count_nonzero(off)) + (first_off if done == 0 else 0)
        if count == 0:
            return
        if done == iterations or count < _DENSE_FRACTION * size:
            break
        # minimum-norm update c_i += w_i A r / sum_k w_k^2, clipped (exact where nothing clips)
        if sq is None:
            sq = np.square(weights[0])  # (...,)
            for i in range(1, n):
                sq += np.square(weights[i])
            np.maximum(sq, _TINY, out=sq)
        r *= safe_total
        r /= sq[..., None]
        step = np.empty_like(r)
        for i in range(n):
            np.multiply(weights[i][..., None], r, out=step)
            rgb[i] += step
        np.clip(rgb, 0.0, 1.0, out=rgb)
        done += 1
    _solve_elements(rgb.reshape(n, -1), weights.reshape(n, -1), target_rgb.reshape(-1),
                    np.flatnonzero(off), iterations - done, tol)


def project_residual(layers: np.ndarray, target: np.ndarray, iterations: int = 8, bit_depth: int | None = 8,
                     copy: bool = True) -> np.ndarray:
    """Change a decomposition as little as possible so that it recomposes exactly to ``target``.

    Args:
        layers: (L, H, W, 4) float straight-alpha stack, bottom to top, "normal" blending.
        target: (H, W, 3) or (H, W, 4) image (uint8, uint16 or float in [0, 1]).
        iterations: clipped minimum-norm projection steps before the exact final step.
        bit_depth: 8 or 16: the result is snapped onto that grid (alphas first, colours solved for the
            snapped alphas, then snapped), so writing it to a file of that depth changes nothing and the
            composite matches the target within half a step per channel (``LayeredImage.composite`` vs the
            target quantised to the same depth; colours compared where the target alpha > 0).
            None: exact in float, no snapping.
        copy: False works in place when ``layers`` is a C-contiguous float32 array.

    Returns:
        (L, H, W, 4) float32. Colours with zero visibility are left as they were (up to snapping).
        The work runs in bands of rows; besides the result only band-sized temporaries are held (the
        target is converted to float one band at a time).
    """
    stack = _check_layers(layers)
    tgt = _check_target(target)
    if tgt.shape[:2] != stack.shape[1:3]:
        raise ValueError(f"target size {tgt.shape[1]}x{tgt.shape[0]} differs from the layers' "
                         f"{stack.shape[2]}x{stack.shape[1]}")
    if iterations < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations}")
    levels = _levels(bit_depth)
    out = np.array(stack, dtype=np.float32, copy=True, order="C") if copy else \
        np.ascontiguousarray(stack, dtype=np.float32)
    n, height, width, _ = out.shape

    def project_band(rows: tuple[int, int]) -> None:
        y0, y1 = rows
        band = out[:, y0:y1]  # (L, h, W, 4) view
        t = _snap(to_float(tgt[y0:y1]), levels)  # (h, W, 4)
        np.clip(band, 0.0, 1.0, out=band)
        alphas = np.ascontiguousarray(band[..., 3])  # (L, h, W)
        match_alpha(alphas, t[..., 3], levels)
        band[..., 3] = alphas
        weights = visibility_weights(alphas)  # (L, h, W)
        rgb = np.ascontiguousarray(band[..., :3])  # (L, h, W, 3) copy
        _project_colours(rgb, weights, np.ascontiguousarray(t[..., :3]), iterations, snapped=levels is not None)
        band[..., :3] = _snap(rgb, levels, inplace=True)

    parallel_map(project_band, _row_bands(height, width, n, _PROJECT_BAND_PX))  # bands are independent
    return out


# -------------------------------------------------------------------------------- guided filter
def _box(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window along the first two axes (running sums, O(1) per pixel)."""
    return ndimage.uniform_filter(x, size=(2 * r + 1, 2 * r + 1) + (1,) * (x.ndim - 2), mode="reflect")


class _GuideStats:
    """Per-window statistics of a colour guide (h, w, 3) for the guided filter, shared across layers."""

    def __init__(self, guide: np.ndarray, r: int, eps: float) -> None:
        self.guide, self.r = guide, r
        self.mean = _box(guide, r)  # (h, w, 3)
        g = guide
        m = self.mean
        var = {}
        for a, b in ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)):
            var[a, b] = _box(g[..., a] * g[..., b], r) - m[..., a] * m[..., b]  # (h, w)
        s00, s01, s02 = var[0, 0] + eps, var[0, 1], var[0, 2]
        s11, s12, s22 = var[1, 1] + eps, var[1, 2], var[2, 2] + eps
        # inverse of the symmetric 3x3 (Sigma + eps U) by the adjugate
        i00 = s11 * s22 - s12 * s12
        i01 = s02 * s12 - s01 * s22
        i02 = s01 * s12 - s02 * s11
        i11 = s00 * s22 - s02 * s02
        i12 = s01 * s02 - s00 * s12
        i22 = s00 * s11 - s01 * s01
        det = s00 * i00 + s01 * i01 + s02 * i02
        self.inv = np.stack([i00, i01, i02, i01, i11, i12, i02, i12, i22], -1) / det[..., None]  # (h, w, 9)

    def filter(self, p: np.ndarray) -> np.ndarray:
        """Guided filter output q (h, w) for the input p (h, w) (He, Sun & Tang, ECCV 2010, colour guide)."""
        r, g, m = self.r, self.guide, self.mean
        mean_p = _box(p, r)  # (h, w)
        cov = _box(g * p[..., None], r) - m * mean_p[..., None]  # (h, w, 3)
        inv = self.inv.reshape(*p.shape, 3, 3)  # (h, w, 3, 3)
        a = np.einsum("hwij,hwj->hwi", inv, cov)  # (h, w, 3)
        b = mean_p - (a * m).sum(-1)  # (h, w)
        return (_box(a, r) * g).sum(-1) + _box(b, r)


def guided_filter(guide: np.ndarray, p: np.ndarray, radius: int, eps: float = 1e-4) -> np.ndarray:
    """Edge-preserving guided filter of ``p`` (H, W) by a colour ``guide`` (H, W, 3) in [0, 1].

    He, Sun & Tang, "Guided Image Filtering", ECCV 2010, eqs. (13)-(16); box means by running sums.
    """
    if guide.ndim != 3 or guide.shape[-1] != 3 or guide.shape[:2] != p.shape:
        raise ValueError(f"guided_filter: guide {guide.shape} must be (H, W, 3) matching p {p.shape}")
    if radius < 1:
        raise ValueError(f"guided_filter: radius must be >= 1, got {radius}")
    return _GuideStats(guide.astype(np.float32), radius, eps).filter(p.astype(np.float32))


# ------------------------------------------------------------------------------------ upsampling
def _linear_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights of linear interpolation with aligned pixel centres (as PIL/OpenCV)."""
    pos = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    pos = np.clip(pos, 0.0, n_in - 1)
    i0 = np.floor(pos).astype(np.intp)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (pos - i0).astype(np.float32)


def resize_plane(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a float32 (h, w) or (h, w, C) array to ``size = (W, H)``.

    Upsampling interpolates separably (rows, then columns); downsampling goes through PIL's
    antialiased "F"-mode resize per channel.
    """
    width, height = size
    h, w = plane.shape[:2]
    if (w, h) == (width, height):
        return plane.astype(np.float32, copy=True)
    if width < w or height < h:
        chans = plane[..., None] if plane.ndim == 2 else plane
        out = np.stack(parallel_map(  # one channel a thread (PIL releases the GIL while it resizes)
            lambda c: np.asarray(Image.fromarray(np.ascontiguousarray(chans[..., c], dtype=np.float32),
                                                 mode="F").resize(size, Image.Resampling.BILINEAR)),
            range(chans.shape[-1])), -1)
        return out[..., 0] if plane.ndim == 2 else out
    y0, y1, fy = _linear_taps(h, height)
    x0, x1, fx = _linear_taps(w, width)
    src = plane.astype(np.float32, copy=False)
    fy = fy.reshape((-1, 1) + (1,) * (plane.ndim - 2))
    rows = src[y0] + fy * (src[y1] - src[y0])  # (H, w[, C])
    fx = fx.reshape((1, -1) + (1,) * (plane.ndim - 2))
    left = np.take(rows, x0, axis=1)  # (H, W[, C])
    return left + fx * (np.take(rows, x1, axis=1) - left)  # (H, W[, C])


def _default_radius(scale: float) -> int:
    return int(max(2, min(32, math.ceil(scale))))


def colour_line_matte(guide: np.ndarray, fg: np.ndarray, bg: np.ndarray, radius: int, tau: float = 0.01,
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Alpha from local foreground/background colours: ``a = (I - B).(F - B) / |F - B|^2``.

    F and B are the mean ``guide`` colours (H, W, 3) of the pixels within ``radius`` marked by the
    boolean masks ``fg`` / ``bg`` (H, W) (the two-colour "colour line" model of Levin, Lischinski &
    Weiss, "A Closed-Form Solution to Natural Image Matting", 2008, with F and B estimated per window).
    Returns (alpha, confidence) (H, W) each; the confidence ``|F - B|^2 / (|F - B|^2 + tau)`` is 0 where
    either colour is missing in the window.
    """
    fgf = np.asarray(fg, dtype=np.float32)  # (h, w)
    bgf = np.asarray(bg, dtype=np.float32)
    w_f, w_b = _box(fgf, radius), _box(bgf, radius)  # (h, w) fraction of confident pixels per window
    f = _box(guide * fgf[..., None], radius) / np.maximum(w_f, 1e-6)[..., None]  # (h, w, 3)
    b = _box(guide * bgf[..., None], radius) / np.maximum(w_b, 1e-6)[..., None]
    d = f - b
    den = (d * d).sum(-1)  # (h, w)
    alpha = np.clip(((guide - b) * d).sum(-1) / np.maximum(den, 1e-8), 0.0, 1.0)
    conf = ((w_f > 1e-4) & (w_b > 1e-4)) * den / (den + tau)
    return alpha.astype(np.float32), conf.astype(np.float32)


def _cell_extremes(alpha_low: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Largest and smallest of the four corners of every bilinear interpolation cell: (L, h, w) each.

    A full-resolution pixel whose taps start at low-resolution pixel (k, l) is a convex combination of
    ``alpha_low[:, k:k+2, l:l+2]`` (edges clamped), so it lies between these two values.
    """
    _, h, w = alpha_low.shape
    rows = np.minimum(np.arange(h) + 1, h - 1)
    cols = np.minimum(np.arange(w) + 1, w - 1)
    below = np.take(alpha_low, rows, axis=1)  # (L, h, w)
    right, below_right = np.take(alpha_low, cols, axis=2), np.take(below, cols, axis=2)  # (L, h, w) each
    hi = np.maximum(np.maximum(alpha_low, right), np.maximum(below, below_right))
    lo = np.minimum(np.minimum(alpha_low, right), np.minimum(below, below_right))
    return hi, lo


def _dilate(mask: np.ndarray, reach: tuple[int, int]) -> np.ndarray:
    """Square (Chebyshev) dilation of a boolean (h, w) mask by ``reach = (rows, cols)`` pixels."""
    if max(reach) <= _SHIFT_REACH:  # a few shifted ORs: faster than the running filter
        return dilate_square(mask, reach)
    size = (2 * reach[0] + 1, 2 * reach[1] + 1)
    return ndimage.maximum_filter(mask.view(np.uint8), size=size, mode="constant", cval=0) > 0


def _refine_regions(alpha_low: np.ndarray, size: tuple[int, int], radius: int, band_eps: float,
                    colour_only: bool) -> list[list[tuple[int, int, int, int]]]:
    """Per layer, full-resolution rectangles ``(y0, y1, x0, x1)`` outside which refinement changes nothing.

    Decided on the low-resolution alphas (L, h, w), conservatively: a cell (see :func:`_cell_extremes`)
    can hold uncertain pixels only if its corners are not all confident; the refinement reaches ``radius``
    beyond them; the colour-line matte has confidence > 0 only where confident foreground *and*
    background pixels lie within ``3 * radius`` (``colour_only``: without the guided filter nothing else
    changes); and a layer under an upper layer whose cell is all 1 is hidden there. Distances in
    full-resolution pixels become ``ceil(d * h / H) + 1`` cells, an upper bound of the cell offset of
    any two pixels ``d`` apart. Rectangles of nearby cells are merged (their crops would overlap).
    """
    n, h, w = alpha_low.shape
    width, height = size
    row_of = _linear_taps(h, height)[0]  # (H,) first tap = cell row of every full-resolution row
    col_of = _linear_taps(w, width)[0]  # (W,)

    def cells(d: int) -> tuple[int, int]:
        return math.ceil(d * h / height) + 1, math.ceil(d * w / width) + 1

    margin = 1e-4  # float rounding of the interpolation: stay conservative near the thresholds
    hi, lo = _cell_extremes(alpha_low)
    hidden = np.zeros((h, w), bool)  # (h, w) some layer above is exactly opaque in the whole cell
    regions: list[list[tuple[int, int, int, int]]] = [[] for _ in range(n)]
    for i in range(n - 1, -1, -1):
        uncertain = (hi[i] > band_eps - margin) & (lo[i] < 1.0 - band_eps + margin)
        active = _dilate(uncertain, cells(radius)) & ~hidden
        if colour_only:
            reach = cells(3 * radius)
            active &= _dilate(hi[i] > 1.0 - band_eps - margin, reach) & _dilate(lo[i] < band_eps + margin, reach)
        hidden |= lo[i] >= 1.0
        if not active.any():
            continue
        labels, _ = ndimage.label(_dilate(active, cells(3 * radius)), structure=np.ones((3, 3)))
        for k, box in enumerate(ndimage.find_objects(labels), start=1):
            ys, xs = np.nonzero(active[box] & (labels[box] == k))
            if ys.size == 0:
                continue
            k0, k1 = box[0].start + ys.min(), box[0].start + ys.max() + 1
            l0, l1 = box[1].start + xs.min(), box[1].start + xs.max() + 1
            y0, y1 = np.searchsorted(row_of, [k0, k1])
            x0, x1 = np.searchsorted(col_of, [l0, l1])
            if y1 > y0 and x1 > x0:
                regions[i].append((int(y0), int(y1), int(x0), int(x1)))
    return regions


def _refine_crop(alpha: np.ndarray, i: int, guide: np.ndarray, core: tuple[int, int, int, int], radius: int,
                 eps: float, band_eps: float, method: str) -> np.ndarray | None:
    """Refined alpha of layer ``i`` inside ``core = (y0, y1, x0, x1)``, or None where nothing changes.

    Reads a crop with a halo of ``3 * radius`` (every window of the filters below fits inside it, so
    the core equals the result of refining the whole image) and the unrefined alphas of the layers above.
    """
    n, height, width = alpha.shape
    y0, y1, x0, x1 = core
    halo = (2 if method == "guided" else 3) * radius
    ca, cb, xa, xb = max(0, y0 - halo), min(height, y1 + halo), max(0, x0 - halo), min(width, x1 + halo)
    p = np.array(alpha[i, ca:cb, xa:xb], dtype=np.float32)  # (hc, wc) upsampled alpha with halo
    uncertain = (p > band_eps) & (p < 1.0 - band_eps)  # (hc, wc)
    if not uncertain.any():
        return None
    inner = (slice(y0 - ca, y1 - ca), slice(x0 - xa, x1 - xa))
    band = _box(uncertain.astype(np.float32), radius)[inner] > 1e-6  # (h, w) square dilation
    if not band.any():
        return None
    g = _rgb_crop(guide, ca, cb, xa, xb)  # (hc, wc, 3)
    fallback = p
    if method != "colour":
        fallback = np.clip(_GuideStats(g, radius, eps).filter(p), 0.0, 1.0)
    if method == "guided":
        q = fallback
    else:
        fg, bg = p > 1.0 - band_eps, p < band_eps
        matte, conf = colour_line_matte(g, fg, bg, radius)
        wide, wide_conf = colour_line_matte(g, fg, bg, 3 * radius)  # where one side is far
        use_wide = wide_conf > conf
        matte, conf = np.where(use_wide, wide, matte), np.where(use_wide, wide_conf, conf)
        q = fallback + conf * (matte - fallback)  # (hc, wc)
    above = np.ones((y1 - y0, x1 - x0), np.float32)  # (h, w) transmittance of the layers above
    for j in range(i + 1, n):
        above *= 1.0 - alpha[j, y0:y1, x0:x1]
    p_in = p[inner]
    return p_in + band * above * (q[inner] - p_in)


def _refine_into(alpha: np.ndarray, guide: np.ndarray, radius: int, eps: float, band_eps: float,
                 method: str = "colour", alpha_low: np.ndarray | None = None) -> None:
    """In place: refine upsampled alphas (L, H, W) against ``guide`` (H, W, 3|4), only in the dilated
    uncertain band and weighted by the transmittance of the (unrefined) layers above each layer.

    ``method``: "colour" (colour-line matte, falling back to the upsampled alpha where the local colours
    do not separate), "guided" (guided filter), "both" (colour-line matte, guided filter as fallback).
    ``alpha_low`` (L, h, w): the alphas ``alpha`` was bilinearly upsampled from; with it, only the
    rectangles of :func:`_refine_regions` are filtered (same result, far less work). The work runs in
    crops of about ``_REFINE_CROP_PX`` pixels, on threads (:func:`layerdiff.parallel.parallel_map`); the
    results are written after all crops are computed.
    """
    if method not in ("colour", "guided", "both"):
        raise ValueError(f"refine method must be 'colour', 'guided' or 'both', got {method!r}")
    n, height, width = alpha.shape
    if alpha_low is not None and alpha_low.shape[1] <= height and alpha_low.shape[2] <= width:
        regions = _refine_regions(alpha_low, (width, height), radius, band_eps, method == "colour")
    else:
        regions = [[(0, height, 0, width)] for _ in range(n)]
    halo = 3 * radius
    crops = []  # (layer, (y0, y1, x0, x1))
    for i in range(n):
        for y0, y1, x0, x1 in regions[i]:
            rows = max(halo, _REFINE_CROP_PX // (x1 - x0 + 2 * halo))
            crops += [(i, (ya, min(y1, ya + rows), x0, x1)) for ya in range(y0, y1, rows)]
    # a crop reads its own layer and the layers above, all unrefined: every crop is computed (on threads)
    # before any is written, in order
    patches = parallel_map(lambda crop: _refine_crop(alpha, crop[0], guide, crop[1], radius, eps, band_eps,
                                                     method), crops)
    for (i, (ya, yb, x0, x1)), new in zip(crops, patches):
        if new is not None:
            alpha[i, ya:yb, x0:x1] = new


def refine_alpha(alpha_low: np.ndarray, guide: np.ndarray, radius: int | None = None, eps: float = 1e-4,
                 band_eps: float = 0.02, method: str = "colour") -> np.ndarray:
    """Upsample each layer's alpha to the guide's size and refine it against the full-resolution guide.

    Args:
        alpha_low: (L, h, w) alphas in [0, 1], bottom to top.
        guide: (H, W, 3|4) full-resolution image (the input being decomposed).
        radius: window radius in full-resolution pixels (default: the scale factor; a second pass with
            three times the radius serves pixels whose edge has one side farther away).
        eps: guided-filter regulariser (He et al. 2010); smaller keeps edges crisper.
        band_eps: the filter acts where the upsampled alpha is in (band_eps, 1 - band_eps), dilated by
            ``radius``, and only as far as the layers above let the guide show this layer.
        method: "colour" (default: colour-line matte from the local confident foreground/background
            colours; on flat graphics it cuts the edge error of bilinear upsampling ~10x where the guided
            filter cuts it ~5%), "guided" (colour guided filter, He et al. 2010) or "both".

    Returns:
        (L, H, W) float32. Afterwards the stack's composite alpha is matched to the guide's alpha (the
        bottom layer absorbs the difference, see :func:`match_alpha`), so visibility weights sum to it.
    """
    low = np.clip(np.asarray(alpha_low, dtype=np.float32), 0.0, 1.0)
    if low.ndim != 3 or low.shape[0] < 1:
        raise ValueError(f"alpha_low: expected an (L, h, w) array, got shape {low.shape}")
    g = _check_target(guide, "guide")
    height, width = g.shape[:2]
    scale = max(height / low.shape[1], width / low.shape[2])
    r = radius if radius is not None else _default_radius(scale)
    out = np.empty((low.shape[0], height, width), np.float32)
    for i in range(low.shape[0]):
        out[i] = np.clip(resize_plane(low[i], (width, height)), 0.0, 1.0)
    _refine_into(out, g, r, eps, band_eps, method, alpha_low=low)
    for y0, y1 in _row_bands(height, width, low.shape[0]):
        out[:, y0:y1] = match_alpha(np.ascontiguousarray(out[:, y0:y1]), to_float(g[y0:y1])[..., 3])
    return out


def _upsample_into(out: np.ndarray, low: np.ndarray) -> None:
    """Fill ``out`` (L, H, W, 4) with the bilinear upsampling of ``low`` (L, h, w, 4): alpha directly,
    colour alpha-weighted (``up(c a') / up(a')``, ``a' = max(a, 1e-3)``) so that transparent garbage
    does not bleed into edges. Columns are interpolated at the low row count, rows in bands of planes.
    """
    n, height, width, _ = out.shape
    r0, r1, fy = _linear_taps(low.shape[1], height)
    c0, c1, fx = _linear_taps(low.shape[2], width)

    def upsample_layer(i: int) -> None:
        a_low = np.clip(low[i, ..., 3], 0.0, 1.0)  # (h, w)
        weight = np.maximum(a_low, 1e-3)  # (h, w) keeps fully transparent colours usable
        premult = np.stack([low[i, ..., 0] * weight, low[i, ..., 1] * weight, low[i, ..., 2] * weight,
                            weight, a_low])  # (5, h, w)
        cols = np.take(premult, c0, axis=2)  # (5, h, W); np.take: far faster than indexing a later axis
        cols += fx * (np.take(premult, c1, axis=2) - cols)
        for y0, y1 in _row_bands(height, width, 5, 1 << 18):
            rows = np.take(cols, r0[y0:y1], axis=1)  # (5, y1 - y0, W)
            rows += fy[y0:y1, None] * (np.take(cols, r1[y0:y1], axis=1) - rows)
            band = out[i, y0:y1]  # (y1 - y0, W, 4) view
            for c in range(3):  # in [0, 1]: interpolation keeps c w <= w
                np.divide(rows[c], rows[3], out=band[..., c])
            band[..., 3] = rows[4]

    parallel_map(upsample_layer, range(n))  # one layer a thread


def upsample_layers(layers_low: np.ndarray, image_full: np.ndarray, iterations: int = 8,
                    bit_depth: int | None = 8, radius: int | None = None, eps: float = 1e-4,
                    method: str = "colour", project: bool = True) -> np.ndarray:
    """"Think low, paint high": lift a low-resolution decomposition to the input's own resolution.

    1. each layer's alpha is upsampled and refined against the full-resolution input
       (:func:`refine_alpha`; filters run only where they can change something: near uncertain edges
       with confident colours on both sides, and not under opaque layers);
    2. each layer's colour is upsampled alpha-weighted (``up(c a) / up(a)``), so transparent garbage does
       not bleed into edges; these model colours survive only where the layer is hidden;
    3. :func:`project_residual` solves the visible colours from the input itself, so the composite of
       the result equals the input (within half an 8-bit step by default).

    Args:
        layers_low: (L, h, w, 4) float straight-alpha stack, bottom to top.
        image_full: (H, W, 3|4) input image (uint8, uint16 or float).
        iterations, bit_depth: see :func:`project_residual`; radius, eps, method: see :func:`refine_alpha`.
        project: run step 3 (exact recomposition); without it colours stay the model's, upsampled.

    Returns:
        (L, H, W, 4) float32. Every step works in place on the result or on bands and crops, so the
        peak memory is the output stack (1 GiB at 4 layers x 4096^2) plus a few hundred MB.
    """
    low = _check_layers(layers_low, "layers_low").astype(np.float32, copy=False)
    img = _check_target(image_full, "image_full")
    n = low.shape[0]
    height, width = img.shape[:2]
    scale = max(height / low.shape[1], width / low.shape[2])
    r = radius if radius is not None else _default_radius(scale)
    out = np.empty((n, height, width, 4), np.float32)
    _upsample_into(out, low)
    a_low = np.clip(low[..., 3], 0.0, 1.0)  # (L, h, w)
    _refine_into(out[..., 3], img, r, eps, 0.02, method, alpha_low=a_low)  # in place through the view
    if not project:
        return out
    return project_residual(out, img, iterations=iterations, bit_depth=bit_depth, copy=False)


def paint_full_resolution(layers_low: np.ndarray, image_full: np.ndarray, exact: bool = True,
                          refine: bool = True) -> np.ndarray:
    """Layers a model made on its native grid (L, h, w, 4) -> the same layers at the input's resolution
    (L, H, W, 4) for the (H, W, 3|4) input ``image_full``.

    ``refine``: :func:`upsample_layers` (alphas refined against the input); else a plain premultiplied
    resize (torch). ``exact``: project the residual so that the layers composite to the input
    (:func:`project_residual`).
    """
    if refine:
        return upsample_layers(layers_low, image_full, project=exact)
    import torch

    from .frames import resize_rgba

    h, w = image_full.shape[:2]
    low = torch.from_numpy(layers_low).permute(0, 3, 1, 2)  # (L, 4, h, w)
    up = resize_rgba(low, (h, w)).permute(0, 2, 3, 1).numpy()  # (L, H, W, 4)
    return project_residual(up, image_full) if exact else up
