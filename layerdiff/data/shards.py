"""Training shards: one compressed ``.npz`` file per layered sample.

Format ``layerdiff-shard/1`` (read with :func:`read_shard`, write with :func:`write_shard`):

- ``layers``: uint8 array (L, H, W, 4), full-canvas straight-alpha RGBA layers, bottom to top,
  opacity folded into alpha, to be composited with the normal ("over") blend mode;
- ``composite``: uint8 array (H, W, 4), the reference image the layers reproduce (for PSDs the
  document's visible composite, for synthetic samples the layers' composite);
- ``meta``: uint8 array holding UTF-8 JSON with ``format`` ("layerdiff-shard/1"), ``caption``
  (whole image), ``layer_captions`` and ``kinds`` (one per layer), ``source`` (where the sample
  came from) and ``info`` (free-form, e.g. the extraction report of the file).

Files are written atomically (temporary file + rename), so an interrupted writer never leaves
a truncated shard under its final name; a folder of shards is any set of ``*.npz`` files.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_path
from ..errors import LayeredFileError
from ..layered import Layer, LayeredImage, from_float

__all__ = ["SHARD_FORMAT", "ShardRecord", "write_shard", "read_shard", "list_shards", "record_from_sample"]

SHARD_FORMAT = "layerdiff-shard/1"


@dataclass
class ShardRecord:
    """One sample of a shard folder. ``layers``: (L, H, W, 4) uint8; ``composite``: (H, W, 4) uint8."""

    layers: np.ndarray
    caption: str
    layer_captions: list[str]
    composite: np.ndarray | None = None
    kinds: list[str] | None = None
    source: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.layers.ndim != 4 or self.layers.shape[-1] != 4 or self.layers.shape[0] < 1:
            raise ValueError(f"shard layers must be (L>=1, H, W, 4), got shape {self.layers.shape}")
        if self.layers.dtype != np.uint8:
            raise ValueError(f"shard layers must be uint8, got {self.layers.dtype}")
        if len(self.layer_captions) != self.layers.shape[0]:
            raise ValueError(f"{len(self.layer_captions)} layer captions for {self.layers.shape[0]} layers")
        if self.kinds is None:
            self.kinds = ["layer"] * self.layers.shape[0]
        if self.composite is None:
            self.composite = from_float(self.to_layered().composite(), 8)

    @property
    def num_layers(self) -> int:
        return int(self.layers.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.layers.shape[2]), int(self.layers.shape[1])

    def to_layered(self) -> LayeredImage:
        """The layers as a float :class:`LayeredImage` (names are the layer captions)."""
        layers = [Layer(self.layers[i], name=self.layer_captions[i] or f"Layer {i + 1}")
                  for i in range(self.num_layers)]
        return LayeredImage(self.size, layers)

    def boxes(self, threshold: int = 0) -> list[tuple[float, float, float, float] | None]:
        """Content box per layer (alpha > ``threshold``, 0-255), normalised (x0, y0, x1, y1), or None."""
        w, h = self.size
        out: list[tuple[float, float, float, float] | None] = []
        for plane in self.layers:
            ys, xs = np.nonzero(plane[..., 3] > threshold)
            out.append(None if len(xs) == 0 else
                       (xs.min() / w, ys.min() / h, (xs.max() + 1) / w, (ys.max() + 1) / h))
        return out


def write_shard(path: str | os.PathLike, record: ShardRecord) -> Path:
    """Write ``record`` to ``path`` (a ``.npz`` file) atomically and return the path."""
    path = Path(path)
    meta = {"format": SHARD_FORMAT, "caption": record.caption, "layer_captions": list(record.layer_captions),
            "kinds": list(record.kinds or []), "source": record.source, "info": record.info}
    blob = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), np.uint8)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, layers=record.layers, composite=record.composite, meta=blob)
    return path


def read_shard(path: str | os.PathLike) -> ShardRecord:
    """Read one shard file; raises :class:`LayeredFileError` naming the file when it is not valid."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = {"layers", "composite", "meta"} - set(data.files)
            if missing:
                raise LayeredFileError(path, f"shard lacks the arrays {sorted(missing)}", "invalid")
            layers, composite, blob = data["layers"], data["composite"], data["meta"]
        meta = json.loads(blob.tobytes().decode("utf-8"))
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as err:
        if isinstance(err, LayeredFileError):
            raise
        problem = f"not a readable shard ({type(err).__name__}: {err})"
        raise LayeredFileError(path, problem, "corrupt") from err
    if meta.get("format") != SHARD_FORMAT:
        problem = f"shard format {meta.get('format')!r} is not {SHARD_FORMAT!r}"
        raise LayeredFileError(path, problem, "unsupported")
    try:
        return ShardRecord(layers=layers, caption=meta["caption"], layer_captions=meta["layer_captions"],
                           composite=composite, kinds=meta.get("kinds") or None,
                           source=meta.get("source", ""), info=meta.get("info", {}))
    except (KeyError, ValueError) as err:
        raise LayeredFileError(path, f"invalid shard content: {err}", "invalid") from err


def list_shards(folder: str | os.PathLike) -> list[Path]:
    """The shard files of ``folder`` (``*.npz``, recursively), sorted by path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: shard folder not found")
    return sorted(p for p in folder.rglob("*.npz") if not p.name.startswith("."))


def record_from_sample(sample: Any) -> ShardRecord:
    """A :class:`ShardRecord` from a synthetic :class:`~layerdiff.data.synthetic.LayeredSample`."""
    return ShardRecord(layers=from_float(sample.layers.to_numpy(), 8), caption=sample.caption,
                       layer_captions=list(sample.layer_captions), composite=from_float(sample.composite, 8),
                       kinds=list(sample.kinds), source=f"synthetic:{sample.seed}:{sample.index}",
                       info={"colors": sample.colors, "shapes": sample.shapes})
