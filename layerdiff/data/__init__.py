"""Training data: synthetic layered designs, PSD extraction, shards and torch datasets.

- :mod:`~layerdiff.data.synthetic`: :class:`SyntheticDesigns` (deterministic captioned designs),
  :func:`referring_sample` (point / box / mask / phrase prompts for one layer);
- :mod:`~layerdiff.data.psd_extract`: :func:`extract_psd`, :func:`extract_folder` (Qwen-Image-Layered's
  PSD recipe); :mod:`~layerdiff.data.shards`: the shard format;
- :mod:`~layerdiff.data.datasets`: :class:`SyntheticLayerDataset`, :class:`ShardDataset`,
  :func:`collate_layers` (imports torch, so it loads on first use).
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "SyntheticDesigns": "synthetic", "LayeredSample": "synthetic", "referring_sample": "synthetic",
    "extract_psd": "psd_extract", "extract_folder": "psd_extract", "ExtractResult": "psd_extract",
    "cap_layers": "psd_extract",
    "ShardRecord": "shards", "read_shard": "shards", "write_shard": "shards", "list_shards": "shards",
    "record_from_sample": "shards",
    "SyntheticLayerDataset": "datasets", "ShardDataset": "datasets", "collate_layers": "datasets",
    "EmojiLibrary": "emoji", "emoji_library": "emoji",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
