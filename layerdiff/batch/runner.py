"""Batch decomposition of an asset folder: discovery, restartable bookkeeping and the local backend.

:func:`run_batch` walks ``IN_DIR`` for PSD, PSB, ORA, PNG, JPEG, WebP and TIFF files (recursive,
hidden names skipped, sorted by relative path), skips every input whose outputs a previous run
finished (same content hash, same settings, complete folder), decomposes the rest with a pool of
worker processes (or Ray, :mod:`layerdiff.batch.ray_backend`) and appends one record per input to
``OUT_DIR/manifest.jsonl`` (:mod:`layerdiff.batch.manifest`). Only the parent process writes the
manifest; workers write their asset folders atomically (:mod:`layerdiff.batch.asset`).

Restart safety: the parent can be killed at any moment. Finished folders are complete (atomic
rename), half-built ones live under hidden ``*.part`` names that the next run deletes, a torn
manifest line is cut, and a folder finished but not yet recorded is recognised by its
``asset.json`` and reported as skipped.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import shutil
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import LayerdiffError
from ..registry import DEFAULT_MODEL
from .asset import AssetProcessor, AssetTask, BatchSettings, is_complete, load_plugins, sha256_file
from .manifest import RunManifest

__all__ = ["INPUT_EXTENSIONS", "BACKENDS", "BatchSummary", "find_inputs", "plan_tasks", "run_batch"]

INPUT_EXTENSIONS = (".psd", ".psb", ".ora", ".png", ".jpg", ".jpeg", ".jpe", ".webp", ".tif", ".tiff")
"""File name endings (case-insensitive) the batch picks up."""

BACKENDS = ("local", "ray")

Emit = Callable[[dict[str, Any]], None]


@dataclass
class BatchSummary:
    """What one :func:`run_batch` call did. ``exit_code`` is 0 when nothing failed, else 1."""

    out_dir: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    backend: str = "local"
    workers: int = 1

    @property
    def counts(self) -> dict[str, int]:
        counts = Counter(r["status"] for r in self.records)
        return {s: counts.get(s, 0) for s in ("done", "failed", "skipped")}

    @property
    def failures(self) -> Counter[str]:
        return Counter(r.get("reason", "?") for r in self.records if r["status"] == "failed")

    @property
    def exit_code(self) -> int:
        return 1 if self.counts["failed"] else 0

    @property
    def manifest_path(self) -> Path:
        from .manifest import MANIFEST_NAME

        return self.out_dir / MANIFEST_NAME

    def assets_per_minute(self) -> float:
        """Decomposed assets (done + failed, not skipped) per minute of wall time."""
        worked = self.counts["done"] + self.counts["failed"]
        return 60.0 * worked / self.seconds if self.seconds > 0 else 0.0


# ------------------------------------------------------------------------------------- discovery
def find_inputs(in_dir: str | os.PathLike, exclude: Sequence[str | os.PathLike] = ()) -> list[Path]:
    """Input files under ``in_dir``, sorted by relative path; hidden files/folders and ``exclude`` skipped."""
    root = Path(in_dir)
    skip = {Path(p).resolve() for p in exclude}
    found = []
    for folder, dirnames, filenames in os.walk(root):
        here = Path(folder)
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and (here / d).resolve() not in skip]
        for name in filenames:
            if not name.startswith(".") and name.lower().endswith(INPUT_EXTENSIONS):
                found.append(here / name)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _output_names(rels: Sequence[str]) -> list[str]:
    """Output folder (relative) per input: the path without extension, ``<stem>_<ext>`` on a clash.

    Two inputs clash when they differ only by extension (``a.psd``, ``a.png``) or when one's folder
    would hold the other's (``a.psd`` and ``a/b.png``); every clashing input takes its extension.
    """
    plain = [r.rsplit(".", 1)[0] for r in rels]
    counts = Counter(plain)
    prefixes = {"/".join(p.split("/")[:i]) for p in plain for i in range(1, p.count("/") + 1)}
    names = []
    for rel, base in zip(rels, plain):
        if counts[base] > 1 or base in prefixes:
            base = f"{base}_{rel.rsplit('.', 1)[1].lower()}"
        names.append(base)
    seen: Counter[str] = Counter()
    unique = []
    for name in names:  # a suffixed name that still clashes gets a number
        seen[name] += 1
        unique.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return unique


def plan_tasks(in_dir: str | os.PathLike, out_dir: str | os.PathLike, limit: int | None = None,
               ) -> list[AssetTask]:
    """One :class:`AssetTask` per input (the first ``limit`` in sorted order), without hashes yet."""
    root, out = Path(in_dir), Path(out_dir)
    inputs = find_inputs(root, exclude=[out])
    if limit is not None:
        inputs = inputs[:limit]
    rels = [p.relative_to(root).as_posix() for p in inputs]
    return [AssetTask(src=str(p.resolve()), rel=rel, out_dir=str((out / name).resolve()), out_rel=name)
            for p, rel, name in zip(inputs, rels, _output_names(rels))]


def _remove_stale_temporaries(out_dir: Path) -> int:
    """Delete the hidden ``*.part`` files/folders and ``.*.old`` folders a killed run left behind."""
    removed = 0
    for folder, dirnames, filenames in os.walk(out_dir):
        here = Path(folder)
        for name in list(dirnames):
            if name.startswith(".") and (name.endswith(".part") or name.endswith(".old")):
                shutil.rmtree(here / name, ignore_errors=True)
                dirnames.remove(name)
                removed += 1
        for name in filenames:
            if name.startswith(".") and name.endswith(".part"):
                (here / name).unlink(missing_ok=True)
                removed += 1
    return removed


# ---------------------------------------------------------------------------------- local backend
_WORKER: dict[str, Any] = {}


def _watch_parent(parent: int) -> None:
    """Exit this worker when the parent is gone (e.g. killed with SIGKILL), so no orphan keeps working."""
    while True:
        time.sleep(0.2)
        if os.getppid() != parent:
            os._exit(0)


def _init_worker(settings: dict[str, Any], threads: int, parent: int) -> None:
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    try:
        _WORKER["processor"] = AssetProcessor(BatchSettings.from_dict(settings))
    except Exception as err:  # reported with the first task: the model, not an asset, is at fault
        _WORKER["error"] = " ".join(f"{type(err).__name__}: {err}".split())
    if "torch" in sys.modules:  # only models that use torch pay for importing it
        sys.modules["torch"].set_num_threads(threads)


def _work(task: AssetTask) -> dict[str, Any]:
    if "error" in _WORKER:
        return {"fatal": _WORKER["error"]}
    return _WORKER["processor"].process(task)


def _crashed(task: AssetTask, detail: str) -> dict[str, Any]:
    return {"path": task.rel, "sha256": task.sha256, "bytes": task.size, "output": task.out_rel,
            "status": "failed", "reason": "crashed", "seconds": 0.0,
            "error": f"{task.rel}: the worker process died ({detail})"}


class _LocalPool:
    """Worker processes (spawn) that each load the model once; a crash costs only the asset that caused it.

    When a worker dies (segfault, out-of-memory kill), every task in flight is lost with it; those
    are re-run one at a time in a fresh single-worker pool, and the one that kills its worker again
    is recorded as ``"crashed"``.
    """

    def __init__(self, settings: BatchSettings, workers: int) -> None:
        self.settings = settings
        self.workers = workers
        self.threads = max(1, (os.cpu_count() or 1) // workers)

    def _pool(self, size: int) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(max_workers=size, mp_context=multiprocessing.get_context("spawn"),
                                      initializer=_init_worker,
                                      initargs=(self.settings.to_dict(), self.threads, os.getpid()))

    def run(self, tasks: Iterable[AssetTask], emit: Emit) -> None:
        pending = deque(tasks)
        while pending:
            lost = self._run_pool(pending, self.workers, emit)
            for task in lost:  # isolate: one at a time in a fresh pool
                if self._run_pool(deque([task]), 1, emit):
                    emit(_crashed(task, "it died again when this asset ran alone"))

    def _run_pool(self, pending: deque[AssetTask], size: int, emit: Emit) -> list[AssetTask]:
        """Run tasks from ``pending`` until it is empty or the pool breaks; returns the tasks lost."""
        in_flight: dict[cf.Future, AssetTask] = {}
        pool = self._pool(size)
        broken = False
        try:
            while (pending or in_flight) and not broken:
                while pending and len(in_flight) < 2 * size:
                    task = pending.popleft()
                    in_flight[pool.submit(_work, task)] = task
                done, _ = cf.wait(in_flight, return_when=cf.FIRST_COMPLETED)
                for future in done:
                    try:
                        record = future.result()
                    except cf.process.BrokenProcessPool:
                        broken = True
                        continue
                    in_flight.pop(future)
                    if "fatal" in record:
                        raise LayerdiffError(f"model {self.settings.model!r} could not be loaded in a "
                                             f"worker: {record['fatal']}")
                    emit(record)
        finally:
            pool.shutdown(wait=not broken, cancel_futures=True)
        return sorted(in_flight.values(), key=lambda t: t.rel)


def _run_in_process(tasks: Iterable[AssetTask], settings: BatchSettings, emit: Emit) -> None:
    processor = AssetProcessor(settings)
    for task in tasks:
        emit(processor.process(task))


# ------------------------------------------------------------------------------------------ runner
def run_batch(
    in_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    model: str = DEFAULT_MODEL,
    layers: int | str = "auto",
    max_layers: int | None = None,
    per_layer: bool = False,
    workers: int = 1,
    backend: str = "local",
    address: str | None = None,
    limit: int | None = None,
    timeout: float | None = None,
    plugins: Sequence[str] = (),
    device: str = "auto",
    progress: bool = True,
) -> BatchSummary:
    """Decompose every asset under ``in_dir`` into ``out_dir``; restartable, see the module docstring.

    ``workers``: processes (local backend; 0 runs in this process, without crash isolation) or
    actors (Ray backend). ``limit``: only the first N inputs in sorted order. ``timeout``: seconds
    per asset, after which it is recorded as failed (reason ``"timeout"``). ``plugins``: modules
    (``"module"`` or ``"module:function"``) that register extra decomposer presets.
    """
    settings = BatchSettings(model=model, layers=layers, max_layers=max_layers, per_layer=per_layer,
                             timeout=timeout, plugins=tuple(plugins), device=device)
    root, out = Path(in_dir), Path(out_dir)
    if not root.is_dir():
        raise LayerdiffError(f"{root}: input folder does not exist or is not a folder")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if workers < (0 if backend == "local" else 1):
        raise ValueError(f"workers must be >= {0 if backend == 'local' else 1} for the {backend} backend, "
                         f"got {workers}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive integer, got {limit}")
    if out.resolve() == root.resolve() or root.resolve().is_relative_to(out.resolve()):
        raise LayerdiffError(f"{out}: the output folder must not be the input folder or contain it")
    load_plugins(settings.plugins)
    from ..contract import check_num_layers
    from ..loader import resolve

    preset, _ = resolve(settings.model)  # an unknown name fails now, listing the known ones
    preset.implementation("decompose")  # as does a model that does not decompose
    check_num_layers(settings.layers, settings.max_layers, preset.max_layers, preset.name)  # the model's limit

    summary = BatchSummary(out_dir=out, backend=backend, workers=workers)
    run_id = f"{datetime.now().strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    t0 = time.perf_counter()
    with RunManifest(out) as manifest:
        _remove_stale_temporaries(out)
        tasks = plan_tasks(root, out, limit)
        bar = _progress(len(tasks), "checking", progress)

        def emit(record: dict[str, Any]) -> None:
            now = datetime.now(timezone.utc).isoformat(timespec="seconds")
            record = {**record, "run": run_id, "time": now}
            manifest.append(record)
            summary.records.append(record)
            bar.update(1)
            if record["status"] == "failed" and progress:
                bar.write(f"failed: {record['error']}", file=sys.stderr)
            c = summary.counts
            bar.set_postfix(done=c["done"], failed=c["failed"], skipped=c["skipped"], refresh=False)

        pending = []
        for task in tasks:
            th = time.perf_counter()
            try:
                sha, size = sha256_file(task.src)
            except OSError as err:
                emit({"path": task.rel, "output": task.out_rel, "status": "failed", "reason": "unreadable",
                      "seconds": 0.0, "error": f"{task.rel}: cannot read: {err.strerror or err}"})
                continue
            task = AssetTask(task.src, task.rel, task.out_dir, task.out_rel, sha, size)
            if is_complete(task.out_dir, sha, settings.key()):
                emit({"path": task.rel, "sha256": sha, "bytes": size, "output": task.out_rel,
                      "status": "skipped", "reason": "already done", "model": settings.model,
                      "seconds": round(time.perf_counter() - th, 4)})
            else:
                pending.append(task)
                bar.update(1)
        bar.close()
        bar = _progress(len(pending), f"decomposing ({backend}, {workers} worker{'s' * (workers != 1)})",
                        progress)
        try:
            if pending and backend == "ray":
                from .ray_backend import run_ray

                run_ray(pending, settings, workers, address, emit)
            elif pending and workers == 0:
                _run_in_process(pending, settings, emit)
            elif pending:
                _LocalPool(settings, workers).run(pending, emit)
        finally:
            bar.close()
    summary.seconds = time.perf_counter() - t0
    return summary


def _progress(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="asset", disable=not enabled, dynamic_ncols=True, smoothing=0.05)
