"""The demo's text layers, layered SVG download and caption plans (issues 29 and 30), in-process:
the Edit tab shows a text layer's words and style and re-renders it through ``layerdiff.text.edit``; the
downloads include a layered SVG of the current stack; the Generate tab shows the plan of a caption, lets it
be edited and generates from it, and a bad plan is a one-line message."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from demo_server import TEST_MODEL

from demo import app as demo_app
from demo import views
from demo.backend import EXPORT_FORMATS, MAX_PLAN_LAYERS, Session
from layerdiff.data.synth_vocab import COLORS
from layerdiff.errors import LayerdiffError
from layerdiff.layered import Layer, LayeredImage
from layerdiff.planning import LayerPlan, PlanError, plan_caption
from layerdiff.text import TextInfo, TextLine
from layerdiff.text.edit import edit_text_layer
from layerdiff.text.render import render_text, retypeset

SVG = "{http://www.w3.org/2000/svg}"
NAVY = (0.1, 0.2, 0.5)


def text_poster() -> LayeredImage:
    """A 240x100 navy background under a centred white bold "Grand Sale" text layer (40 px)."""
    bg = np.zeros((100, 240, 4), np.float32)
    bg[...] = (*NAVY, 1.0)
    line = TextLine("x", (70, 30, 170, 70), 70.0, 70.0)
    info = retypeset(TextInfo("x", (70, 30, 170, 70), 70.0, 40.0, (255, 255, 255), font_family="DejaVu Sans",
                              font_weight=700, alignment="center", lines=[line]), "Grand Sale")
    return LayeredImage((240, 100), [Layer(bg, name="Background"), render_text(info, (240, 100))])


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> gr.Blocks:
    return demo_app.build_app(default_model=TEST_MODEL, work_dir=tmp_path_factory.mktemp("demo-text-plan"))


def handler(app: gr.Blocks, name: str):
    return next(f.fn for f in app.fns.values() if f.name == name)


def svg_texts(path: str | Path) -> list[ET.Element]:
    return list(ET.parse(path).getroot().iter(f"{SVG}text"))


# ------------------------------------------------------------------ SVG download
def test_svg_download_is_the_current_stack_with_live_text(app) -> None:
    backend, downloads = app.layerdiff_backend, handler(app, "downloads")
    stack = text_poster()
    path = backend.export(stack, "svg", "sale poster")
    assert path.name == "sale_poster_layers.svg"
    root = ET.parse(path).getroot()
    assert len(list(root.iter(f"{SVG}image"))) == 1  # the raster background
    (text,) = svg_texts(path)
    assert text.text == "Grand Sale" and text.get("fill") == "#ffffff" and text.get("font-size") == "40px"
    assert "sans-serif" in text.get("font-family")
    # One click after a text edit: the SVG offered holds the new words.
    session = Session.start(stack, "sale poster")
    _, _, _, _, session = handler(app, "edit_text")(session, 1, "Big Sale", "#ffffff", 40, "DejaVu Sans")
    *offers, _ = downloads(session)
    svg = offers[list(EXPORT_FORMATS).index("svg")].value["path"]
    assert Path(svg).name == "sale_poster_layers.svg" and [t.text for t in svg_texts(svg)] == ["Big Sale"]
    assert Path(handler(app, "export_svg")(session)).read_bytes() == Path(svg).read_bytes()


# ------------------------------------------------------------------ text edits
def test_edit_tab_shows_the_text_layer_fields(app) -> None:
    fields = handler(app, "text_fields")
    session = Session.start(text_poster(), "poster")
    group, words, color, size, family, info = fields(session, 1)
    assert group.visible is True and words == "Grand Sale" and color == "#ffffff" and size == 40.0
    assert family.value == "DejaVu Sans" and "DejaVu Sans" in [c[0] for c in family.choices]
    assert info.startswith("**Layer 1 is a text layer**: 1 line in DejaVu Sans Bold, 40 px, #ffffff")
    group, *skipped, info = fields(session, 0)  # the background: no text fields
    assert group.visible is False and all(isinstance(s, type(gr.skip())) for s in skipped)
    assert "not a text layer" in info
    assert fields(None, None)[-1] == "" and fields(session, 7)[0].visible is False


def test_text_edit_rerenders_through_the_library_and_undoes(app) -> None:
    edit, undo = handler(app, "edit_text"), handler(app, "undo")
    stack = text_poster()
    session = Session.start(stack, "poster")
    _, _, status, layer, session = edit(session, 1, "Big\nSale", "#ffffff", 40, "DejaVu Sans")
    assert status.startswith("Changed text layer 'Text: Grand Sale': to 'Big\\nSale'; *Undo* takes it back.")
    expected = edit_text_layer(stack, 1, "Big\nSale")  # what `layerdiff edit --text` makes
    new = session.image[1]
    assert new.text.to_dict() == expected[1].text.to_dict() and new.name == "Text: Big"
    assert new.offset == expected[1].offset and np.array_equal(new.pixels, expected[1].pixels)
    assert session.image[0] is stack[0] or np.array_equal(session.image[0].pixels, stack[0].pixels)
    assert layer.value == 1 and session.undo_steps == 1
    # Colour, size and font together; only the fields that changed are passed on.
    _, _, status, _, session = edit(session, 1, "Big\nSale", "rgb(255, 0, 0)", 30, "Liberation Serif")
    info = session.image[1].text
    assert (info.color, info.font_size, info.font_family, info.text) == ((255, 0, 0), 30.0, "Liberation Serif",
                                                                         "Big\nSale")
    assert "colour #ff0000, 30 px, font Liberation Serif" in status
    assert session.image[1].pixels[..., 0].max() > 0.99 and session.image[1].pixels[..., 1].max() < 0.01
    _, _, status, _, session = undo(session)
    assert status.startswith("Undid: Changed text layer 'Text: Big'") and session.image[1].text.font_size == 40
    _, _, _, _, session = undo(session)
    assert session.image is stack


@pytest.mark.parametrize("suffix", [".zip", ".ora"])
def test_an_uploaded_file_carrying_text_opens_with_its_text_layer(app, tmp_path, suffix) -> None:
    from layerdiff.io import save

    path = tmp_path / f"sale{suffix}"
    save(text_poster(), path)
    *_, session = handler(app, "open_upload")(str(path))
    group, words, *_ = handler(app, "text_fields")(session, 1)
    assert group.visible is True and words == "Grand Sale"
    _, _, status, _, session = handler(app, "edit_text")(session, 1, "Half Price", "#ffffff", 40, "DejaVu Sans")
    assert session.image[1].text.text == "Half Price" and session.stem == "sale"


@pytest.mark.parametrize("layer, words, color, size, family, message", [
    (0, "x", "#ffffff", 40, "DejaVu Sans", "layer 0 \\('Background'\\) is not a text layer"),
    (1, "Grand Sale", "#ffffff", 40, "DejaVu Sans", "already has these words, colour, size and font"),
    (1, "  ", "#ffffff", 40, "DejaVu Sans", "the new text is empty"),
    (1, "Sale", "white", 40, "DejaVu Sans", "colour 'white' is not '#rrggbb'"),
    (1, "Sale", "#ffffff", -3, "DejaVu Sans", "font size -3 px is outside 1 to 480 px"),
    (1, "Sale", "#ffffff", 40, "No Such Font", "font family 'No Such Font' is not installed here"),
    (None, "Sale", "#ffffff", 40, "DejaVu Sans", "choose a layer to edit"),
])
def test_bad_text_edits_are_one_line_errors(app, layer, words, color, size, family, message) -> None:
    with pytest.raises(gr.Error, match=message) as err:
        handler(app, "edit_text")(Session.start(text_poster(), "p"), layer, words, color, size, family)
    assert "\n" not in str(err.value)
    with pytest.raises(gr.Error, match="nothing to edit yet"):
        handler(app, "edit_text")(Session(), 1, "Sale", "#ffffff", 40, "DejaVu Sans")


def test_move_and_recolour_keep_a_text_layer_in_step(app) -> None:
    """The Edit tab's other buttons on a text layer: its text moves and recolours with its pixels, so the
    SVG's <text> and later text edits follow."""
    backend = app.layerdiff_backend
    stack = text_poster()
    old = stack[1].text
    moved, _, _ = backend.edit(stack, 1, "move", dx=12, dy=-5)
    info = moved[1].text
    assert moved[1].offset == (stack[1].offset[0] + 12, stack[1].offset[1] - 5)
    assert info.box == (old.box[0] + 12, old.box[1] - 5, old.box[2] + 12, old.box[3] - 5)
    assert info.baseline == old.baseline - 5 and info.lines[0].x == old.lines[0].x + 12
    (text,) = svg_texts(backend.export(moved, "svg"))
    assert float(text.get("x")) == pytest.approx(old.lines[0].x + 12, abs=0.01)
    assert float(text.get("y")) == pytest.approx(old.baseline - 5, abs=0.01)
    again, _, _ = backend.edit_text(moved, 1, "Sale")  # re-rendered where the layer now is
    assert again[1].text.baseline == info.baseline
    recoloured, _, message = backend.edit(stack, 1, "recolor", color="#00ff00")
    assert recoloured[1].text.color == (0, 255, 0) and message == "Recoloured layer 'Text: Grand Sale' to #00ff00"
    assert np.array_equal(recoloured[1].pixels[..., 3], stack[1].pixels[..., 3])  # same glyphs, new colour


# ------------------------------------------------------------------ plans
CAPTION = 'a red circle and "Sale" in white on a blue background'


def test_the_plan_of_a_caption_is_shown_as_json_and_a_table(app) -> None:
    show, edited = handler(app, "show_plan"), handler(app, "plan_edited")
    code, table = show(CAPTION)
    assert LayerPlan.from_json(code).to_dict() == plan_caption(CAPTION).to_dict()  # the CLI's --show-plan
    lines = code.splitlines()  # one line per layer: {, background, "layers": [, 2 layers, ], caption, }
    assert len(lines) == 8 and lines[3].lstrip().startswith('{"kind": "object", "phrase": "a red circle"')
    assert table.startswith("**Plan: 3 layers**, bottom to top")
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| #")]
    assert rows[0].startswith("| 0 | a blue background (solid) | blue | – | whole image |")
    assert rows[1] == "| 1 | a red circle | red | circle | (0.28, 0.28)–(0.72, 0.72) |"
    assert rows[2].startswith('| 2 | text "Sale" | white |')
    assert show("  ") == ("", "Type a caption: its layer plan shows here.")
    # Edits are read back as the plan; a bad edit is one line naming the field.
    plan = json.loads(code)
    plan["background"]["colors"] = ["green"]
    assert "| 0 | a blue background (solid) | green |" in edited(json.dumps(plan), CAPTION)
    plan["layers"][0]["place"] = "top left"
    assert "| 1 | a red circle (top left) | red | circle |" in edited(json.dumps(plan), CAPTION)
    plan["layers"][0]["color"] = "reddish"
    message = edited(json.dumps(plan), CAPTION)
    assert message.startswith("**Could not use the plan.** plan: layers[0]: colour 'reddish' is not a "
                              "vocabulary colour")
    assert "\n" not in message
    assert edited('{"background": ', CAPTION).startswith("**Could not use the plan.** plan: not valid JSON")
    assert edited("", CAPTION) == views.plan_table(plan_caption(CAPTION))  # empty box: the caption's plan
    many = {"background": {"kind": "solid", "colors": ["blue"]},
            "layers": [{"kind": "object", "phrase": "a dot"}] * MAX_PLAN_LAYERS}
    assert f"this demo generates at most {MAX_PLAN_LAYERS}" in edited(json.dumps(many), "")


def test_generate_from_the_edited_plan(app) -> None:
    generate = handler(app, "generate")
    plan = json.loads(handler(app, "show_plan")(CAPTION)[0])
    plan["background"]["colors"] = ["green"]  # edited: a green background instead of the caption's blue
    plan["layers"][0]["box"] = None  # the layout places it
    out = generate(CAPTION, 2, TEST_MODEL, 0, 2, "", True, json.dumps(plan), 96, 64)
    gallery, _, status, _, session, code, table = out
    image = session.image
    assert "from its plan (3 layers)" in status and len(gallery) == 3 and image.size == (96, 64)
    bg = image[0].on_canvas(image.size)  # (H, W, 4)
    green = np.asarray(COLORS["green"], np.float32) / 255.0
    assert np.abs(bg[..., :3] - green).max() < 0.02 and bg[..., 3].min() == 1.0  # the edited colour, opaque
    assert image[2].text is not None and image[2].text.text == "Sale"  # the quoted string: a text layer
    used = LayerPlan.from_json(code)
    assert used.layers[0].box is not None and used.background.colors == ["green"]  # the plan as used
    assert "| 0 | a blue background (solid) | green |" in table
    assert session.stem == "a_red_circle_and_Sale_in_white_on_a_blue_backgro"


def test_a_bad_plan_or_size_is_one_line_and_keeps_the_stack(app) -> None:
    generate = handler(app, "generate")

    def message(*args) -> str:
        with pytest.warns(UserWarning):  # gr.Warning: the toast
            out = generate(*args)
        assert all(isinstance(item, type(gr.skip())) for item in out[:6])  # stack and plan box unchanged
        assert out[6].startswith("**Could not use the plan.** ") and "\n" not in out[6]
        return out[6]

    assert "plan: not valid JSON" in message(CAPTION, 2, TEST_MODEL, 0, 2, "", True, "{", 0, 0)
    assert "shape 'blob' is not one of" in message(
        CAPTION, 2, TEST_MODEL, 0, 2, "", True,
        json.dumps({"background": {"kind": "solid", "colors": ["blue"]},
                    "layers": [{"kind": "object", "phrase": "a blob", "shape": "blob"}]}), 0, 0)
    assert "the caption is empty" in message("", 2, TEST_MODEL, 0, 2, "", True, "", 0, 0)
    assert "size 64x0: give a width and a height" in message(CAPTION, 2, TEST_MODEL, 0, 2, "", True, "", 64, 0)
    with pytest.raises(PlanError):
        app.layerdiff_backend.read_plan("[]")
    with pytest.raises(LayerdiffError, match="larger than this server's"):
        app.layerdiff_backend.output_size(5000, 5000)


def test_layer_prompts_or_no_plan_draw_from_the_whole_caption(app) -> None:
    generate = handler(app, "generate")
    out = generate("a red circle on blue", 2, TEST_MODEL, 0, 2, "a blue sky\na red circle", True, "", 0, 0)
    assert "with layer prompts" in out[2] and len(out[4].image) == 2
    assert all(isinstance(item, type(gr.skip())) for item in out[5:])  # the plan box is left alone
    out = generate("a red circle on blue", 3, TEST_MODEL, 0, 2, "", False, "", 0, 0)
    assert "from the whole caption" in out[2] and len(out[4].image) == 3
