"""Shapes a few 8-bit steps off a smooth background (layerdiff.regions.faint, issue #28 item 2e)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter
from scipy import ndimage

import layerdiff
from layerdiff.regions.faint import faint_objects

N = 128
GREEN = (34, 162, 79)
PILL = (39, 165, 60)  # 5, 3 and 19 steps off GREEN: one Lab cluster with it, mean miss 0.035


def _pill_on_green(size: int = N) -> tuple[np.ndarray, np.ndarray]:
    """(size, size, 3) uint8 of a rounded rectangle in PILL on a GREEN fill, and its mask."""
    img = Image.new("RGB", (size, size), GREEN)
    box = [size * 0.45, size * 0.6, size * 0.8, size * 0.8]
    ImageDraw.Draw(img).rounded_rectangle(box, radius=size // 16, fill=PILL)
    mask = Image.new("L", img.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle(box, radius=size // 16, fill=255)
    return np.asarray(img), np.asarray(mask) > 250


def _find(rgb: np.ndarray, model: np.ndarray, min_area: float = 50.0) -> np.ndarray:
    flat = np.ones(rgb.shape[:2], bool)
    return faint_objects(rgb, model, np.zeros(rgb.shape[:2], bool), flat, min_area)


def test_a_pill_a_few_steps_off_a_solid_fill_is_found():
    img, mask = _pill_on_green()
    rgb = img.astype(np.float32) / 255.0
    model = np.broadcast_to(np.array(GREEN, np.float32) / 255.0, rgb.shape)
    found = _find(rgb, model)
    inner = np.asarray(Image.fromarray(mask).filter(ImageFilter.MinFilter(5))) > 0
    assert found[inner].mean() > 0.95
    assert not found[~mask].any()


def test_a_smooth_miss_of_the_fit_and_a_soft_shadow_are_not_faint_objects():
    y = np.linspace(0.0, 1.0, N, dtype=np.float32)[:, None, None]
    model = np.broadcast_to(np.array([0.3, 0.5, 0.7], np.float32), (N, N, 3))
    bent = model + 0.04 * np.sin(np.pi * y)  # (N, N, 3): a gradient the fit follows badly in the middle
    assert not _find(bent.astype(np.float32), model).any()
    shadow = np.zeros((N, N), np.float32)
    shadow[40:90, 40:90] = 1.0
    shadow = np.asarray(Image.fromarray((shadow * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(6)))
    dark = model * (1.0 - 0.12 * shadow[..., None] / 255.0)  # a soft drop shadow darkening the fill
    assert not _find(dark.astype(np.float32), model).any()


@pytest.fixture(scope="module")
def decomposer():
    return layerdiff.load("layerdiff-tiny", "decompose")


@pytest.mark.parametrize("count", ["auto", 2])
def test_the_decomposer_gives_a_tone_on_tone_pill_its_own_layer(decomposer, count):
    img, mask = _pill_on_green(256)
    stack = decomposer.decompose(img, num_layers=count).to_numpy()  # (K, H, W, 4) in [0, 1]
    assert len(stack) == 2
    alpha = stack[1, ..., 3]
    assert (alpha[mask] > 0.5).mean() > 0.9 and (alpha[~mask] > 0.5).mean() < 0.01
    assert np.abs(stack[1, alpha > 0.99, :3] * 255.0 - np.array(PILL)).max() <= 2.0
    inside = ndimage.binary_erosion(mask, iterations=2)  # (H, W): the pill less its 1-px matted rim
    assert np.abs(stack[0, inside, :3] * 255.0 - np.array(GREEN)).max() <= 2.0  # the fill continues under it


def test_without_the_faint_step_the_pill_stays_in_the_background(decomposer, monkeypatch):
    monkeypatch.setattr(decomposer, "faint", False)
    img, _ = _pill_on_green(256)
    stack = decomposer.decompose(img).to_numpy()
    assert len(stack) == 1 or stack[1:, ..., 3].max() == 0
