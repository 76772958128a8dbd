"""The Ray backend of ``layerdiff batch``: the same job as the local pool, on Ray Data.

The pending inputs become a dataset of file records; ``map_batches`` runs them through a pool of
actors (:class:`AssetActor`), each holding one loaded decomposer (one model load per actor, one
GPU per actor when the cluster has GPUs). Actors write the asset folders themselves, with the
same atomic writer as the local backend, and return the manifest records, which the driver
appends to ``OUT_DIR/manifest.jsonl`` as they stream in. ``IN_DIR`` and ``OUT_DIR`` must therefore
be the same paths on every node (a shared file system); see docs/batch.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import LayerdiffError
from .asset import AssetProcessor, AssetTask, BatchSettings

__all__ = ["AssetActor", "run_ray", "init_ray"]

_TASK_FIELDS = ("src", "rel", "out_dir", "out_rel", "sha256", "size")


class AssetActor:
    """A Ray Data callable class: loads the decomposer once, then turns batches of tasks into records.

    Batches are dicts of columns (``src``, ``rel``, ``out_dir``, ``out_rel``, ``sha256``, ``size``);
    the result has one column ``record`` of JSON strings (nested records travel as text, not Arrow
    structs, so every record keeps its exact shape).
    """

    def __init__(self, settings: dict[str, Any]) -> None:
        self.processor = AssetProcessor(BatchSettings.from_dict(settings))

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        records = []
        for i in range(len(batch["src"])):
            values = {name: batch[name][i] for name in _TASK_FIELDS}
            task = AssetTask(src=str(values["src"]), rel=str(values["rel"]), out_dir=str(values["out_dir"]),
                             out_rel=str(values["out_rel"]), sha256=str(values["sha256"]),
                             size=int(values["size"]))
            records.append(json.dumps(self.processor.process(task)))
        return {"record": records}


def init_ray(address: str | None, num_cpus: int) -> bool:
    """Connect to a running cluster (``address``) or start a private one; returns whether we started it.

    A private instance is started on the loopback address (node IP 127.0.0.1), without the dashboard,
    with ``num_cpus`` CPUs. Note: Ray's own gRPC servers may still bind every interface of the host;
    docs/batch.md shows how to confine a local run to loopback.
    """
    import ray

    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, log_to_driver=False)
        return False
    ray.init(num_cpus=num_cpus, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             configure_logging=False)
    return True


def run_ray(tasks: Sequence[AssetTask], settings: BatchSettings, workers: int, address: str | None,
            emit: Callable[[dict[str, Any]], None]) -> None:
    """Decompose ``tasks`` on Ray Data with ``workers`` actors; ``emit`` each record on the driver."""
    try:
        import ray
        import ray.data
        from ray.data import ActorPoolStrategy
    except ImportError as err:
        raise LayerdiffError(f"--backend ray needs Ray Data (pip install 'layerdiff[batch]'): {err}",
                             ) from None
    started = init_ray(address, max(1, workers))
    try:
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the driver shows its own bar
        context.print_on_execution_start = False
        items = [{"src": t.src, "rel": t.rel, "out_dir": t.out_dir, "out_rel": t.out_rel,
                  "sha256": t.sha256, "size": t.size} for t in tasks]
        dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            AssetActor,
            fn_constructor_kwargs={"settings": settings.to_dict()},
            batch_size=1,
            compute=ActorPoolStrategy(size=workers),
            num_cpus=1,
            num_gpus=gpus,
        )
        for row in dataset.iter_rows():
            emit(json.loads(row["record"]))
    finally:
        if started:
            ray.shutdown()
