"""Text layers are written to PSD as Photoshop type layers (TySh block, EngineData) over their rendered pixels,
tested by reopening the file with psd-tools and with layerdiff."""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from psd_tools import PSDImage
from psd_tools.constants import TextType

from layerdiff.io import load, save
from layerdiff.io.psd import write_psd
from layerdiff.io.psd_text import engine_string, postscript_name, text_origin, type_tool_data
from layerdiff.layered import Layer, LayeredImage
from layerdiff.text import TextInfo, TextLine
from layerdiff.text.render import render_text

SIZE = (220, 120)


def _info(text: str = "Café – 2026", **style) -> TextInfo:
    lines = text.split("\n")
    boxes = [(12, 20 + 40 * i, 12 + 14 * len(line), 48 + 40 * i) for i, line in enumerate(lines)]
    style = {"font_family": "DejaVu Sans", "font_weight": 700, **style}
    return TextInfo(text, (12, 20, max(b[2] for b in boxes), boxes[-1][3]), 44.0, 30.0, (200, 30, 60),
                    line_height=40.0, lines=[TextLine(line, box, 44.0 + 40 * i, 12.0)
                                             for i, (line, box) in enumerate(zip(lines, boxes, strict=True))],
                    **style)


def _stack(info: TextInfo, depth: int = 8) -> LayeredImage:
    bg = Layer(np.tile(np.array([0.9, 0.85, 0.7, 1.0], np.float32), (SIZE[1], SIZE[0], 1)), name="Background")
    text = render_text(info, SIZE)
    assert text.text is info and 0.0 < text.pixels[..., 3].mean() < 1.0  # real antialiased glyphs
    return LayeredImage(SIZE, [bg, text], bit_depth=depth)


def _type_layer(path: Path):
    layers = list(PSDImage.open(path))
    assert [layer.kind for layer in layers] == ["pixel", "type"]
    return layers[1]


def _style(layer) -> dict:
    runs = layer.engine_dict["StyleRun"]["RunArray"]
    assert len(runs) == 1
    return runs[0]["StyleSheet"]["StyleSheetData"]


def test_psd_tools_opens_a_type_layer_with_the_text_and_style(tmp_path):
    info = _info()
    save(_stack(info), tmp_path / "t.psd")
    layer = _type_layer(tmp_path / "t.psd")
    assert layer.text == "Café – 2026"
    assert layer.text_type == TextType.POINT
    assert layer.transform == (1.0, 0.0, 0.0, 1.0, 12.0, 44.0)  # origin: pen origin on the first baseline
    style = _style(layer)
    assert style["FontSize"] == pytest.approx(30.0)
    assert [float(v) for v in style["FillColor"]["Values"]] == pytest.approx([1.0, 200 / 255, 30 / 255, 60 / 255],
                                                                             abs=1e-5)
    assert layer.resource_dict["FontSet"][style["Font"]]["Name"] == "DejaVuSans-Bold"  # from the installed file
    assert layer.engine_dict["Editor"]["Text"] == "Café – 2026\r"
    assert list(layer.engine_dict["StyleRun"]["RunLengthArray"]) == [len("Café – 2026") + 1]
    paragraph = layer.engine_dict["ParagraphRun"]["RunArray"][0]["ParagraphSheet"]["Properties"]
    assert paragraph["Justification"] == 0
    data = layer._data
    assert (data.left, data.top, data.right, data.bottom) == info.box
    assert data.text_version == 50 and data.version == 1


def test_layerdiff_reads_the_text_and_the_exact_pixels_back(tmp_path):
    stack = _stack(_info())
    save(stack, tmp_path / "t.psd")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # psd-tools reads the type data without a complaint
        back = load(tmp_path / "t.psd")
    assert back.layers[1].text == stack.layers[1].text
    assert back.layers[1].metadata["psd_kind"] == "type"
    assert back.layers[1].offset == stack.layers[1].offset
    assert np.array_equal(np.round(back.layers[1].pixels * 255), np.round(stack.layers[1].pixels * 255))
    write_psd(stack, tmp_path / "raster.psd", type_layers=False)
    raster = load(tmp_path / "raster.psd")  # the same stack without the type block: identical pixels
    assert all(np.array_equal(a.pixels, b.pixels) for a, b in zip(back.layers, raster.layers, strict=True))
    assert np.array_equal(back.composite(), raster.composite())


def test_sixteen_bit_documents_get_type_layers_with_exact_pixels(tmp_path):
    stack = _stack(_info("Deep"), depth=16)
    save(stack, tmp_path / "d.psd")
    assert _type_layer(tmp_path / "d.psd").text == "Deep"
    back = load(tmp_path / "d.psd")
    assert back.bit_depth == 16 and back.layers[1].text == stack.layers[1].text
    assert np.array_equal(np.round(back.layers[1].pixels * 65535), np.round(stack.layers[1].pixels * 65535))


def test_multi_line_centred_text_is_one_paragraph_per_line(tmp_path):
    info = _info("Grand\nOpening ünï", alignment="center")
    save(_stack(info), tmp_path / "m.psd")
    layer = _type_layer(tmp_path / "m.psd")
    assert layer.text == "Grand\rOpening ünï"  # Photoshop's line separator
    engine = layer.engine_dict
    assert engine["Editor"]["Text"] == "Grand\rOpening ünï\r"
    assert list(engine["ParagraphRun"]["RunLengthArray"]) == [6, 12]
    assert [run["ParagraphSheet"]["Properties"]["Justification"] for run in engine["ParagraphRun"]["RunArray"]] \
        == [2, 2]
    style = _style(layer)
    assert bool(style["AutoLeading"]) is False and style["Leading"] == pytest.approx(40.0)
    x0, _, x1, _ = info.box
    assert layer.transform[4:] == ((x0 + x1) / 2, 44.0) == text_origin(info)


@pytest.mark.parametrize("text", ["a (b) \\ c", "\u5c29\u295c\u285c", "emoji 😀 end", ""])
def test_strings_that_need_escaping_come_back_intact(tmp_path, text):
    info = _info(text)
    stack = LayeredImage((40, 40), [Layer(np.ones((4, 4, 4), np.float32), name="Text", text=info)])
    write_psd(stack, tmp_path / "e.psd")
    layer = list(PSDImage.open(tmp_path / "e.psd"))[0]
    assert layer.kind == "type" and layer.text == text
    assert layer.engine_dict["Editor"]["Text"] == text + "\r"
    units = len(text.encode("utf-16-be")) // 2  # run lengths count UTF-16 code units (the emoji is two)
    assert list(layer.engine_dict["StyleRun"]["RunLengthArray"]) == [units + 1]


def test_engine_strings_escape_parentheses_and_backslashes_bytewise():
    assert engine_string("(") == b"(\xfe\xff\x00\\(" + b")"
    assert engine_string("\u5c29") == b"(\xfe\xff\\\\\\))"  # both bytes of U+5C29 are escaped
    assert engine_string("é") == b"(\xfe\xff\x00\xe9)"


def test_type_layers_can_be_turned_off(tmp_path):
    stack = _stack(_info())
    write_psd(stack, tmp_path / "off.psd", type_layers=False)
    assert [layer.kind for layer in PSDImage.open(tmp_path / "off.psd")] == ["pixel", "pixel"]
    assert load(tmp_path / "off.psd").layers[1].text == stack.layers[1].text  # the layerdiff resource still holds it


def test_the_block_layout_follows_the_specification():
    info = _info("Hi")
    data = type_tool_data(info, "DejaVuSans-Bold")
    assert len(data) % 4 == 0
    version, *transform, text_version, descriptor_version = struct.unpack(">H6dHI", data[:56])
    assert (version, text_version, descriptor_version) == (1, 50, 16)
    assert transform == [1.0, 0.0, 0.0, 1.0, 12.0, 44.0]
    assert b"TxLr" in data[56:80] and b"EngineData" in data and b"warpStyle" in data
    end = data.rindex(b"Hrzn") + 4  # the warp descriptor's last value (warpRotate: enum Ornt Hrzn)
    assert struct.unpack(">4i", data[end:end + 16]) == info.box  # left, top, right, bottom as 4-byte integers
    assert not data[end + 16:].strip(b"\x00")  # then only the padding
    huge = TextInfo("Far", (0, -2**40, 2**40, 10), 5.0, 12.0, (0, 0, 0))
    wide = type_tool_data(huge, "X")  # bounds beyond 32 bits are clamped, not a struct error
    end = wide.rindex(b"Hrzn") + 4
    assert struct.unpack(">4i", wide[end:end + 16]) == (0, -(2**31 - 1), 2**31 - 1, 10)


def test_postscript_names(tmp_path):
    assert postscript_name(_info()) == ("DejaVuSans-Bold", 1)
    assert postscript_name(_info(font_weight=400)) == ("DejaVuSans", 1)
    unknown = _info(font_family="No Such Font 9", font_weight=700, font_style="italic")
    assert postscript_name(unknown) == ("NoSuchFont9-BoldItalic", 1)
    assert postscript_name(_info(font_family="No Such Font 9", font_weight=400)) == ("NoSuchFont9-Regular", 1)
    # a font file of another family (a stale hint) is not taken for this family's name
    serif = _info(font_family="No Such Font 9", font_file="/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")
    assert postscript_name(serif)[0] == "NoSuchFont9-Bold"
    bad = tmp_path / "broken.ttf"
    bad.write_bytes(b"\x00\x01\x00\x00\x00\x05")
    assert postscript_name(_info(font_family="Broken", font_file=str(bad)))[0] == "Broken-Bold"


def _edit_type_layer(path: Path, data: bytes) -> None:
    """Replace the type data of the file's type layer, as an editor saving an edited text would."""
    from psd_tools.constants import Tag
    from psd_tools.psd.tagged_blocks import TaggedBlock

    psd = PSDImage.open(path)
    layer = [layer for layer in psd if layer.kind == "type"][0]
    layer._record.tagged_blocks[Tag.TYPE_TOOL_OBJECT_SETTING] = TaggedBlock(
        key=Tag.TYPE_TOOL_OBJECT_SETTING, data=data)
    with open(path, "wb") as fh:
        psd._record.write(fh)


def test_text_edited_in_another_editor_is_read_from_the_type_layer(tmp_path):
    stack = _stack(_info())
    save(stack, tmp_path / "t.psd")
    edited = _info("New words\nhere", font_family="DejaVu Serif", font_weight=400, font_style="italic",
                   alignment="right")
    edited.color, edited.font_size, edited.line_height = (10, 200, 30), 36.0, 42.0
    _edit_type_layer(tmp_path / "t.psd", type_tool_data(edited, "DejaVuSerif-Italic"))
    back = load(tmp_path / "t.psd").layers[1]
    info = back.text
    assert info.text == "New words\nhere" and [line.text for line in info.lines] == ["New words", "here"]
    assert (info.font_family, info.font_weight, info.font_style, info.generic_family) == \
        ("DejaVu Serif", 400, "italic", "serif")
    assert info.font_size == pytest.approx(36.0) and info.color == (10, 200, 30)
    assert info.alignment == "right" and info.line_height == pytest.approx(42.0)
    assert info.baseline == pytest.approx(44.0) and info.box == back.bbox  # the box is the pixels' box
    assert [line.baseline for line in info.lines] == pytest.approx([44.0, 86.0])


def test_unchanged_type_layers_keep_layerdiffs_text_info(tmp_path):
    stack = _stack(_info())
    save(stack, tmp_path / "t.psd")
    # the same look under another machine's PostScript name for the family: layerdiff's exact TextInfo stays
    _edit_type_layer(tmp_path / "t.psd", type_tool_data(stack.layers[1].text, "DejaVuSansPS-BoldMT"))
    assert load(tmp_path / "t.psd").layers[1].text == stack.layers[1].text


def test_a_style_edit_alone_is_read_from_the_type_layer(tmp_path):
    stack = _stack(_info())
    save(stack, tmp_path / "t.psd")
    recoloured = _info()
    recoloured.color = (0, 0, 0)
    _edit_type_layer(tmp_path / "t.psd", type_tool_data(recoloured, "DejaVuSans-Bold"))
    info = load(tmp_path / "t.psd").layers[1].text
    assert info.text == "Café – 2026" and info.color == (0, 0, 0) and info.font_family == "DejaVu Sans"


def test_unreadable_edited_type_data_drops_the_stale_text_with_a_warning(tmp_path, monkeypatch):
    import layerdiff.io.psd_text as psd_text

    save(_stack(_info()), tmp_path / "t.psd")
    monkeypatch.setattr(psd_text, "engine_data", lambda *args: b"<< /EngineDict << /Editor << >> >> >>")
    _edit_type_layer(tmp_path / "t.psd", type_tool_data(_info("Changed"), "X"))
    with pytest.warns(UserWarning, match="type data is unreadable"):
        back = load(tmp_path / "t.psd")
    assert back.layers[1].text is None and back.layers[1].pixels[..., 3].max() > 0


def _keys(node) -> set[str]:
    return {str(getattr(key, "value", key)) for key in node.keys()}


@pytest.mark.psd_corpus
def test_engine_data_has_every_key_of_photoshops_own_type_layers(tmp_path):
    from conftest import PSD_CORPUS

    theirs = [layer for layer in PSDImage.open(PSD_CORPUS / "text.psd").descendants() if layer.kind == "type"][0]
    newer = [layer for layer in PSDImage.open(PSD_CORPUS / "layers__type-layer.psd").descendants()
             if layer.kind == "type"][0]
    save(_stack(_info()), tmp_path / "t.psd")
    ours = _type_layer(tmp_path / "t.psd")
    assert _keys(theirs.engine_dict) <= _keys(ours.engine_dict)
    for layer in (theirs, ours):
        assert _keys(layer._engine_data) == {"EngineDict", "ResourceDict", "DocumentResources"}
    assert _keys(theirs.resource_dict) == _keys(ours.resource_dict)
    def entries(layer, name: str) -> list[dict[str, str]]:
        return [{str(getattr(k, "value", k)): str(v) for k, v in entry.items()} for entry in layer.resource_dict[name]]

    for name in ("KinsokuSet", "MojiKumiSet"):  # Photoshop's default line-breaking tables, value for value
        assert entries(theirs, name) == entries(ours, name)
    assert _keys(_style(theirs)) <= _keys(_style(ours))
    assert _keys(theirs.resource_dict["StyleSheetSet"][0]["StyleSheetData"]) == \
        _keys(ours.resource_dict["StyleSheetSet"][0]["StyleSheetData"])
    paragraph = ["ParagraphRun", "RunArray"]
    assert _keys(theirs.engine_dict[paragraph[0]][paragraph[1]][0]["ParagraphSheet"]["Properties"]) == \
        _keys(ours.engine_dict[paragraph[0]][paragraph[1]][0]["ParagraphSheet"]["Properties"])
    assert _keys(theirs._data.text_data) <= _keys(ours._data.text_data)  # newer files add bounds, boundingBox
    assert _keys(theirs._data.warp) == _keys(ours._data.warp)
    assert theirs.text_type == ours.text_type == TextType.POINT
    assert _keys(newer._data.text_data) == _keys(ours._data.text_data)
