"""Referring prompts: validation, pixel/normalised coordinates, rasterisation (same maps as training)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from layerdiff.errors import LayerdiffError
from layerdiff.referring import (
    PromptError,
    ReferringPrompt,
    as_prompts,
    point_radius,
    prompt_from_alpha,
    referring_prompt_map,
)


def _random_alpha(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(5, 90, 2))
    a = np.zeros((h, w), np.float32)
    y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
    a[y0 : y0 + int(rng.integers(1, h)), x0 : x0 + int(rng.integers(1, w))] = rng.uniform(0.3, 1.0)
    return a * (rng.random((h, w)) > 0.2)


@pytest.mark.parametrize("kind", ["point", "box", "mask"])
def test_user_prompts_rasterise_to_the_training_maps(kind):
    """What a user's prompt becomes at inference (ReferringPrompt.raster) is what training drew."""
    for seed in range(60):
        alpha = _random_alpha(seed)
        h, w = alpha.shape
        trained = referring_prompt_map(alpha, kind, np.random.default_rng(seed))
        prompt = prompt_from_alpha(alpha, kind, np.random.default_rng(seed))
        if prompt is None:
            assert not trained.any()
            continue
        np.testing.assert_array_equal(prompt.raster((w, h)), trained, err_msg=f"{kind}, seed {seed}")


def test_point_is_a_disc_of_the_training_radius():
    m = ReferringPrompt(points=[(50, 40)]).raster((100, 80))
    r = point_radius(80, 100)
    assert r == 3.0
    assert m[40, 50] == 1 and m[40, 53] == 1 and m[40, 54] == 0 and m[37, 50] == 1 and m[36, 50] == 0
    assert set(np.unique(m)) == {0.0, 1.0}
    assert point_radius(20, 10) == 2.0  # the minimum radius


def test_box_map_and_rescaling():
    p = ReferringPrompt(box=(10, 20, 30, 60))
    full = p.raster((40, 80))
    assert full.sum() == 20 * 40 and full[20:60, 10:30].all()
    half = p.raster((40, 80), (20, 40))  # the same box on a half-size map
    assert half.shape == (40, 20) and half[10:30, 5:15].all() and half.sum() == 10 * 20


def test_point_keeps_its_place_on_a_smaller_map():
    m = ReferringPrompt(points=[(79, 0)]).raster((80, 40), (40, 20))
    ys, xs = np.nonzero(m)
    assert abs(xs.mean() - 39) < 1.0 and ys.min() == 0


def test_mask_is_thresholded_and_resampled():
    mask = np.zeros((40, 60), np.float32)
    mask[10:30, 20:50] = 0.8
    mask[0, 0] = 0.4  # below the threshold
    p = ReferringPrompt(mask=mask)
    np.testing.assert_array_equal(p.raster((60, 40)), (mask > 0.5).astype(np.float32))
    small = p.raster((60, 40), (30, 20))
    assert small.shape == (20, 30) and small[5:15, 10:25].all() and small.sum() == 150
    thin = np.zeros((64, 64), bool)
    thin[:, 31] = True  # a one-pixel line survives 4x downsampling
    assert ReferringPrompt(mask=thin).raster((64, 64), (16, 16)).sum() > 0


def test_mask_inputs_uint8_pil_alpha_and_grey():
    grey = np.zeros((8, 8), np.uint8)
    grey[2:5, 2:5] = 255
    assert ReferringPrompt(mask=grey).raster((8, 8)).sum() == 9
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., :3] = 255  # white everywhere, but only the alpha marks the object
    rgba[1:3, 1:3, 3] = 255
    assert ReferringPrompt(mask=Image.fromarray(rgba, "RGBA")).raster((8, 8)).sum() == 4
    assert ReferringPrompt(mask=Image.fromarray(grey, "L")).raster((8, 8)).sum() == 9


def test_union_of_parts_and_phrase_only_map_is_empty():
    p = ReferringPrompt(points=[(2, 2)], box=(10, 10, 12, 12), text="a red star")
    m = p.raster((20, 20))
    assert m[2, 2] == 1 and m[10:12, 10:12].all()
    assert ReferringPrompt(text="a red star").raster((20, 20)).sum() == 0
    assert not ReferringPrompt(text="x").has_map and p.has_map
    assert p.kinds == ["point", "box", "phrase"] and p.describe() == "a red star"
    assert ReferringPrompt(box=(0, 0, 1, 1)).describe() == "object (box)"


def test_negative_points_are_not_drawn():
    p = ReferringPrompt(points=[(5, 5, 1), (15, 15, 0)])
    assert p.positive_points == [(5.0, 5.0)] and p.negative_points == [(15.0, 15.0)]
    m = p.raster((20, 20))
    assert m[5, 5] == 1 and m[15, 15] == 0


def test_normalized_coordinates_match_referring_sample_convention():
    w, h = 50, 20
    p = ReferringPrompt(points=[((7 + 0.5) / w, (3 + 0.5) / h)], box=(0.2, 0.25, 0.6, 1.0), normalized=True)
    q = p.in_pixels((w, h))
    assert q.points[0][:2] == pytest.approx((7.0, 3.0))
    assert q.box == pytest.approx((10.0, 5.0, 30.0, 20.0)) and not q.normalized
    np.testing.assert_array_equal(p.raster((w, h)), q.raster((w, h)))


def test_box_partly_outside_is_clipped():
    q = ReferringPrompt(box=(-5, -5, 10, 8)).in_pixels((20, 20))
    assert q.box == (0.0, 0.0, 10.0, 8.0)


@pytest.mark.parametrize("kwargs, message", [
    (dict(points=[(1, 2, 3)]), "label must be 1"),
    (dict(points=[(1,)]), "expected (x, y)"),
    (dict(points=[(float("nan"), 1)]), "finite"),
    (dict(points=["ab"]), "expected (x, y)"),
    (dict(box=(5, 5, 5, 9)), "empty or reversed"),
    (dict(box=(9, 5, 2, 9)), "empty or reversed"),
    (dict(box=(1, 2, 3)), "expected (x0, y0, x1, y1)"),
    (dict(mask=np.zeros((4, 4))), "is empty"),
    (dict(mask=np.full((4, 4), np.nan)), "NaN"),
    (dict(mask=np.zeros((2, 2, 2, 2))), "expected an (H, W) array"),
    (dict(points=[(1, 1, 0)]), "only negative points"),
    (dict(), "has nothing"),
    (dict(text="   "), "has nothing"),
    (dict(text=3), "expected a string"),
])
def test_malformed_prompts_raise_clear_errors(kwargs, message):
    with pytest.raises(PromptError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ReferringPrompt(**kwargs)


@pytest.mark.parametrize("prompt, message", [
    (ReferringPrompt(points=[(20, 3)]), r"point 0 \(20, 3\) is outside the 20x10 image"),
    (ReferringPrompt(points=[(-1, 3)]), "outside"),
    (ReferringPrompt(points=[(1.2, 0.5)], normalized=True), "outside the image"),
    (ReferringPrompt(box=(25, 0, 40, 5)), "does not overlap the 20x10 image"),
    (ReferringPrompt(mask=np.ones((10, 10))), "aspect ratios differ"),
])
def test_prompts_off_the_image_raise_clear_errors(prompt, message):
    with pytest.raises(PromptError, match=message):
        prompt.in_pixels((20, 10))
    with pytest.raises(PromptError):
        prompt.raster((20, 10))


def test_prompt_error_is_a_layerdiff_value_error():
    with pytest.raises(LayerdiffError):
        ReferringPrompt()
    with pytest.raises(ValueError):
        ReferringPrompt()


def test_as_prompts():
    out = as_prompts(["the red star", ReferringPrompt(box=(0, 0, 2, 2))])
    assert [p.text for p in out] == ["the red star", ""]
    assert len(as_prompts(ReferringPrompt(points=[(1, 1)]))) == 1
    with pytest.raises(PromptError, match="no prompt"):
        as_prompts([])
    with pytest.raises(PromptError, match="prompt 0"):
        as_prompts([{"box": (0, 0, 1, 1)}])


def test_prompt_from_alpha_empty_object():
    assert prompt_from_alpha(np.zeros((5, 5)), "box", np.random.default_rng(0)) is None
    assert referring_prompt_map(np.zeros((5, 6)), "point", np.random.default_rng(0)).shape == (5, 6)
    with pytest.raises(PromptError, match="prompt kind"):
        prompt_from_alpha(np.ones((5, 5)), "phrase", np.random.default_rng(0))
