"""Exemplar inpainting with PatchMatch: what a layer hides is synthesised from patches of what it shows.

Barnes, Shechtman, Finkelstein and Goldman, "PatchMatch: A Randomized Correspondence Algorithm for
Structural Image Editing", ACM SIGGRAPH 2009 (section 3: nearest-neighbour field by propagation and
random search), inside the multi-scale completion loop of Wexler, Shechtman and Irani, "Space-Time
Completion of Video", IEEE TPAMI 2007 (alternate nearest-neighbour search and voting, coarse to fine).

Vectorised for NumPy, every target patch at once (Jacobi style), so:

- propagation is a jump flood (Rong and Tan, "Jump Flooding in GPU with Applications to Voronoi
  Diagram", I3D 2006): a patch tries the offsets of the patches 1, 3 and 9 pixels away in the four
  directions, so a good offset crosses the hole in a few iterations instead of one pixel per sweep;
- random search tries, per iteration, offsets at radii halving from the image size down to one pixel
  (Barnes et al. eq. 1 with alpha = 1/2); invalid candidates snap to the nearest valid source patch;
- patch distance is the sum of squared differences of a 3 x 3 box-filtered image sampled on a 3 x 3 grid
  of step 2 (27 values per patch): a 7 x 7 footprint at 27 rather than 147 values per comparison.
  Pixels outside the layer (neither known nor hole) do not count.

Source patches lie wholly on known pixels of the layer, so nothing of what lies above (the hole) or
outside the layer is copied in. The result keeps every known pixel; hole pixels get the distance-weighted
vote of the source pixels that the patches covering them point to.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["patchmatch_inpaint"]

_GRID = np.array([(dy, dx) for dy in (-2, 0, 2) for dx in (-2, 0, 2)])  # (9, 2) descriptor sample offsets
_RADIUS = 3  # footprint radius of a patch (grid offset 2 + box filter 1)
_VOTE = np.array([(dy, dx) for dy in range(-3, 4) for dx in range(-3, 4)])  # (49, 2) every patch covering a pixel
_JUMPS = (1, 3, 9)
_DIRS = ((0, 1), (0, -1), (1, 0), (-1, 0))


def _box(mask: np.ndarray, radius: int, erode: bool) -> np.ndarray:
    """Binary erosion (outside counts as unset) or dilation of ``mask`` (h, w) by a square of side
    ``2 radius + 1``, as two separable passes."""
    op = ndimage.binary_erosion if erode else ndimage.binary_dilation
    size = 2 * radius + 1
    return op(op(mask, np.ones((size, 1), bool), border_value=0), np.ones((1, size), bool), border_value=0)


def _down2(x: np.ndarray) -> np.ndarray:
    """Sum over 2x2 blocks, odd sides padded with zeros: (h, w, ...) -> (ceil(h/2), ceil(w/2), ...)."""
    h, w = x.shape[:2]
    pad = [(0, h % 2), (0, w % 2)] + [(0, 0)] * (x.ndim - 2)
    x = np.pad(x, pad)
    return x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2]


class _Level:
    """One pyramid level: image, masks and the flat-index bookkeeping of targets and sources."""

    def __init__(self, rgb: np.ndarray, base: np.ndarray, known: np.ndarray, hole: np.ndarray,
                 care: np.ndarray) -> None:
        self.h, self.w = known.shape
        self.rgb = rgb.astype(np.float32)  # (h, w, 3)
        self.base = base.astype(np.float32)  # (h, w, 3) smooth component; votes carry rgb - base
        self.known, self.hole, self.care = known, hole, care
        valid = _box(known, _RADIUS, erode=True)
        self.whole = bool(valid.any())  # source patches lie wholly on known pixels inside the canvas
        if not self.whole:  # thin layers: any known pixel may be a source
            valid = known.copy()
        self.valid = valid
        # nearest valid source of every pixel (flat index), for snapping random candidates
        _, (iy, ix) = ndimage.distance_transform_edt(~valid, return_indices=True)
        self.snap = (iy * self.w + ix).ravel()  # (h*w,)
        target = _box(hole, _RADIUS, erode=False) & care
        self.ty, self.tx = np.nonzero(target)  # (N,) each
        self.tindex = np.full(self.h * self.w, -1, np.intp)  # flat pixel -> target number or -1
        self.tindex[self.ty * self.w + self.tx] = np.arange(len(self.ty))
        # per target, which descriptor samples lie on the layer (inside the canvas, known or hole)
        sy = self.ty[:, None] + _GRID[None, :, 0]  # (N, 9)
        sx = self.tx[:, None] + _GRID[None, :, 1]  # (N, 9)
        inside = (sy >= 0) & (sy < self.h) & (sx >= 0) & (sx < self.w)
        self.weight = (inside & care[np.clip(sy, 0, self.h - 1), np.clip(sx, 0, self.w - 1)]).astype(np.float32)
        self.hy, self.hx = np.nonzero(hole)  # (M,) each
        # the target patches covering each hole pixel, one row per voting offset (-1: none)
        qy = self.hy[None] - _VOTE[:, :1]  # (V, M)
        qx = self.hx[None] - _VOTE[:, 1:]  # (V, M)
        inside = (qy >= 0) & (qy < self.h) & (qx >= 0) & (qx < self.w)
        cover = self.tindex[np.clip(qy, 0, self.h - 1) * self.w + np.clip(qx, 0, self.w - 1)]  # (V, M)
        self.cover = np.where(inside, cover, -1)

    def descriptors(self) -> np.ndarray:
        """(h*w, 27) descriptor of every pixel's patch from the current image (edges replicated)."""
        blur = ndimage.uniform_filter(self.rgb, size=(3, 3, 1), mode="nearest")  # (h, w, 3)
        pad = np.pad(blur, ((2, 2), (2, 2), (0, 0)), mode="edge")  # (h+4, w+4, 3)
        parts = [pad[2 + dy:2 + dy + self.h, 2 + dx:2 + dx + self.w] for dy, dx in _GRID]
        return np.concatenate(parts, axis=-1).reshape(self.h * self.w, 27)  # (h*w, 27)


def _distance(desc: np.ndarray, target_desc: np.ndarray, weight: np.ndarray, src: np.ndarray) -> np.ndarray:
    """Weighted SSD (N,) between the target patches (N, 9, 3) and the source patches at flat ``src`` (N,)."""
    diff = desc[src].reshape(-1, 9, 3) - target_desc  # (N, 9, 3)
    return np.einsum("nkc,nkc,nk->n", diff, diff, weight)


def _search(lv: _Level, nnf: np.ndarray, iterations: int, rng: np.random.Generator,
            jumps: tuple[int, ...] = _JUMPS, random: bool = True) -> np.ndarray:
    """Improve the nearest-neighbour field ``nnf`` (N,) of flat source indices by propagation over
    ``jumps`` and (``random``) random search; returns the distances."""
    desc = lv.descriptors()  # (h*w, 27)
    tflat = lv.ty * lv.w + lv.tx  # (N,)
    tdesc = desc[tflat].reshape(-1, 9, 3)  # (N, 9, 3)
    dist = _distance(desc, tdesc, lv.weight, nnf)  # (N,)

    def consider(cand: np.ndarray) -> None:
        d = _distance(desc, tdesc, lv.weight, cand)  # (N,)
        better = d < dist
        nnf[better] = cand[better]
        dist[better] = d[better]

    for _ in range(iterations):
        for k in jumps:  # propagation: the neighbour's offset, k pixels away
            for dy, dx in _DIRS:
                ny, nx = lv.ty + k * dy, lv.tx + k * dx  # (N,)
                inside = (ny >= 0) & (ny < lv.h) & (nx >= 0) & (nx < lv.w)
                neighbour = lv.tindex[np.clip(ny, 0, lv.h - 1) * lv.w + np.clip(nx, 0, lv.w - 1)]  # (N,)
                ok = inside & (neighbour >= 0)
                src = nnf[np.where(ok, neighbour, 0)]  # (N,)
                cy, cx = src // lv.w - k * dy, src % lv.w - k * dx
                ok &= (cy >= 0) & (cy < lv.h) & (cx >= 0) & (cx < lv.w)
                cand = np.clip(cy, 0, lv.h - 1) * lv.w + np.clip(cx, 0, lv.w - 1)
                ok &= lv.valid.ravel()[cand]
                consider(np.where(ok, cand, nnf))
        radius = max(lv.h, lv.w) // 2 if random else 0
        while radius >= 1:  # random search around the current best, shrinking by half
            cy = np.clip(nnf // lv.w + rng.integers(-radius, radius + 1, len(nnf)), 0, lv.h - 1)
            cx = np.clip(nnf % lv.w + rng.integers(-radius, radius + 1, len(nnf)), 0, lv.w - 1)
            consider(lv.snap[cy * lv.w + cx])
            radius //= 2
    return dist


def _vote(lv: _Level, nnf: np.ndarray, dist: np.ndarray) -> None:
    """Paint the hole pixels of ``lv.rgb`` with the weighted vote of the patches that cover them."""
    scale = 2.0 * max(float(np.percentile(dist, 75)), 1e-6)
    wt = np.exp(-np.minimum(dist / scale, 20.0)).astype(np.float32)  # (N,) floored: no underflow to 0
    detail = (lv.rgb - lv.base).reshape(-1, 3)  # (h*w, 3) what the votes carry
    acc = np.zeros((len(lv.hy), 3), np.float32)
    total = np.zeros(len(lv.hy), np.float32)
    src_y, src_x = nnf // lv.w, nnf % lv.w  # (N,)
    for (dy, dx), cover in zip(_VOTE, lv.cover):
        ok = cover >= 0  # (M,)
        t = np.where(ok, cover, 0)
        if lv.whole:  # a source patch's footprint is inside the canvas: flat offsets are exact
            pix = nnf[t] + (dy * lv.w + dx)  # (M,)
        else:
            pix = np.clip(src_y[t] + dy, 0, lv.h - 1) * lv.w + np.clip(src_x[t] + dx, 0, lv.w - 1)
        w = np.where(ok, wt[t], 0.0).astype(np.float32)  # (M,)
        acc += w[:, None] * detail[pix]
        total += w
    painted = lv.base[lv.hy, lv.hx] + acc / np.maximum(total, 1e-20)[:, None]  # (M, 3)
    keep = total > 0
    lv.rgb[lv.hy[keep], lv.hx[keep]] = painted[keep]


def _smooth_base(rgb: np.ndarray, known: np.ndarray, sigma: float) -> np.ndarray:
    """Local mean (H, W, 3) of the known pixels at ``sigma`` x the longer side, push-pull filled elsewhere."""
    from ..regions.fill import push_pull_fill

    h, w = known.shape
    s = sigma * max(h, w)
    f = max(1, int(s // 2))  # worked on f x f block sums (a smooth result: sigma stays >= 2 blocks)
    k = _sum_blocks(known.astype(np.float32), f)  # (h/f, w/f)
    c = _sum_blocks(rgb * known[..., None], f)  # (h/f, w/f, 3)
    num = ndimage.gaussian_filter(c, (s / f, s / f, 0), mode="nearest")
    den = ndimage.gaussian_filter(k, s / f, mode="nearest")
    small = push_pull_fill(num / np.maximum(den, 1e-6)[..., None], (k > 0).astype(np.float32))  # (h/f, w/f, 3)
    if f == 1:
        return small
    zoom = (h / small.shape[0], w / small.shape[1], 1)
    return ndimage.zoom(small, zoom, order=1, mode="nearest", grid_mode=True)[:h, :w]  # (H, W, 3)


def _sum_blocks(x: np.ndarray, f: int) -> np.ndarray:
    """Sums over ``f`` x ``f`` blocks of ``x`` (h, w, ...), the last blocks padded with zeros."""
    if f == 1:
        return x.astype(np.float32)
    h, w = x.shape[:2]
    pad = [(0, -h % f), (0, -w % f)] + [(0, 0)] * (x.ndim - 2)
    x = np.pad(x, pad)
    return x.reshape(x.shape[0] // f, f, x.shape[1] // f, f, *x.shape[2:]).sum((1, 3)).astype(np.float32)


def patchmatch_inpaint(rgb: np.ndarray, known: np.ndarray, hole: np.ndarray, *, coarse_size: int = 48,
                       coarse_iterations: int = 6, fine_iterations: int = 2, base_sigma: float = 1 / 64,
                       search_side: int | None = None, seed: int = 0) -> np.ndarray:
    """Fill the ``hole`` (H, W) pixels of ``rgb`` (H, W, 3) in [0, 1] from patches of the ``known`` pixels.

    Pixels in neither mask lie outside the layer: they are neither copied from nor filled, and do not
    count in patch distances. Coarse to fine over a 2x pyramid whose coarsest level has its longer side
    at most ``coarse_size``; ``coarse_iterations`` search-and-vote rounds there, one fewer at each finer
    level down to ``fine_iterations``. With ``base_sigma`` > 0 (a fraction of the longer side), patches
    carry detail only: the image splits into a smooth base (the known pixels' local mean at that scale,
    continued into the hole by push-pull) and the rest, and a hole pixel is its own base plus the voted
    detail, so a gradient under texture continues instead of arriving in copied blocks.
    ``search_side``: levels whose longer side exceeds it are not searched: their nearest-neighbour field
    is the coarser level's, upsampled, improved by one propagation pass from the adjacent patches (no
    random search: coherent copies, no seams along the coarse pixels' edges), and one vote paints them,
    so the search's cost is bounded by the pixels of a ``search_side``-sized level while the
    full-resolution detail (the source patches' pixels) still arrives; None searches every level.
    Deterministic for a given ``seed``. Returns float32 (H, W, 3); known and outside pixels are unchanged.
    With no known pixel, the hole is painted mid-grey.
    """
    rgb = np.asarray(rgb, np.float32)
    known = np.asarray(known, bool)
    hole = np.asarray(hole, bool)
    if rgb.ndim != 3 or rgb.shape[-1] != 3 or known.shape != rgb.shape[:2] or hole.shape != rgb.shape[:2]:
        raise ValueError(f"patchmatch_inpaint: rgb {rgb.shape} must be (H, W, 3), known {known.shape} and "
                         f"hole {hole.shape} (H, W)")
    hole = hole & ~known
    out = rgb.copy()
    if not hole.any():
        return out
    if not known.any():
        out[hole] = 0.5
        return out
    care = known | hole
    base = _smooth_base(rgb, known, base_sigma) if base_sigma > 0 else np.zeros_like(rgb)  # (H, W, 3)
    # pyramid: colours averaged over known children; a coarse pixel is known when all its children are
    levels = [(np.where(known[..., None], rgb, 0.0).astype(np.float32), base, known, hole, care)]
    while max(levels[-1][2].shape) > coarse_size:
        c, b, k, h_, a = levels[-1]
        kc = _down2(k.astype(np.float32))  # (h/2, w/2) known children
        n = _down2(np.ones(k.shape, np.float32))  # children inside the canvas
        if not (kc >= n).any():  # no wholly known pixel at the coarser level: stop here
            break
        col = _down2(c * k[..., None]) / np.maximum(kc, 1.0)[..., None]
        levels.append((col, _down2(b) / n[..., None], kc >= n, (_down2(h_.astype(np.float32)) > 0) & (kc < n),
                       _down2(a.astype(np.float32)) > 0))
    rng = np.random.default_rng(seed)
    nnf: np.ndarray | None = None
    prev: _Level | None = None
    lv: _Level | None = None
    for depth, (col, b, k, h_, a) in enumerate(reversed(levels)):
        searched = search_side is None or depth == 0 or max(k.shape) <= search_side
        lv = _Level(col, b, k, h_, a)
        if prev is None or nnf is None:
            # coarsest level: nearest known colour, each target patch starts at its nearest source
            _, (iy, ix) = ndimage.distance_transform_edt(~k, return_indices=True)
            lv.rgb[h_] = col[iy[h_], ix[h_]]
            nnf = lv.snap[lv.ty * lv.w + lv.tx].copy()
        else:
            # upsample the field: a fine patch starts where its coarse parent points, shifted by its parity
            py, px = np.minimum(lv.ty // 2, prev.h - 1), np.minimum(lv.tx // 2, prev.w - 1)
            parent = prev.tindex[py * prev.w + px]  # (N,)
            src = nnf[np.maximum(parent, 0)]
            sy = np.clip(2 * (src // prev.w) + lv.ty % 2, 0, lv.h - 1)
            sx = np.clip(2 * (src % prev.w) + lv.tx % 2, 0, lv.w - 1)
            guess = lv.snap[sy * lv.w + sx]
            nnf = np.where(parent >= 0, guess, lv.snap[lv.ty * lv.w + lv.tx])
            up = np.repeat(np.repeat(prev.rgb, 2, 0), 2, 1)[:lv.h, :lv.w]  # (h, w, 3) coarse result
            lv.rgb[h_] = up[h_]
        rounds = max(fine_iterations, coarse_iterations - depth) if searched else 1
        for _ in range(rounds):
            dist = _search(lv, nnf, 1, rng) if searched else _search(lv, nnf, 1, rng, jumps=(1,), random=False)
            _vote(lv, nnf, dist)
        prev = lv
    out[hole] = np.clip(lv.rgb[hole], 0.0, 1.0) if lv is not None else 0.5
    return out
