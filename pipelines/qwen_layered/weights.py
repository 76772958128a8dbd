"""What a diffusers Qwen-Image-Layered folder holds: the files it lacks, and the parameter count of each
component, read from safetensors headers (or, before the weights are downloaded, from the configs on
the meta device) so that memory is planned before any weight is loaded."""

from __future__ import annotations

import importlib
import json
import math
import struct
from pathlib import Path

from ..common import PipelineError
from .hub import download_command

COMPONENT_DIRS = ("transformer", "text_encoder", "vae")
WEIGHT_SUFFIXES = (".safetensors", ".bin")


def missing_weight_files(folder: Path) -> list[str]:
    """Files a diffusers Qwen-Image-Layered folder needs and lacks (relative paths or globs)."""
    missing = [name for name in ("model_index.json", "scheduler/scheduler_config.json")
               if not (folder / name).is_file()]
    for comp in COMPONENT_DIRS:
        if not (folder / comp / "config.json").is_file():
            missing.append(f"{comp}/config.json")
        if not _weight_files(folder / comp):
            missing.append(f"{comp}/*.safetensors")
        for index in sorted((folder / comp).glob("*.safetensors.index.json")):
            shards = sorted(set(json.loads(index.read_text()).get("weight_map", {}).values()))
            missing += [f"{comp}/{s}" for s in shards if not (folder / comp / s).is_file()]
    if not any((folder / "tokenizer" / n).is_file() for n in ("tokenizer.json", "vocab.json")):
        missing.append("tokenizer/tokenizer.json")
    return missing


def check_weight_folder(folder: Path) -> None:
    """Raise a one-line PipelineError naming what a diffusers Qwen-Image-Layered folder lacks."""
    if not folder.is_dir():
        raise PipelineError(f"{folder}: weight folder does not exist; download it with "
                            f"`{download_command(folder)}`")
    missing = missing_weight_files(folder)
    if missing:
        raise PipelineError(f"{folder}: incomplete Qwen-Image-Layered weights, missing {', '.join(missing)}; "
                            f"download them with `{download_command(folder)}`")


def _weight_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES and p.is_file())


def safetensors_parameters(path: Path) -> int:
    """Number of tensor elements in a safetensors file, read from its header only."""
    with open(path, "rb") as fh:
        raw = fh.read(8)
        if len(raw) != 8:
            raise PipelineError(f"{path}: truncated safetensors file (no header)")
        (size,) = struct.unpack("<Q", raw)
        if size > 100 * 1024 ** 2:
            raise PipelineError(f"{path}: safetensors header of {size} bytes is not plausible")
        try:
            header = json.loads(fh.read(size))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise PipelineError(f"{path}: corrupt safetensors header") from None
    return sum(math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__")


def _config_parameters(folder: Path, library: str, class_name: str) -> int:
    """Parameter count of a component built on the meta device from its config (no weights needed)."""
    from accelerate import init_empty_weights

    if library not in ("diffusers", "transformers"):
        raise PipelineError(f"{folder}: component class {library}.{class_name} is not supported")
    cls = getattr(importlib.import_module(library), class_name, None)
    if not isinstance(cls, type):
        raise PipelineError(f"{folder}: unknown component class {library}.{class_name}")
    with init_empty_weights():
        if library == "diffusers":
            model = cls.from_config(cls.load_config(str(folder)))
        else:
            from transformers import AutoConfig

            model = cls._from_config(AutoConfig.from_pretrained(str(folder)))
    return sum(p.numel() for p in model.parameters())


def component_parameters(folder: Path) -> dict[str, int]:
    """Parameters per component (transformer, text encoder, VAE): exact from safetensors headers, or
    from the configs when the weights are not downloaded yet."""
    index = json.loads((folder / "model_index.json").read_text())
    counts = {}
    for comp in COMPONENT_DIRS:
        files = [p for p in _weight_files(folder / comp) if p.suffix == ".safetensors"]
        if files:
            counts[comp] = sum(safetensors_parameters(p) for p in files)
        elif comp in index and (folder / comp / "config.json").is_file():
            library, class_name = index[comp]
            counts[comp] = _config_parameters(folder / comp, library, class_name)
    return counts
