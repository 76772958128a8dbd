"""The run manifest of a batch: ``OUT_DIR/manifest.jsonl``, one JSON record per line, append-only.

Every run appends one record per input it considered, whatever became of it::

    {"path": "icons/star.psd", "status": "done", "sha256": "...", "bytes": 1234, "seconds": 0.8,
     "output": "icons/star", "layers": 4, "psnr": 100.0, "max_error": 0.0, "model": "single-layer",
     "run": "20260101T120000-4242", "time": "2026-01-01T12:00:01+00:00"}

``status`` is ``"done"``, ``"failed"`` (with ``reason``, a short category, and ``error``, the
one-line message) or ``"skipped"`` (already done by an earlier run: same content hash, same
settings, complete outputs on disk).

Durability: each line is written with one ``write`` call, flushed and ``fsync``-ed before the
next input is reported, so a ``kill -9`` loses at most the line being written. A torn last line
(no trailing newline, or not valid JSON) is tolerated when reading and cut off before the next
run appends. Only one process writes a manifest at a time: :class:`RunManifest` holds an
exclusive ``flock`` on ``OUT_DIR/.layerdiff-batch.lock`` (POSIX) for as long as it is open.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import LayerdiffError

try:  # POSIX only; elsewhere the lock is skipped
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["MANIFEST_NAME", "LOCK_NAME", "STATUSES", "RunManifest", "read_manifest", "latest_records"]

MANIFEST_NAME = "manifest.jsonl"
LOCK_NAME = ".layerdiff-batch.lock"
STATUSES = ("done", "failed", "skipped")


def _parse_lines(raw: bytes, label: str) -> tuple[list[dict[str, Any]], int]:
    """Records of a manifest's bytes and the byte length of its intact prefix.

    A last line without a newline is torn (a write cut by a crash) and ignored; a line in the middle
    that is not a JSON object is skipped with a warning (the file was edited by hand).
    """
    records: list[dict[str, Any]] = []
    end = raw.rfind(b"\n") + 1  # everything after the last newline is a torn write
    for number, line in enumerate(raw[:end].splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            record = None
        if not isinstance(record, dict) or "path" not in record or record.get("status") not in STATUSES:
            warnings.warn(f"{label}:{number}: not a manifest record; ignored", stacklevel=3)
            continue
        records.append(record)
    return records, end


def read_manifest(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All intact records of a manifest file in order ([] when the file does not exist)."""
    p = Path(path)
    if not p.exists():
        return []
    return _parse_lines(p.read_bytes(), str(p))[0]


def latest_records(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The last record of each input path (the state a manifest ends in)."""
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        latest[str(record["path"])] = record
    return latest


class RunManifest:
    """The append-only manifest of an output folder, opened for one run.

    Use as a context manager::

        with RunManifest(out_dir) as manifest:
            manifest.records      # what earlier runs wrote
            manifest.append({...})  # one line, flushed and fsync-ed

    Opening takes the folder's lock (raising :class:`LayerdiffError` when another run holds it)
    and cuts a torn last line left by a killed run.
    """

    def __init__(self, out_dir: str | os.PathLike) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / MANIFEST_NAME
        self.records: list[dict[str, Any]] = []
        self._fh: Any = None
        self._lock_fh: Any = None

    def __enter__(self) -> RunManifest:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        try:
            raw = self.path.read_bytes() if self.path.exists() else b""
            self.records, intact = _parse_lines(raw, str(self.path))
            self._fh = open(self.path, "ab")  # noqa: SIM115 - kept open for the whole run
            if intact < len(raw):  # a torn last line from a killed run
                self._fh.truncate(intact)
                os.fsync(self._fh.fileno())
        except BaseException:
            self.close()
            raise

    def _take_lock(self) -> None:
        if fcntl is None:
            return
        self._lock_fh = open(self.out_dir / LOCK_NAME, "a")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(self._lock_fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_fh.close()
            self._lock_fh = None
            raise LayerdiffError(f"{self.out_dir}: another layerdiff batch run is writing to this folder",
                                 ) from None

    def append(self, record: dict[str, Any]) -> None:
        """Write one record as one line; it is on disk when this returns."""
        if self._fh is None:
            raise LayerdiffError(f"{self.path}: manifest is not open")
        if record.get("status") not in STATUSES or "path" not in record:
            raise ValueError(f"manifest record needs 'path' and a status in {STATUSES}: {record!r}")
        line = json.dumps(record, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
        self._fh.write(line.encode("utf-8"))
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.records.append(record)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._lock_fh is not None:
            self._lock_fh.close()  # closing releases the flock
            self._lock_fh = None
