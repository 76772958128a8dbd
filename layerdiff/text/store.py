"""How text layers are kept in layered files.

- PNG folder / ZIP: the layer's manifest entry holds ``"text": TextInfo.to_dict()``;
- OpenRaster: the ``<layer>`` element holds the same dict as JSON in the attribute :data:`ORA_TEXT_ATTR`
  (namespace :data:`NAMESPACE`, prefix ``layerdiff``), which other ORA readers ignore;
- PSD: the layer's name is its name (``Text: <first line>`` for recognised text) and the document holds one
  plug-in image resource (ID :data:`PSD_RESOURCE_ID`) with ``{"layerdiff-text": [[index, name, dict], ...]}``
  in UTF-8 JSON; a reader attaches an entry only to the layer at that index with that name, so a file
  edited elsewhere (layers added, removed or renamed) loses the text of the layers it changed, not more.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from .info import TextInfo

__all__ = ["NAMESPACE", "ORA_TEXT_ATTR", "PSD_RESOURCE_ID", "text_to_json", "text_from_json",
           "psd_text_payload", "attach_psd_text"]

NAMESPACE = "https://github.com/layerdiff/layerdiff/ns/ora"  # the one layerdiff ORA namespace (io.ora uses it too)
ORA_TEXT_ATTR = f"{{{NAMESPACE}}}text"
PSD_RESOURCE_ID = 4711  # in Photoshop's plug-in resource range (4000-4999)
_PSD_KEY = "layerdiff-text"

ET.register_namespace("layerdiff", NAMESPACE)


def text_to_json(info: TextInfo) -> str:
    return json.dumps(info.to_dict(), ensure_ascii=False, separators=(",", ":"))


def text_from_json(raw: str | None) -> TextInfo | None:
    """The TextInfo of a JSON string (None for None); raises ``ValueError`` naming the problem."""
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ValueError(f"text attribute is not valid JSON: {err}") from None
    return TextInfo.from_dict(data)


def psd_text_payload(layers: Sequence[Any]) -> bytes | None:
    """The PSD resource data for the text layers among ``layers`` (bottom to top), or None if there are none."""
    entries = [[i, layer.name, layer.text.to_dict()] for i, layer in enumerate(layers) if layer.text is not None]
    if not entries:
        return None
    return json.dumps({_PSD_KEY: entries}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def attach_psd_text(data: bytes | None, layers: Sequence[Any]) -> list[str]:
    """Set ``layer.text`` from a PSD resource written by :func:`psd_text_payload`; returns the problems found
    (a malformed resource or entry is skipped with a message, since the pixels are still good)."""
    if not data:
        return []
    try:
        entries = json.loads(bytes(data).decode("utf-8"))[_PSD_KEY]
        if not isinstance(entries, list):
            raise TypeError("not a list")
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
        return [f"layerdiff text resource unreadable ({err}); text layers kept as pixels"]
    problems = []
    for entry in entries:
        try:
            index, name, info = entry
            if 0 <= int(index) < len(layers) and layers[int(index)].name == name:
                layers[int(index)].text = TextInfo.from_dict(info)
        except (TypeError, ValueError) as err:
            problems.append(f"text of layer entry {str(entry)[:60]!r} unreadable ({err}); kept as pixels")
    return problems
