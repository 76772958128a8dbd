"""Phrase classes the planner reads since the blind caption set of session 17 (captions_blind_s17.json):
misspelt colour and shape words, arrows in gradients, "five pointed", a colour after its object,
"one red and one white", a gradient's colours in a part of their own, scene backgrounds after "on" / "in",
banner and button shapes, and places between text and objects."""

from __future__ import annotations

import pytest

from layerdiff.planning import LayerPlan, plan_caption
from layerdiff.planning.parser import _typo


def objects(plan: LayerPlan) -> list[tuple]:
    return [(lay.kind, lay.color, lay.shape, lay.text, lay.place) for lay in plan.layers]


def bg(plan: LayerPlan) -> tuple:
    return plan.background.kind, plan.background.colors


# ------------------------------------------------------------------------------------------- typos
def test_misspelt_colour_shape_and_background_words_are_read():
    plan = plan_caption("an oragne trinagle on a balck backgound")
    assert bg(plan) == ("solid", ["black"])
    assert objects(plan) == [("object", "orange", "triangle", None, None)]
    assert [lay.phrase for lay in plan.layers] == ["an orange triangle"]
    plan = plan_caption("two whtie rign on a pinnk background")
    assert bg(plan) == ("solid", ["pink"]) and objects(plan) == [("object", "white", "ring", None, None)] * 2


@pytest.mark.parametrize("word", ["crown", "dream", "write", "bring", "start", "heard", "plate", "read", "blak"])
def test_real_words_and_short_words_are_not_corrected(word):
    assert _typo(word) == word


def test_quoted_text_is_never_corrected():
    plan = plan_caption('the words "Yelow Sqaure" in red on a white background')
    assert [lay.text for lay in plan.layers] == ["Yelow Sqaure"] and plan.layers[0].color == "red"


# ---------------------------------------------------------------------------- gradients and counts
@pytest.mark.parametrize("arrow", ["\u2192", " -> ", "=>"])
def test_an_arrow_between_two_colours_is_a_gradient_from_one_to_the_other(arrow):
    plan = plan_caption(f"a white circle on a red{arrow}yellow gradient")
    assert bg(plan) == ("linear", ["red", "yellow"])
    assert objects(plan) == [("object", "white", "circle", None, None)]


@pytest.mark.parametrize("caption", ["a blue five pointed star on white", "a blue 5 point star on white"])
def test_five_pointed_is_not_a_count(caption):
    assert objects(plan_caption(caption)) == [("object", "blue", "star", None, None)]


def test_gradient_colours_named_in_a_part_of_their_own():
    plan = plan_caption("a linear gradient, navy at the top fading to pink, with a white star")
    assert bg(plan) == ("linear", ["navy", "pink"])
    assert objects(plan) == [("object", "white", "star", None, None)]


@pytest.mark.parametrize("caption", ["a radial gradient", "a striped background with a red star",
                                     "a polka dot backdrop", "a red striped background"])
def test_a_gradient_or_pattern_without_colours_still_makes_a_valid_plan(caption):
    plan = plan_caption(caption)
    assert len(plan.background.colors) == 2
    assert LayerPlan.from_dict(plan.to_dict()).background.colors == plan.background.colors


# ------------------------------------------------------------------------------ colours after objects
def test_a_colour_after_its_object_is_the_objects_not_the_background():
    plan = plan_caption("a circle, deep purple, on white")
    assert bg(plan) == ("solid", ["white"])
    assert objects(plan) == [("object", "deep purple", "circle", None, None)]  # the shade is kept
    assert plan.layers[0].phrase == "a purple circle"  # the model is asked for the family


def test_a_colour_after_a_coloured_object_is_still_the_background():
    plan = plan_caption("a yellow star, navy")
    assert bg(plan) == ("solid", ["navy"]) and objects(plan) == [("object", "yellow", "star", None, None)]


def test_one_colour_each_for_a_counted_object():
    plan = plan_caption("three hearts on a gray background, one red, one blue and one green")
    assert bg(plan) == ("solid", ["gray"])
    assert objects(plan) == [("object", c, "heart", None, None) for c in ("red", "blue", "green")]
    plan = plan_caption("rings: one teal, one orange, on a black backdrop")
    assert bg(plan) == ("solid", ["black"])
    assert objects(plan) == [("object", "teal", "ring", None, None), ("object", "orange", "ring", None, None)]


def test_a_relation_after_an_appositive_colour_places_both_objects():
    plan = plan_caption("a heart, pink, to the left of a star, blue, on yellow")
    assert bg(plan) == ("solid", ["yellow"])
    assert objects(plan) == [("object", "pink", "heart", None, "left"), ("object", "blue", "star", None, "right")]


# ------------------------------------------------------------------------------------------ scenes
@pytest.mark.parametrize("caption", ["a green star over a photo of a lake", "a red square in a dark forest",
                                     "a pink circle on a wooden desk", "a blue heart in front of a mountain meadow"])
def test_a_scene_after_on_over_or_in_is_the_background(caption):
    plan = plan_caption(caption)
    assert plan.background.kind == "scene" and plan.background.phrase
    assert len(plan.layers) == 1 and plan.layers[0].shape is not None and plan.layers[0].color is not None


def test_a_scene_word_does_not_turn_an_object_or_a_coloured_background_into_a_scene():
    plan = plan_caption("a cat on a red background")
    assert bg(plan) == ("solid", ["red"]) and plan.layers[0].phrase == "a cat"
    plan = plan_caption("a red circle in the center of a blue background")
    assert bg(plan) == ("solid", ["blue"]) and objects(plan) == [("object", "red", "circle", None, "center")]


def test_a_background_named_as_such_wins_over_a_scene_and_a_scene_takes_no_stray_colour():
    plan = plan_caption("a white circle in space on a black background")
    assert bg(plan) == ("solid", ["black"]) and objects(plan) == [("object", "white", "circle", None, None)]
    plan = plan_caption("a pink heart on a photo of a beach, with a white border")
    assert bg(plan) == ("scene", []) and objects(plan) == [("object", "pink", "heart", None, None)]


# ------------------------------------------------------------------------------ shape and colour words
def test_banner_and_button_are_shapes_and_beige_is_white():
    plan = plan_caption("a yellow banner and a navy button on beige")
    assert bg(plan) == ("solid", ["white"])
    assert objects(plan) == [("object", "yellow", "rectangle", None, None),
                             ("object", "navy", "rounded rectangle", None, None)]


# ------------------------------------------------------------------------------- text and objects
def test_text_above_or_below_an_object_places_both():
    plan = plan_caption('"SALE" in red below a yellow circle, on white')
    assert sorted(objects(plan), key=str) == sorted([("object", "yellow", "circle", None, "top"),
                                                     ("text", "red", None, "SALE", "bottom")], key=str)
    plan = plan_caption('"Hi" in white at the top, a black star beneath it, on a teal background')
    assert sorted(objects(plan), key=str) == sorted([("object", "black", "star", None, "bottom"),
                                                     ("text", "white", None, "Hi", "top")], key=str)
    assert plan.layers[-1].kind == "text"  # text stays on top


# ------------------------------------------------------------------------------------------ counts
@pytest.mark.parametrize("caption, n", [("nine red stars on blue", 9), ("12 blue dots on white", 12),
                                        ("a dozen yellow circles on navy", 12), ("twenty hearts", 20),
                                        ("eight pink rings", 8)])
def test_counts_past_eight_give_that_many_layers(caption, n):
    plan = plan_caption(caption)
    assert len(plan.layers) == n and len({lay.shape for lay in plan.layers}) == 1


# ------------------------------------------------------------- phrase classes of captions_blind_s17b
def test_a_heading_before_a_colon_is_not_an_object():
    plan = plan_caption("Design a badge: a red star on a blue circle")
    assert sorted(objects(plan)) == [("object", "blue", "circle", None, None), ("object", "red", "star", None, None)]
    assert objects(plan_caption("stars: one gold, one silver"))[1] == ("object", "gray", "star", None, None)


def test_around_puts_the_inner_object_on_the_outer_one():
    plan = plan_caption("a navy ring around a yellow dot on white")
    assert objects(plan) == [("object", "navy", "ring", None, None), ("object", "yellow", "circle", None, None)]
    ring, dot = plan.layers
    assert ring.box[0] <= dot.box[0] and dot.box[2] <= ring.box[2]  # the dot sits inside the ring's box


def test_there_are_starts_the_objects_after_a_background():
    plan = plan_caption("on a purple background there are two orange dots")
    assert bg(plan) == ("solid", ["purple"]) and objects(plan) == [("object", "orange", "circle", None, None)] * 2


def test_an_unknown_thing_in_a_colour_is_an_object_not_the_background():
    plan = plan_caption("a zigzag in teal on a brown background")
    assert bg(plan) == ("solid", ["brown"]) and [(lay.kind, lay.color) for lay in plan.layers] == [("object", "teal")]


def test_a_sign_is_the_whole_image():
    plan = plan_caption('a red sign with "STOP" in white')
    assert bg(plan) == ("solid", ["red"]) and objects(plan) == [("text", "white", None, "STOP", None)]


def test_a_gradient_with_its_colours_is_a_background_even_with_edges_in_it():
    plan = plan_caption("a radial gradient from white in the middle to navy at the edges")
    assert bg(plan) == ("radial", ["white", "navy"]) and plan.layers == []


def test_one_colour_for_a_counted_object_colours_them_all_and_a_list_hands_them_out():
    assert objects(plan_caption("four squares (pink) on white")) == [("object", "pink", "square", None, None)] * 4
    plan = plan_caption("three rings: green, orange and black, on white")
    assert bg(plan) == ("solid", ["white"])
    assert objects(plan) == [("object", c, "ring", None, None) for c in ("green", "orange", "black")]
