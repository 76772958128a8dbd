"""Shades in a plan: "light green", "dark red", "sky blue" are kept in the plan, drawn exactly in their shade,
asked of the model by their family, and checked as their family by :mod:`layerdiff.eval.generation`."""

from __future__ import annotations

import numpy as np
import pytest

from layerdiff.data.synth_vocab import COLORS
from layerdiff.eval.generation import carries_colour, colour_family, colour_shares, score_plan_image
from layerdiff.planning import Background, LayerPlan, PlanError, PlanLayer, plan_caption
from layerdiff.planning.colours import colour_rgb, family, model_phrase, shade_of, tone, tone_step
from layerdiff.planning.draw import draw_background, draw_text
from layerdiff.planning.lexicon import COLOR_PHRASES, COLOR_WORDS, DARK_WORDS, LIGHT_WORDS, SHADE_PHRASES


def plain(name: str) -> np.ndarray:
    return np.asarray(COLORS[name], np.float32) / 255.0


def lightness(rgb: np.ndarray) -> float:
    return float(rgb.max() + rgb.min()) / 2


def nearest(rgb: np.ndarray) -> str:
    pixel = np.concatenate([rgb, [1.0]]).astype(np.float32)[None, None]  # (1, 1, 4)
    shares = colour_shares(pixel)
    return max(shares, key=shares.get)


ALL_SHADES = sorted({*SHADE_PHRASES, *COLOR_PHRASES,
                     *(f"{t} {w}" for t in sorted(LIGHT_WORDS | DARK_WORDS) for w in COLOR_WORDS)})


# ------------------------------------------------------------------------------------------ planning
def test_a_light_green_background_keeps_its_shade_in_the_plan():
    plan = plan_caption("a light green background")
    assert plan.background.kind == "solid" and plan.background.colors == ["light green"]
    again = LayerPlan.from_json(plan.to_json())
    assert again.background.colors == ["light green"]


def test_the_issue_caption_plans_the_shade_and_the_model_phrases_name_families():
    plan = plan_caption('a red star next to a blue heart on a light green background with the text "Open Late" '
                        'in white')
    assert plan.background.colors == ["light green"]
    assert [(lay.kind, lay.color, lay.shape) for lay in plan.layers] == [
        ("object", "red", "star"), ("object", "blue", "heart"), ("text", "white", None)]


@pytest.mark.parametrize(("caption", "colour", "phrase"), [
    ("a pale grey heart on white", "pale grey", "a gray heart"),
    ("two hot pink stars on black", "hot pink", "a pink star"),
    ("a dark red circle with a light blue outline", "dark red", "a red circle with a blue outline"),
    ("a deep purple tree on yellow", "deep purple", "a purple tree"),
])
def test_object_shades_are_kept_and_the_phrase_names_the_family(caption, colour, phrase):
    plan = plan_caption(caption)
    assert plan.layers[0].color == colour and plan.layers[0].phrase == phrase


def test_text_and_gradient_shades_are_kept():
    plan = plan_caption('"Sale" in dark blue on a gradient from sky blue to off-white')
    assert plan.background.kind == "linear" and plan.background.colors == ["sky blue", "off white"]
    assert plan.layers[0].kind == "text" and plan.layers[0].color == "navy"  # "dark blue" is the lexicon's navy
    assert plan_caption('"Sale" in light gray on black').layers[0].color == "light gray"


def test_two_word_names_of_a_vocabulary_colour_still_plan_as_it():
    assert plan_caption("a star on a navy blue background").background.colors == ["navy"]
    assert plan_caption("a jet black square on a royal blue background").layers[0].color == "black"


def test_a_light_font_is_not_a_colour():
    lay = plan_caption('"Hello" in light sans on red').layers[0]
    assert lay.style == "light sans" and lay.color is None


# -------------------------------------------------------------------------------------- the colours
@pytest.mark.parametrize("name", ALL_SHADES)
def test_every_shade_classifies_to_its_family(name):
    fam = family(name)
    rgb = colour_rgb(name)
    assert nearest(rgb) == fam, (name, rgb * 255)
    pixel = np.concatenate([rgb, [1.0]]).astype(np.float32)[None, None]
    assert carries_colour(pixel, fam) and colour_family(name) == fam


@pytest.mark.parametrize("name", list(COLORS))
def test_tints_are_lighter_and_shades_darker_than_their_family(name):
    base = lightness(plain(name))
    light, dark = colour_rgb(f"light {name}"), colour_rgb(f"dark {name}")
    assert lightness(light) >= base and lightness(dark) <= base
    if name not in ("white", "black"):  # the ends of the lightness scale have room one way only
        assert tone_step(name, "light") >= 0.1 and tone_step(name, "dark") >= 0.1
        assert lightness(light) > base + 0.02 and lightness(dark) < base - 0.02


def test_light_gray_is_not_white_and_dark_blue_shades_are_not_black():
    assert nearest(colour_rgb("light gray")) == "gray" and nearest(colour_rgb("dark gray")) == "gray"
    assert nearest(colour_rgb("deep blue")) == "blue" and nearest(colour_rgb("dark navy")) == "navy"


def test_tone_keeps_hue_and_saturation():
    red = plain("red")
    lighter = tone(red, "light", 0.2)
    # hue kept: the channels keep their order and the ratio of their spreads
    assert np.argsort(lighter).tolist() == np.argsort(red).tolist()
    np.testing.assert_allclose((lighter[1] - lighter[2]) / (lighter[0] - lighter[2]),
                               (red[1] - red[2]) / (red[0] - red[2]), atol=1e-5)
    np.testing.assert_allclose(tone(np.full(3, 0.5, np.float32), "dark", 0.5), 0.25, atol=1e-6)  # grey stays grey
    np.testing.assert_array_equal(tone(red, "", 0.4), red)


def test_shade_names_and_unknown_names():
    assert shade_of("Light  Green") == ("green", "light") and shade_of("off-white") == ("white", "dark")
    assert shade_of("dark blue") == ("navy", "") and shade_of("pastel turquoise") == ("teal", "light")
    assert shade_of("greenish") is None and shade_of("light") is None and colour_family("mauvish") is None
    with pytest.raises(KeyError):
        colour_rgb("ultra green")
    assert model_phrase("a light green star", "light green") == "a green star"
    assert model_phrase("a red star", "red") == "a red star"


# ------------------------------------------------------------------------------------------- drawing
def test_a_light_green_background_is_drawn_lighter_and_checked_as_green():
    pixels = draw_background(plan_caption("a light green background").background, 32, 24)  # (24, 32, 4)
    np.testing.assert_array_equal(pixels[..., 3], 1.0)
    px = pixels[12, 16, :3]
    assert lightness(px) > lightness(plain("green")) + 0.05 and px.sum() > plain("green").sum()
    assert carries_colour(pixels, "green") and colour_shares(pixels)["green"] == 1.0
    stack = pixels[None]  # (1, 24, 32, 4)
    for colours in (["light green"], ["green"]):
        assert score_plan_image(stack, {"background": {"colors": colours}, "layers": []})["pass"]
    assert not score_plan_image(stack, {"background": {"colors": ["gray"]}, "layers": []})["pass"]


def test_a_shaded_gradient_runs_between_its_shades():
    bg = draw_background(Background("linear", ["sky blue", "dark red"], angle=90.0), 32, 64)
    np.testing.assert_allclose(bg[0, 16, :3], colour_rgb("sky blue"), atol=0.03)
    np.testing.assert_allclose(bg[-1, 16, :3], colour_rgb("dark red"), atol=0.03)


def test_a_plan_json_with_dark_blue_text_draws_darker_text():
    def ink(colour: str) -> np.ndarray:
        plan = LayerPlan.from_dict({"background": {"kind": "solid", "colors": ["white"]}, "layers": [
            {"kind": "text", "phrase": "t", "text": "OPEN", "color": colour, "box": [0.1, 0.3, 0.9, 0.7]}]})
        canvas = draw_text(plan.layers[0], plan.background, 200, 100).on_canvas((200, 100))  # (100, 200, 4)
        return canvas[canvas[..., 3] > 0.9, :3].mean(0)

    blue, dark = ink("blue"), ink("dark blue")
    assert dark.sum() < blue.sum() - 0.3
    np.testing.assert_allclose(dark, colour_rgb("dark blue"), atol=0.01)
    assert nearest(ink("deep blue")) == "blue" and ink("deep blue").sum() < blue.sum() - 0.1


def test_old_plans_with_vocabulary_names_load_and_draw_as_before():
    old = {"background": {"kind": "solid", "colors": ["green"], "phrase": "a green background", "angle": 90.0},
           "layers": [{"kind": "object", "phrase": "a red star", "color": "red", "shape": "star", "text": None,
                       "style": None, "place": None, "box": [0.1, 0.1, 0.5, 0.5]},
                      {"kind": "text", "phrase": 'the text "Hi"', "color": "white", "shape": None, "text": "Hi",
                       "style": "bold sans", "place": None, "box": [0.1, 0.6, 0.9, 0.9]}], "caption": "old"}
    plan = LayerPlan.from_dict(old)
    assert plan.to_dict() == old
    np.testing.assert_array_equal(draw_background(plan.background, 8, 8)[..., :3],
                                  np.broadcast_to(plain("green"), (8, 8, 3)))
    assert draw_text(plan.layers[1], plan.background, 64, 64).text.color == COLORS["white"]


def test_a_bad_colour_in_a_plan_is_one_line_naming_the_field():
    with pytest.raises(PlanError, match=r"layers\[0\].*'greenish'"):
        LayerPlan.from_dict({"background": {"kind": "solid", "colors": ["white"]},
                             "layers": [{"kind": "object", "phrase": "a star", "color": "greenish"}]}, "p.json")
    with pytest.raises(PlanError, match=r"p.json: background.*'ultra blue'"):
        LayerPlan.from_dict({"background": {"kind": "solid", "colors": ["ultra blue"]}}, "p.json")


def test_plan_colours_are_stored_in_one_spelling():
    plan = LayerPlan.from_dict({"background": {"kind": "solid", "colors": ["Light  Green"]},
                                "layers": [PlanLayer(kind="object", phrase="a star", color="red").__dict__]})
    assert plan.background.colors == ["light green"] and plan.layers[0].color == "red"
