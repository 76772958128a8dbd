"""Atomic file output: write to a temporary file in the target folder, then rename over the target.

Temporary names are hidden and carry the writing process's id: ``.NAME.<pid>-<random><suffix>``
(``suffix`` defaults to the target's extension plus ``.part``). A process killed mid-write leaves
its temporary behind; the next write to the same target removes every temporary of that target
whose process is gone (:func:`remove_stale_temporaries`), so killed runs do not pile up files.

Folders are replaced whole (:func:`atomic_dir`), but only folders layerdiff wrote: an existing
non-empty folder that the caller's ``owned`` test (or :func:`written_by_layerdiff`) does not
recognise is refused with :class:`FolderNotOursError`, so nothing a user put there is deleted.

:class:`AtomicSet` stages several outputs (files and folders) and renames them into place only
once all are complete, so a run that fails or is killed while writing leaves the old set whole.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import LayerdiffError

__all__ = ["atomic_path", "atomic_dir", "AtomicSet", "FolderNotOursError", "check_replaceable",
           "remove_stale_temporaries", "written_by_layerdiff"]

LEGACY_STALE_SECONDS = 3600.0
"""Temporaries without a process id (written by older versions) count as stale after this age."""


class FolderNotOursError(LayerdiffError):
    """An output folder exists, is not empty and was not written by layerdiff: it is left alone."""

    def __init__(self, path: object, why: str = "it is not empty and not a layerdiff output") -> None:
        self.path = str(path)
        super().__init__(f"{path}: refusing to replace this folder: {why}; choose another output path "
                         "or empty it first")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but belongs to someone else (or cannot tell): keep its files
    return True


def _stale_pattern(name: str) -> re.Pattern[str]:
    # .NAME.<pid>-<random>...  (ours)   |   .NAME.<random>.<ext>.part (older versions, no pid)   |   .NAME.old
    return re.compile(rf"^\.{re.escape(name)}\.(?:(?P<pid>\d+)-[A-Za-z0-9_]+.*|[a-z0-9_]{{8}}\..*part|old)$")


def remove_stale_temporaries(target: str | os.PathLike) -> int:
    """Delete the temporaries of ``target`` (files or folders beside it) whose writing process is gone.

    Temporaries of a live process (including this one) are kept; ones without a process id are
    removed once older than :data:`LEGACY_STALE_SECONDS`. A replaced folder that was moved aside
    (``*.old``) by a process killed before the new one took its place is moved back instead.
    Returns how many were removed or restored.
    """
    target = Path(target)
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return 0
    pattern = _stale_pattern(target.name)
    removed = 0
    now = time.time()
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None:
            continue
        pid = match.group("pid")
        if pid is not None:
            if _pid_alive(int(pid)):
                continue
        elif not entry.name.endswith(".old"):
            try:
                if now - entry.stat(follow_symlinks=False).st_mtime < LEGACY_STALE_SECONDS:
                    continue
            except OSError:
                continue
        path = Path(entry.path)
        if entry.name.endswith(".old") and not os.path.lexists(target):
            # killed between moving the old folder aside and moving the new one in: put the old one back
            try:
                os.replace(path, target)
            except OSError:
                continue  # it could not be moved back: keep it under its .old name rather than delete it
            removed += 1
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
        removed += 1
    return removed


def _temp_prefix(target: Path) -> str:
    return f".{target.name}.{os.getpid()}-"


def _new_temp_file(target: Path, suffix: str | None) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(target), suffix=suffix or target.suffix + ".part",
                               dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600 files; follow the umask like open() does
    return tmp_path


def _new_temp_dir(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), suffix=".part", dir=target.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    return tmp


def _fsync(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success it is renamed to ``target``.

    On any exception the temporary file is removed and ``target`` is left as it was, so an
    interrupted write never leaves a half-written file under the final name. Stale temporaries
    of ``target`` left by killed processes are removed first.
    """
    target = Path(target)
    tmp_path = _new_temp_file(target, suffix)
    try:
        yield tmp_path
        _fsync(tmp_path)
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def written_by_layerdiff(folder: str | os.PathLike) -> bool:
    """The default test of :func:`atomic_dir`: whether ``folder`` holds a top-level ``manifest.json`` or
    ``asset.json`` whose ``format`` names a layerdiff format (a PNG layer folder, a batch asset), a
    training checkpoint's ``state.json`` with its ``step``, or a ``model_index.json`` naming one of
    layerdiff's pipelines (an exported model)."""
    folder = Path(folder)
    for name in ("manifest.json", "asset.json", "state.json", "model_index.json"):
        path = folder / name
        try:
            if not path.is_file() or path.stat().st_size > 16 * 1024 * 1024:
                continue
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        if name in ("manifest.json", "asset.json") and str(data.get("format", "")).startswith("layerdiff"):
            return True
        if name == "state.json" and isinstance(data.get("step"), int) and "config" in data:
            return True
        if name == "model_index.json" and str(data.get("_class_name", "")) in _PIPELINES:
            return True
    return False


_PIPELINES = {"LayerDecomposePipeline", "LayerGeneratePipeline", "LayerEditPipeline", "LayerExtractPipeline"}


def check_replaceable(target: str | os.PathLike, owned: Callable[[Path], bool] | None = None) -> None:
    """Raise :class:`FolderNotOursError` unless ``target`` is absent, an empty folder, or a folder that
    ``owned`` (default :func:`written_by_layerdiff`) recognises as a layerdiff output."""
    target = Path(target)
    if not os.path.lexists(target):
        return
    if target.is_symlink() or not target.is_dir():
        raise FolderNotOursError(target, "it exists and is not a folder")
    if not any(target.iterdir()):
        return
    if not (owned or written_by_layerdiff)(target):
        raise FolderNotOursError(target)


def _swap_in_dir(tmp: Path, target: Path) -> Path | None:
    """Rename ``tmp`` to ``target``; an existing ``target`` is moved aside first. Returns the moved-aside
    folder (to delete), or None."""
    if not os.path.lexists(target):
        os.replace(tmp, target)
        return None
    old = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), suffix=".old", dir=target.parent))
    os.rmdir(old)
    os.replace(target, old)
    os.replace(tmp, target)
    return old


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike, *, owned: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Yield a temporary folder next to ``target``; on success it replaces ``target`` whole.

    An existing ``target`` is replaced only when it is empty or ``owned(target)`` is true (default:
    :func:`written_by_layerdiff`); otherwise :class:`FolderNotOursError` is raised before anything is
    written, and again just before the swap in case the folder changed meanwhile.
    """
    target = Path(target)
    check_replaceable(target, owned)
    tmp = _new_temp_dir(target)
    try:
        yield tmp
        check_replaceable(target, owned)
        old = _swap_in_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


class AtomicSet:
    """Stage several outputs, then rename them all into place at once (all new or all old).

    ::

        with AtomicSet() as outputs:
            write_psd(image, outputs.file(folder / "a.psd"))
            write_pngdir_into(image, outputs.folder(folder / "png"))

    Every target is checked up front (folders must be replaceable, see :func:`atomic_dir`). The
    renames happen only after the block finished without an exception; a failure or a kill
    before that leaves every old output as it was (and the staged temporaries are removed, now or
    by the next write). Replaced folders are deleted after all renames.
    """

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path, bool, Callable[[Path], bool] | None]] = []

    def file(self, target: str | os.PathLike, suffix: str | None = None) -> Path:
        """A temporary path that becomes ``target`` on commit."""
        target = Path(target)
        tmp = _new_temp_file(target, suffix)
        self._staged.append((tmp, target, False, None))
        return tmp

    def folder(self, target: str | os.PathLike, *, owned: Callable[[Path], bool] | None = None) -> Path:
        """A temporary folder that replaces ``target`` on commit (only if it may, see :func:`atomic_dir`)."""
        target = Path(target)
        check_replaceable(target, owned)
        tmp = _new_temp_dir(target)
        self._staged.append((tmp, target, True, owned))
        return tmp

    def __enter__(self) -> AtomicSet:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            try:
                self._commit()
            except BaseException:
                self._discard()
                raise
        else:
            self._discard()

    def _commit(self) -> None:
        for tmp, target, is_dir, owned in self._staged:
            if is_dir:
                check_replaceable(target, owned)
            else:
                _fsync(tmp)
        aside = []
        for tmp, target, is_dir, _ in self._staged:
            if is_dir:
                old = _swap_in_dir(tmp, target)
                if old is not None:
                    aside.append(old)
            else:
                os.replace(tmp, target)
        self._staged = []
        for old in aside:
            shutil.rmtree(old, ignore_errors=True)

    def _discard(self) -> None:
        for tmp, _, is_dir, _ in self._staged:
            if is_dir:
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
        self._staged = []
