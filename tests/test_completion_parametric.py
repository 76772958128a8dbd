"""Parametric completion: solid, linear and radial fills are recovered from their visible pixels and
continued under a hole; texture is rejected."""

from __future__ import annotations

import numpy as np
import pytest

from layerdiff.completion.parametric import fit_parametric, linear_to_srgb, parametric_fill, srgb_to_linear


def _grid(n: int = 96) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:n, 0:n]
    return (ys + 0.5) / n, (xs + 0.5) / n


def _hole(n: int = 96) -> np.ndarray:
    ys, xs = np.mgrid[0:n, 0:n]
    return ((ys - 40) ** 2 + (xs - 50) ** 2 < 22 ** 2) | ((ys > 70) & (ys < 85) & (xs > 10) & (xs < 80))


def _check_fill(img: np.ndarray, kind: str, tol: float = 2.0 / 255.0) -> None:
    hole = _hole(img.shape[0])
    damaged = img.copy()
    damaged[hole] = (1.0, 0.0, 1.0)  # what lies above: must not leak into the fill
    out, fit = parametric_fill(damaged, ~hole, hole)
    assert fit is not None and fit.accepted and fit.kind == kind
    assert out is not None
    assert np.abs(out[hole] - img[hole]).max() < tol
    np.testing.assert_array_equal(out[~hole], damaged[~hole])


def test_solid_fill_continues_the_colour() -> None:
    img = np.broadcast_to(np.float32([0.2, 0.5, 0.7]), (96, 96, 3)).copy()
    _check_fill(img, "solid")


def test_linear_gradient_is_continued() -> None:
    v, u = _grid()
    t = np.clip(0.3 * u + 0.7 * v, 0, 1)[..., None]
    img = (np.float32([0.9, 0.2, 0.1]) * (1 - t) + np.float32([0.1, 0.3, 0.8]) * t).astype(np.float32)
    _check_fill(img, "linear")


def test_clipped_radial_gradient_is_continued() -> None:
    v, u = _grid()
    t = np.clip(np.hypot(u - 0.45, v - 0.4) / 0.6, 0, 1)[..., None]
    img = (np.float32([1.0, 0.9, 0.3]) * (1 - t) + np.float32([0.2, 0.1, 0.5]) * t).astype(np.float32)
    _check_fill(img, "radial", tol=4.0 / 255.0)


def test_texture_is_not_parametric() -> None:
    rng = np.random.default_rng(0)
    img = rng.random((96, 96, 3)).astype(np.float32)
    hole = _hole()
    out, fit = parametric_fill(img, ~hole, hole)
    assert out is None and fit is not None and not fit.accepted


def test_stray_pixels_do_not_bend_the_fit() -> None:
    img = np.broadcast_to(np.float32([0.6, 0.6, 0.2]), (96, 96, 3)).copy()
    img[5:9, 5:30] = (0.0, 0.0, 0.0)  # a thin dark bar left in the layer (about 1 % of the pixels)
    hole = _hole()
    out, fit = parametric_fill(img, ~hole, hole)
    assert fit is not None and fit.accepted and out is not None
    assert np.abs(out[hole] - (0.6, 0.6, 0.2)).max() < 1e-3


def test_auto_space_picks_linear_light_for_a_linear_light_gradient() -> None:
    v, u = _grid()
    t = u[..., None]
    lin = srgb_to_linear(np.float32([0.05, 0.9, 0.2])) * (1 - t) + srgb_to_linear(np.float32([0.95, 0.1, 0.6])) * t
    img = linear_to_srgb(lin).astype(np.float32)
    fit = fit_parametric(img, ~_hole(), space="auto")
    assert fit is not None and fit.accepted
    assert (fit.kind, fit.space) == ("linear", "linear")
    assert fit.errors["linear/linear"] < fit.errors["linear/srgb"]
    full = fit.render(img.shape[:2])
    assert np.abs(full - img).max() < 2.0 / 255.0


def test_too_few_known_pixels_gives_no_fit() -> None:
    img = np.zeros((20, 20, 3), np.float32)
    known = np.zeros((20, 20), bool)
    known[0, :5] = True
    assert fit_parametric(img, known) is None


@pytest.mark.parametrize("kwargs", [{"space": "lab"}, {"kinds": ("spline",)}, {"kinds": ()}])
def test_bad_arguments_raise(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        fit_parametric(np.zeros((8, 8, 3)), np.ones((8, 8), bool), **kwargs)


def test_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="known"):
        fit_parametric(np.zeros((8, 8, 3)), np.ones((8, 9), bool))
