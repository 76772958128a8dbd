"""Loading component weights: safetensors only.

diffusers' ``from_pretrained`` falls back to a pickled ``.bin`` checkpoint when a folder holds no
safetensors file, and unpickling runs whatever code the file carries. layerdiff never does: every
component is loaded through :func:`load_component`, which passes ``use_safetensors=True`` and refuses a
folder that holds pickled weights only, with one line naming the folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from layerdiff.errors import LayerdiffError

__all__ = ["PICKLE_SUFFIXES", "WeightsError", "check_safetensors_folder", "load_component"]

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


class WeightsError(LayerdiffError, ValueError):
    """A model folder whose weights layerdiff will not or cannot load (one line naming the folder)."""


def check_safetensors_folder(folder: str | Path) -> None:
    """Refuse a folder whose weights are pickled only (``.bin``, ``.pt``, ...) with :class:`WeightsError`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise WeightsError(f"{folder}: no such model folder")
    files = [p.name for p in folder.iterdir() if p.is_file()]
    pickled = sorted(f for f in files if f.lower().endswith(PICKLE_SUFFIXES))
    if pickled and not any(f.endswith(".safetensors") for f in files):
        raise WeightsError(f"{folder}: weights {', '.join(pickled)} are pickled; layerdiff loads safetensors only "
                           f"(convert them with safetensors.torch.save_file)")


def load_component(cls: type, folder: str | Path, **kwargs: Any) -> Any:
    """``cls.from_pretrained(folder, use_safetensors=True, **kwargs)`` after :func:`check_safetensors_folder`;
    a folder without the weights ``cls`` needs raises :class:`WeightsError` (one line)."""
    folder = Path(folder)
    check_safetensors_folder(folder)
    try:
        return cls.from_pretrained(folder, use_safetensors=True, **kwargs)
    except OSError as err:  # diffusers: "no file named diffusion_pytorch_model.safetensors found in ..."
        problem = " ".join(str(err).split())
        raise WeightsError(f"{folder}: cannot load {cls.__name__} weights ({problem})") from None


class SafetensorsOnly:
    """Mixin (first base, before diffusers' ``ModelMixin``) whose ``from_pretrained`` loads safetensors only:
    a local folder holding pickled weights only is refused with :class:`WeightsError`, and diffusers is told
    ``use_safetensors=True`` so it never falls back to unpickling."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, **kwargs: Any) -> Any:
        folder = Path(pretrained_model_name_or_path) / (kwargs.get("subfolder") or "")
        if kwargs.get("use_safetensors") is False:
            raise WeightsError(f"{folder}: layerdiff loads safetensors only (use_safetensors=False refused)")
        if folder.is_dir():
            check_safetensors_folder(folder)
        kwargs["use_safetensors"] = True
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)  # type: ignore[misc]
