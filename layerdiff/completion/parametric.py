"""Parametric completion: fit a solid colour, a linear gradient or a radial gradient to the visible
pixels of a layer and paint its hidden pixels from the fit.

Designs fill most backgrounds and panels with one of three models, so where a layer's visible pixels
follow one of them its hidden part is that model continued, not a smear of its surroundings:

- ``solid``: ``c(x) = a``;
- ``linear``: ``c(x) = a + g_u u + g_v v`` (per channel; any direction, unclipped);
- ``radial``: ``c(x) = a + g min(|x - o|, r)`` (centre ``o``, clip radius ``r``: CSS and editor radial
  gradients stop at their last colour beyond the radius).

Coordinates ``(u, v)`` are pixel centres divided by the longer image side. Each model is fitted by
(trimmed) least squares on a random sample of the visible pixels, in sRGB or in linear light
(``space``), and scored on a disjoint validation sample: the simplest model within a small margin of the
best validation error wins. The fit is accepted (:attr:`ParametricFit.accepted`) when at least
``min_inlier_share`` of the validation pixels lie within ``tolerance`` (mean absolute error over the
channels) of it; otherwise the layer is not parametric and needs exemplar inpainting
(:mod:`layerdiff.completion.patchmatch`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

__all__ = ["ParametricFit", "fit_parametric", "parametric_fill", "srgb_to_linear", "linear_to_srgb",
           "MODEL_KINDS", "SPACES"]

MODEL_KINDS = ("solid", "linear", "radial")
SPACES = ("srgb", "linear", "auto")

_FIT_SAMPLES = 12000  # visible pixels used to fit
_VAL_SAMPLES = 12000  # disjoint visible pixels used to choose the model and test the fit
_MIN_KNOWN = 16
_REFINE_SAMPLES = 1500  # samples in the nonlinear refinement of the radial model


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] -> linear light (IEC 61966-2-1)."""
    c = np.clip(c, 0.0, 1.0)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    """Linear light in [0, 1] -> sRGB-encoded values (IEC 61966-2-1)."""
    c = np.clip(c, 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1.0 / 2.4) - 0.055)


@dataclass
class ParametricFit:
    """A fitted colour model of one layer.

    ``kind``: one of :data:`MODEL_KINDS`; ``space``: "srgb" or "linear" (where the model is linear);
    ``params``: the model's parameters (solid: ``a`` (3,); linear: ``(a, g_u, g_v)`` (3, 3); radial:
    ``(o_u, o_v, r, a(3), g(3))`` (9,)); ``error``: validation mean absolute error (sRGB, [0, 1] scale);
    ``inlier_share``: share of validation pixels within the tolerance; ``accepted``: the goodness-of-fit
    verdict; ``errors``: validation error of every model tried, keyed ``"kind/space"``.
    """

    kind: str
    space: str
    params: np.ndarray
    error: float
    inlier_share: float
    accepted: bool
    errors: dict[str, float] = field(default_factory=dict)

    def colours_at(self, ys: np.ndarray, xs: np.ndarray, scale: float) -> np.ndarray:
        """Model colours (N, 3) in sRGB at pixel rows ``ys`` and columns ``xs`` (N,), for an image whose
        longer side is ``scale`` pixels."""
        u = (np.asarray(xs, np.float64) + 0.5) / scale  # (N,)
        v = (np.asarray(ys, np.float64) + 0.5) / scale  # (N,)
        out = _evaluate(self.kind, self.params, u, v)  # (N, 3) in the fit space
        if self.space == "linear":
            out = linear_to_srgb(out)
        return np.clip(out, 0.0, 1.0).astype(np.float32)

    def render(self, shape: tuple[int, int]) -> np.ndarray:
        """The model over a whole (H, W) canvas: (H, W, 3) float32 sRGB."""
        h, w = shape
        ys, xs = np.mgrid[0:h, 0:w]
        return self.colours_at(ys.ravel(), xs.ravel(), float(max(h, w))).reshape(h, w, 3)


# ------------------------------------------------------------------------------- models
def _evaluate(kind: str, params: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Colours (N, 3) of model ``kind`` at normalised coordinates ``u``, ``v`` (N,)."""
    if kind == "solid":
        return np.broadcast_to(params, (len(u), 3)).copy()
    if kind == "linear":
        a, gu, gv = params
        return a + u[:, None] * gu + v[:, None] * gv
    ou, ov, r = params[:3]
    d = np.minimum(np.hypot(u - ou, v - ov), max(r, 1e-6))  # (N,)
    return params[3:6] + d[:, None] * params[6:9]


def _lstsq(design: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Least-squares coefficients (K, 3) of ``colours`` (N, 3) on ``design`` (N, K)."""
    return np.linalg.lstsq(design, colours, rcond=None)[0]


def _fit_affine(kind: str, u: np.ndarray, v: np.ndarray, c: np.ndarray) -> np.ndarray:
    if kind == "solid":
        return np.median(c, axis=0)  # robust to stray pixels of other layers
    coef = _lstsq(np.stack([np.ones_like(u), u, v], 1), c)  # (3, 3): a, g_u, g_v
    return coef


def _fit_radial(u: np.ndarray, v: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Radial model: grid search over centre and clip radius (closed-form colours), then a robust
    nonlinear refinement of all nine parameters."""
    grid = np.linspace(-0.25, 1.25, 9)
    ou, ov = np.meshgrid(grid, grid)
    centres = np.stack([ou.ravel(), ov.ravel()], 1)  # (C, 2)
    us, vs, cs = u[:3000], v[:3000], c[:3000]  # the samples are in random order
    d = np.hypot(us[None] - centres[:, :1], vs[None] - centres[:, 1:])  # (C, N)
    best = (np.inf, None)
    for q in (0.5, 0.7, 0.85, 1.0):
        r = np.quantile(d, q, axis=1) + 1e-6  # (C,)
        t = np.minimum(d, r[:, None])  # (C, N)
        tm = t.mean(1, keepdims=True)  # (C, 1)
        cm = cs.mean(0)  # (3,)
        var = ((t - tm) ** 2).sum(1)  # (C,)
        g = ((t - tm) @ (cs - cm)) / np.maximum(var, 1e-12)[:, None]  # (C, 3)
        a = cm[None] - tm * g  # (C, 3)
        resid = cs[None] - (a[:, None] + t[..., None] * g[:, None])  # (C, N, 3)
        sse = (resid ** 2).sum((1, 2))  # (C,)
        k = int(np.argmin(sse))
        if sse[k] < best[0]:
            best = (float(sse[k]), np.concatenate([centres[k], [r[k]], a[k], g[k]]))
    x0 = np.asarray(best[1][:3], np.float64)
    ur, vr, cr = u[:_REFINE_SAMPLES], v[:_REFINE_SAMPLES], c[:_REFINE_SAMPLES]

    def colour_fit(x: np.ndarray, uu: np.ndarray, vv: np.ndarray, cc: np.ndarray) -> np.ndarray:
        t = np.minimum(np.hypot(uu - x[0], vv - x[1]), max(x[2], 1e-6))  # (N,)
        coef = _lstsq(np.stack([np.ones_like(t), t], 1), cc)  # (2, 3): a, g
        return np.concatenate([x[:3], coef[0], coef[1]])

    def loss(x: np.ndarray) -> float:  # soft-L1 of the residuals, colours in closed form (variable projection)
        r = _evaluate("radial", colour_fit(x, ur, vr, cr), ur, vr) - cr  # (N, 3)
        return float((np.sqrt(1.0 + (r / 0.02) ** 2) - 1.0).sum())

    res = optimize.minimize(loss, x0, method="Nelder-Mead",
                            options={"maxfev": 200, "xatol": 1e-4, "fatol": 1e-6})
    x = res.x if np.all(np.isfinite(res.x)) and res.fun <= loss(x0) else x0
    return colour_fit(x, u, v, c)


def _fit(kind: str, u: np.ndarray, v: np.ndarray, c: np.ndarray, tolerance: float) -> np.ndarray:
    """Fit ``kind`` to colours ``c`` (N, 3), then refit once on the pixels within 3 tolerances of
    the first fit (trimmed least squares: stray pixels of other layers do not bend the model)."""
    fit = _fit_radial if kind == "radial" else (lambda a, b, x: _fit_affine(kind, a, b, x))
    params = fit(u, v, c)
    err = np.abs(_evaluate(kind, params, u, v) - c).mean(1)  # (N,)
    keep = err <= max(3.0 * tolerance, float(np.median(err)) * 3.0)
    if 8 <= keep.sum() < len(u):
        params = fit(u[keep], v[keep], c[keep])
    return np.asarray(params, np.float64)


# ------------------------------------------------------------------------------- public
def fit_parametric(rgb: np.ndarray, known: np.ndarray, kinds: tuple[str, ...] = MODEL_KINDS,
                   space: str = "srgb", tolerance: float = 3.0 / 255.0, min_inlier_share: float = 0.9,
                   seed: int = 0) -> ParametricFit | None:
    """Fit the best of ``kinds`` to the pixels of ``rgb`` (H, W, 3) in [0, 1] where ``known`` (H, W).

    ``space``: "srgb", "linear" or "auto" (both; the lower validation error wins). Returns None when
    fewer than 16 pixels are known. The model chosen is the simplest (in the order solid, linear,
    radial) whose validation error is within ``max(0.5 / 255, 15 %)`` of the best one.
    """
    rgb = np.asarray(rgb)
    known = np.asarray(known, bool)
    if rgb.ndim != 3 or rgb.shape[-1] != 3 or known.shape != rgb.shape[:2]:
        raise ValueError(f"fit_parametric: rgb {rgb.shape} must be (H, W, 3) and known {known.shape} (H, W)")
    if space not in SPACES:
        raise ValueError(f"fit_parametric: space must be one of {SPACES}, got {space!r}")
    unknown = set(kinds) - set(MODEL_KINDS)
    if unknown or not kinds:
        raise ValueError(f"fit_parametric: kinds must be a non-empty subset of {MODEL_KINDS}, got {kinds}")
    ys, xs = np.nonzero(known)
    if len(ys) < _MIN_KNOWN:
        return None
    h, w = known.shape
    scale = float(max(h, w))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ys))
    n_fit = min(_FIT_SAMPLES, max(len(ys) // 2, 8))
    fit_idx = order[:n_fit]
    val_idx = order[n_fit:n_fit + _VAL_SAMPLES] if len(ys) > n_fit else fit_idx
    colours = rgb[ys, xs].astype(np.float64)  # (N, 3) sRGB
    u = (xs + 0.5) / scale  # (N,)
    v = (ys + 0.5) / scale  # (N,)
    spaces = ("srgb", "linear") if space == "auto" else (space,)
    candidates: list[tuple[float, int, str, str, np.ndarray, np.ndarray]] = []
    errors: dict[str, float] = {}
    for sp in spaces:
        target = srgb_to_linear(colours) if sp == "linear" else colours  # (N, 3)
        for rank, kind in enumerate(k for k in MODEL_KINDS if k in kinds):
            params = _fit(kind, u[fit_idx], v[fit_idx], target[fit_idx], tolerance)
            pred = _evaluate(kind, params, u[val_idx], v[val_idx])  # (M, 3)
            if sp == "linear":
                pred = linear_to_srgb(pred)
            err = np.abs(np.clip(pred, 0, 1) - colours[val_idx]).mean(1)  # (M,) sRGB error
            score = float(np.sort(err)[: max(1, int(0.9 * len(err)))].mean())  # trimmed: 10 % strays
            errors[f"{kind}/{sp}"] = score
            candidates.append((score, rank, kind, sp, params, err))
            if score <= 0.5 / 255.0:  # within the margin of any better model: the richer ones cannot win
                break
    best = min(c[0] for c in candidates)
    margin = max(0.5 / 255.0, 0.15 * best)
    score, _, kind, sp, params, err = min((c for c in candidates if c[0] <= best + margin),
                                          key=lambda c: (c[1], c[0]))
    share = float((err <= tolerance).mean())
    return ParametricFit(kind=kind, space=sp, params=params, error=score, inlier_share=share,
                         accepted=share >= min_inlier_share, errors=errors)


def parametric_fill(rgb: np.ndarray, known: np.ndarray, hole: np.ndarray, space: str = "srgb",
                    tolerance: float = 3.0 / 255.0, min_inlier_share: float = 0.9,
                    ) -> tuple[np.ndarray | None, ParametricFit | None]:
    """``rgb`` (H, W, 3) with the ``hole`` (H, W) pixels painted from the parametric fit of the ``known``
    ones, or None (with the rejected fit, if any) when the known pixels are not parametric."""
    fit = fit_parametric(rgb, known, space=space, tolerance=tolerance, min_inlier_share=min_inlier_share)
    if fit is None or not fit.accepted:
        return None, fit
    out = np.array(rgb, dtype=np.float32, copy=True)  # (H, W, 3)
    hy, hx = np.nonzero(hole)
    out[hy, hx] = fit.colours_at(hy, hx, float(max(rgb.shape[:2])))
    return out, fit
