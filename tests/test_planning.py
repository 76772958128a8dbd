"""The caption planner: caption -> LayerPlan (background, objects, text, places, boxes), JSON round trip, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from layerdiff.planning import LayerPlan, PlanError, load_plan, plan_caption, save_plan


def objects(plan: LayerPlan) -> list[tuple]:
    return [(lay.kind, lay.color, lay.shape, lay.text, lay.place) for lay in plan.layers]


def test_issue_example_black_circle_on_yellow():
    plan = plan_caption("a black circle on a yellow background")
    assert (plan.background.kind, plan.background.colors) == ("solid", ["yellow"])
    assert objects(plan) == [("object", "black", "circle", None, None)]
    assert plan.layers[0].phrase == "a black circle"
    assert plan.num_layers == 2


def test_two_objects_and_synonyms_map_to_the_vocabulary():
    plan = plan_caption("A crimson disc and a violet oval against a grey backdrop")
    assert plan.background.colors == ["gray"]
    assert objects(plan) == [("object", "red", "circle", None, None), ("object", "purple", "ellipse", None, None)]
    assert [lay.phrase for lay in plan.layers] == ["a red circle", "a purple ellipse"]


@pytest.mark.parametrize("caption", [
    "a pink square and a blue triangle on a green background",
    "On a green background: a pink square, a blue triangle",
    "A green background with a pink square and a blue triangle",
    "a square in pink and a blue-colored triangle, green backdrop",
    "Background: green. A pink square and a blue triangle.",
])
def test_word_orders_give_the_same_plan(caption):
    plan = plan_caption(caption)
    assert (plan.background.kind, plan.background.colors) == ("solid", ["green"])
    assert [(lay.color, lay.shape) for lay in plan.layers] == [("pink", "square"), ("blue", "triangle")]


def test_counts_expand_into_several_layers():
    plan = plan_caption("two stars, three red discs and a pair of blue hearts on white")
    shapes = [(lay.color, lay.shape) for lay in plan.layers]
    assert shapes == [(None, "star")] * 2 + [("red", "circle")] * 3 + [("blue", "heart")] * 2
    boxes = [lay.box for lay in plan.layers]
    assert len(set(boxes)) == len(boxes)  # each copy has a place of its own


def test_compound_number_adjective_is_not_a_count():
    plan = plan_caption("a purple five-pointed star on navy")
    assert objects(plan) == [("object", "purple", "star", None, None)]


def test_colour_list_before_a_plural_gives_one_layer_per_colour():
    plan = plan_caption("red and green stars on white")
    assert [(lay.color, lay.shape) for lay in plan.layers] == [("red", "star"), ("green", "star")]
    plan = plan_caption("a red and a blue star")
    assert [(lay.color, lay.shape) for lay in plan.layers] == [("red", "star"), ("blue", "star")]


def test_spatial_relations_set_places():
    plan = plan_caption("a red star next to a blue circle")
    assert [lay.place for lay in plan.layers] == ["left", "right"]
    assert plan.layers[0].box[2] <= plan.layers[1].box[0]  # left box ends before the right one starts
    plan = plan_caption("a red star above a blue circle")
    assert [lay.place for lay in plan.layers] == ["top", "bottom"]
    assert plan.layers[0].box[3] <= plan.layers[1].box[1]
    plan = plan_caption("a red star, and a blue circle beside it, on black")
    assert [lay.place for lay in plan.layers] == ["left", "right"]


def test_on_another_object_stacks_it_above_and_nests_its_box():
    plan = plan_caption("a small red star on a big blue square on a yellow background")
    assert [lay.shape for lay in plan.layers] == ["square", "star"]  # bottom to top
    square, star = plan.layers[0].box, plan.layers[1].box
    assert square[0] <= star[0] and square[1] <= star[1] and star[2] <= square[2] and star[3] <= square[3]
    assert plan.background.colors == ["yellow"]


def test_explicit_places():
    plan = plan_caption("In the top left, a red heart. A blue rounded rectangle at the bottom-right; gray background")
    assert objects(plan) == [("object", "red", "heart", None, "top left"),
                             ("object", "blue", "rounded rectangle", None, "bottom right")]
    x0, y0, x1, y1 = plan.layers[0].box
    assert x1 <= 0.5 and y1 <= 0.5


def test_quoted_text_becomes_text_layers_on_top():
    plan = plan_caption('A radial red to blue gradient background with the text "SALE" in white bold sans '
                        "and a yellow star")
    assert (plan.background.kind, plan.background.colors) == ("radial", ["red", "blue"])
    assert objects(plan)[0] == ("object", "yellow", "star", None, None)
    text = plan.layers[-1]
    assert (text.kind, text.text, text.color, text.style) == ("text", "SALE", "white", "bold sans")
    plan = plan_caption('navy text reading "Big News" at the top, on a white background')
    assert (plan.layers[0].text, plan.layers[0].color, plan.layers[0].place) == ("Big News", "navy", "top")


@pytest.mark.parametrize("caption, kind, colors, angle", [
    ("a gradient from pink to orange", "linear", ["pink", "orange"], 90.0),
    ("a horizontal red-to-blue gradient", "linear", ["red", "blue"], 0.0),
    ("a background fading from lime green to aqua", "linear", ["green", "teal"], 90.0),
    ("a radial gradient from white to navy", "radial", ["white", "navy"], 90.0),
    ("a yellow background with red polka dots", "dots", ["yellow", "red"], 90.0),
    ("a blue and white striped background", "stripes", ["blue", "white"], 90.0),
])
def test_backgrounds(caption, kind, colors, angle):
    bg = plan_caption(caption).background
    assert (bg.kind, bg.colors, bg.angle) == (kind, colors, angle)


def test_scene_background_and_other_objects_keep_their_words():
    plan = plan_caption("a cat emoji on a background photo of grass")
    assert plan.background.kind == "scene" and "grass" in plan.background.phrase
    assert plan.layers[0].phrase == "a cat emoji" and plan.layers[0].shape is None


def test_decorations_belong_to_their_object():
    plan = plan_caption("a red circle with a white outline and a soft shadow on a teal background")
    assert len(plan.layers) == 1
    assert plan.layers[0].phrase == "a red circle with a white outline and a soft shadow"
    assert plan.layers[0].color == "red"


def test_no_background_named_is_white():
    plan = plan_caption("a red square")
    assert (plan.background.kind, plan.background.colors) == ("solid", ["white"])


def test_every_box_is_inside_the_canvas():
    plan = plan_caption('six stars, two hearts and a ring at the top with "Hello there, world" in red at the bottom')
    for lay in plan.layers:
        x0, y0, x1, y1 = lay.box
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1


def test_empty_caption_is_a_plan_error():
    with pytest.raises(PlanError, match="empty"):
        plan_caption("   ")


def test_json_round_trip(tmp_path):
    plan = plan_caption('two blue stars above a pink ring on a red to blue gradient with "SALE" in white')
    again = LayerPlan.from_json(plan.to_json())
    assert again == plan
    path = tmp_path / "plan.json"
    save_plan(plan, path)
    assert load_plan(path) == plan
    assert json.loads(path.read_text())["background"]["kind"] == "linear"


@pytest.mark.parametrize("change, message", [
    (lambda d: d["layers"][0].update(color="reddish"), "colour 'reddish'"),
    (lambda d: d["layers"][0].update(box=[0.5, 0.5, 0.2, 0.9]), "box"),
    (lambda d: d["layers"][0].update(shape="blob"), "shape 'blob'"),
    (lambda d: d["layers"][0].update(extra=1), "unknown field"),
    (lambda d: d["background"].update(kind="linear", colors=["red"]), "needs 2 colour"),
    (lambda d: d["layers"].append({"kind": "text"}), "non-empty 'text'"),
])
def test_bad_plan_files_are_one_line_errors_naming_the_file(tmp_path, change, message):
    data = plan_caption("a red star on blue").to_dict()
    change(data)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data))
    with pytest.raises(PlanError, match=message) as err:
        load_plan(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_unreadable_plan_file(tmp_path):
    with pytest.raises(PlanError, match="cannot read"):
        load_plan(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(PlanError, match="not valid JSON"):
        load_plan(bad)


def test_a_given_box_is_kept():
    data = plan_caption("a red star").to_dict()
    data["layers"][0]["box"] = [0.1, 0.1, 0.3, 0.3]
    plan = LayerPlan.from_dict(data)
    from layerdiff.planning import assign_boxes

    assert assign_boxes(plan).layers[0].box == (0.1, 0.1, 0.3, 0.3)


def test_dash_separates_and_filler_words_make_no_object():
    plan = plan_caption("a red circle, a blue star - background a green backdrop")
    assert plan.background.colors == ["green"]
    assert [(lay.color, lay.shape) for lay in plan.layers] == [("red", "circle"), ("blue", "star")]
    plan = plan_caption("I'd like, in front, a red heart on kelly green")
    assert objects(plan) == [("object", "red", "heart", None, None)]
    assert plan.background.colors == ["green"]


def test_a_poster_caption_with_objects_outside_the_vocabulary():
    plan = plan_caption('A summer sale poster: an orange to yellow gradient background, a big white sun, two palm '
                        'trees and the words "SUMMER SALE" in navy bold at the top')
    assert (plan.background.kind, plan.background.colors) == ("linear", ["orange", "yellow"])
    assert [lay.phrase for lay in plan.layers[:3]] == ["a big white sun", "a palm tree", "a palm tree"]
    assert plan.layers[0].color == "white" and plan.layers[1].shape is None
    text = plan.layers[3]
    assert (text.text, text.color, text.style, text.place) == ("SUMMER SALE", "navy", "bold sans", "top")


def test_typeset_text_layer_is_named_after_its_words_and_follows_a_text_edit():
    from layerdiff.layered import Layer, LayeredImage
    from layerdiff.planning.draw import draw_text
    from layerdiff.text.edit import edit_text_layer

    plan = plan_caption('a blue poster saying "Grand Opening" in white')
    text = next(layer for layer in plan.layers if layer.text)
    layer = draw_text(text, plan.background, 256, 128)
    assert layer.name == "Text: Grand Opening" and layer.text.text == "Grand Opening"
    assert layer.metadata["caption"] == text.phrase
    bg = Layer(np.ones((128, 256, 4), np.float32), name="background")
    edited = edit_text_layer(LayeredImage((256, 128), [bg, layer]), 1, text="Now Open")
    assert edited.layers[1].name == "Text: Now Open"
