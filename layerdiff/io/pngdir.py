"""A folder of numbered PNG layers with a ``manifest.json``, and a ZIP of such a folder.

Layout (layers bottom to top)::

    poster/
      manifest.json
      0001_background.png
      0002_title.png

``manifest.json``::

    {"format": "layerdiff-png-stack", "version": 1,
     "canvas": {"width": 512, "height": 384}, "bit_depth": 8,
     "layers": [{"file": "0001_background.png", "name": "background", "visible": true,
                 "opacity": 1.0, "offset": [0, 0], "blend_mode": "normal", "group": []}, ...]}

Each PNG holds the layer's own pixel block (8-bit RGBA), placed on the canvas at ``offset``.
In a ZIP the folder may sit at the archive root or inside one top-level folder.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..atomic import atomic_dir, atomic_path
from ..errors import LayeredFileError
from ..layered import Layer, LayeredImage
from ..text.info import TextInfo
from .encode import EncodedStack
from .images import declared_size, decode_image_bytes
from .limits import Limits, resolve
from .psd import group_path

__all__ = ["read_pngdir", "read_pngzip", "write_pngdir", "write_pngzip", "write_pngdir_into", "write_pngzip_to",
           "is_png_stack_folder", "MANIFEST", "find_manifest_in_zip"]

MANIFEST = "manifest.json"
FORMAT_NAME = "layerdiff-png-stack"
_MAX_MANIFEST_BYTES = 16 * 1024 * 1024


def _safe_stem(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:48]
    return stem or "layer"


def manifest_for(image: LayeredImage, encoded: EncodedStack | None = None, run: str | None = None,
                 ) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
    """The manifest and the ``(file name, PNG bytes)`` list of a layered image.

    PNGs are 16-bit when ``image.bit_depth`` is 16, else 8-bit; ``run`` (an id shared by the outputs
    of one command) is recorded as ``"run"``.
    """
    encoded = encoded or EncodedStack(image)
    entries, files = [], []
    for i, (layer, data) in enumerate(zip(image.layers, encoded.layer_pngs())):
        fname = f"{i + 1:04d}_{_safe_stem(layer.name)}.png"
        files.append((fname, data))
        entries.append({"file": fname, "name": layer.name, "visible": layer.visible,
                        "opacity": layer.opacity, "offset": [layer.offset[0], layer.offset[1]],
                        "blend_mode": layer.blend_mode, "group": list(group_path(layer))})
        if layer.text is not None:
            entries[-1]["text"] = layer.text.to_dict()
    manifest: dict[str, Any] = {"format": FORMAT_NAME, "version": 1,
                                "canvas": {"width": image.width, "height": image.height},
                                "bit_depth": encoded.png_depth, "layers": entries}
    if run is not None:
        manifest["run"] = run
    return manifest, files


def _manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def is_png_stack_folder(folder: Path) -> bool:
    """Whether ``folder`` is a PNG layer folder layerdiff wrote and nothing else: its ``manifest.json``
    names our format and every entry in it is the manifest or a file the manifest lists (so
    replacing it deletes nothing a user added)."""
    try:
        raw = (folder / MANIFEST).read_bytes() if (folder / MANIFEST).is_file() else b""
        if not raw or len(raw) > _MAX_MANIFEST_BYTES:
            return False
        manifest = json.loads(raw.decode("utf-8"))
        listed = {MANIFEST, *(str(e.get("file")) for e in manifest.get("layers", []) if isinstance(e, dict))}
        return manifest.get("format") == FORMAT_NAME and all(p.name in listed for p in folder.iterdir())
    except (OSError, ValueError, AttributeError, TypeError):
        return False


def write_pngdir_into(image: LayeredImage, folder: Path, *, encoded: EncodedStack | None = None,
                      run: str | None = None) -> None:
    """Write the manifest and the PNGs into an existing (empty, temporary) ``folder``."""
    manifest, files = manifest_for(image, encoded, run)
    for fname, data in files:
        (folder / fname).write_bytes(data)
    (folder / MANIFEST).write_bytes(_manifest_bytes(manifest))


def write_pngdir(image: LayeredImage, path: str | os.PathLike, *, run: str | None = None) -> Path:
    """Write the folder atomically (a temporary sibling folder renamed into place).

    An existing non-empty folder is replaced only if it is a PNG layer folder layerdiff wrote
    holding nothing else (:func:`is_png_stack_folder`); otherwise
    :class:`~layerdiff.atomic.FolderNotOursError` is raised and nothing is written.
    """
    target = Path(path)
    with atomic_dir(target, owned=is_png_stack_folder) as tmp:
        write_pngdir_into(image, tmp, run=run)
    return target


def write_pngzip_to(image: LayeredImage, file: Path, *, encoded: EncodedStack | None = None,
                    run: str | None = None) -> None:
    """Write the ZIP (``manifest.json`` and the numbered PNGs at its root) to ``file`` directly."""
    manifest, files = manifest_for(image, encoded, run)
    with zipfile.ZipFile(file, "w") as zf:
        zf.writestr(MANIFEST, _manifest_bytes(manifest), compress_type=zipfile.ZIP_DEFLATED)
        for fname, data in files:
            zf.writestr(fname, data, compress_type=zipfile.ZIP_STORED)


def write_pngzip(image: LayeredImage, path: str | os.PathLike, *, run: str | None = None) -> Path:
    """Write a ZIP whose root holds ``manifest.json`` and the numbered PNGs, atomically."""
    target = Path(path)
    with atomic_path(target) as tmp:
        write_pngzip_to(image, tmp, run=run)
    return target


def _parse_manifest(raw: bytes, label: str, limits: Limits) -> dict[str, Any]:
    if len(raw) > _MAX_MANIFEST_BYTES:
        raise LayeredFileError(label, f"manifest.json is over {_MAX_MANIFEST_BYTES:,} bytes", "too-large")
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise LayeredFileError(label, f"manifest.json is not valid JSON: {err}", "corrupt") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("layers"), list):
        raise LayeredFileError(label, "manifest.json has no 'layers' list", "corrupt")
    canvas = manifest.get("canvas")
    if not isinstance(canvas, dict):
        raise LayeredFileError(label, "manifest.json has no 'canvas' object", "corrupt")
    try:
        width, height = int(canvas["width"]), int(canvas["height"])
    except (KeyError, TypeError, ValueError):
        problem = "manifest.json canvas lacks integer width and height"
        raise LayeredFileError(label, problem, "corrupt") from None
    limits.check_size(label, width, height)
    limits.check_layers(label, len(manifest["layers"]))
    manifest["_size"] = (width, height)
    return manifest


def _build(manifest: dict[str, Any], label: str, read: Callable[[str], bytes], limits: Limits,
           ) -> LayeredImage:
    """Layers from the manifest: each file read once (however many entries name it), the sizes the
    files declare added to the decode budget before any pixel is decoded."""
    data: dict[str, bytes] = {}
    budget = limits.budget(label)
    budget.add(*manifest["_size"], what="the canvas")
    for i, entry in enumerate(manifest["layers"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise LayeredFileError(label, f"manifest layer {i} has no 'file'", "corrupt")
        fname = entry["file"]
        if "/" in fname or "\\" in fname or fname.startswith("."):
            problem = f"manifest layer {i}: file name {fname!r} leaves the folder"
            raise LayeredFileError(label, problem, "corrupt")
        if fname not in data:
            data[fname] = read(fname)
        budget.add(*declared_size(data[fname], f"{label}:{fname}"), what=f"layer {i}")
    decoded: dict[str, Any] = {}
    counted = Limits(max_decoded_bytes=2**62).budget(label)  # counted above, from the headers
    layers = []
    for i, entry in enumerate(manifest["layers"]):
        fname = entry["file"]
        if fname not in decoded:
            decoded[fname] = decode_image_bytes(data[fname], f"{label}:{fname}", limits, budget=counted)
        pixels = decoded[fname]
        try:
            offset = entry.get("offset", [0, 0])
            layers.append(Layer(
                pixels, name=str(entry.get("name", Path(fname).stem)),
                visible=bool(entry.get("visible", True)),
                opacity=float(entry.get("opacity", 1.0)), offset=(int(offset[0]), int(offset[1])),
                blend_mode=str(entry.get("blend_mode", "normal")),
                metadata={"group": [str(g) for g in entry.get("group", [])]},
                text=TextInfo.from_dict(entry["text"]) if "text" in entry else None))
        except (TypeError, ValueError, IndexError) as err:
            raise LayeredFileError(label, f"manifest layer {i} ({fname}): {err}", "corrupt") from None
    metadata: dict[str, Any] = {"format": "png-dir"}
    if isinstance(manifest.get("run"), str):
        metadata["run"] = manifest["run"]
    depth = 16 if manifest.get("bit_depth") == 16 else 8
    return LayeredImage(manifest["_size"], layers, bit_depth=depth, metadata=metadata)


def read_pngdir(path: str | os.PathLike, *, limits: Limits | None = None) -> LayeredImage:
    """Read a folder holding ``manifest.json`` and its PNG layers."""
    limits = resolve(limits)
    folder = Path(path)
    mpath = folder / MANIFEST
    if not mpath.is_file():
        raise LayeredFileError(folder, "folder has no manifest.json", "unsupported")
    manifest = _parse_manifest(mpath.read_bytes(), str(folder), limits)

    def read(fname: str) -> bytes:
        p = folder / fname
        if not p.is_file():
            raise LayeredFileError(folder, f"layer file {fname!r} is missing", "corrupt")
        if p.stat().st_size > limits.max_member_bytes:
            raise LayeredFileError(folder, f"layer file {fname!r} is over the size limit", "too-large")
        return p.read_bytes()

    return _build(manifest, str(folder), read, limits)


def find_manifest_in_zip(zf: zipfile.ZipFile) -> str | None:
    """The member name of ``manifest.json`` at the root or in one top-level folder, or None."""
    names = [n for n in zf.namelist() if n.rsplit("/", 1)[-1] == MANIFEST and n.count("/") <= 1]
    return min(names, key=lambda n: n.count("/")) if names else None


def read_pngzip(path: str | os.PathLike, *, limits: Limits | None = None) -> LayeredImage:
    """Read a ZIP of a PNG-layer folder."""
    limits = resolve(limits)
    label = str(path)
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as err:
        raise LayeredFileError(label, f"not a readable ZIP archive: {err}", "corrupt") from None
    with zf:
        mname = find_manifest_in_zip(zf)
        if mname is None:
            problem = "ZIP holds no manifest.json (nor an OpenRaster mimetype)"
            raise LayeredFileError(label, problem, "unsupported")
        prefix = mname[: -len(MANIFEST)]

        def read(fname: str) -> bytes:
            name = prefix + fname
            try:
                info = zf.getinfo(name)
            except KeyError:
                problem = f"layer file {name!r} is missing from the ZIP"
                raise LayeredFileError(label, problem, "corrupt") from None
            if info.file_size > limits.max_member_bytes:
                problem = f"member {name!r} inflates to {info.file_size:,} bytes"
                raise LayeredFileError(label, problem, "too-large")
            try:
                return zf.read(info)
            except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
                raise LayeredFileError(label, f"member {name!r} cannot be read: {err}", "corrupt") from None

        if zf.getinfo(mname).file_size > _MAX_MANIFEST_BYTES:
            raise LayeredFileError(label, f"manifest.json is over {_MAX_MANIFEST_BYTES:,} bytes", "too-large")
        manifest = _parse_manifest(read(MANIFEST), label, limits)
        image = _build(manifest, label, read, limits)
    image.metadata["format"] = "zip"
    return image
