"""torch datasets of layered samples: a deterministic synthetic stream and a shard folder reader.

Both yield the same dict per sample (L_max = ``max_layers``, layers bottom to top):

- ``layers``: float32 tensor (L_max, 4, H, W) in [0, 1], straight alpha, padded on top with
  empty layers (alpha 0, rgb 0); ``num_layers``: int, the real layer count;
- ``composite``: float32 tensor (4, H, W), the composite of the layers;
- ``boxes``: float32 tensor (L_max, 4), normalised (x0, y0, x1, y1) per layer, zeros for
  padding and empty layers;
- ``caption``: str; ``layer_captions``: list[str] (``num_layers`` entries); ``kinds``: list[str];
  ``index``: int, the sample's index in its source.

:func:`collate_layers` batches such dicts (tensors stacked, strings and lists kept as lists).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from .psd_extract import cap_layers
from .shards import list_shards, read_shard
from .synth_raster import alpha_box, composite_stack, resize_rgba
from .synthetic import BOX_ALPHA_THRESHOLD, LayeredSample, SyntheticDesigns

__all__ = ["SyntheticLayerDataset", "ShardDataset", "collate_layers", "pack_sample"]


def pack_sample(stack: np.ndarray, max_layers: int, caption: str, layer_captions: Sequence[str],
                kinds: Sequence[str], index: int, composite: np.ndarray | None = None) -> dict[str, Any]:
    """The training dict of one sample from its float (L, H, W, 4) stack (see the module docstring)."""
    n, h, w = stack.shape[:3]
    if n > max_layers:
        raise ValueError(f"sample {index} has {n} layers, more than max_layers={max_layers}")
    layers = torch.zeros(max_layers, 4, h, w)  # (L_max, 4, H, W)
    layers[:n] = torch.from_numpy(np.ascontiguousarray(stack.transpose(0, 3, 1, 2)))
    boxes = torch.zeros(max_layers, 4)  # (L_max, 4)
    for i in range(n):
        box = alpha_box(stack[i, ..., 3], BOX_ALPHA_THRESHOLD)
        if box is not None:
            boxes[i] = torch.tensor([box[0] / w, box[1] / h, box[2] / w, box[3] / h])
    if composite is None:
        composite = composite_stack(stack)
    return {
        "layers": layers, "num_layers": n,
        "composite": torch.from_numpy(np.ascontiguousarray(composite.transpose(2, 0, 1))),  # (4, H, W)
        "boxes": boxes, "caption": caption, "layer_captions": list(layer_captions), "kinds": list(kinds),
        "index": int(index),
    }


def _pack_synthetic(sample: LayeredSample, max_layers: int) -> dict[str, Any]:
    return pack_sample(sample.layers.to_numpy(), max_layers, sample.caption, sample.layer_captions,
                       sample.kinds, sample.index, composite=sample.composite)


class SyntheticLayerDataset(IterableDataset):
    """Endless (or ``length``-long) deterministic stream of :class:`SyntheticDesigns` samples.

    Index layout, for exact resumption: sample indices are cut into chunks of ``batch_size``
    consecutive indices starting at ``start_index``. On process ``rank`` of ``world_size``, the
    n-th batch a ``DataLoader(batch_size=batch_size)`` yields is chunk ``n * world_size + rank``,
    whatever ``num_workers`` is (worker w makes batches n = w, w + W, ...; the DataLoader takes
    workers round-robin). So training step k sees samples ``start_index + k * world_size *
    batch_size`` up to the next step's, and a run resumed after k steps passes
    ``start_index = k * world_size * batch_size`` to continue exactly.

    Args:
        seed, size, max_layers: as for :class:`SyntheticDesigns`; tensors are padded to ``max_layers``.
        length: total number of indices (samples ``0 .. length - 1``); None streams forever.
        batch_size: the DataLoader's batch size (the chunk length of the layout above).
        rank, world_size: this process and the number of processes.
        start_index: the first sample index of the stream.
        design_kwargs: more :class:`SyntheticDesigns` arguments (min_layers, render_size, ...).
    """

    def __init__(self, seed: int, size: int = 128, max_layers: int = 6, length: int | None = None,
                 batch_size: int = 1, rank: int = 0, world_size: int = 1, start_index: int = 0,
                 **design_kwargs: Any) -> None:
        super().__init__()
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if start_index < 0 or (length is not None and length < 0):
            raise ValueError(f"start_index and length must be >= 0, got {start_index}, {length}")
        self.designs = SyntheticDesigns(seed, size=size, max_layers=max_layers, **design_kwargs)
        self.max_layers = max_layers
        self.length = length
        self.batch_size = batch_size
        self.rank, self.world_size = rank, world_size
        self.start_index = start_index

    def indices(self, worker_id: int = 0, num_workers: int = 1) -> Iterator[int]:
        """The sample indices worker ``worker_id`` of ``num_workers`` on this rank produces, in order."""
        b = self.batch_size
        j = 0
        while True:
            chunk = (j * num_workers + worker_id) * self.world_size + self.rank
            first = self.start_index + chunk * b
            for index in range(first, first + b):
                if self.length is not None and index >= self.length:
                    return
                yield index
            j += 1

    def __len__(self) -> int:
        if self.length is None:
            raise TypeError("an endless SyntheticLayerDataset has no length (pass length=...)")
        total = max(self.length - self.start_index, 0)
        chunks = math.ceil(total / self.batch_size)
        mine = len(range(self.rank, chunks, self.world_size))
        last = chunks - 1
        if mine and last % self.world_size == self.rank and total % self.batch_size:
            return (mine - 1) * self.batch_size + total % self.batch_size
        return mine * self.batch_size

    def __getitem__(self, index: int) -> dict[str, Any]:
        """The training dict of sample ``index`` (random access, same content as the stream)."""
        return _pack_synthetic(self.designs.sample(index), self.max_layers)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        worker_id, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        for index in self.indices(worker_id, num_workers):
            yield self[index]


class ShardDataset(Dataset):
    """Map-style dataset over a folder of shards (:mod:`layerdiff.data.shards`), e.g. extracted PSDs.

    Each sample is resized so its longest side is ``size`` and placed on a ``size`` x ``size``
    canvas: ``fit="pad"`` centres it with transparent padding, ``fit="crop"`` scales the
    shortest side to ``size`` and centre-crops. Stacks deeper than ``max_layers`` are merged
    down with :func:`layerdiff.data.psd_extract.cap_layers`.
    """

    def __init__(self, folder: str | os.PathLike, size: int = 128, max_layers: int = 6,
                 fit: str = "pad") -> None:
        if fit not in ("pad", "crop"):
            raise ValueError(f"fit must be 'pad' or 'crop', got {fit!r}")
        if size < 1 or max_layers < 1:
            raise ValueError(f"size and max_layers must be positive, got {size}, {max_layers}")
        self.files = list_shards(folder)
        if not self.files:
            raise FileNotFoundError(f"{folder}: no shard (*.npz) files")
        self.size, self.max_layers, self.fit = size, max_layers, fit

    def __len__(self) -> int:
        return len(self.files)

    def _fit(self, stack: np.ndarray) -> np.ndarray:
        """(L, h, w, 4) float -> (L, size, size, 4)."""
        n, h, w = stack.shape[:3]
        s = self.size
        scale = s / max(h, w) if self.fit == "pad" else s / min(h, w)
        nw, nh = max(int(round(w * scale)), 1), max(int(round(h * scale)), 1)
        resized = np.stack([resize_rgba(p, (nw, nh)) for p in stack])  # (L, nh, nw, 4)
        out = np.zeros((n, s, s, 4), np.float32)
        if self.fit == "pad":
            y0, x0 = (s - nh) // 2, (s - nw) // 2
            out[:, y0:y0 + nh, x0:x0 + nw] = resized
        else:
            y0, x0 = (nh - s) // 2, (nw - s) // 2
            out[:] = resized[:, y0:y0 + s, x0:x0 + s]
        return out

    def __getitem__(self, index: int) -> dict[str, Any]:
        record = read_shard(self.files[index])
        stack = self._fit(record.layers.astype(np.float32) / 255.0)
        captions, kinds = list(record.layer_captions), list(record.kinds or [])
        if len(stack) > self.max_layers:
            planes, groups, _ = cap_layers(list(stack), captions, self.max_layers)
            stack = np.stack(planes)
            kinds = [kinds[g[0]] if len(g) == 1 else "merged" for g in groups]
            captions = [" + ".join(captions[k] for k in g) for g in groups]
        return pack_sample(stack, self.max_layers, record.caption, captions, kinds, index)


def collate_layers(batch: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Batch sample dicts: tensors stacked ((B, L_max, 4, H, W) ...), ints to a LongTensor, rest as lists."""
    if not batch:
        raise ValueError("collate_layers needs at least one sample")
    out: dict[str, Any] = {}
    for key in batch[0]:
        values = [item[key] for item in batch]
        if isinstance(values[0], torch.Tensor):
            out[key] = torch.stack(values)
        elif isinstance(values[0], int):
            out[key] = torch.tensor(values, dtype=torch.long)
        else:
            out[key] = values
    return out
