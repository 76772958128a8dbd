"""One asset of a batch: decompose it, write its output folder atomically, describe it in ``asset.json``.

Output folder of an input ``IN_DIR/a/b/poster.psd`` (``OUT_DIR/a/b/poster/``)::

    poster.psd            the decomposition as a layered PSD
    png/                  the same layers as numbered PNGs + manifest.json (layerdiff PNG stack)
    layers/0001_<name>/   with --per-layer: each source layer's own decomposition (<name>.psd + png/)
    asset.json            layers, timings, recomposition fidelity, model, input hash, file sizes

The folder is built under a hidden temporary name next to its final place and renamed into place
in one step (:func:`layerdiff.atomic.atomic_dir`), so a folder under its final name is complete.
:func:`is_complete` re-checks that (``asset.json`` parses, matches the input hash and settings,
and every file it lists has the listed size) before a later run skips the asset.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib
import json
import os
import re
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_dir
from ..errors import LayerdiffError, LayeredFileError
from ..layered import Layer, LayeredImage
from ..registry import DEFAULT_MODEL

__all__ = ["ASSET_JSON", "AssetTask", "BatchSettings", "AssetProcessor", "AssetTimeout", "sha256_file",
           "fidelity", "is_complete", "load_plugins"]

ASSET_JSON = "asset.json"
ASSET_FORMAT = "layerdiff-batch-asset"
_MAX_MESSAGE = 400
_PSNR_CAP = 100.0  # dB reported for identical images (keeps records finite JSON)


@dataclass(frozen=True)
class BatchSettings:
    """What a batch does to every asset. ``key()`` is compared with ``asset.json`` to decide a skip."""

    model: str = DEFAULT_MODEL
    layers: int | str = "auto"
    max_layers: int | None = None
    per_layer: bool = False
    timeout: float | None = None  # seconds per asset (soft cap, see AssetTimeout)
    plugins: tuple[str, ...] = ()
    device: str = "auto"  # "auto": CUDA when torch sees a GPU, else CPU

    def __post_init__(self) -> None:
        if self.layers != "auto" and (isinstance(self.layers, bool) or not isinstance(self.layers, int)
                                      or self.layers < 1):
            raise ValueError(f"layers must be 'auto' or a positive integer, got {self.layers!r}")
        if self.max_layers is not None and (not isinstance(self.max_layers, int) or self.max_layers < 1):
            raise ValueError(f"max_layers must be a positive integer or None, got {self.max_layers!r}")
        if self.timeout is not None and not self.timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {self.timeout!r}")

    def key(self) -> dict[str, Any]:
        """The settings that shape the outputs (a change of any of them redoes finished assets)."""
        return {"model": self.model, "layers": self.layers, "max_layers": self.max_layers,
                "per_layer": self.per_layer}

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "plugins": list(self.plugins)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchSettings:
        return cls(**{**data, "plugins": tuple(data.get("plugins", ()))})


@dataclass(frozen=True)
class AssetTask:
    """One input: its absolute path, its path relative to IN_DIR, its output folder and content hash."""

    src: str
    rel: str
    out_dir: str
    out_rel: str
    sha256: str = ""
    size: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class AssetTimeout(Exception):
    """Raised inside the worker thread when an asset runs over ``BatchSettings.timeout``.

    It is delivered asynchronously (``PyThreadState_SetAsyncExc``) between Python bytecodes, so a
    single long C call (one huge numpy or PIL operation) finishes before the asset is stopped.
    """


@contextmanager
def _deadline(seconds: float | None) -> Iterator[None]:
    """Raise :class:`AssetTimeout` in the calling thread once ``seconds`` have passed."""
    if not seconds:
        yield
        return
    thread_id = threading.get_ident()
    lock = threading.Lock()
    state = {"finished": False, "fired": False}

    def fire() -> None:
        with lock:
            if state["finished"]:
                return
            state["fired"] = True
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id),
                                                       ctypes.py_object(AssetTimeout))

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
        with lock:  # from here on the timer cannot fire; a pending exception is raised inside this block
            state["finished"] = True
    finally:
        timer.cancel()
        with lock:
            state["finished"] = True


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> tuple[str, int]:
    """(hex sha256, byte count) of a file's content."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def load_plugins(specs: Sequence[str]) -> None:
    """Import ``module`` or ``module:function`` specs (calling the function).

    Plugins register extra decomposer presets (:func:`layerdiff.registry.register`); every worker
    process and Ray actor runs this before it loads the model.
    """
    for spec in specs:
        module_name, _, func = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise LayerdiffError(f"--plugin {spec!r}: cannot import {module_name!r}: {err}") from None
        if func:
            hook = getattr(module, func, None)
            if not callable(hook):
                raise LayerdiffError(f"--plugin {spec!r}: {module_name} has no function {func!r}")
            hook()


def _premultiplied(image: np.ndarray) -> np.ndarray:
    """(H, W, 4) straight alpha -> (H, W, 4) premultiplied colour + alpha (hidden colour ignored)."""
    return np.concatenate([image[..., :3] * image[..., 3:4], image[..., 3:4]], axis=-1)


def fidelity(result: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Recomposition fidelity of a composite against its input, both (H, W, 4) straight alpha in [0, 1].

    Compared premultiplied (colour under alpha 0 does not count): ``psnr`` in dB (capped at 100 for
    identical images) and ``max_error``, the largest absolute difference in [0, 1] units.
    """
    if result.shape != target.shape:
        raise ValueError(f"composite shape {result.shape} differs from the input's {target.shape}")
    squares, worst = 0.0, 0.0
    for y in range(0, result.shape[0], 256):  # row bands bound the memory on large canvases
        band = (_premultiplied(result[y : y + 256].astype(np.float64))
                - _premultiplied(target[y : y + 256].astype(np.float64)))  # (h, W, 4)
        squares += float(np.sum(band**2))
        worst = max(worst, float(np.abs(band).max()))
    mse = squares / max(result.size, 1)
    psnr = _PSNR_CAP if mse <= 10 ** (-_PSNR_CAP / 10) else float(10.0 * np.log10(1.0 / mse))
    return {"psnr": round(psnr, 3), "max_error": round(worst, 6)}


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    if not isinstance(err, LayeredFileError):
        text = f"{type(err).__name__}: {text}"
    return text[:_MAX_MESSAGE]


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:48] or "layer"


def _file_sizes(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_size for p in sorted(root.rglob("*")) if p.is_file()}


def is_complete(out_dir: str | os.PathLike, sha256: str, settings_key: dict[str, Any]) -> bool:
    """Whether ``out_dir`` holds the finished outputs of this input (same hash) under these settings."""
    folder = Path(out_dir)
    try:
        info = json.loads((folder / ASSET_JSON).read_text("utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(info, dict) or info.get("format") != ASSET_FORMAT:
        return False
    if info.get("sha256") != sha256 or info.get("settings") != settings_key:
        return False
    files = info.get("files")
    if not isinstance(files, dict) or not files:
        return False
    for rel, size in files.items():
        try:
            if (folder / rel).stat().st_size != size:
                return False
        except OSError:
            return False
    return True


class AssetProcessor:
    """Holds one loaded decomposer and turns :class:`AssetTask` s into manifest records.

    Built once per worker process (local backend) or per actor (Ray backend); ``process`` never
    raises for a bad input: every failure becomes a ``"failed"`` record with a reason.
    """

    def __init__(self, settings: BatchSettings) -> None:
        from ..loader import load

        self.settings = settings
        load_plugins(settings.plugins)
        t0 = time.perf_counter()
        self.decomposer = load(settings.model, "decompose")  # the region path loads no torch model
        if callable(getattr(self.decomposer, "set_progress_bar_config", None)):
            self.decomposer.set_progress_bar_config(disable=True)  # the batch shows its own bar
        self.device = self._place(settings.device)
        self.model_load_seconds = time.perf_counter() - t0

    def _place(self, device: str) -> str:
        if device == "auto":  # a model that never imported torch runs where it is
            torch = sys.modules.get("torch")
            device = "cuda" if torch is not None and torch.cuda.is_available() else "cpu"
        if device != "cpu" and callable(getattr(self.decomposer, "to", None)):
            self.decomposer.to(device)
        return device

    # ------------------------------------------------------------------ work
    def _decompose(self, pixels: np.ndarray, bit_depth: int = 8) -> LayeredImage:
        """Layers of ``pixels`` (H, W, 4); ``bit_depth``: the source's (16: the layers keep 16 bits)."""
        from ..contract import keep_bit_depth

        kwargs: dict[str, Any] = {"num_layers": self.settings.layers}
        if self.settings.max_layers is not None:
            kwargs["max_layers"] = self.settings.max_layers
        result = self.decomposer.decompose(pixels, **kwargs)
        if not isinstance(result, LayeredImage) or len(result) == 0:
            raise LayerdiffError(f"model {self.settings.model!r} returned no layers")
        return keep_bit_depth(result, pixels, bit_depth)

    def process(self, task: AssetTask) -> dict[str, Any]:
        """Decompose one input and write its output folder; returns its manifest record."""
        t0 = time.perf_counter()
        record: dict[str, Any] = {"path": task.rel, "sha256": task.sha256, "bytes": task.size,
                                  "output": task.out_rel, "model": self.settings.model}
        stage = "load"
        try:
            with _deadline(self.settings.timeout):
                sha, size = sha256_file(task.src)  # the bytes actually decomposed
                record.update(sha256=sha, bytes=size)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    stage = "load"
                    from ..io import load

                    t_load = time.perf_counter()
                    source = load(task.src)
                    stage = "decompose"
                    t_dec = time.perf_counter()
                    outputs = self._outputs(source)
                    stage = "write"
                    t_write = time.perf_counter()
                    notes = [" ".join(str(w.message).split())[:_MAX_MESSAGE] for w in caught]
                    info = self._write(task, source, outputs, sha, size, notes,
                                       {"load": t_dec - t_load, "decompose": t_write - t_dec})
        except AssetTimeout:
            return {**record, "status": "failed", "reason": "timeout", "seconds": _secs(t0),
                    "error": f"{task.rel}: over the {self.settings.timeout:g} s limit while in {stage}"}
        except LayeredFileError as err:
            return {**record, "status": "failed", "reason": err.reason, "seconds": _secs(t0),
                    "error": _one_line(err)}
        except FileNotFoundError as err:
            return {**record, "status": "failed", "reason": "missing", "seconds": _secs(t0),
                    "error": _one_line(err)}
        except MemoryError as err:
            return {**record, "status": "failed", "reason": "out-of-memory", "seconds": _secs(t0),
                    "error": _one_line(err)}
        except Exception as err:  # a bad asset must never stop the batch
            reason = {"load": "load-error", "decompose": "decompose-error", "write": "write-error"}[stage]
            return {**record, "status": "failed", "reason": reason, "seconds": _secs(t0),
                    "error": f"{task.rel}: {_one_line(err)}"}
        return {**record, "status": "done", "seconds": _secs(t0), "layers": info["layers_count"],
                "psnr": info["recomposition"]["psnr"], "max_error": info["recomposition"]["max_error"],
                "warnings": len(info["warnings"])}

    def _outputs(self, source: LayeredImage) -> dict[str, Any]:
        """The decomposition (flattened, or per source layer) and its fidelity measurements."""
        target = source.composite()  # (H, W, 4)
        if not self.settings.per_layer:
            result = self._decompose(target, source.bit_depth)
            return {"result": result, "recomposition": fidelity(result.composite(), target), "parts": []}
        combined = LayeredImage(source.size, bit_depth=source.bit_depth, metadata=dict(source.metadata))
        parts = []
        for index, layer in enumerate(source.layers):
            if not layer.visible or layer.is_empty():  # hidden and empty layers are kept as they are
                combined.add_layer(layer.copy())
                continue
            sub = self._decompose(layer.pixels, source.bit_depth)
            parts.append({"index": index, "name": layer.name, "result": sub,
                          "recomposition": fidelity(sub.composite(), layer.pixels)})
            for piece in sub.layers:
                x, y = layer.offset
                combined.add_layer(Layer(piece.pixels, name=f"{layer.name} / {piece.name}",
                                         opacity=layer.opacity * piece.opacity,
                                         offset=(x + piece.offset[0], y + piece.offset[1]),
                                         blend_mode=layer.blend_mode if piece.blend_mode == "normal"
                                         else piece.blend_mode,
                                         metadata=dict(layer.metadata)))
        if not parts:
            raise LayerdiffError("no visible layer with pixels to decompose")
        return {"result": combined, "recomposition": fidelity(combined.composite(), target), "parts": parts}

    def _write(self, task: AssetTask, source: LayeredImage, outputs: dict[str, Any], sha: str, size: int,
               notes: list[str], timings: dict[str, float]) -> dict[str, Any]:
        from ..io import save

        result: LayeredImage = outputs["result"]
        stem = Path(task.src).stem
        t0 = time.perf_counter()
        with atomic_dir(task.out_dir) as tmp:
            save(result, tmp / f"{stem}.psd")
            save(result, tmp / "png", format="png-dir")
            parts = []
            for part in outputs["parts"]:
                folder = f"layers/{part['index'] + 1:04d}_{_safe_name(part['name'])}"
                save(part["result"], tmp / folder / f"{_safe_name(part['name'])}.psd")
                save(part["result"], tmp / folder / "png", format="png-dir")
                parts.append({"index": part["index"], "name": part["name"], "output": folder,
                              "layers": len(part["result"]), "recomposition": part["recomposition"]})
            timings = {**timings, "write": time.perf_counter() - t0}
            info = {
                "format": ASSET_FORMAT, "version": 1,
                "input": task.rel, "sha256": sha, "bytes": size,
                "model": self.settings.model, "settings": self.settings.key(),
                "canvas": {"width": source.width, "height": source.height},
                "source_layers": len(source),
                "layers_count": len(result),
                "layers": [{"name": lay.name, "offset": list(lay.offset), "size": [lay.width, lay.height],
                            "opacity": lay.opacity, "blend_mode": lay.blend_mode, "visible": lay.visible}
                           for lay in result.layers],
                "recomposition": outputs["recomposition"],
                "per_layer": parts,
                "timings": {k: round(v, 4) for k, v in timings.items()},
                "warnings": notes,
                "files": _file_sizes(tmp),
            }
            (tmp / ASSET_JSON).write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", "utf-8")
            _fsync_tree(tmp)  # data on disk before the rename makes the folder visible
        return info


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())


def _secs(t0: float) -> float:
    return round(time.perf_counter() - t0, 4)
