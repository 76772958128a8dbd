"""Text layers survive saving and loading: PNG folder and ZIP manifests, ORA layer attributes, PSD resource."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from layerdiff.errors import LayeredFileError
from layerdiff.io import load, save
from layerdiff.layered import Layer, LayeredImage
from layerdiff.text import TextInfo, TextLine
from layerdiff.text.store import ORA_TEXT_ATTR, attach_psd_text, psd_text_payload


def _stack() -> LayeredImage:
    bg = Layer(np.tile(np.array([0.1, 0.2, 0.5, 1.0], np.float32), (40, 60, 1)), name="Background")
    glyphs = np.zeros((10, 30, 4), np.float32)
    glyphs[2:8, 3:27] = (1.0, 0.9, 0.0, 1.0)
    info = TextInfo("Sale ünïcode\nnow", (8, 5, 38, 30), 14.0, 12.5, (255, 230, 0), font_family="DejaVu Serif",
                    font_weight=700, font_style="italic", generic_family="serif", alignment="center",
                    line_height=15.0, lines=[TextLine("Sale ünïcode", (8, 5, 38, 15), 14.0, 7.5, 0.97),
                                             TextLine("now", (18, 20, 28, 30), 29.0, 17.0, 0.91)],
                    confidence=0.94, font_file="/nowhere/DejaVuSerif-BoldItalic.ttf")
    text = Layer(glyphs, name="Text: Sale", offset=(8, 5), text=info)
    plain = Layer(np.ones((5, 5, 4), np.float32), name="Square", offset=(40, 30))
    return LayeredImage((60, 40), [bg, text, plain])


@pytest.mark.parametrize("name", ["out.zip", "out.ora", "out.psd", "folder"])
def test_text_survives_save_and_load(tmp_path, name):
    stack = _stack()
    target = tmp_path / name
    save(stack, target)
    back = load(target)
    assert [layer.name for layer in back] == ["Background", "Text: Sale", "Square"]
    assert back.layers[1].text == stack.layers[1].text
    assert back.layers[0].text is None and back.layers[2].text is None


def test_manifest_and_ora_attribute_hold_the_text(tmp_path):
    stack = _stack()
    save(stack, tmp_path / "f")
    manifest = json.loads((tmp_path / "f" / "manifest.json").read_text("utf-8"))
    assert manifest["layers"][1]["text"]["text"] == "Sale ünïcode\nnow"
    assert "text" not in manifest["layers"][0]
    save(stack, tmp_path / "a.ora")
    with zipfile.ZipFile(tmp_path / "a.ora") as zf:
        xml = zf.read("stack.xml").decode("utf-8")
    assert 'xmlns:layerdiff="https://github.com/layerdiff/layerdiff/ns/ora"' in xml and "layerdiff:text=" in xml
    assert ORA_TEXT_ATTR.endswith("}text")


def test_bad_text_in_manifest_is_a_corrupt_file(tmp_path):
    save(_stack(), tmp_path / "f")
    mpath = tmp_path / "f" / "manifest.json"
    manifest = json.loads(mpath.read_text("utf-8"))
    manifest["layers"][1]["text"]["color"] = "yellow"
    mpath.write_text(json.dumps(manifest), "utf-8")
    with pytest.raises(LayeredFileError, match=r"manifest layer 1 .*colour") as err:
        load(tmp_path / "f")
    assert err.value.reason == "corrupt"


def test_bad_text_in_ora_is_a_corrupt_file(tmp_path):
    save(_stack(), tmp_path / "a.ora")
    broken = tmp_path / "b.ora"
    with zipfile.ZipFile(tmp_path / "a.ora") as src, zipfile.ZipFile(broken, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "stack.xml":
                data = data.replace(b"layerdiff:text=\"{", b"layerdiff:text=\"{{")
            dst.writestr(item, data)
    with pytest.raises(LayeredFileError, match="layer 'Text: Sale': text attribute is not valid JSON"):
        load(broken)


def test_psd_text_is_kept_only_for_the_same_layer(tmp_path: Path):
    stack = _stack()
    payload = psd_text_payload(stack.layers)
    assert payload is not None and psd_text_payload(stack.layers[:1]) is None
    renamed = [layer.copy() for layer in stack.layers]
    for layer in renamed:
        layer.text = None
    renamed[1].name = "Renamed elsewhere"
    assert attach_psd_text(payload, renamed) == []
    assert all(layer.text is None for layer in renamed)  # a renamed layer does not get the text
    assert "unreadable" in attach_psd_text(b"\xff not json", renamed)[0]
    problems = attach_psd_text(json.dumps({"layerdiff-text": [[1, "Text: Sale", {"text": 3}]]}).encode(),
                               stack.layers)
    assert len(problems) == 1 and "kept as pixels" in problems[0]
