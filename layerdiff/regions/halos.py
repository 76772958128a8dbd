"""Shadows and glows: background pixels the fit does not explain that belong to the layer they surround.

A drop shadow darkens the background next to its object; a glow tints it. After painting, such pixels
are still in the background layer. :func:`attach_halos` takes them out, given the accepted background fit
(:func:`~layerdiff.regions.background.fit_background`):

1. the background pixels the fit misses by more than 2/255, in connected pieces holding some missed by
   more than ``halo_error``, are cut where the nearest covered layer changes (a shadow meeting another
   layer's glow);
2. a piece joins the layer it touches when it is small next to that layer (at most ``max_ratio`` times
   its area, or its footprint: the pixels within ``_FOOT`` of the longer side nearer it than any other
   layer, for a glow round thin letters), lies near it (90% within ``_REACH``) and is smooth (flat, or
   without texture away from the layers' edges, or over a pattern dimming it by a smooth factor);
3. its alpha is the one that composites the halo's colour over the fit to the image: black for a
   shadow, the glow's colour (the strongest pixels' or black, whichever blend line holds the most
   pixels, :func:`_glow`) for a glow; pixels off that line stay in the background;
4. the background under every layer becomes the fit.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["attach_halos"]

_REACH = 0.1  # farthest a halo reaches from its layer, as a fraction of the longer side (90% of it)
_FOOT = 0.03  # reach of a layer's footprint (share of the longer side): a halo may be as large as it
_TAIL = 2.0 / 255.0  # a halo's faint tail: missed by this much, connected to pixels missed by more
_SMOOTH = 0.9  # share of flat pixels of a piece that is a smooth halo, not texture
_GLOW_OFF = 0.04  # largest RMS distance of a glow pixel from the blend line of the glow's colour over the fit
_BEND = 2.0 / 255.0  # mean |Laplacian| per channel under which a halo's pixels are smooth (no texture)


def attach_halos(stack: np.ndarray, rgb: np.ndarray, own: np.ndarray, model: np.ndarray,
                 flat: np.ndarray | None = None, halo_error: float = 6.0 / 255.0, max_ratio: float = 4.0,
                 ) -> np.ndarray:
    """``stack`` (K, h, w, 4) with the shadows and glows of its layers moved out of the background
    (module docstring); ``rgb`` (h, w, 3) the image, ``own`` (K, h, w) each layer's
    visible pixels, ``model`` (h, w, 3) the accepted background fit. A connected piece of background
    pixels missed by more than 2/255 (its faint tail included), some by more than ``halo_error``, cut
    where the nearest layer changes (a shadow meeting another layer's glow), joins the layer it touches,
    when it is at most ``max_ratio`` times that layer's area or its footprint (the pixels within 3% of the
    longer side nearer it than any other layer: a glow around thin letters), 90% of it within a tenth of
    the longer side of the layer and smooth: (given ``flat``
    (h, w), the pixels without texture) at least 90% flat, or without texture away from the layers'
    edges (a blurred shadow's ramp), or, over a pattern, dimming it by a smooth factor (the image's share
    of the fit varies little away from the pattern's own edges); its alpha
    is the one that composites the layer's halo colour over the fit to the image. The background
    becomes the fit wherever a layer covers it."""
    count = stack.shape[0]
    if count < 2:
        return stack
    out = stack.copy()
    _halos(out, rgb, own, model, np.ones(model.shape[:2], bool) if flat is None else flat, halo_error, max_ratio)
    under = (out[1:, ..., 3] > 0).any(0)  # (h, w) background pixels some layer covers
    out[0, under, :3] = model[under]
    return out


def _halos(out: np.ndarray, rgb: np.ndarray, own: np.ndarray, model: np.ndarray, flat: np.ndarray,
           halo_error: float, max_ratio: float) -> None:
    """The halo part of :func:`attach_halos`, in place on ``out`` (K, h, w, 4)."""
    count = out.shape[0]
    resid = rgb - model  # (h, w, 3)
    err = np.abs(resid).mean(-1)  # (h, w)
    # hysteresis: pieces of pixels missed by a little, holding some missed by ``halo_error``
    missed = own[0] & (err > _TAIL)  # (h, w)
    if not (missed & (err > halo_error)).any():
        return
    cover = out[1:, ..., 3] > 0.5  # (K-1, h, w)
    owner = np.zeros(missed.shape, np.int64)  # (h, w) topmost layer covering each pixel, 0 = none
    for k in range(1, count):
        owner[cover[k - 1]] = k
    dist, (iy, ix) = ndimage.distance_transform_edt(owner == 0, return_indices=True)
    nearest = owner[iy, ix]  # (h, w) layer of the nearest covered pixel
    touching = ndimage.binary_dilation(owner > 0, structure=np.ones((3, 3), bool))  # (h, w)
    pieces, num = ndimage.label(missed, structure=np.ones((3, 3), bool))
    if num:  # a piece between two layers (a shadow meeting a glow) is cut where the nearer layer changes
        codes = pieces * count + nearest * (pieces > 0)  # (h, w) 0 outside the pieces
        used = np.bincount(codes.ravel()) > 0  # renumbered in code order, without a sort
        pieces = (np.cumsum(used) - 1)[codes]  # (h, w) 0 stays 0: the smallest code
        num = int(pieces.max())
    strong = np.bincount(pieces.ravel(), (err > halo_error).ravel(), minlength=num + 1) > 0  # (num + 1,)
    sizes = np.bincount(pieces.ravel(), minlength=num + 1)
    smooth = np.bincount(pieces.ravel(), flat.ravel(), minlength=num + 1) >= _SMOOTH * sizes  # (num + 1,)
    if not smooth[1:].all():  # a blurred shadow's ramp is not flat but has no texture: a small Laplacian
        bend = np.abs(ndimage.laplace(rgb[..., 0])) + np.abs(ndimage.laplace(rgb[..., 1])) + np.abs(
            ndimage.laplace(rgb[..., 2]))  # (h, w)
        inner = (dist > 2.0).ravel()  # away from the layers' own edges
        bent = np.bincount(pieces.ravel(), bend.ravel() * inner, minlength=num + 1)
        inside = np.bincount(pieces.ravel(), inner, minlength=num + 1)
        smooth |= bent < 3.0 * _BEND * inside
        # over a pattern or texture the fit follows, a shadow dims it by a smooth factor: a small Laplacian
        # of the image's share of the fit (the pattern's own edges, which the fit blurs, left out)
        share = rgb.sum(-1) / np.maximum(model.sum(-1), 1e-3)  # (h, w)
        edges = ndimage.binary_dilation(np.abs(ndimage.laplace(model.sum(-1))) > 3.0 * _BEND)  # (h, w)
        calm = inner & ~edges.ravel()
        dimmed = np.bincount(pieces.ravel(), np.abs(ndimage.laplace(share)).ravel() * calm, minlength=num + 1)
        smooth |= dimmed < _BEND * np.bincount(pieces.ravel(), calm, minlength=num + 1)
    reach = _REACH * max(out.shape[1:3])  # a halo lies near its layer, not across the canvas
    far = np.bincount(pieces.ravel(), (dist > reach).ravel(), minlength=num + 1) > 0.1 * sizes  # (num + 1,)
    area = np.bincount(owner.ravel(), minlength=count).astype(np.float64)  # (K,)
    # a glow around thin strokes outgrows their area: the layer's footprint (pixels within _FOOT of it) counts
    foot = np.bincount(nearest[dist <= _FOOT * max(out.shape[1:3])], minlength=count).astype(np.float64)  # (K,)
    contact = np.zeros((num + 1, count))
    sel = touching & (pieces > 0)
    np.add.at(contact, (pieces[sel], nearest[sel]), 1.0)
    for p in range(1, num + 1):
        k = int(np.argmax(contact[p]))
        big = sizes[p] > max(max_ratio * area[k], foot[k])
        if contact[p, k] <= 0 or k == 0 or big or far[p] or not (smooth[p] and strong[p]):
            continue
        px = pieces == p
        r = resid[px]  # (m, 3)
        base = model[px]  # (m, 3)
        if (r.mean(0) < 0).all():  # a shadow: black over the fit
            alpha = 1.0 - (rgb[px].sum(1) / np.maximum(base.sum(1), 1e-6))  # (m,)
            keep = np.ones(len(r), bool)
        else:  # a glow: one colour over the fit; pixels off its blend line (a flat fill beside it) stay
            alpha, keep = _glow(rgb[px], r, base)
        alpha = np.clip(alpha, 0.0, 1.0)
        keep &= alpha > 1.0 / 255.0
        a = alpha[keep, None]  # (m', 1)
        colour = np.clip((rgb[px][keep] - base[keep] * (1.0 - a)) / a, 0.0, 1.0)  # (m', 3) unblended
        ys, xs = np.nonzero(px)
        ys, xs = ys[keep], xs[keep]
        out[k, ys, xs, :3] = colour
        out[k, ys, xs, 3] = np.maximum(out[k, ys, xs, 3], alpha[keep])
        out[0, ys, xs, :3] = base[keep]


def _glow(seen: np.ndarray, resid: np.ndarray, base: np.ndarray, candidates: int = 16,
          ) -> tuple[np.ndarray, np.ndarray]:
    """Alpha (m,) of a glow's pixels (colours ``seen`` (m, 3), residuals ``resid`` over the fit ``base``)
    and which of them (m,) the glow explains: its colour is the one, among the strongest pixels' and black, whose
    blend line over the fit holds the most pixels within ``_GLOW_OFF`` (black: a shadow)."""
    strength = np.abs(resid).mean(1)  # (m,)
    top = np.argsort(strength)[::-1][:max(1, int(0.02 * len(strength)))]
    picks = [seen[top].mean(0)] + [seen[i] for i in top[:: max(1, len(top) // candidates)]] + [np.zeros(3)]
    fits = []
    for halo in picks:
        span = halo[None] - base  # (m, 3)
        alpha = (resid * span).sum(1) / np.maximum((span ** 2).sum(1), 1e-6)  # (m,)
        off = np.sqrt(((resid - alpha[:, None] * span) ** 2).mean(1))  # (m,) distance from the blend line
        fits.append((alpha, off < _GLOW_OFF))
    counts = [int(on.sum()) for _, on in fits]
    best = int(np.argmax(counts))
    if counts[-1] >= 0.95 * counts[best]:  # a shadow's darkest pixels lie on its line to black: black
        best = len(fits) - 1
    return fits[best]
