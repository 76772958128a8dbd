"""Training samples from layered PSD/PSB files, after Qwen-Image-Layered's data recipe.

Per file (:func:`extract_psd`):

1. read with :func:`layerdiff.io.load` (groups dissolved, masks and effects applied);
2. drop hidden layers, zero-opacity layers, layers with no pixels on the canvas and layers whose
   alpha (after opacity) is below 1/255 everywhere ("empty");
3. turn every kept layer into a full-canvas straight-alpha plane with its opacity folded into
   alpha; a layer with a blend mode other than normal is *baked*: its colour becomes the blend
   result against the composite of the layers under it, ``c' = (1 - a_b) c_s + a_b B(c_b, c_s)``
   (W3C Compositing Level 1), so that normal "over" reproduces the document exactly;
4. optionally scale each layer down so the longest side is at most ``size`` (aspect kept,
   premultiplied resampling, done before baking; smaller files are not enlarged);
5. drop layers that do not change the composite: greedily, smallest visible effect first, a
   layer goes when the stack without it (and without those already dropped) stays within 1/255
   of the full stack everywhere (premultiplied RGBA);
6. cap the count at ``max_layers`` by merging adjacent layers: the adjacent pair whose content
   boxes do not overlap with the smallest total box area first; when no such pair is left, the
   adjacent pair with the fewest overlapping pixels. Merging adjacent normal layers is exact;
7. verify: the kept stack's composite against the document's visible composite (max abs
   error of premultiplied RGBA).

:func:`extract_folder` runs this over a folder, writes one shard per file
(:mod:`layerdiff.data.shards`) and a report JSON, and records bad files instead of stopping.
"""

from __future__ import annotations

import json
import os
import re
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_path
from ..blend import BLEND_FUNCTIONS, normalize_blend_mode
from ..errors import LayeredFileError
from ..layered import Layer, LayeredImage, from_float
from .shards import ShardRecord, read_shard, write_shard
from .synth_raster import composite_stack, resize_rgba

__all__ = ["ExtractResult", "extract_psd", "extract_folder", "cap_layers", "premultiplied", "REPORT_NAME"]

NO_EFFECT_TOL = 1.0 / 255.0
REPORT_NAME = "extract_report.json"


@dataclass
class ExtractResult:
    """What :func:`extract_psd` kept from one file and why.

    ``layers``: the kept stack (full-canvas, normal blending, opacity folded in), bottom to top.
    ``reference``: the document's visible composite at the output size, (H, W, 4) float32: the
    source layers composited in order with their blend modes (what ``LayeredImage.composite()``
    gives for the loaded file); when the file was scaled down, the layers are scaled first.
    ``dropped``: [{"name", "reason"}]; ``merged``: [{"names", "reason"}]; ``baked``: [{"name", "mode"}].
    ``max_error``: max abs difference (premultiplied RGBA, [0, 1]) between the kept stack's
    composite and ``reference``.
    """

    path: str
    layers: LayeredImage
    reference: np.ndarray
    caption: str
    layer_captions: list[str]
    kinds: list[str]
    source_layers: int
    source_size: tuple[int, int]
    dropped: list[dict[str, Any]] = field(default_factory=list)
    merged: list[dict[str, Any]] = field(default_factory=list)
    baked: list[dict[str, Any]] = field(default_factory=list)
    max_error: float = 0.0

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def report(self) -> dict[str, Any]:
        """JSON-ready summary: counts, what was dropped / merged / baked and why, the error."""
        return {"file": self.path, "source_layers": self.source_layers, "kept": self.num_layers,
                "kept_names": self.layer_captions, "dropped": self.dropped, "merged": self.merged,
                "baked": self.baked, "source_size": list(self.source_size), "size": list(self.layers.size),
                "max_error": round(float(self.max_error), 6)}

    def to_record(self) -> ShardRecord:
        return ShardRecord(layers=from_float(self.layers.to_numpy(), 8), caption=self.caption,
                           layer_captions=list(self.layer_captions), composite=from_float(self.reference, 8),
                           kinds=list(self.kinds), source=self.path, info=self.report())


def premultiplied(rgba: np.ndarray) -> np.ndarray:
    """(..., 4) straight alpha -> premultiplied colour with the same alpha."""
    out = rgba.copy()
    out[..., :3] *= rgba[..., 3:4]
    return out


def _load(path: Path) -> LayeredImage:
    from ..io import load

    return load(path)


def caption_from_name(path: str | os.PathLike) -> str:
    """'blend-modes__color-burn.psd' -> 'blend modes color burn'."""
    stem = Path(path).stem
    words = re.sub(r"[_\-.]+", " ", stem)
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", words)
    return " ".join(words.split()).lower() or stem


def _bake(plane: np.ndarray, backdrop: np.ndarray, mode: str) -> np.ndarray:
    """Replace a blend-mode layer's colour by its blend result against ``backdrop`` (both (H, W, 4))."""
    a_b = backdrop[..., 3:4]  # (H, W, 1)
    cs, cb = plane[..., :3], backdrop[..., :3]
    out = plane.copy()
    out[..., :3] = (1 - a_b) * cs + a_b * np.clip(BLEND_FUNCTIONS[mode](cb, cs), 0.0, 1.0)
    return out


def _box(plane: np.ndarray) -> tuple[int, int, int, int] | None:
    ys, xs = np.nonzero(plane[..., 3] > 0)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _area(box: tuple[int, int, int, int] | None) -> int:
    return 0 if box is None else (box[2] - box[0]) * (box[3] - box[1])


def _disjoint(a: tuple[int, int, int, int] | None, b: tuple[int, int, int, int] | None) -> bool:
    if a is None or b is None:
        return True
    return a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def cap_layers(planes: list[np.ndarray], names: list[str], max_layers: int,
               ) -> tuple[list[np.ndarray], list[list[int]], list[dict[str, Any]]]:
    """Merge adjacent layers of a normal-blend stack until at most ``max_layers`` remain.

    ``planes``: full-canvas (H, W, 4) straight-alpha layers, bottom to top. Greedy: the adjacent
    pair with disjoint content boxes and the smallest total box area first; then the adjacent
    pair with the fewest pixels where both have alpha > 0. Returns the merged planes, for each
    the indices of the input layers it holds, and the merges made ({"names", "reason"}).
    """
    if max_layers < 1:
        raise ValueError(f"max_layers must be at least 1, got {max_layers}")
    if len(names) != len(planes):
        raise ValueError(f"{len(names)} names for {len(planes)} layers")
    planes = list(planes)
    groups = [[i] for i in range(len(planes))]
    boxes = [_box(p) for p in planes]
    merges: list[dict[str, Any]] = []

    def label(g: list[int]) -> str:
        return " + ".join(names[k] for k in g)

    while len(planes) > max_layers:
        pairs = range(len(planes) - 1)
        disjoint = [i for i in pairs if _disjoint(boxes[i], boxes[i + 1])]
        if disjoint:
            i = min(disjoint, key=lambda k: (_area(boxes[k]) + _area(boxes[k + 1]), k))
            reason = "no-overlap"
        else:
            def overlap(k: int) -> int:
                return int(np.count_nonzero((planes[k][..., 3] > 0) & (planes[k + 1][..., 3] > 0)))

            i = min(pairs, key=lambda k: (overlap(k), _area(boxes[k]) + _area(boxes[k + 1]), k))
            reason = "least-overlap"
        merged = composite_stack(np.stack([planes[i], planes[i + 1]]))
        merges.append({"names": [label(groups[i]), label(groups[i + 1])], "reason": reason})
        planes[i:i + 2] = [merged]
        groups[i:i + 2] = [groups[i] + groups[i + 1]]
        boxes[i:i + 2] = [_box(merged)]
    return planes, groups, merges


def _drop_no_effect(planes: list[np.ndarray], tol: float = NO_EFFECT_TOL) -> tuple[list[int], list[int]]:
    """Indices to keep / drop: layers whose removal changes the composite by < ``tol`` everywhere."""
    stack = np.stack(planes)  # (L, H, W, 4)
    full = premultiplied(composite_stack(stack))  # (H, W, 4)
    alphas = stack[..., 3]  # (L, H, W)
    above = np.ones_like(alphas[0])
    below = np.zeros_like(full)
    effects = np.zeros(len(planes))
    # single-layer effect: w_i * |c_i - below_i| with w_i the layer's visibility weight
    trans = [None] * len(planes)
    for i in range(len(planes) - 1, -1, -1):
        trans[i] = above.copy()
        above *= 1 - alphas[i]
    for i in range(len(planes)):
        w = alphas[i] * trans[i]  # (H, W)
        target = np.concatenate([stack[i][..., :3], np.ones_like(alphas[i][..., None])], axis=-1)
        effects[i] = float((w[..., None] * np.abs(target - below)).max())
        a = alphas[i][..., None]
        below = np.concatenate([stack[i][..., :3] * a, a], axis=-1) + below * (1 - a)
    keep = list(range(len(planes)))
    dropped: list[int] = []
    for i in sorted((k for k in keep if effects[k] < tol), key=lambda k: (effects[k], k)):
        trial = [k for k in keep if k != i]
        if not trial:
            break
        err = np.abs(premultiplied(composite_stack(stack[trial])) - full).max()
        if err < tol:
            keep, dropped = trial, dropped + [i]
    return keep, dropped


def extract_psd(path: str | os.PathLike, max_layers: int = 8, size: int | None = None) -> ExtractResult:
    """Extract one PSD/PSB file into a clean stack of at most ``max_layers`` normal layers.

    Raises :class:`LayeredFileError` when the file cannot be read or keeps no layer.
    """
    if max_layers < 1:
        raise ValueError(f"max_layers must be at least 1, got {max_layers}")
    if size is not None and size < 1:
        raise ValueError(f"size must be positive, got {size}")
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        image = _load(path)
    canvas = image.size
    out_size = canvas
    if size is not None and max(canvas) > size:
        scale = size / max(canvas)
        out_size = (max(int(round(canvas[0] * scale)), 1), max(int(round(canvas[1] * scale)), 1))
    dropped: list[dict[str, Any]] = []
    baked: list[dict[str, Any]] = []
    planes: list[np.ndarray] = []
    names: list[str] = []
    kinds: list[str] = []
    backdrop = np.zeros((out_size[1], out_size[0], 4), np.float32)  # composite of the layers so far
    for layer in image.layers:
        reason = _anomaly(layer, canvas)
        if reason is not None:
            dropped.append({"name": layer.name, "reason": reason})
            continue
        plane = layer.on_canvas(canvas)  # (H, W, 4)
        plane[..., 3] *= layer.opacity
        if plane[..., 3].max() < NO_EFFECT_TOL:
            dropped.append({"name": layer.name, "reason": "empty"})
            continue
        if out_size != canvas:
            plane = resize_rgba(plane, out_size)  # (h, w, 4)
        mode = normalize_blend_mode(layer.blend_mode)
        if mode != "normal":
            if mode in BLEND_FUNCTIONS:
                plane = _bake(plane, backdrop, mode)
                baked.append({"name": layer.name, "mode": mode})
            else:  # LayeredImage.composite() also draws these as normal (with a warning)
                baked.append({"name": layer.name, "mode": mode, "note": "unsupported mode kept as normal"})
        backdrop = composite_stack(np.stack([backdrop, plane]))
        planes.append(plane)
        names.append(layer.name)
        kinds.append(str(layer.metadata.get("kind", "layer")))
    if not planes:
        raise LayeredFileError(path, f"no visible non-empty layer among {len(image.layers)}", "empty")
    reference = backdrop  # the visible document, blend modes applied
    keep, gone = _drop_no_effect(planes)
    dropped += [{"name": names[i], "reason": "no-effect"} for i in gone]
    planes, names, kinds = [planes[i] for i in keep], [names[i] for i in keep], [kinds[i] for i in keep]
    planes, groups, merged = cap_layers(planes, names, max_layers)
    kinds = [kinds[g[0]] if len(g) == 1 else "merged" for g in groups]
    names = [" + ".join(names[k] for k in g) for g in groups]
    stack = np.stack(planes)
    error = float(np.abs(premultiplied(composite_stack(stack)) - premultiplied(reference)).max())
    result_image = LayeredImage(out_size, [Layer(p, name=n) for p, n in zip(planes, names)],
                                metadata={"source": str(path)})
    return ExtractResult(path=str(path), layers=result_image, reference=reference,
                         caption=caption_from_name(path), layer_captions=names, kinds=kinds,
                         source_layers=len(image.layers), source_size=canvas, dropped=dropped, merged=merged,
                         baked=baked, max_error=error)


def _anomaly(layer: Layer, canvas: tuple[int, int]) -> str | None:
    """Why a source layer cannot be kept (hidden, zero-opacity, zero-size, ...), or None."""
    if not layer.visible:
        return "hidden"
    if layer.opacity <= 0:
        return "zero-opacity"
    if layer.width == 0 or layer.height == 0:
        return "zero-size"
    if not np.isfinite(layer.pixels).all():
        return "non-finite"
    x0, y0, x1, y1 = layer.bbox
    if x1 <= 0 or y1 <= 0 or x0 >= canvas[0] or y0 >= canvas[1]:
        return "out-of-canvas"
    return None


def shard_name(path: Path, root: Path) -> str:
    """Shard file name for a source file: its path under ``root`` with separators and dots as '_'."""
    rel = path.relative_to(root).as_posix()
    return re.sub(r"[^0-9A-Za-z\-]+", "_", rel).strip("_") + ".npz"


def _extract_one(path: Path, target: Path, settings: dict[str, Any], resume: bool,
                 ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Extract one file to its shard: (report entry, None) or (None, failure record)."""
    if resume and target.exists():
        try:
            entry = read_shard(target).info
        except LayeredFileError:
            entry = None  # unreadable old shard: extract again
        if entry is not None and entry.get("settings") == settings:
            return dict(entry, shard=target.name), None
    t0 = time.perf_counter()
    try:
        result = extract_psd(path, max_layers=settings["max_layers"], size=settings["size"])
        entry = dict(result.report(), seconds=round(time.perf_counter() - t0, 3), settings=settings)
        record = result.to_record()
        record.info = entry
        write_shard(target, record)
    except LayeredFileError as err:
        return None, {"file": str(path), "reason": err.reason, "error": str(err)}
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as err:  # a reader bug on one file must not stop the batch
        return None, {"file": str(path), "reason": "error",
                      "error": f"{path}: {type(err).__name__}: {' '.join(str(err).split())}"}
    return dict(entry, shard=target.name), None


def extract_folder(in_dir: str | os.PathLike, out_dir: str | os.PathLike, max_layers: int = 8,
                   size: int | None = None, patterns: Sequence[str] = ("*.psd", "*.psb"), resume: bool = True,
                   workers: int = 1, verbose: bool = False) -> dict[str, Any]:
    """Extract every PSD/PSB under ``in_dir`` into shards in ``out_dir`` plus ``extract_report.json``.

    A file that cannot be read or keeps no layer is recorded under ``failures`` with its reason
    and the run goes on. With ``resume``, files whose shard already exists (made with the same
    ``max_layers`` and ``size``) are not extracted again: their report is read back from the
    shard. ``workers`` > 1 extracts files in that many processes (same report, same order).
    Returns the report dict (also written to ``out_dir/extract_report.json``).
    """
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    if not in_dir.is_dir():
        raise FileNotFoundError(f"{in_dir}: input folder not found")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    files = sorted({p for pattern in patterns for p in in_dir.rglob(pattern) if p.is_file()})
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    settings = {"max_layers": max_layers, "size": size}
    jobs = [(path, out_dir / shard_name(path, in_dir), settings, resume) for path in files]
    if workers == 1:
        outcomes: Iterator[tuple[dict[str, Any] | None, dict[str, Any] | None]] = (
            _extract_one(*job) for job in jobs)
        pool = None
    else:
        pool = ProcessPoolExecutor(max_workers=workers)
        outcomes = pool.map(_extract_one, *zip(*jobs)) if jobs else iter(())
    per_file: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    try:
        for path, (entry, failure) in zip(files, outcomes):
            if entry is not None:
                per_file.append(entry)
            else:
                failures.append(failure)
            if verbose:
                status = f"{entry['kept']} layers" if entry else f"failed ({failure['reason']})"
                print(f"{path.name}: {status}", flush=True)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    report = summarize(per_file, failures)
    report.update({"input": str(in_dir), "output": str(out_dir), "max_layers": max_layers, "size": size,
                   "seconds": round(time.perf_counter() - t0, 2)})
    with atomic_path(out_dir / REPORT_NAME) as tmp:
        tmp.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    return report


def summarize(per_file: list[dict[str, Any]], failures: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals over per-file reports: files, layers in / kept, drops by reason, merges, failures."""
    drops = Counter(d["reason"] for e in per_file for d in e["dropped"])
    merges = Counter(m["reason"] for e in per_file for m in e["merged"])
    return {
        "files": len(per_file) + len(failures), "extracted": len(per_file), "failed": len(failures),
        "failed_by_reason": dict(Counter(f["reason"] for f in failures)),
        "layers_in": sum(e["source_layers"] for e in per_file),
        "layers_kept": sum(e["kept"] for e in per_file),
        "dropped_by_reason": dict(drops), "merges_by_reason": dict(merges),
        "baked": sum(len(e["baked"]) for e in per_file),
        "max_error": max((e["max_error"] for e in per_file), default=0.0),
        "failures": failures, "per_file": per_file,
    }
