"""Generation from a plan: exact backgrounds, objects fitted into their boxes at the output size, typeset text,
the caption-alone check, and edits of a plan's image keeping their guarantees."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerdiff.data.synth_vocab import COLORS
from layerdiff.eval.generation import classify_shape, score_plan_image
from layerdiff.pipelines import LayerEditPipeline, LayerGeneratePipeline
from layerdiff.planning import Background, LayerPlan, PlanError, PlanLayer, plan_caption
from layerdiff.planning.draw import draw_background, draw_text
from layerdiff.planning.generate import generate_from_plan, place_object, sharpen_alpha


def rgb(name: str) -> np.ndarray:
    return np.asarray(COLORS[name], np.float32) / 255.0


@pytest.fixture()
def pipe(tiny_components) -> LayerGeneratePipeline:
    p = LayerGeneratePipeline(**tiny_components)
    p.set_progress_bar_config(disable=True)
    return p


# ------------------------------------------------------------------------------------ backgrounds
def test_solid_background_is_exact_and_opaque():
    bg = draw_background(Background("solid", ["yellow"]), 40, 30)
    assert bg.shape == (30, 40, 4)
    np.testing.assert_array_equal(bg[..., 3], 1.0)
    np.testing.assert_allclose(bg[..., :3], np.broadcast_to(rgb("yellow"), (30, 40, 3)), atol=1e-6)


def test_linear_gradient_runs_from_the_first_colour_to_the_second():
    down = draw_background(Background("linear", ["red", "blue"], angle=90.0), 64, 64)
    np.testing.assert_allclose(down[0, 32, :3], rgb("red"), atol=0.02)  # top row
    np.testing.assert_allclose(down[-1, 32, :3], rgb("blue"), atol=0.02)  # bottom row
    across = draw_background(Background("linear", ["red", "blue"], angle=0.0), 64, 64)
    np.testing.assert_allclose(across[32, 0, :3], rgb("red"), atol=0.02)
    np.testing.assert_allclose(across[32, -1, :3], rgb("blue"), atol=0.02)


def test_radial_gradient_centre_and_corner():
    bg = draw_background(Background("radial", ["white", "navy"]), 65, 65)
    np.testing.assert_allclose(bg[32, 32, :3], rgb("white"), atol=0.02)
    np.testing.assert_allclose(bg[0, 0, :3], rgb("navy"), atol=0.03)


def test_patterns_carry_both_colours():
    for kind in ("stripes", "dots"):
        bg = draw_background(Background(kind, ["yellow", "red"]), 128, 128)
        flat = bg[..., :3].reshape(-1, 3)
        for name in ("yellow", "red"):
            assert (np.abs(flat - rgb(name)).max(1) < 0.01).mean() > 0.05


# ------------------------------------------------------------------------------------ objects
def _disc_sample(g: int = 32, cx: float = 10, cy: float = 12, r: float = 6) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(g) + 0.5, torch.arange(g) + 0.5, indexing="ij")
    alpha = ((xx - cx) ** 2 + (yy - cy) ** 2 < r * r).float()  # (g, g)
    colour = torch.tensor([0.9, 0.1, 0.1])[:, None, None].expand(3, g, g)
    return torch.cat([colour, alpha[None]])  # (4, g, g)


def test_place_object_fits_the_sample_into_its_box_at_the_output_size():
    layer = place_object(None, _disc_sample(), "a red circle", (0.5, 0.25, 0.9, 0.75), 400, 200, refine=False)
    assert layer.shape == (200, 400, 4)
    ys, xs = np.nonzero(layer[..., 3] > 0.5)
    # the disc (12 grid px across) now spans the box's shorter side (100 px), centred in the box
    assert 90 <= ys.max() - ys.min() + 1 <= 101 and 90 <= xs.max() - xs.min() + 1 <= 101
    assert abs((xs.min() + xs.max()) / 2 - 280) < 3 and abs((ys.min() + ys.max()) / 2 - 100) < 3
    assert classify_shape(layer[..., 3]) == "round"
    outside = np.ones((200, 400), bool)
    outside[50:150, 200:360] = False
    assert layer[outside, 3].max() == 0.0


def test_placed_edges_are_output_pixels_not_an_enlarged_grid():
    """A 12-pixel disc enlarged 8x keeps an edge about one output pixel wide (not 8 pixels of blur)."""
    layer = place_object(None, _disc_sample(), "a red circle", (0.0, 0.0, 1.0, 1.0), 256, 256, refine=False)
    alpha = layer[..., 3]
    soft = ((alpha > 0.05) & (alpha < 0.95)).sum()
    inside = (alpha >= 0.5).sum()
    perimeter = 2 * np.sqrt(np.pi * inside)  # of a disc of that area
    assert soft < 2.5 * perimeter


def test_sharpen_alpha_keeps_the_ends_and_the_middle():
    a = torch.tensor([0.0, 0.3, 0.5, 0.7, 1.0])
    out = sharpen_alpha(a, 4.0)
    assert out.tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]
    assert torch.equal(sharpen_alpha(a, 1.0), a)


def _box_border_share(alpha: np.ndarray, box: tuple[float, float, float, float]) -> float:
    """Share of the pixels along the four sides of ``box`` (normalised, as the clip rounds it) with alpha > 0.5."""
    h, w = alpha.shape
    x0, y0 = int(np.floor(box[0] * w)), int(np.floor(box[1] * h))
    x1, y1 = int(np.ceil(box[2] * w)), int(np.ceil(box[3] * h))
    ring = np.concatenate([alpha[y0, x0:x1], alpha[y1 - 1, x0:x1], alpha[y0:y1, x0], alpha[y0:y1, x1 - 1]])
    return float((ring > 0.5).mean())


class _GrowingRefiner:
    """A stand-in pipeline whose layer refiner redraws each object as a disc 1.4 times the size of the one it
    is given (as the real refiner may draw an outline beyond the coarse sample's), same centre, same colour."""

    class _Config:
        crop_size = 64

    def __init__(self) -> None:
        self.refiner = type("Refiner", (), {"config": self._Config()})()

    def refiner_phrases(self, rows):
        return torch.zeros(len(rows), len(rows[0]), 8)  # (B, F, P)

    def refine(self, layers, text, select=None, passes=None):
        out = layers.clone()  # (1, 4, S, S)
        ys, xs = torch.nonzero(layers[0, 3] > 0.5, as_tuple=True)
        cx, cy = (xs.min() + xs.max() + 1) / 2, (ys.min() + ys.max() + 1) / 2
        r = 1.4 * (xs.max() - xs.min() + 1) / 2
        yy, xx = torch.meshgrid(torch.arange(layers.shape[-2]) + 0.5, torch.arange(layers.shape[-1]) + 0.5,
                                indexing="ij")
        out[0, 3] = 1 - (((xx - cx) ** 2 + (yy - cy) ** 2).sqrt() - r + 0.5).clamp(0, 1)  # (S, S) disc, soft edge
        out[0, :3] = layers[0, :3].amax((1, 2))[:, None, None]  # the object's colour everywhere
        return out


def test_an_outline_the_refiner_draws_beyond_the_sample_is_fitted_whole_not_cut_at_the_box():
    box = (0.1, 0.2, 0.6, 0.7)
    layer = place_object(_GrowingRefiner(), _disc_sample(), "a red circle", box, 200, 200)
    alpha = layer[..., 3]
    assert _box_border_share(alpha, box) < 0.02  # no straight cut along the box's sides
    ys, xs = np.nonzero(alpha > 0.5)
    assert xs.max() - xs.min() + 1 >= 90 and ys.max() - ys.min() + 1 >= 90  # still about the box's 100 px
    assert abs((xs.min() + xs.max()) / 2 - 70) < 3 and abs((ys.min() + ys.max()) / 2 - 90) < 3
    assert classify_shape(alpha) == "round"
    outside = np.ones((200, 200), bool)
    outside[40:140, 20:120] = False
    assert alpha[outside].max() == 0.0


def test_generated_object_layers_are_not_cut_at_their_boxes(pipe):
    plan = plan_caption("a red star next to a blue heart on a light green background")
    image = generate_from_plan(pipe, plan, 128, 128, seed=3)  # a seed whose outlines reached the box when fitted first
    stack = image.to_numpy()  # (3, 128, 128, 4)
    for k, lay in enumerate(plan.layers, start=1):
        assert stack[k, ..., 3].max() > 0.5  # something was drawn
        assert _box_border_share(stack[k, ..., 3], lay.box) == 0.0  # the whole outline lies inside the box


def test_an_empty_sample_gives_an_empty_layer():
    empty = torch.zeros(4, 16, 16)
    assert place_object(None, empty, "a star", (0.1, 0.1, 0.5, 0.5), 64, 64).max() == 0.0


# ------------------------------------------------------------------------------------ text
def test_text_is_typeset_inside_its_box_with_its_colour():
    lay = PlanLayer(kind="text", phrase='the text "SALE" in white', color="white", text="SALE", style="bold sans",
                    box=(0.1, 0.7, 0.9, 0.9))
    layer = draw_text(lay, Background("solid", ["navy"]), 400, 300)
    canvas = layer.on_canvas((400, 300))  # (300, 400, 4)
    ys, xs = np.nonzero(canvas[..., 3] > 0)
    assert ys.min() >= 210 - 1 and ys.max() <= 270 + 1 and xs.min() >= 40 - 1 and xs.max() <= 360 + 1
    assert ys.max() - ys.min() > 25  # as large as the box allows, not a 10-pixel label
    np.testing.assert_allclose(canvas[canvas[..., 3] > 0.5, :3].mean(0), rgb("white"), atol=0.01)
    assert layer.text is not None and layer.text.text == "SALE"


# ------------------------------------------------------------------------------------ whole plans
def test_generate_from_plan_layers_sizes_and_boxes(pipe):
    plan = plan_caption('a red star and a blue circle on a yellow background with "Hi" in black')
    image = generate_from_plan(pipe, plan, 96, 64, seed=3)
    assert image.size == (96, 64) and len(image) == plan.num_layers == 4
    stack = image.to_numpy()  # (4, 64, 96, 4)
    np.testing.assert_array_equal(stack[0, ..., 3], 1.0)
    np.testing.assert_allclose(stack[0, ..., :3], np.broadcast_to(rgb("yellow"), (64, 96, 3)), atol=1e-6)
    for k, lay in enumerate(plan.layers[:2], start=1):
        x0, y0, x1, y1 = lay.box
        outside = np.ones((64, 96), bool)
        outside[int(np.floor(y0 * 64)):int(np.ceil(y1 * 64)), int(np.floor(x0 * 96)):int(np.ceil(x1 * 96))] = False
        assert stack[k, outside, 3].max() == 0.0
        assert image[k].metadata["caption"] == lay.phrase
    assert image[3].text is not None and image[3].text.text == "Hi"
    assert image.metadata["plan"]["layers"][0]["shape"] == "star"


def test_generate_from_plan_is_deterministic(pipe):
    a = generate_from_plan(pipe, plan_caption("a red star and a blue ring on white"), 64, 64, seed=5).to_numpy()
    again = generate_from_plan(pipe, plan_caption("a red star and a blue ring on white"), 64, 64, seed=5).to_numpy()
    np.testing.assert_array_equal(a, again)


def test_generate_from_plan_rejects_a_bad_size(pipe):
    with pytest.raises(PlanError, match="output size"):
        generate_from_plan(pipe, plan_caption("a red star"), 4, 64)


def test_scene_background_is_generated_and_made_opaque(pipe):
    plan = LayerPlan(Background("scene", ["green"], "a forest at dusk"), [])
    stack = generate_from_plan(pipe, plan, 48, 48).to_numpy()
    np.testing.assert_allclose(stack[0, ..., 3], 1.0)


def test_edits_of_a_plan_image_keep_their_guarantees(pipe, tiny_components):
    image = generate_from_plan(pipe, plan_caption("a red star and a blue circle on a yellow background"), 64, 64)
    edit = LayerEditPipeline(**tiny_components)
    edit.set_progress_bar_config(disable=True)
    regen = edit(image, layer=1, operation="regenerate", prompt="a green heart", output_type="np",
                 generator=torch.Generator().manual_seed(0)).images[0]
    for j in (0, 2):
        np.testing.assert_array_equal(regen[j].pixels, image[j].pixels)
    box = (0.25, 0.25, 0.75, 0.75)
    ins = edit(image, layer=-1, operation="insert", prompt="a red circle", box=box, output_type="np",
               generator=torch.Generator().manual_seed(0)).images[0]
    alpha = ins[-1].on_canvas(ins.size)[..., 3]
    outside = np.ones_like(alpha, bool)
    outside[16:48, 16:48] = False
    assert alpha[outside].max() == 0.0
    for j in range(len(image)):
        np.testing.assert_array_equal(ins[j].pixels, image[j].pixels)


# ------------------------------------------------------------------------------------ the check
def _stack(layers: list[tuple[str, str | None]], bg: str = "yellow", n: int = 64) -> np.ndarray:
    """A stack: opaque ``bg`` bottom, then one layer per (colour, shape class) drawn as a disc/square/triangle."""
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    out = [np.concatenate([np.broadcast_to(rgb(bg), (n, n, 3)), np.ones((n, n, 1))], -1)]
    masks = {"round": (xx - 32) ** 2 + (yy - 32) ** 2 < 15 ** 2, "box": (abs(xx - 32) < 14) & (abs(yy - 32) < 14),
             "pointy": (yy > 12) & (yy < 52) & (abs(xx - 32) < (yy - 12) / 2)}
    for colour, cls in layers:
        layer = np.zeros((n, n, 4), np.float32)
        layer[masks[cls], :3] = rgb(colour)
        layer[masks[cls], 3] = 1.0
        out.append(layer)
    return np.stack(out).astype(np.float32)


def test_score_plan_image_matches_objects_to_layers_in_any_order():
    gold = plan_caption("a red circle and a blue square on a yellow background").to_dict()
    assert score_plan_image(_stack([("blue", "box"), ("red", "round")]), gold)["pass"]
    wrong_shape = score_plan_image(_stack([("blue", "round"), ("red", "round")]), gold)
    assert not wrong_shape["pass"] and wrong_shape["colours"] == [True, True] and wrong_shape["shapes"] == [True, False]
    assert not score_plan_image(_stack([("red", "round")]), gold)["pass"]  # an object missing
    assert not score_plan_image(_stack([("blue", "box"), ("red", "round")], bg="green"), gold)["pass"]
    two = plan_caption("two red circles on yellow").to_dict()
    assert not score_plan_image(_stack([("red", "round")]), two)["pass"]  # two named, one layer
    assert score_plan_image(_stack([("red", "round"), ("red", "round")]), two)["pass"]


def test_score_plan_image_needs_an_opaque_bottom_layer():
    gold = plan_caption("a red circle on a yellow background").to_dict()
    stack = _stack([("red", "round")])
    stack[0, :32, :, 3] = 0.0
    assert not score_plan_image(stack, gold)["background"]


# ------------------------------------------------------------------------------------ the benchmark
def test_bench_plan_generate_parse_oracle_and_generation(tmp_path):
    import json

    from bench_scripts import load_benchmark

    bench = load_benchmark("bench_plan_generate")
    out = tmp_path / "parse.json"
    assert bench.main(["--parse-only", "--count", "40", "--split", "dev", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["parsed_exactly"] >= 0.9
    assert bench.main(["--oracle", "--count", "6", "--size", "96", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["oracle_caption_pass_rate"] >= 0.8  # exact drawings pass the check
    assert bench.main(["--model", "tiny-random", "--count", "2", "--size", "48", "--steps", "1", "--offset", "3",
                       "--threads", "1", "--json", str(out), "--save", str(tmp_path / "png")]) == 0
    result = json.loads(out.read_text())
    assert [c["index"] for c in result["per_caption"]] == [3, 4] and result["seconds_per_image"] > 0
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == ["003", "004"]  # each caption's layers, to look at
    assert len(list((tmp_path / "png" / "003").glob("*.png"))) >= 2


def test_smooth_colour_removes_a_patch_grid_but_not_the_outline():
    from layerdiff.planning.generate import smooth_colour

    rgba = torch.zeros(1, 4, 64, 64)
    rgba[:, 3, 8:56, 8:56] = 1.0
    checker = ((torch.arange(64)[:, None] // 8 + torch.arange(64)[None] // 8) % 2).float()  # (64, 64) 8-px blocks
    rgba[:, 0] = 0.6 + 0.2 * checker  # red channel alternates 0.6 / 0.8 in blocks
    rgba[:, 2, :, :8] = 1.0  # blue where the layer is transparent: must not bleed in
    out = smooth_colour(rgba, 4.0)
    assert torch.equal(out[:, 3], rgba[:, 3])
    inside = out[0, :, 16:48, 16:48]
    assert float(inside[0].max() - inside[0].min()) < 0.03  # the blocks are gone
    assert abs(float(inside[0].mean()) - 0.7) < 0.02  # the mean colour stays
    assert float(out[0, 2, 8:56, 8:56].max()) < 1e-6  # no colour from transparent pixels


def test_the_model_is_asked_for_a_shades_family_and_the_layer_keeps_the_plan_phrase(pipe, monkeypatch):
    import layerdiff.planning.generate as gen_mod

    asked: list[str] = []

    def samples(pipe_, phrases, *args, **kwargs):
        asked.extend(phrases)
        return [torch.zeros(4, 8, 8) for _ in phrases]

    monkeypatch.setattr(gen_mod, "_object_samples", samples)
    plan = LayerPlan(Background("solid", ["light green"]), [
        PlanLayer(kind="object", phrase="a light green star", color="light green", shape="star"),
        PlanLayer(kind="object", phrase="a red circle", color="red", shape="circle")])
    image = generate_from_plan(pipe, plan, 32, 32)
    assert asked == ["a green star", "a red circle"]
    assert image[1].metadata["caption"] == "a light green star"
    from layerdiff.planning.colours import colour_rgb

    np.testing.assert_allclose(image.to_numpy()[0, 5, 5, :3], colour_rgb("light green"), atol=1e-6)
