"""OpenRaster (.ora) reading and writing.

An ORA file is a ZIP archive (OpenRaster spec 0.0.x, https://www.openraster.org/):
``mimetype`` first and stored uncompressed (``image/openraster``), ``stack.xml`` (the layer tree,
top layer first), ``data/*.png`` (one PNG per layer, placed at ``x``/``y``), ``mergedimage.png``
(the full composite) and ``Thumbnails/thumbnail.png`` (at most 256 px). Layer attributes used:
``name``, ``x``, ``y``, ``opacity``, ``visibility`` and ``composite-op`` (``svg:multiply`` ...).
Nested ``<stack>`` elements become group paths (``Layer.metadata["group"]``); their opacity,
visibility and offset are folded into their layers.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_path
from ..errors import LayeredFileError
from ..layered import Layer, LayeredImage
from ..text.store import ORA_TEXT_ATTR, text_from_json, text_to_json
from .encode import EncodedStack
from .images import declared_size, decode_image_bytes
from .limits import Limits, resolve
from .psd import group_path

__all__ = ["read_ora", "write_ora", "write_ora_to", "ORA_MIMETYPE", "is_ora_zip", "RUN_ATTRIBUTE"]

ORA_MIMETYPE = b"image/openraster"
LAYERDIFF_NS = "https://github.com/layerdiff/layerdiff/ns/ora"
RUN_ATTRIBUTE = f"{{{LAYERDIFF_NS}}}run"
"""``<image>`` attribute naming the run that wrote the file (the outputs of one command share it)."""
ET.register_namespace("layerdiff", LAYERDIFF_NS)

# our blend mode -> ORA composite-op (svg: names from the spec; others in our own namespace)
_TO_ORA = {"normal": "svg:src-over", "multiply": "svg:multiply", "screen": "svg:screen",
           "overlay": "svg:overlay", "darken": "svg:darken", "lighten": "svg:lighten",
           "color_dodge": "svg:color-dodge", "color_burn": "svg:color-burn", "hard_light": "svg:hard-light",
           "soft_light": "svg:soft-light", "difference": "svg:difference", "exclusion": "svg:exclusion",
           "hue": "svg:hue", "saturation": "svg:saturation", "color": "svg:color",
           "luminosity": "svg:luminosity", "linear_dodge": "svg:plus"}
_FROM_ORA = {v: k for k, v in _TO_ORA.items()}


def is_ora_zip(zf: zipfile.ZipFile) -> bool:
    """Whether an open ZIP is an OpenRaster file (its ``mimetype`` member says so)."""
    try:
        info = zf.getinfo("mimetype")
    except KeyError:
        return False
    return info.file_size < 64 and zf.read(info).strip() == ORA_MIMETYPE


def _composite_op_to_mode(op: str | None) -> str:
    if not op:
        return "normal"
    if op in _FROM_ORA:
        return _FROM_ORA[op]
    return op.split(":", 1)[-1].replace("-", "_")  # krita:linear_burn, layerdiff:linear_burn ...


def _mode_to_composite_op(mode: str) -> str:
    return _TO_ORA.get(mode, f"layerdiff:{mode.replace('_', '-')}")


def _read_member(zf: zipfile.ZipFile, name: str, path: str, limits: Limits) -> bytes:
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise LayeredFileError(path, f"member {name!r} is missing", "corrupt") from None
    if info.file_size > limits.max_member_bytes:
        raise LayeredFileError(path, f"member {name!r} inflates to {info.file_size:,} bytes (limit "
                               f"{limits.max_member_bytes:,})", "too-large")
    try:
        return zf.read(info)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
        raise LayeredFileError(path, f"member {name!r} cannot be read: {err}", "corrupt") from None


def _float_attr(el: ET.Element, name: str, default: float, path: str) -> float:
    raw = el.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise LayeredFileError(path, f"stack.xml: {name}={raw!r} is not a number", "corrupt") from None
    if not np.isfinite(value):
        raise LayeredFileError(path, f"stack.xml: {name}={raw!r} is not finite", "corrupt")
    return value


MAX_STACK_XML_BYTES = 16 * 1024 * 1024
"""Largest ``stack.xml`` read (inflated size)."""

MAX_STACK_DEPTH = 64
"""Deepest nesting of ``<stack>`` elements accepted."""


def read_ora(path: str | os.PathLike, *, limits: Limits | None = None) -> LayeredImage:
    """Read an OpenRaster file as a flat bottom-to-top stack of layers.

    ``stack.xml`` is read first whole (at most :data:`MAX_STACK_XML_BYTES`, nesting at most
    :data:`MAX_STACK_DEPTH`); the sizes every layer's PNG declares are added to the decode budget
    before any pixel is decoded, and each member is read and decoded once however many layers
    refer to it.
    """
    limits = resolve(limits)
    path = str(path)
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as err:
        raise LayeredFileError(path, f"not a readable ZIP archive: {err}", "corrupt") from None
    with zf:
        if not is_ora_zip(zf):
            raise LayeredFileError(path, "ZIP has no 'image/openraster' mimetype member", "unsupported")
        try:
            xml_size = zf.getinfo("stack.xml").file_size
        except KeyError:
            raise LayeredFileError(path, "member 'stack.xml' is missing", "corrupt") from None
        if xml_size > MAX_STACK_XML_BYTES:
            raise LayeredFileError(path, f"stack.xml inflates to {xml_size:,} bytes (limit "
                                   f"{MAX_STACK_XML_BYTES:,})", "too-large")
        xml = _read_member(zf, "stack.xml", path, limits)
        if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
            raise LayeredFileError(path, "stack.xml declares a DTD or entities, which are refused", "corrupt")
        try:
            root = ET.fromstring(xml)
        except ET.ParseError as err:
            raise LayeredFileError(path, f"stack.xml is not well-formed XML: {err}", "corrupt") from None
        if root.tag != "image":
            raise LayeredFileError(path, f"stack.xml root is <{root.tag}>, not <image>", "corrupt")
        try:
            width, height = int(root.get("w", "")), int(root.get("h", ""))
        except ValueError:
            raise LayeredFileError(path, "stack.xml <image> lacks integer w and h", "corrupt") from None
        limits.check_size(path, width, height)
        top = root.find("stack")
        if top is None:
            raise LayeredFileError(path, "stack.xml has no root <stack>", "corrupt")
        specs: list[dict[str, Any]] = []
        _walk(top, path, limits, specs, (), True, 1.0, (0, 0), 1)
        layers = _decode_layers(zf, specs, path, limits, width, height)
    metadata = {"format": "ora"}
    if root.get(RUN_ATTRIBUTE):
        metadata["run"] = str(root.get(RUN_ATTRIBUTE))
    depth = 16 if layers and all(layer.metadata.pop("_deep", False) for layer in layers) else 8
    for layer in layers:
        layer.metadata.pop("_deep", None)
    return LayeredImage((width, height), layers, bit_depth=depth, metadata=metadata)


def _walk(stack: ET.Element, path: str, limits: Limits, out: list[dict[str, Any]], group: tuple[str, ...],
          visible: bool, opacity: float, offset: tuple[int, int], depth: int) -> None:
    """Append the layer specs of ``stack`` to ``out`` bottom to top (stack.xml lists them top first)."""
    if depth > MAX_STACK_DEPTH:
        raise LayeredFileError(path, f"stack.xml nests <stack> more than {MAX_STACK_DEPTH} levels deep", "corrupt")
    for el in reversed(list(stack)):
        if el.tag not in ("layer", "stack"):
            continue  # text, filter and unknown elements carry no pixels
        name = el.get("name", "")
        vis = visible and el.get("visibility", "visible") != "hidden"
        op = opacity * min(max(_float_attr(el, "opacity", 1.0, path), 0.0), 1.0)
        off = (offset[0] + int(_float_attr(el, "x", 0, path)), offset[1] + int(_float_attr(el, "y", 0, path)))
        if el.tag == "stack":
            _walk(el, path, limits, out, (*group, name), vis, op, off, depth + 1)
            continue
        src = el.get("src")
        if not src:
            raise LayeredFileError(path, f"layer {name!r} has no src", "corrupt")
        try:
            text = text_from_json(el.get(ORA_TEXT_ATTR))
        except ValueError as err:
            raise LayeredFileError(path, f"layer {name!r}: {err}", "corrupt") from None
        out.append({"src": src, "name": name or Path(src).stem, "visible": vis, "opacity": op, "offset": off,
                    "blend_mode": _composite_op_to_mode(el.get("composite-op")), "group": list(group),
                    "text": text})
        limits.check_layers(path, len(out))


def _decode_layers(zf: zipfile.ZipFile, specs: list[dict[str, Any]], path: str, limits: Limits, width: int,
                   height: int) -> list[Layer]:
    """Check the decode budget from the declared sizes, then decode each member once."""
    data: dict[str, bytes] = {}
    budget = limits.budget(path)
    budget.add(width, height, what="the canvas")
    for spec in specs:
        src = spec["src"]
        if src not in data:
            data[src] = _read_member(zf, src, path, limits)
        w, h = declared_size(data[src], f"{path}:{src}")
        budget.add(w, h, what=f"layer {spec['name']!r}")
    decoded: dict[str, np.ndarray] = {}
    counted = Limits(max_decoded_bytes=2**62).budget(path)  # already counted above, from the headers
    layers = []
    for spec in specs:
        src = spec["src"]
        if src not in decoded:
            decoded[src] = decode_image_bytes(data[src], f"{path}:{src}", limits, budget=counted)
        samples = decoded[src]
        layers.append(Layer(samples, name=spec["name"], visible=spec["visible"], opacity=spec["opacity"],
                            offset=spec["offset"], blend_mode=spec["blend_mode"],
                            metadata={"group": spec["group"], "_deep": samples.dtype == np.uint16},
                            text=spec["text"]))
    return layers


def _fmt(value: float) -> str:
    return repr(float(value))  # shortest string that reads back to the same float


def write_ora_to(image: LayeredImage, file: Path, *, encoded: EncodedStack | None = None,
                 run: str | None = None) -> None:
    """Write the OpenRaster archive to ``file`` directly (see :func:`write_ora`)."""
    encoded = encoded or EncodedStack(image)
    root = ET.Element("image", {"version": "0.0.3", "w": str(image.width), "h": str(image.height)})
    if run is not None:
        root.set(RUN_ATTRIBUTE, run)
    top = ET.SubElement(root, "stack")
    # Build the tree bottom to top, then reverse every stack's children (ORA lists top first).
    open_stacks: list[tuple[tuple[str, ...], ET.Element]] = [((), top)]
    members: list[tuple[str, bytes]] = []
    for i, (layer, data) in enumerate(zip(image.layers, encoded.layer_pngs())):
        group = group_path(layer)
        while open_stacks[-1][0] != group[:len(open_stacks[-1][0])]:
            open_stacks.pop()
        for depth in range(len(open_stacks[-1][0]), len(group)):
            el = ET.SubElement(open_stacks[-1][1], "stack", {"name": group[depth]})
            open_stacks.append((group[:depth + 1], el))
        src = f"data/{i + 1:04d}.png"
        members.append((src, data))
        layer_el = ET.SubElement(open_stacks[-1][1], "layer", {
            "name": layer.name, "src": src, "x": str(layer.offset[0]), "y": str(layer.offset[1]),
            "opacity": _fmt(layer.opacity), "visibility": "visible" if layer.visible else "hidden",
            "composite-op": _mode_to_composite_op(layer.blend_mode)})
        if layer.text is not None:
            layer_el.set(ORA_TEXT_ATTR, text_to_json(layer.text))
    for el in root.iter("stack"):
        el[:] = list(reversed(list(el)))
    xml = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    with zipfile.ZipFile(file, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), ORA_MIMETYPE, compress_type=zipfile.ZIP_STORED)
        zf.writestr("stack.xml", xml, compress_type=zipfile.ZIP_DEFLATED)
        for name, data in members:
            zf.writestr(name, data, compress_type=zipfile.ZIP_STORED)  # PNG is compressed already
        zf.writestr("mergedimage.png", encoded.composite_png(), compress_type=zipfile.ZIP_STORED)
        zf.writestr("Thumbnails/thumbnail.png", encoded.thumbnail_png(), compress_type=zipfile.ZIP_STORED)


def write_ora(image: LayeredImage, path: str | os.PathLike, *, run: str | None = None) -> Path:
    """Write ``image`` as an OpenRaster file, atomically; ``metadata["group"]`` gives nested stacks.

    Layer PNGs are 16-bit when ``image.bit_depth`` is 16, else 8-bit. ``run`` is recorded as the
    ``layerdiff:run`` attribute of ``<image>``.
    """
    target = Path(path)
    with atomic_path(target) as tmp:
        write_ora_to(image, tmp, run=run)
    return target
