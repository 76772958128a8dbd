"""Batch decomposition of asset folders, on one machine or on a Ray cluster (``layerdiff batch``).

:func:`run_batch` is the entry point; see :mod:`layerdiff.batch.runner` for the behaviour,
:mod:`layerdiff.batch.manifest` for the run manifest and :mod:`layerdiff.batch.asset` for the
per-asset output folder. The Ray backend (:mod:`layerdiff.batch.ray_backend`) imports Ray lazily.
"""

from __future__ import annotations

from .asset import ASSET_JSON, AssetProcessor, AssetTask, BatchSettings, fidelity, is_complete
from .manifest import MANIFEST_NAME, RunManifest, latest_records, read_manifest
from .runner import BACKENDS, INPUT_EXTENSIONS, BatchSummary, find_inputs, plan_tasks, run_batch

__all__ = [
    "ASSET_JSON", "AssetProcessor", "AssetTask", "BatchSettings", "fidelity", "is_complete",
    "MANIFEST_NAME", "RunManifest", "latest_records", "read_manifest",
    "BACKENDS", "INPUT_EXTENSIONS", "BatchSummary", "find_inputs", "plan_tasks", "run_batch",
]
