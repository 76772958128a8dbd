"""The flood-fill referring baseline and the ``layerdiff extract`` command (with the baseline)."""

from __future__ import annotations

import numpy as np
import pytest

from layerdiff.baselines.floodfill import FloodFillExtractor, flood_region, phrase_region
from layerdiff.layered import LayeredImage, from_float
from layerdiff.referring import PromptError, ReferringPrompt
from layerdiff.regions.prompts import box_region
from layerdiff.regions.segment import rgb_to_lab

H, W = 47, 61


@pytest.fixture()
def disc() -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    return ((yy - 20) ** 2 + (xx - 25) ** 2) < 100  # the red disc of the `design` fixture


def _soft_iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.minimum(a, b).sum() / max(np.maximum(a, b).sum(), 1e-8))


def _composite_error(result: LayeredImage, image: np.ndarray) -> int:
    """Largest 8-bit difference between the composite of the saved (8-bit) layers and the input."""
    comp = LayeredImage.from_numpy(from_float(result.to_numpy(), 8)).composite()
    diff = from_float(comp, 8)[..., :3].astype(int) - from_float(image[..., :3], 8).astype(int)
    return int(np.abs(diff).max())


@pytest.mark.parametrize("prompt", [
    ReferringPrompt(points=[(25, 20)]),
    ReferringPrompt(box=(13, 8, 38, 33)),
    ReferringPrompt(text="a red circle"),
])
def test_each_prompt_type_finds_the_disc_and_recomposes(design, disc, prompt):
    out = FloodFillExtractor().extract(design, prompt)
    assert [layer.name for layer in out][0] == "Background" and len(out) == 2
    assert _soft_iou(out[1].pixels[..., 3], disc.astype(np.float32)) > 0.9
    assert _composite_error(out, design) <= 1
    hole = out[0].pixels[20, 25, :3]  # the background under the disc is filled from around it, not red
    assert hole[0] < 0.95 and hole[1] > 0.6 and hole[2] > 0.6


def test_mask_prompt_is_used_as_given(design):
    mask = np.zeros((H, W), bool)
    mask[5:15, 40:55] = True
    out = FloodFillExtractor().extract(design, ReferringPrompt(mask=mask))
    alpha = out[1].pixels[..., 3]
    assert alpha[6:14, 41:54].min() > 0.99 and alpha[mask == 0].max() < 0.5
    assert _composite_error(out, design) <= 1


def test_point_flood_takes_in_letters_of_a_word():
    img = np.full((40, 80, 3), 0.9, np.float32)
    for x0 in (10, 22, 34, 46):  # four "letters" 4 px apart
        img[15:25, x0 : x0 + 8] = (0.1, 0.1, 0.6)
    lab = rgb_to_lab(img)
    assert flood_region(lab, 12, 20, 12.0).sum() == 80  # one letter alone
    assert flood_region(lab, 12, 20, 12.0, gap=3).sum() == 80  # gaps of 4 px are wider than 3
    assert flood_region(lab, 12, 20, 12.0, gap=4).sum() == 320  # the word
    assert FloodFillExtractor().object_region(np.concatenate([img, np.ones((40, 80, 1), np.float32)], -1),
                                              ReferringPrompt(points=[(12, 20)])).sum() == 320


def test_box_region_ignores_background_inside_the_box(design, disc):
    region = box_region(rgb_to_lab(design[..., :3]), (10, 5, 41, 36), 12.0)
    assert _soft_iou(region.astype(np.float32), disc.astype(np.float32)) > 0.95


def test_negative_point_removes_its_region(design):
    both = ReferringPrompt(box=(3, 5, 58, 43))
    only_disc = ReferringPrompt(points=[(25, 20, 1), (30, 37, 0)], box=(3, 5, 58, 43))
    ex = FloodFillExtractor()
    assert ex.extract(design, both)[1].pixels[37, 30, 3] > 0.9  # the bar is inside the box
    assert ex.extract(design, only_disc)[1].pixels[37, 30, 3] < 0.1  # ... until a negative point excludes it


def test_phrase_without_colour_word_gives_an_empty_layer(design):
    assert not phrase_region(rgb_to_lab(design), "something nice", 12.0).any()
    out = FloodFillExtractor().extract(design, "something nice")
    assert out[1].is_empty(threshold=0.01)
    assert _composite_error(out, design) <= 1


def test_several_prompts_first_on_top_and_exact(design, disc):
    out = FloodFillExtractor().extract(design, [ReferringPrompt(points=[(25, 20)]), "a blue bar"])
    assert [layer.name for layer in out] == ["Background", "a blue bar", "object (point)"]
    assert _soft_iou(out[2].pixels[..., 3], disc.astype(np.float32)) > 0.9
    assert out[1].pixels[37:40, 6:54, 3].min() > 0.9
    assert _composite_error(out, design) <= 1


@pytest.mark.parametrize("size", [(9, 8), (101, 37)])
def test_odd_sizes_and_uint8_input(size):
    w, h = size
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    out = FloodFillExtractor().extract(img, ReferringPrompt(points=[(w // 2, h // 2)]))
    assert out.size == (w, h) and len(out) == 2
    assert _composite_error(out, img.astype(np.float32) / 255) <= 1


def test_bad_prompts_raise_prompt_errors(design):
    ex = FloodFillExtractor()
    with pytest.raises(PromptError, match="outside the 61x47 image"):
        ex.extract(design, ReferringPrompt(points=[(70, 3)]))
    with pytest.raises(PromptError, match="does not overlap"):
        ex.extract(design, ReferringPrompt(box=(100, 100, 120, 130)))
    with pytest.raises(ValueError, match="tolerance"):
        FloodFillExtractor(tolerance=0)


def test_cli_extract_with_floodfill(tmp_path, design, capsys):
    from PIL import Image

    from layerdiff.cli import main
    from layerdiff.io import load

    src = tmp_path / "design.png"
    Image.fromarray(from_float(design, 8)).save(src)
    out = tmp_path / "out"
    assert main(["extract", str(src), "--point", "25,20", "--model", "floodfill", "-o", str(out)]) == 0
    assert "extracted 'object (point)'" in capsys.readouterr().out
    layered = load(out / "design_extract.psd")
    assert len(layered) == 2 and (out / "png").is_dir()
    mask = tmp_path / "mask.png"
    m = np.zeros((H, W), np.uint8)
    m[35:41, 5:55] = 255
    Image.fromarray(m).save(mask)
    assert main(["extract", str(src), "--mask", str(mask), "--model", "floodfill", "-o", str(out),
                 "--formats", "png"]) == 0


@pytest.mark.parametrize("argv, message", [
    (["--box", "100,100,120,130"], "does not overlap"),
    (["--point", "3"], "--point '3': expected 2"),
    ([], "give the object with"),
    (["--point", "1,1", "--normalized", "--point", "2,2"], "outside the image"),
])
def test_cli_bad_prompts_exit_1_with_one_line(tmp_path, design, capsys, argv, message):
    from PIL import Image

    from layerdiff.cli import main

    src = tmp_path / "design.png"
    Image.fromarray(from_float(design, 8)).save(src)
    assert main(["extract", str(src), "--model", "floodfill", "-o", str(tmp_path / "o"), *argv]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
