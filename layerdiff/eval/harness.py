"""Evaluation harness: run decomposers over ground-truth stacks and score them with the LayerD metric.

Samples come from a folder of layered files (anything :func:`layerdiff.io.load` reads: PSD/PSB, ORA,
PNG folders, zipped PNG folders) or from held-out synthetic designs. Each decomposer gets the 8-bit
composite of the ground truth, as a user would hand it a flat PNG. Results: ``results.csv`` (one row
per model and sample), ``summary.md`` (means per model) and ``summary.json``.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..atomic import atomic_path
from ..errors import LayerdiffError
from ..layered import LayeredImage, from_float
from .metric import MAX_EDITS, evaluate_pair

__all__ = ["EvalSample", "as_input", "folder_samples", "synthetic_samples", "emoji_samples", "run_eval", "summarize",
           "markdown_table", "write_report", "gt_request", "LAYERED_SUFFIXES"]

LAYERED_SUFFIXES = (".psd", ".psb", ".ora", ".zip", ".png-dir")
"""File suffixes taken as ground-truth stacks in a data folder (sub-folders are PNG folders)."""


@dataclass
class EvalSample:
    """One ground-truth stack, loaded on demand."""

    name: str
    load: Callable[[], LayeredImage]


@dataclass
class EvalReport:
    """Per-sample rows and per-model means of one evaluation run."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: list[dict[str, Any]] = field(default_factory=list)


def folder_samples(data: str | Path, limit: int | None = None) -> list[EvalSample]:
    """Ground-truth stacks in ``data``: layered files (:data:`LAYERED_SUFFIXES`) and sub-folders, sorted."""
    root = Path(data)
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder of ground-truth stacks")
    from ..io import load

    entries = [p for p in sorted(root.iterdir()) if not p.name.startswith(".")
               and (p.is_dir() or p.suffix.lower() in LAYERED_SUFFIXES)]
    if not entries:
        raise ValueError(f"{root}: no layered files ({', '.join(LAYERED_SUFFIXES)}) or PNG folders found")
    if limit is not None:
        entries = entries[:limit]
    return [EvalSample(p.name, (lambda p=p: load(p))) for p in entries]


def synthetic_samples(count: int, seed: int = 0, size: int = 512, min_layers: int = 2, max_layers: int = 6,
                      ) -> list[EvalSample]:
    """``count`` held-out designs from :class:`layerdiff.data.synthetic.SyntheticDesigns`."""
    if count < 1:
        raise ValueError(f"synthetic sample count must be >= 1, got {count}")
    from ..data.synthetic import SyntheticDesigns

    designs = SyntheticDesigns(seed, size=size, min_layers=min_layers, max_layers=max_layers)
    return [EvalSample(f"synthetic-{seed}-{i:05d}", (lambda i=i: designs.sample(i).layers))
            for i in range(count)]


def emoji_samples(count: int = 100, seed: int = 28, size: int = 512, max_layers: int = 6,
                  min_visible: float = 0.005, folder: str | Path | None = None,
                  stems: Sequence[str] | None = None) -> list[EvalSample]:
    """``count`` held-out emoji split per element (:func:`layerdiff.data.emoji.heldout_selection`:
    emoji the training data never drew), each a transparent ``size``-px stack of element layers.
    ``stems`` (a selection made before) replaces the selection."""
    from ..data.emoji import default_emoji_dir, element_layers, heldout_selection

    root = Path(folder) if folder is not None else default_emoji_dir()
    if stems is None:
        stems = heldout_selection(count, seed, root, max_layers, min_visible)

    def load(stem: str) -> LayeredImage:
        layers, _ = element_layers((root / f"{stem}.svg").read_bytes(), size, max_layers, min_visible, stem)
        return LayeredImage.from_numpy(np.stack(layers), names=[f"{stem} part {i + 1}" for i in range(len(layers))])

    return [EvalSample(f"emoji-{stem}", (lambda stem=stem: load(stem))) for stem in stems]


def as_input(image: np.ndarray) -> Image.Image:
    """The 8-bit flat image a user would pass: RGB when opaque, else RGBA."""
    rgba = from_float(image, 8)  # (H, W, 4) uint8
    if (rgba[..., 3] == 255).all():
        return Image.fromarray(np.ascontiguousarray(rgba[..., :3]), "RGB")
    return Image.fromarray(rgba, "RGBA")


def _resolve(models: Sequence[str] | dict[str, Any]) -> dict[str, Any]:
    if isinstance(models, dict):
        return dict(models)
    from ..loader import load, resolve

    names = [m.strip() for m in models if m.strip()]
    if not names:
        raise ValueError("no models given")
    for name in names:  # unknown names and models that do not decompose fail before any work
        resolve(name)[0].implementation("decompose")
    return {name: load(name, "decompose") for name in names}


def gt_request(n_gt: int, decomposer: Any) -> tuple[int, bool]:
    """The layer count asked of ``decomposer`` for a ground truth of ``n_gt`` layers, and whether that is
    the model's limit (``max_layers`` of the contract) rather than the ground truth's count."""
    limit = getattr(decomposer, "max_layers", None)
    if isinstance(limit, int) and n_gt > limit:
        return max(1, limit), True
    return max(1, n_gt), False


def run_eval(samples: Iterable[EvalSample], models: Sequence[str] | dict[str, Any], out_dir: str | Path | None,
             num_layers: str = "auto", max_edits: int = MAX_EDITS,
             log: Callable[[str], None] | None = None) -> EvalReport:
    """Decompose every sample with every model, score, and write ``results.csv``, ``summary.md`` and
    ``summary.json`` to ``out_dir`` (nothing written when it is None).

    Args:
        models: registry names, or ``{name: decomposer}`` with objects exposing
            ``decompose(image, num_layers=...) -> LayeredImage``.
        num_layers: "auto", or "gt" to ask each model for the ground truth's layer count (a model whose
            limit is lower is asked for its limit: the row's ``capped`` is set and ``log`` says so).
    A sample that fails to load, or a model that fails on a sample, gives a row with ``error`` set;
    the run goes on.
    """
    if num_layers not in ("auto", "gt"):
        raise ValueError(f"num_layers must be 'auto' or 'gt', got {num_layers!r}")
    decomposers = _resolve(models)
    report = EvalReport()
    for sample in samples:
        try:
            gt = sample.load()
        except (LayerdiffError, OSError, ValueError) as err:
            for name in decomposers:
                report.rows.append(_row(name, sample.name, error=f"load: {err}"))
            if log:
                log(f"{sample.name}: skipped ({err})")
            continue
        gt_stack = gt.to_numpy(include_hidden=False)  # (L, H, W, 4)
        image = gt.composite()  # (H, W, 4)
        flat = as_input(image)
        target = np.asarray(flat.convert("RGBA"), dtype=np.float32) / 255.0
        n_gt = int(sum(1 for layer in gt_stack if (layer[..., 3] > 0).any()))
        for name, dec in decomposers.items():
            request: int | str = "auto"
            capped = False
            if num_layers == "gt":
                request, capped = gt_request(n_gt, dec)
                if capped and log:
                    log(f"{sample.name} / {name}: {n_gt} true layers, more than the model's limit; "
                        f"asked for {request} (its limit)")
            try:
                start = time.perf_counter()
                pred = dec.decompose(flat, num_layers=request)
                seconds = time.perf_counter() - start
                scores = evaluate_pair(pred, gt_stack, image=target, max_edits=max_edits)
            except (LayerdiffError, ValueError, RuntimeError) as err:
                report.rows.append(_row(name, sample.name, error=f"{type(err).__name__}: {err}"))
                if log:
                    log(f"{sample.name} / {name}: error ({err})")
                continue
            report.rows.append(_row(name, sample.name, scores, seconds, max_edits, capped=capped))
            if log:
                log(f"{sample.name} / {name}: L1@0 {scores['l1'][0]:.4f} IoU@0 {scores['iou'][0]:.4f} "
                    f"PSNR {scores['psnr']:.1f} dB, {len(pred)} layers, {seconds:.2f} s")
    report.summary = summarize(report.rows, list(decomposers), max_edits)
    if out_dir is not None:
        write_report(report, Path(out_dir), max_edits)
    return report


def _row(model: str, sample: str, scores: dict[str, Any] | None = None, seconds: float = math.nan,
         max_edits: int = MAX_EDITS, error: str = "", capped: bool = False) -> dict[str, Any]:
    row: dict[str, Any] = {"model": model, "sample": sample}
    scores = scores or {}
    for key in ("num_gt", "num_pred", "count_error", "psnr"):
        row[key] = scores.get(key, math.nan)
    for k in range(max_edits + 1):
        row[f"l1@{k}"] = scores["l1"][k] if scores else math.nan
        row[f"iou@{k}"] = scores["iou"][k] if scores else math.nan
    row["seconds"] = seconds
    row["skipped"] = bool(scores.get("skipped", False)) if scores else False
    row["capped"] = capped  # asked for the model's layer limit, below the ground truth's count
    row["error"] = error
    return row


def _mean(values: Iterable[float]) -> float:
    vals = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(vals)) if vals else math.nan


def summarize(rows: list[dict[str, Any]], models: Sequence[str], max_edits: int = MAX_EDITS,
              ) -> list[dict[str, Any]]:
    """Means per model. L1/IoU over scored samples (gt with >= 2 layers); PSNR, count error and time
    over every sample the model ran on."""
    summary = []
    for name in models:
        ran = [r for r in rows if r["model"] == name and not r["error"]]
        scored = [r for r in ran if not r["skipped"]]
        entry: dict[str, Any] = {"model": name, "samples": len(ran), "scored": len(scored),
                                 "errors": sum(1 for r in rows if r["model"] == name and r["error"]),
                                 "capped": sum(1 for r in ran if r.get("capped"))}
        for k in range(max_edits + 1):
            entry[f"l1@{k}"] = _mean(r[f"l1@{k}"] for r in scored)
            entry[f"iou@{k}"] = _mean(r[f"iou@{k}"] for r in scored)
        entry["psnr"] = _mean(r["psnr"] for r in ran)
        entry["count_error"] = _mean(r["count_error"] for r in ran)
        entry["seconds"] = _mean(r["seconds"] for r in ran)
        summary.append(entry)
    return summary


def markdown_table(summary: list[dict[str, Any]], max_edits: int = MAX_EDITS) -> str:
    """The headline table: L1@0, IoU@0, L1@K, IoU@K, PSNR, count error, seconds per image."""
    k = max_edits
    head = (f"| model | samples | L1@0 ↓ | IoU@0 ↑ | L1@{k} ↓ | IoU@{k} ↑ | PSNR dB ↑ | count err ↓ "
            f"| s/image |")
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def f(x: float, digits: int) -> str:
        return "n/a" if x is None or math.isnan(x) else f"{x:.{digits}f}"

    for e in summary:
        samples = f"{e['scored']}/{e['samples']}" + (f" ({e['errors']} failed)" if e["errors"] else "")
        lines.append(f"| {e['model']} | {samples} | {f(e['l1@0'], 4)} | {f(e['iou@0'], 4)} | "
                     f"{f(e[f'l1@{k}'], 4)} | {f(e[f'iou@{k}'], 4)} | {f(e['psnr'], 2)} | "
                     f"{f(e['count_error'], 2)} | {f(e['seconds'], 3)} |")
    notes = [f"{e['model']}: {e['capped']} sample(s) have more true layers than the model makes; "
             f"scored with its layer limit." for e in summary if e.get("capped")]
    return "\n".join(lines + notes) + "\n"


def write_report(report: EvalReport, out: Path, max_edits: int = MAX_EDITS) -> None:
    """Write ``results.csv``, ``summary.md`` and ``summary.json`` of ``report`` into ``out`` (each atomically)."""
    out.mkdir(parents=True, exist_ok=True)
    columns = list(_row("", "", max_edits=max_edits))
    with atomic_path(out / "results.csv") as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for row in report.rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    note = ("L1/IoU: LayerD protocol (pre-grouping, DTW, merge budget K), mean over samples whose ground "
            "truth has >= 2 layers; PSNR of each model's recomposition against its input; count error = "
            "|#predicted - #ground-truth layers|.\n")
    with atomic_path(out / "summary.md") as tmp:
        table = markdown_table(report.summary, max_edits)
        tmp.write_text("# Decomposition evaluation\n\n" + table + "\n" + note)
    with atomic_path(out / "summary.json") as tmp:
        clean = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in e.items()}
                 for e in report.summary]
        tmp.write_text(json.dumps(clean, indent=2) + "\n")
