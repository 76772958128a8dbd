"""``layerdiff edit IN --layer N --text "New words"``: the text layer is re-rendered in its own style, the
layers below show through where the old words were, and bad requests are one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from layerdiff.cli import main
from layerdiff.io import load, save
from layerdiff.layered import Layer, LayeredImage
from layerdiff.text import TextInfo, TextLine
from layerdiff.text.render import render_text, retypeset

BLUE = np.array([0.1, 0.2, 0.5], np.float32)


def _poster(tmp_path):
    bg = Layer(np.concatenate([np.tile(BLUE, (120, 300, 1)), np.ones((120, 300, 1), np.float32)], -1),
               name="Background")
    line = TextLine("x", (100, 30, 200, 70), 70.0, 100.0)
    info = retypeset(TextInfo("x", (100, 30, 200, 70), 70.0, 40.0, (255, 255, 255), font_family="DejaVu Sans",
                              font_weight=700, alignment="center", lines=[line]), "Grand Sale")
    path = tmp_path / "poster.zip"
    save(LayeredImage((300, 120), [bg, render_text(info, (300, 120))]), path)
    return path


def test_edit_text_rewrites_the_layer_in_its_style(tmp_path, capsys):
    src = _poster(tmp_path)
    out = tmp_path / "out"
    assert main(["edit", str(src), "--layer", "1", "--text", "Big\\nSale", "-o", str(out), "--formats", "zip,svg"]) == 0
    assert "wrote" in capsys.readouterr().out
    before, after = load(src), load(out / "poster_edited.zip")
    old, new = before.layers[1].text, after.layers[1].text
    assert new.text == "Big\nSale" and [ln.text for ln in new.lines] == ["Big", "Sale"]
    assert (new.font_family, new.font_weight, new.font_size, new.color, new.alignment) == (
        old.font_family, old.font_weight, old.font_size, old.color, old.alignment)
    assert new.lines[0].baseline == old.baseline
    centre_old, centre_new = (old.box[0] + old.box[2]) / 2, (new.lines[0].box[0] + new.lines[0].box[2]) / 2
    assert abs(centre_old - centre_new) <= 1  # centred text stays centred
    # No ghost: where the old glyphs were and the new ones are not, the background shows.
    old_a = before.layers[1].on_canvas(before.size)[..., 3]
    new_a = after.layers[1].on_canvas(after.size)[..., 3]
    freed = (old_a > 0.5) & (new_a == 0)
    assert freed.sum() > 100
    assert np.array_equal(after.composite()[freed], after.layers[0].on_canvas(after.size)[freed])
    assert "<text" in (out / "poster_edited.svg").read_text("utf-8")


def test_edit_text_colour_and_size(tmp_path):
    src = _poster(tmp_path)
    out = tmp_path / "o2"
    assert main(["edit", str(src), "--layer", "1", "--color", "#ff0000", "--font-size", "20", "-o", str(out),
                 "--formats", "zip"]) == 0
    info = load(out / "poster_edited.zip").layers[1].text
    assert info.text == "Grand Sale" and info.color == (255, 0, 0) and info.font_size == 20


@pytest.mark.parametrize("extra, message", [
    (["--layer", "0", "--text", "x"], "layer 0 ('Background') has no text"),
    (["--layer", "1"], "give --op, or --text"),
    (["--layer", "1", "--text", "x", "--op", "move"], "do not combine them with --op"),
    (["--layer", "1", "--text", "x", "--color", "red"], "is not '#rrggbb'"),
    (["--layer", "1", "--font-family", "No Such Font"], "not installed"),
])
def test_edit_text_errors_are_one_line(tmp_path, capsys, extra, message):
    src = _poster(tmp_path)
    assert main(["edit", str(src), *extra, "-o", str(tmp_path / "never")]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and err.startswith("layerdiff edit: error:")
    assert not (tmp_path / "never" / "poster_edited.psd").exists()


def test_geometry_and_colour_edits_keep_the_text_in_step(tmp_path):
    """move / scale / recolor of a text layer carry its TextInfo along: the SVG's <text> and a later text
    edit land where the pixels are, in their colour and size."""
    from layerdiff import edit_ops

    stack = load(_poster(tmp_path))
    old = stack.layers[1].text
    moved = edit_ops.move(stack, 1, 30, -10).layers[1].text
    assert moved.box == (old.box[0] + 30, old.box[1] - 10, old.box[2] + 30, old.box[3] - 10)
    assert moved.baseline == old.baseline - 10 and moved.lines[0].x == old.lines[0].x + 30
    assert moved.font_size == old.font_size and stack.layers[1].text == old  # the input is untouched

    scaled = edit_ops.scale(stack, 1, 2.0)
    info, ink, old_ink = scaled.layers[1].text, scaled.layers[1].content_bbox(0.5), stack.layers[1].content_bbox(0.5)
    assert info.font_size == 2 * old.font_size and info.line_height == 2 * old.line_height
    # the text box keeps its place around the glyphs, its margins doubled with them
    assert all(abs((a - b) - 2 * (c - d)) <= 2 for a, b, c, d in zip(info.box, ink, old.box, old_ink))

    recoloured = edit_ops.recolor(stack, 1, "#ff0000").layers[1].text
    assert recoloured.color == (255, 0, 0)
    half = edit_ops.recolor(stack, 1, "#000000", strength=0.5).layers[1].text
    assert half.color == (128, 128, 128)
