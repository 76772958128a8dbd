"""The generation check (layerdiff.eval.generation) on hand-drawn layers whose answers are known."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from layerdiff.data.synth_vocab import COLORS
from layerdiff.eval.generation import (
    carries_colour,
    class_rates,
    classify_shape,
    colour_shares,
    median_outlines,
    min_rect_fill,
    outline_measures,
    score_layers,
    shape_measures,
)

N = 96


def grid() -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:N, 0:N].astype(np.float64) + 0.5
    return yy, xx


def rotated(mask_fn, angle: float) -> np.ndarray:
    """A mask drawn in coordinates rotated by ``angle`` around the centre."""
    yy, xx = grid()
    c, s = math.cos(angle), math.sin(angle)
    u = c * (xx - N / 2) + s * (yy - N / 2)
    v = -s * (xx - N / 2) + c * (yy - N / 2)
    return mask_fn(u, v)


def triangle(u, v):
    # apex up, base 50 wide at v = 20, apex at v = -25
    return (v <= 20) & (v >= -25) & (np.abs(u) <= (v + 25) / 45 * 25)


def star(u, v):
    r, t = np.hypot(u, v), np.arctan2(v, u)
    return r <= 14 + 22 * (0.5 + 0.5 * np.cos(5 * t)) ** 3


@pytest.mark.parametrize("mask_fn, expected", [
    (lambda u, v: np.hypot(u, v) <= 30, "round"),
    (lambda u, v: (u / 36) ** 2 + (v / 18) ** 2 <= 1, "round"),
    (lambda u, v: (np.abs(u) <= 30) & (np.abs(v) <= 30), "box"),
    (lambda u, v: (np.abs(u) <= 36) & (np.abs(v) <= 14), "box"),
    (triangle, "pointy"),
    (star, "pointy"),
    (lambda u, v: (np.hypot(u, v) <= 30) & (np.hypot(u, v) >= 21), "hollow"),
])
@pytest.mark.parametrize("angle", [0.0, 0.3])
def test_shape_classes_do_not_depend_on_rotation(mask_fn, expected, angle):
    assert classify_shape(rotated(mask_fn, angle).astype(np.float32)) == expected


def test_min_rect_fill_of_a_rotated_square_is_one_and_of_a_disc_pi_over_4():
    square = rotated(lambda u, v: (np.abs(u) <= 25) & (np.abs(v) <= 25), 0.5)
    assert min_rect_fill(square) > 0.93  # an axis-aligned box would give about 0.6
    disc = rotated(lambda u, v: np.hypot(u, v) <= 30, 0.0)
    assert min_rect_fill(disc) == pytest.approx(math.pi / 4, abs=0.02)


def test_shape_uses_the_largest_visible_part_and_empty_layers_have_none():
    alpha = np.zeros((N, N), np.float32)
    assert classify_shape(alpha) is None
    alpha[5:8, 5:8] = 1.0  # a speck
    alpha[:] += rotated(lambda u, v: np.hypot(u, v) <= 25, 0.0)
    alpha[40:60, 80:82] = 0.4  # faint (alpha <= 0.5): not visible
    assert classify_shape(alpha) == "round"


def layer(colours: list[tuple[str, float]]) -> np.ndarray:
    """A layer split into horizontal bands of vocabulary colours with the given fractions (alpha 1)."""
    out = np.zeros((N, N, 4), np.float32)
    y = 0
    for name, frac in colours:
        rows = int(round(frac * N))
        out[y : y + rows, :, :3] = np.array(COLORS[name]) / 255.0
        out[y : y + rows, :, 3] = 1.0
        y += rows
    return out


def test_colour_shares_are_alpha_weighted_votes():
    rgba = layer([("red", 0.5), ("blue", 0.5)])
    rgba[N // 2 :, :, 3] = 0.5  # the blue half is half transparent
    shares = colour_shares(rgba)
    assert shares["red"] == pytest.approx(2 / 3) and shares["blue"] == pytest.approx(1 / 3)
    assert sum(shares.values()) == pytest.approx(1.0)
    assert all(v == 0.0 for v in colour_shares(np.zeros((4, 4, 4), np.float32)).values())


def test_a_colour_is_carried_from_fifteen_percent_of_the_mass():
    rgba = layer([("purple", 0.2), ("orange", 0.8)])  # a two-colour layer: both named colours count
    assert carries_colour(rgba, "purple") and carries_colour(rgba, "orange")
    assert not carries_colour(layer([("purple", 0.1), ("orange", 0.9)]), "purple")
    assert not carries_colour(rgba, "green")
    with pytest.raises(KeyError):
        carries_colour(rgba, "chartreuse")


def test_score_layers_counts_hits_and_missing_layers():
    disc = rotated(lambda u, v: np.hypot(u, v) <= 25, 0.0)
    red_disc = np.zeros((N, N, 4), np.float32)
    red_disc[..., :3] = np.array(COLORS["red"]) / 255.0
    red_disc[..., 3] = disc
    stack = np.stack([layer([("navy", 1.0)]), red_disc])  # (2, N, N, 4)
    counts = score_layers(stack, ["navy", "red", "yellow"], [None, "circle", "square"])
    # background navy: hit; layer 1 red circle: colour and shape hit; layer 2 missing: two misses
    assert counts == {"colour_hits": 2, "colour_total": 3, "shape_hits": 1, "shape_total": 2,
                      "shape_hits_round": 1, "shape_total_round": 1, "shape_hits_box": 0, "shape_total_box": 1}
    counts = score_layers(stack, [None, "blue"], [None, "square"])
    assert counts == {"colour_hits": 0, "colour_total": 1, "shape_hits": 0, "shape_total": 1,
                      "shape_hits_box": 0, "shape_total_box": 1}


def test_class_rates_split_the_shape_figure_by_named_class():
    disc = rotated(lambda u, v: np.hypot(u, v) <= 25, 0.0)
    ring = rotated(lambda u, v: (np.hypot(u, v) <= 25) & (np.hypot(u, v) >= 12), 0.0)
    stack = np.zeros((4, N, N, 4), np.float32)
    stack[1, ..., 3], stack[2, ..., 3], stack[3, ..., 3] = disc, disc, ring
    counts = Counter(score_layers(stack, [None] * 4, [None, "circle", "ring", "ring"]))
    counts.update(score_layers(stack, [None] * 4, [None, "heart", None, None]))
    assert counts["shape_hits"] == 3 and counts["shape_total"] == 4
    assert class_rates(counts) == {"hollow": {"rate": 0.5, "n": 2}, "round": {"rate": 1.0, "n": 2}}


def test_shape_measures_of_a_framed_square_are_worked_out_by_hand():
    alpha = np.zeros((N, N), np.float32)
    alpha[10:30, 10:30] = 1.0  # a 20 x 20 square ...
    alpha[15:25, 15:25] = 0.0  # ... with a 10 x 10 hole: 300 pixels of 400 filled
    alpha[60:63, 60:63] = 1.0  # a smaller part elsewhere is not measured
    assert shape_measures(alpha) == pytest.approx((300 / 400, 100 / 400))
    assert shape_measures(np.zeros((N, N), np.float32)) is None
    assert shape_measures(np.full((N, N), 0.5, np.float32)) is None  # alpha must exceed 0.5


def test_outline_measures_group_named_layers_by_class_and_skip_empty_or_missing_ones():
    stack = np.zeros((4, N, N, 4), np.float32)
    stack[1, 10:30, 10:30, 3] = 1.0
    stack[1, 15:25, 15:25, 3] = 0.0  # layer 1: the framed square above
    stack[3, 40:50, 20:50, 3] = 1.0  # layer 3: a solid 10 x 30 bar
    got = outline_measures(stack, [None, "ring", "circle", "square", "star"])  # layer 2 empty, layer 4 missing
    assert got == {"hollow": [pytest.approx((0.75, 0.25))], "box": [pytest.approx((1.0, 0.0))]}
    medians = median_outlines({"box": [(1.0, 0.0), (0.8, 0.0), (0.6, 0.1)], "hollow": [(0.7, 0.2), (0.5, 0.4)]})
    assert medians == {"box": {"fill": pytest.approx(0.8), "hole": 0.0, "n": 3},
                       "hollow": {"fill": pytest.approx(0.6), "hole": pytest.approx(0.3), "n": 2}}
