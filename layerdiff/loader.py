"""``layerdiff.load``: the one place that decides which implementation serves a model and a task.

    >>> import layerdiff
    >>> decomposer = layerdiff.load()                      # the default model's decomposer
    >>> stack = decomposer.decompose(image, num_layers="auto")
    >>> extractor = layerdiff.load("layerdiff-tiny", "extract")
    >>> generate = layerdiff.load("layerdiff-tiny", "generate")   # a LayerGeneratePipeline

A registry preset (:mod:`layerdiff.registry`) lists, per task, its implementations by method; the
first is what ``method="auto"`` picks. For layerdiff-tiny that is the region layerer for "decompose" and
"extract" (NumPy: loading it imports neither torch nor diffusers) and the diffusion pipelines for the
rest. A folder is read as a preset: a pipeline folder written by ``save_pretrained`` (its
``model_index.json``; region methods too when it holds a ``layerer/``) or a region layerer folder.

Objects are cached per (model, task, method, options), and the diffusion pipelines of one model share
one set of components (VAE, transformer, text encoder, refiner) across tasks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import LayerdiffError
from .registry import DEFAULT_MODEL, METHODS, TASKS, ComponentSpec, ModelPreset, get_preset

__all__ = ["load", "resolve", "clear_cache"]

_OBJECTS: dict[tuple[Any, ...], Any] = {}
_PIPELINES: dict[tuple[Any, ...], Any] = {}  # the first diffusion pipeline of each model: its components are shared


def resolve(name_or_path: str | Path = DEFAULT_MODEL) -> tuple[ModelPreset, str | Path]:
    """(preset, what its implementations' ``from_pretrained`` take) of a registry name or a folder.

    A folder gets a preset of its own: a pipeline folder (``model_index.json``) serves every task by
    diffusion, and decomposition and extraction by regions first when it holds a ``layerer/``; a region
    layerer folder (``config.json`` + weights) serves decomposition and extraction by regions.
    """
    path = Path(name_or_path).expanduser()
    if not path.is_dir():
        preset = get_preset(str(name_or_path))
        return preset, preset.name
    from .registry import _diffusion_tasks

    if (path / "model_index.json").is_file():
        settings = _read_json(path / "settings" / "config.json") if (path / "settings").is_dir() else {}
        preset = ModelPreset(name=path.name, kind="layerdiff", description=f"pipeline folder {path}",
                             tasks=_diffusion_tasks(regions=(path / "layerer").is_dir()),
                             max_layers=int(settings.get("max_layers", 8)),
                             native_resolution=int(settings.get("native_resolution", 128)))
        return preset, path
    if (path / "config.json").is_file():
        regions = _diffusion_tasks(regions=True)
        tasks = {task: {"regions": regions[task]["regions"]} for task in ("decompose", "extract")}
        return ModelPreset(name=path.name, kind="layerdiff", description=f"region layerer folder {path}",
                           tasks=tasks), path
    raise LayerdiffError(f"{path}: not a model folder (no model_index.json or config.json)")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise LayerdiffError(f"{path}: not readable as JSON ({err})") from None


def _key(value: Any) -> Any:
    """A hashable form of keyword arguments (their repr where a value is not hashable)."""
    try:
        hash(value)
        return value
    except TypeError:
        return repr(value)


def load(name_or_path: str | Path = DEFAULT_MODEL, task: str = "decompose", *, method: str = "auto",
         **kwargs: Any) -> Any:
    """The implementation of ``task`` for a model: a :class:`~layerdiff.contract.Decomposer` ("decompose"),
    an :class:`~layerdiff.contract.Extractor` ("extract"), or the ``LayerGeneratePipeline`` /
    ``LayerEditPipeline`` ("generate" / "edit").

    Args:
        name_or_path: a registry name (``layerdiff models``) or a model folder.
        task: "decompose", "extract", "generate" or "edit".
        method: "auto" (the preset's first method for the task), "regions", "diffusion" or "baseline".
        kwargs: handed to the implementation's ``from_pretrained`` (e.g. ``torch_dtype``, or a baseline's
            settings).

    Every error (unknown model, task or method) is a one-line :class:`LayerdiffError`.
    """
    if task not in TASKS:
        raise LayerdiffError(f"unknown task {task!r} (tasks: {', '.join(TASKS)})")
    if method != "auto" and method not in METHODS:
        raise LayerdiffError(f"unknown method {method!r} (methods: auto, {', '.join(METHODS)})")
    preset, source = resolve(name_or_path)
    chosen, target = preset.implementation(task, method)
    key = (str(source), task, chosen, tuple(sorted((k, _key(v)) for k, v in kwargs.items())))
    if key in _OBJECTS:
        return _OBJECTS[key]
    cls = ComponentSpec(target).load_class()
    if chosen == "diffusion" and sum("diffusion" in m for m in preset.tasks.values()) > 1:
        obj = _pipeline(cls, source, kwargs)  # several tasks by diffusion: one set of components
    else:
        obj = cls.from_pretrained(source, **kwargs)
    if not isinstance(getattr(obj, "name", None), str):
        obj.name = preset.name
    _OBJECTS[key] = obj
    return obj


def _pipeline(cls: type, source: str | Path, kwargs: dict[str, Any]) -> Any:
    """A diffusion pipeline of ``cls`` on the components (and settings) of the model's first one."""
    shared = (str(source), tuple(sorted((k, _key(v)) for k, v in kwargs.items())))
    base = _PIPELINES.get(shared)
    if base is None:
        pipe = cls.from_pretrained(source, **kwargs)
        _PIPELINES[shared] = pipe
        return pipe
    if type(base) is cls:
        return base
    pipe = cls(**base.components)  # the same module objects: nothing is loaded or copied again
    pipe.name = base.name
    return pipe


def clear_cache() -> None:
    """Forget every loaded object (the next :func:`load` builds afresh)."""
    _OBJECTS.clear()
    _PIPELINES.clear()
