"""Where the Qwen-Image-Layered weights come from: a registry name, a hub id (cached or downloaded) or a
local folder, and the command that downloads them."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from layerdiff.errors import UnknownModelError
from layerdiff.registry import get_preset

from ..common import PipelineError

HUB_ID = "Qwen/Qwen-Image-Layered"
_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def download_command(target: str | Path | None = None) -> str:
    """The shell command that fetches the upstream weights."""
    return f"hf download {HUB_ID} --local-dir {target or './Qwen-Image-Layered'}"


def hub_offline(local_files_only: bool | None) -> bool:
    """Whether downloads are off: ``local_files_only`` or ``HF_HUB_OFFLINE``."""
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    return bool(local_files_only) or env or bool(constants.HF_HUB_OFFLINE)


def cached_snapshot(repo_id: str, cache_dir: str | Path | None) -> Path | None:
    """The folder of ``repo_id`` in the hub cache, or None when nothing of it is cached."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, cache_dir=cache_dir, local_files_only=True))
    except LocalEntryNotFoundError:
        return None


def download(repo_id: str, cache_dir: str | Path | None, allow_patterns: list[str] | None = None) -> Path:
    """Download (the files matching ``allow_patterns`` of) ``repo_id``; failures give one line of advice."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, cache_dir=cache_dir, allow_patterns=allow_patterns))
    except Exception as err:  # network, auth, disk: all end in the same advice
        reason = (str(err).splitlines() or [""])[0][:200]
        raise PipelineError(f"{repo_id}: download failed ({type(err).__name__}: {reason}); download the "
                            f"weights with `{download_command()}` and pass the folder") from None


def resolve_source(name_or_path: str | Path) -> tuple[Path | str, dict[str, Any], str]:
    """(local folder or hub id, the preset's call defaults, display name) for a registry name, hub id or
    folder (these two have no defaults of their own)."""
    text = str(name_or_path)
    if isinstance(name_or_path, str):
        try:
            preset = get_preset(text)
        except UnknownModelError:
            preset = None
        if preset is not None:
            if preset.kind != "qwen-image-layered":
                raise PipelineError(f"model {preset.name!r} is a {preset.kind!r} model, "
                                    f"not Qwen-Image-Layered")
            where = preset.weights_path()
            if where is None:
                raise PipelineError(f"model {preset.name!r} names no weights")
            return where, dict(preset.defaults), preset.name
    path = Path(text).expanduser()
    if path.exists() or not _HUB_ID_RE.match(text) or text.startswith((".", "/", "~")):
        return path, {}, text
    return text, {}, text
