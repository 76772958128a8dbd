"""Photoshop type layers: the ``TySh`` tagged block ("type tool object setting") for a text layer.

A text layer written to PSD keeps its rasterised pixels as the layer's pixel data (readers that do not
render text show them) and gains a ``TySh`` block that makes Photoshop-compatible readers see a point-type
layer holding its wording, font, size, colour, leading and alignment. The block is, in order (Photoshop File
Format Specification, "Type tool object setting"):

- version (2 bytes, 1) and the transform ``xx xy yx yy tx ty`` (6 big-endian doubles): identity scale and
  ``(tx, ty)`` the text origin (the first baseline at the left edge, centre or right edge of the block,
  following the alignment);
- text version (2 bytes, 50), descriptor version (4 bytes, 16) and the text descriptor (class ``TxLr``):
  ``Txt `` (the wording, lines separated by ``"\\r"``), gridding, orientation, anti-aliasing, the layout and
  ink bounds relative to the origin, the text index and ``EngineData``: the text engine's own markup
  (:func:`engine_data`);
- warp version (2 bytes, 1), descriptor version (4 bytes, 16) and the warp descriptor (class ``warp``, no
  warp);
- the block's bounds on the canvas: left, top, right, bottom as 4-byte integers (what Photoshop, psd-tools
  and GIMP read, although the specification text says 8 bytes each).

The text engine markup is a PostScript-like dictionary: ``<< /Key value ... >>``, arrays ``[ ... ]``,
numbers (a float always carries a ``.``), ``true``/``false`` and strings in parentheses holding UTF-16BE
with a byte-order mark, where the bytes ``(``, ``)`` and ``\\`` are escaped with a backslash. Its text
ends with one ``"\\r"`` more than ``Txt `` (every paragraph is closed), and run lengths count UTF-16 code
units. Font size and leading are in points; a document without a resolution resource is 72 ppi, so one
point is one pixel.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..text.info import TextInfo, TextLine

__all__ = ["TYPE_TOOL_KEY", "type_tool_data", "engine_data", "postscript_name", "add_type_layer",
           "type_layer_text", "reconcile_type_layers"]

TYPE_TOOL_KEY = b"TySh"
_INT32 = 2**31 - 1
_JUSTIFICATION = {"left": 0, "right": 1, "center": 2}  # the text engine's paragraph Justification codes
_ALIGNMENT = {code: name for name, code in _JUSTIFICATION.items()}
# Photoshop's default Japanese line-breaking tables (kinsoku: characters that may not start or end a line),
# which every type layer Photoshop writes carries in its resources; their values are the format's defaults.
_KINSOKU_SOFT = {
    "NoStart": "\u3001\u3002\uff0c\uff0e\u30fb\uff1a\uff1b\uff1f\uff01\u2019\u201d\uff09\u3015\uff3d\uff5d\u3009"
               "\u300b\u300d\u300f\u3011\u30fd\u30fe\u309d\u309e\u3005",
    "NoEnd": "\u2018\u201c\uff08\u3014\uff3b\uff5b\u3008\u300a\u300c\u300e\u3010",
}
_KINSOKU = [
    {"Name": "PhotoshopKinsokuHard",
     "NoStart": "\u3001\u3002\uff0c\uff0e\u30fb\uff1a\uff1b\uff1f\uff01\u30fc\u2015\u2019\u201d\uff09\u3015\uff3d"
                "\uff5d\u3009\u300b\u300d\u300f\u3011\u30fd\u30fe\u309d\u309e\u3005\u3041\u3043\u3045\u3047\u3049"
                "\u3063\u3083\u3085\u3087\u308e\u30a1\u30a3\u30a5\u30a7\u30a9\u30c3\u30e3\u30e5\u30e7\u30ee\u30f5"
                "\u30f6\u309b\u309c?!)]},.:;\u2103\u2109\xa2\uff05\u2030",
     "NoEnd": _KINSOKU_SOFT["NoEnd"] + "([{\uffe5\uff04\xa3\uff20\xa7\u3012\uff03",
     "Keep": "\u2015\u2025", "Hanging": "\u3001\u3002.,"},
    {"Name": "PhotoshopKinsokuSoft", **_KINSOKU_SOFT, "Keep": "\u2015\u2025", "Hanging": "\u3001\u3002.,"},
]
_MOJIKUMI = [{"InternalName": f"Photoshop6MojiKumiSet{i}"} for i in range(1, 5)]
_PS_NAME_BAD = re.compile(r"[^!-~]|[\[\](){}<>/%]")  # characters a PostScript font name may not hold


# --------------------------------------------------------------------------- text engine markup
def _number(value: float) -> bytes:
    """A float as the text engine writes it: always with a decimal point (``48.0``, ``0.5``)."""
    text = f"{float(value):.6f}".rstrip("0")
    if text in ("-0.", "0."):
        return b"0.0"
    return (text + "0" if text.endswith(".") else text).encode("ascii")


def engine_string(text: str) -> bytes:
    """``text`` as a text engine string: ``(`` UTF-16BE with a byte-order mark ``)``, with ``(``, ``)`` and
    ``\\`` bytes escaped by a backslash."""
    raw = b"\xfe\xff" + text.encode("utf-16-be")
    return b"(" + re.sub(rb"([()\\])", rb"\\\1", raw) + b")"


def _scalar(value: Any) -> bytes:
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, int):
        return str(value).encode("ascii")
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        return engine_string(value)
    if isinstance(value, list):
        return b"[ " + b"".join(_scalar(v) + b" " for v in value) + b"]"
    raise TypeError(f"no text engine form for {type(value).__name__}")


def _dictionary(entries: dict[str, Any], depth: int) -> bytes:
    """``entries`` as a ``<< ... >>`` block indented by ``depth`` tabs (dictionaries and arrays of
    dictionaries open on their own lines, scalars follow their key)."""
    tab = b"\t" * depth
    out = [tab + b"<<\n"]
    for key, value in entries.items():
        head = tab + b"\t/" + key.encode("ascii")
        if isinstance(value, dict):
            out.append(head + b"\n" + _dictionary(value, depth + 1))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            out.append(head + b" [\n" + b"".join(_dictionary(v, depth + 2) for v in value) + tab + b"\t]\n")
        else:
            out.append(head + b" " + _scalar(value) + b"\n")
    out.append(tab + b">>\n")
    return b"".join(out)


def _units(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (how the text engine counts run lengths)."""
    return len(text.encode("utf-16-be")) // 2


def _color(rgb: tuple[int, int, int]) -> dict[str, Any]:
    return {"Type": 1, "Values": [1.0, *(round(c / 255.0, 6) for c in rgb)]}


def _paragraph(justification: int) -> dict[str, Any]:
    return {"Justification": justification, "FirstLineIndent": 0.0, "StartIndent": 0.0, "EndIndent": 0.0,
            "SpaceBefore": 0.0, "SpaceAfter": 0.0, "AutoHyphenate": False, "HyphenatedWordSize": 6,
            "PreHyphen": 2, "PostHyphen": 2, "ConsecutiveHyphens": 8, "Zone": 36.0,
            "WordSpacing": [0.8, 1.0, 1.33], "LetterSpacing": [0.0, 0.0, 0.0], "GlyphSpacing": [1.0, 1.0, 1.0],
            "AutoLeading": 1.2, "LeadingType": 0, "Hanging": False, "Burasagari": False, "KinsokuOrder": 0,
            "EveryLineComposer": False}


def _style(font: int, size: float, leading: float | None, rgb: tuple[int, int, int]) -> dict[str, Any]:
    style: dict[str, Any] = {"Font": font, "FontSize": float(size), "FauxBold": False, "FauxItalic": False}
    style.update({"AutoLeading": leading is None, "Leading": 0.0 if leading is None else float(leading)})
    style.update({"HorizontalScale": 1.0, "VerticalScale": 1.0, "Tracking": 0, "AutoKerning": True,
                  "Kerning": 0, "BaselineShift": 0.0, "FontCaps": 0, "FontBaseline": 0, "Underline": False,
                  "Strikethrough": False, "Ligatures": True, "DLigatures": False, "BaselineDirection": 2,
                  "Tsume": 0.0, "StyleRunAlignment": 2, "Language": 0, "NoBreak": False,
                  "FillColor": _color(rgb), "StrokeColor": _color((0, 0, 0)), "FillFlag": True,
                  "StrokeFlag": False, "FillFirst": True, "YUnderline": 1, "OutlineWidth": 1.0,
                  "CharacterDirection": 0, "HindiNumbers": False, "Kashida": 1, "DiacriticPos": 2})
    return style


def engine_data(info: TextInfo, font_name: str, font_type: int = 1) -> bytes:
    """The ``EngineData`` of a point-type layer showing ``info``: one paragraph per line (``"\\n"`` in
    ``info.text``) with the block's alignment, one style run (font ``font_name`` as a PostScript name,
    size, leading, fill colour) over the whole text, and the resources the runs refer to (font 0 is
    ``font_name``; font 1 is Photoshop's invisible placeholder font, which the default style uses)."""
    paragraphs = info.text.split("\n")
    text = "\r".join(paragraphs) + "\r"  # every paragraph closed by "\r", as the text engine stores it
    justification = _JUSTIFICATION[info.alignment]
    adjustments = {"Axis": [1.0, 0.0, 1.0], "XY": [0.0, 0.0]}
    resources = {
        "KinsokuSet": _KINSOKU,
        "MojiKumiSet": _MOJIKUMI,
        "TheNormalStyleSheet": 0,
        "TheNormalParagraphSheet": 0,
        "ParagraphSheetSet": [{"Name": "Normal RGB", "DefaultStyleSheet": 0, "Properties": _paragraph(0)}],
        "StyleSheetSet": [{"Name": "Normal RGB", "StyleSheetData": _style(1, 12.0, None, (0, 0, 0))}],
        "FontSet": [{"Name": font_name, "Script": 0, "FontType": font_type, "Synthetic": 0},
                    {"Name": "AdobeInvisFont", "Script": 0, "FontType": 0, "Synthetic": 0}],
        "SuperscriptSize": 0.583, "SuperscriptPosition": 0.333, "SubscriptSize": 0.583,
        "SubscriptPosition": 0.333, "SmallCapSize": 0.7,
    }
    root = {
        "EngineDict": {
            "Editor": {"Text": text},
            "ParagraphRun": {
                "DefaultRunData": {"ParagraphSheet": {"DefaultStyleSheet": 0, "Properties": {}},
                                   "Adjustments": adjustments},
                "RunArray": [{"ParagraphSheet": {"DefaultStyleSheet": 0, "Properties": _paragraph(justification)},
                              "Adjustments": adjustments} for _ in paragraphs],
                "RunLengthArray": [_units(p) + 1 for p in paragraphs],
                "IsJoinable": 1,
            },
            "StyleRun": {
                "DefaultRunData": {"StyleSheet": {"StyleSheetData": {}}},
                "RunArray": [{"StyleSheet": {"StyleSheetData": _style(0, info.font_size, info.line_height,
                                                                       info.color)}}],
                "RunLengthArray": [_units(text)],
                "IsJoinable": 2,
            },
            "GridInfo": {"GridIsOn": False, "ShowGrid": False, "GridSize": 18.0, "GridLeading": 22.0,
                         "GridColor": _color((0, 0, 255)), "GridLeadingFillColor": _color((0, 0, 255)),
                         "AlignLineHeightToGridFlags": False},
            "AntiAlias": 3,  # smooth, as the descriptor's AntA (AnSm) says
            "UseFractionalGlyphWidths": True,
            "Rendered": {"Version": 1, "Shapes": {"WritingDirection": 0, "Children": [{
                "ShapeType": 0, "Procession": 0, "Lines": {"WritingDirection": 0, "Children": []},
                "Cookie": {"Photoshop": {"ShapeType": 0, "PointBase": [0.0, 0.0], "Base": {
                    "ShapeType": 0, "TransformPoint0": [1.0, 0.0], "TransformPoint1": [0.0, 1.0],
                    "TransformPoint2": [0.0, 0.0]}}}}]}},
        },
        "ResourceDict": resources,
        "DocumentResources": resources,
    }
    return b"\n\n" + _dictionary(root, 0)


# --------------------------------------------------------------------------- action descriptors
def _u32(value: int) -> bytes:
    return struct.pack(">I", value)


def _id(name: str) -> bytes:
    """A class ID or key: a four-character code as length 0 plus the code, else length plus ASCII."""
    raw = name.encode("ascii")
    return _u32(0) + raw if len(raw) == 4 else _u32(len(raw)) + raw


def _unicode(text: str) -> bytes:
    units = (text + "\x00").encode("utf-16-be")  # count includes the terminating null
    return _u32(len(units) // 2) + units


def _descriptor(class_id: str, items: list[tuple[str, bytes]]) -> bytes:
    """An action descriptor: empty name, class ID, item count, then each key with its typed value."""
    return _unicode("") + _id(class_id) + _u32(len(items)) + b"".join(_id(key) + value for key, value in items)


def _enum(kind: str, value: str) -> bytes:
    return b"enum" + _id(kind) + _id(value)


def _points(value: float) -> bytes:
    return b"UntF#Pnt" + struct.pack(">d", float(value))


def _box(class_id: str, box: tuple[float, float, float, float]) -> bytes:
    return b"Objc" + _descriptor(class_id, [(key, _points(v)) for key, v in zip(("Left", "Top ", "Rght", "Btom"),
                                                                             box, strict=True)])


def text_origin(info: TextInfo) -> tuple[float, float]:
    """Where a point-type layer's origin lies on the canvas: the first baseline, at the left pen origin,
    the centre or the right edge of the block following its alignment."""
    x0, _, x1, _ = info.box
    if info.alignment == "center":
        x = (x0 + x1) / 2.0
    elif info.alignment == "right":
        x = float(x1)
    else:
        x = float(info.lines[0].x) if info.lines else float(x0)
    return x, float(info.baseline)


def type_tool_data(info: TextInfo, font_name: str, font_type: int = 1) -> bytes:
    """The ``TySh`` block's data for ``info`` (see the module docstring), padded to a multiple of 4 bytes."""
    tx, ty = text_origin(info)
    x0, y0, x1, y1 = info.box
    ink = (x0 - tx, y0 - ty, x1 - tx, y1 - ty)
    count = info.text.count("\n")
    layout = (min(ink[0], 0.0), min(ink[1], -0.8 * info.font_size),
              max(ink[2], 0.0), max(ink[3], 0.25 * info.font_size + count * info.line_height))
    text = info.text.replace("\n", "\r")
    engine = engine_data(info, font_name, font_type)
    descriptor = _descriptor("TxLr", [
        ("Txt ", b"TEXT" + _unicode(text)),
        ("textGridding", _enum("textGridding", "None")),
        ("Ornt", _enum("Ornt", "Hrzn")),
        ("AntA", _enum("Annt", "AnSm")),
        ("bounds", _box("bounds", layout)),
        ("boundingBox", _box("boundingBox", ink)),
        ("TextIndex", b"long" + struct.pack(">i", 0)),
        ("EngineData", b"tdta" + _u32(len(engine)) + engine),
    ])
    warp = _descriptor("warp", [
        ("warpStyle", _enum("warpStyle", "warpNone")),
        ("warpValue", b"doub" + struct.pack(">d", 0.0)),
        ("warpPerspective", b"doub" + struct.pack(">d", 0.0)),
        ("warpPerspectiveOther", b"doub" + struct.pack(">d", 0.0)),
        ("warpRotate", _enum("Ornt", "Hrzn")),
    ])
    data = (struct.pack(">H6dH", 1, 1.0, 0.0, 0.0, 1.0, tx, ty, 50) + _u32(16) + descriptor
            + struct.pack(">H", 1) + _u32(16) + warp
            + struct.pack(">4i", *(min(max(v, -_INT32), _INT32) for v in info.box)))
    return data + b"\x00" * (-len(data) % 4)


# --------------------------------------------------------------------------- font names
def _sfnt_names(path: str) -> dict[int, str]:
    """Name-table strings (name ID -> string) of a TrueType/OpenType file (the first face of a collection);
    empty when the file cannot be read as one."""
    try:
        data = Path(path).read_bytes()
        base = struct.unpack(">I", data[12:16])[0] if data[:4] == b"ttcf" else 0
        (tables,) = struct.unpack(">H", data[base + 4:base + 6])
        for i in range(tables):
            tag, _, offset, _ = struct.unpack(">4sIII", data[base + 12 + 16 * i:base + 28 + 16 * i])
            if tag == b"name":
                break
        else:
            return {}
        _, count, strings = struct.unpack(">HHH", data[offset:offset + 6])
        names: dict[int, str] = {}
        for j in range(count):
            platform, _, _, name_id, length, start = struct.unpack(
                ">6H", data[offset + 6 + 12 * j:offset + 18 + 12 * j])
            raw = data[offset + strings + start:offset + strings + start + length]
            text = raw.decode("utf-16-be", "replace") if platform in (0, 3) else raw.decode("mac_roman")
            if platform in (0, 3) or name_id not in names:  # Unicode records win over Macintosh ones
                names[name_id] = text
        return names
    except (OSError, struct.error, ValueError):
        return {}


def _synthetic_name(info: TextInfo) -> str:
    suffix = ("Bold" if info.font_weight >= 600 else "") + ("Italic" if info.font_style == "italic" else "")
    return f"{re.sub(r'[^A-Za-z0-9]', '', info.font_family) or 'Font'}-{suffix or 'Regular'}"


def postscript_name(info: TextInfo) -> tuple[str, int]:
    """The PostScript name Photoshop looks the font up by, and the text engine's font type (0 for
    PostScript-outline OpenType, 1 otherwise).

    Read from the font file of ``info``'s family on this machine (``info.font_file`` when it is that
    family's file here, else the closest face of the family that :func:`layerdiff.text.fonts.find_face`
    finds); when the family is not installed, built from the family name, weight and style
    (``"DejaVuSans-Bold"``).
    """
    from ..text.fonts import available_fonts, find_face

    family = info.font_family.lower()
    paths = []
    if info.font_file and Path(info.font_file).is_file():
        paths.append(info.font_file)
    if any(face.family.lower() == family for face in available_fonts()):
        paths.append(find_face(info.font_family, info.font_weight, info.font_style, info.generic_family).path)
    for path in paths:
        names = _sfnt_names(path)
        if names.get(6) and (names.get(16) or names.get(1) or "").lower() == family:
            return _PS_NAME_BAD.sub("", names[6])[:63] or _synthetic_name(info), 0 if path.endswith(".otf") else 1
    return _synthetic_name(info), 1


def add_type_layer(layer: Any, info: TextInfo) -> None:
    """Give ``layer`` (a psd-tools pixel layer being written) a ``TySh`` block describing ``info``, which
    makes it a type layer; its pixel data is left as it is."""
    from psd_tools.constants import Tag
    from psd_tools.psd.tagged_blocks import TaggedBlock

    name, font_type = postscript_name(info)
    key = Tag.TYPE_TOOL_OBJECT_SETTING
    layer._record.tagged_blocks[key] = TaggedBlock(key=key, data=type_tool_data(info, name, font_type))


# --------------------------------------------------------------------------- reading back
def _field(node: Any, *keys: str) -> Any:
    for key in keys:
        node = node[key]
    return node


def _face_of(ps_name: str, base: TextInfo) -> tuple[str, int, str, str, str | None]:
    """Family, weight, style, generic family and font file for a PostScript font name: ``base``'s own when
    the name is the one :func:`postscript_name` gives ``base``, else the installed family whose name
    without spaces starts the PostScript name (the family part itself when none is installed)."""
    from ..text.fonts import available_fonts, generic_of

    if ps_name == postscript_name(base)[0]:
        return base.font_family, base.font_weight, base.font_style, base.generic_family, base.font_file
    prefix, _, suffix = ps_name.partition("-")
    low = suffix.lower()
    weight = 700 if any(w in low for w in ("bold", "black", "heavy")) else 400
    style = "italic" if any(w in low for w in ("italic", "oblique")) else "normal"
    key = re.sub(r"[^a-z0-9]", "", prefix.lower())
    families = {re.sub(r"[^a-z0-9]", "", face.family.lower()): face for face in available_fonts()}
    face = families.get(key)
    if face is None:
        return prefix or base.font_family, weight, style, generic_of(prefix), None
    return face.family, weight, style, face.generic, None


def type_layer_text(layer: Any, base: TextInfo) -> TextInfo:
    """The :class:`TextInfo` a psd-tools type layer shows now: wording, size, colour, leading, alignment and
    font from its type data (the first style and paragraph run), the ink box from its pixels; ``base``
    (what layerdiff wrote for this layer) fills in what the type data does not say. Raises ``KeyError``,
    ``IndexError``, ``TypeError`` or ``ValueError`` on type data it cannot read."""
    text = layer.text.replace("\r", "\n")
    xx, xy, yx, yy, tx, ty = (float(v) for v in layer.transform)
    scale = math.sqrt(abs(xx * yy - xy * yx)) or 1.0
    style = _field(layer.engine_dict, "StyleRun", "RunArray")[0]["StyleSheet"]["StyleSheetData"]
    size = float(style["FontSize"]) * scale if "FontSize" in style else base.font_size
    color = base.color
    fill = style.get("FillColor")
    if fill is not None and int(fill["Type"]) == 1:  # RGB: [alpha, r, g, b] in [0, 1]
        color = tuple(round(float(v) * 255) for v in list(fill["Values"])[1:4])
    leading = float(style["Leading"]) * scale if "Leading" in style and not bool(style.get("AutoLeading", True)) \
        else round(1.2 * size, 2)
    paragraph = _field(layer.engine_dict, "ParagraphRun", "RunArray")[0]["ParagraphSheet"]["Properties"]
    alignment = _ALIGNMENT.get(int(paragraph.get("Justification", 0)), "left")
    family, weight, font_style, generic, font_file = _face_of(
        str(layer.resource_dict["FontSet"][int(style["Font"])]["Name"]), base)
    if bool(style.get("FauxBold", False)):
        weight = 700
    if bool(style.get("FauxItalic", False)):
        font_style = "italic"
    x0, y0, x1, y1 = (int(v) for v in layer.bbox)
    box = (x0, y0, max(x1, x0), max(y1, y0))
    lines = []
    for i, words in enumerate(text.split("\n")):
        baseline = ty + i * leading
        line_box = (x0, min(max(round(baseline - 0.8 * size), y0), box[3]), box[2],
                    min(max(round(baseline + 0.25 * size), y0), box[3]))
        lines.append(TextLine(words, line_box, baseline, tx if alignment == "left" else float(x0)))
    return TextInfo(text, box, ty, size, color, font_family=family, font_weight=weight, font_style=font_style,
                    generic_family=generic, alignment=alignment, line_height=leading, lines=lines,
                    confidence=1.0, font_file=font_file)


def reconcile_type_layers(psd: Any, layers: Sequence[Any]) -> list[str]:
    """After layerdiff's text resource is attached (:func:`layerdiff.text.store.attach_psd_text`): a layer
    whose Photoshop type layer now shows something other than the attached :class:`TextInfo` (its wording or
    style was edited in Photoshop or another editor after layerdiff wrote the file) takes its text and style
    from the type layer (:func:`type_layer_text`), so the text matches the pixels. Type layers are matched to
    ``layers`` by name, in stacking order; a type layer that still shows the same wording and style leaves
    layerdiff's exact :class:`TextInfo` in place. Returns the problems found (edited wording with unreadable
    type data: the layer keeps its pixels and loses the stale text)."""
    pending = [layer for layer in layers if layer.text is not None and layer.metadata.get("psd_kind") == "type"]
    if not pending:
        return []
    sources: dict[str, list[Any]] = {}
    for source in psd.descendants():
        if source.kind == "type":
            sources.setdefault(source.name, []).append(source)
    problems = []
    for layer in pending:
        candidates = sources.get(layer.name)
        if not candidates:
            continue
        source = candidates.pop(0)
        try:
            now = type_layer_text(source, layer.text)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as err:
            if source.text.replace("\r", "\n") != layer.text.text:
                layer.text = None
                problems.append(f"layer {layer.name!r}: its type layer was edited and its type data is "
                                f"unreadable ({type(err).__name__}: {err}); kept as pixels")
            continue
        if not _same_look(now, layer.text):
            layer.text = now
    return problems


def _same_look(now: TextInfo, written: TextInfo) -> bool:
    """Whether a type layer still shows what layerdiff wrote: the same wording, size, colour, alignment and
    font (family compared without spaces and case, as a prefix of the PostScript-derived name)."""
    def key(family: str) -> str:
        return re.sub(r"[^a-z0-9]", "", family.lower())

    return (now.text == written.text and abs(now.font_size - written.font_size) < 0.05
            and now.color == written.color and now.alignment == written.alignment
            and key(now.font_family).startswith(key(written.font_family))
            and (now.font_weight >= 600) == (written.font_weight >= 600) and now.font_style == written.font_style)
