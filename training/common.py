"""Shared training machinery: run folders, deterministic data order, EMA, checkpoints, loss logs.

Plain-view training in the style of DiT's ``train.py``: setup -> loop -> EMA -> checkpoint dict with
the resolved configuration inside, resumable. Determinism for resume: the sample indices of step
``s`` and the noise of step ``s`` are functions of (seed, s, rank) alone, so a run killed after step
``k`` and resumed from its checkpoint computes exactly the losses an uninterrupted run would.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from layerdiff.atomic import atomic_path


@dataclass
class RunConfig:
    """Options shared by every training script (each script adds its own)."""

    output_dir: str = "runs/default"
    seed: int = 0
    steps: int = 1000
    batch_size: int = 8
    lr: float = 3e-4
    weight_decay: float = 0.0
    warmup_steps: int = 100
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    checkpoint_every: int = 500
    log_every: int = 10
    mixed_precision: str = "no"  # "no", "bf16", "fp16" (accelerate)
    threads: int = 0  # torch threads on CPU (0 = torch default)
    extra: dict[str, Any] = field(default_factory=dict)


class EMA:
    """Exponential moving average of parameters (Polyak averaging), kept in float32.

    The decay warms up as ``min(decay, (1 + step) / (10 + step))`` so that short runs are not
    dominated by the random initial weights (0.999 ** 550 would still weigh them 58%).
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().float().clone() for k, v in model.state_dict().items()
                       if v.dtype.is_floating_point}

    def decay_at(self, step: int) -> float:
        return min(self.decay, (1 + step) / (10 + step))

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        d = self.decay_at(step)
        for k, v in model.state_dict().items():
            if k in self.shadow:
                self.shadow[k].mul_(d).add_(v.detach().float(), alpha=1 - d)

    def copy_to(self, model: torch.nn.Module) -> None:
        state = model.state_dict()
        for k, v in self.shadow.items():
            state[k].copy_(v.to(state[k].dtype))


def step_generator(seed: int, step: int, rank: int = 0, stream: int = 0) -> torch.Generator:
    """A torch.Generator determined by (seed, step, rank, stream): the randomness of one step."""
    g = torch.Generator()
    g.manual_seed(((seed * 1_000_003 + step) * 1_009 + rank) * 17 + stream)
    return g


def sample_indices(step: int, batch_size: int, rank: int = 0, world: int = 1) -> list[int]:
    """Data indices of one step for one process: disjoint across ranks, the same after resume."""
    start = (step * world + rank) * batch_size
    return list(range(start, start + batch_size))


def lr_at(step: int, cfg: RunConfig) -> float:
    """Linear warm-up then cosine decay to 10% (Loshchilov & Hutter 2017)."""
    import math

    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / max(1, cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


# ------------------------------------------------------------------- checkpoints
def save_checkpoint(run_dir: Path, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    ema: EMA | None, config: dict[str, Any]) -> Path:
    """Write ``checkpoint-<step>/``: model/EMA weights (safetensors), optimizer state, resolved config.

    Written into a temporary folder and renamed, so a kill never leaves a half checkpoint; the
    ``latest`` file is replaced atomically last.
    """
    from layerdiff.atomic import atomic_dir

    target = run_dir / f"checkpoint-{step:07d}"
    with atomic_dir(target) as tmp:
        save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, tmp / "model.safetensors")
        if ema is not None:
            save_file({k: v.contiguous() for k, v in ema.shadow.items()}, tmp / "ema.safetensors")
        tensors, meta = _flatten_optimizer(optimizer.state_dict())
        save_file(tensors or {"_empty": torch.zeros(1)}, tmp / "optimizer.safetensors")
        (tmp / "state.json").write_text(json.dumps({"step": step, "config": config, "optimizer": meta},
                                                   indent=2, default=str))
    with atomic_path(run_dir / "latest") as tmp_latest:
        tmp_latest.write_text(target.name)
    return target


def load_checkpoint(run_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None,
                    ema: EMA | None) -> int:
    """Restore the latest checkpoint of ``run_dir``; returns the step to continue from (0 if none)."""
    latest = run_dir / "latest"
    if not latest.is_file():
        return 0
    ckpt = run_dir / latest.read_text().strip()
    state = json.loads((ckpt / "state.json").read_text())
    model.load_state_dict(load_file(ckpt / "model.safetensors"))
    if ema is not None and (ckpt / "ema.safetensors").is_file():
        ema.shadow = load_file(ckpt / "ema.safetensors")
    if optimizer is not None:
        tensors = load_file(ckpt / "optimizer.safetensors")
        optimizer.load_state_dict(_unflatten_optimizer(tensors, state["optimizer"]))
    return int(state["step"])


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Optimizer state dict -> (tensors for safetensors, JSON metadata): no pickle anywhere."""
    tensors: dict[str, torch.Tensor] = {}
    per_param: dict[str, dict[str, Any]] = {}
    for pid, pstate in state["state"].items():
        entry: dict[str, Any] = {}
        for key, value in pstate.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{key}"] = value.detach().contiguous()
                entry[key] = "__tensor__"
            else:
                entry[key] = value
        per_param[str(pid)] = entry
    return tensors, {"state": per_param, "param_groups": state["param_groups"]}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for pid, entry in meta["state"].items():
        state[int(pid)] = {k: (tensors[f"{pid}.{k}"] if v == "__tensor__" else v) for k, v in entry.items()}
    return {"state": state, "param_groups": meta["param_groups"]}


def prune_checkpoints(run_dir: Path, keep: int = 2) -> None:
    import shutil

    ckpts = sorted(run_dir.glob("checkpoint-*"))
    for old in ckpts[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


# ------------------------------------------------------------------- loss logs
class LossLog:
    """Append-only CSV of (step, time, lr, losses...), truncated to ``start_step`` on resume; PNG plot."""

    def __init__(self, path: Path, columns: Sequence[str], start_step: int) -> None:
        self.path = path
        self.columns = ["step", "seconds", "lr", *columns]
        rows = []
        if path.is_file() and start_step > 0:
            with path.open() as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["step"]) < start_step]
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.columns)
            writer.writeheader()
            writer.writerows(rows)
        self.t0 = time.time() - (float(rows[-1]["seconds"]) if rows else 0.0)

    def write(self, step: int, lr: float, values: dict[str, float]) -> None:
        row = {"step": step, "seconds": round(time.time() - self.t0, 2), "lr": f"{lr:.3g}"}
        row.update({k: f"{v:.6f}" for k, v in values.items()})
        with self.path.open("a", newline="") as fh:
            csv.DictWriter(fh, fieldnames=self.columns).writerow(row)

    def plot(self, png: Path | None = None) -> Path | None:
        return plot_loss_csv(self.path, png)


def plot_loss_csv(csv_path: Path, png: Path | None = None) -> Path | None:
    """Plot every loss column of a LossLog CSV against step (log scale); needs matplotlib, else None."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    with Path(csv_path).open() as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return None
    png = Path(png) if png else Path(csv_path).with_suffix(".png")
    fig, ax = plt.subplots(figsize=(7, 4))
    steps = [int(r["step"]) for r in rows]
    for col in [c for c in rows[0] if c not in ("step", "seconds", "lr")]:
        vals = [float(r[col]) for r in rows if r.get(col)]
        if vals:
            ax.plot(steps[: len(vals)], vals, label=col, alpha=0.35)
            k = max(1, len(vals) // 50)
            smooth = [sum(vals[max(0, i - k) : i + 1]) / len(vals[max(0, i - k) : i + 1]) for i in range(len(vals))]
            ax.plot(steps[: len(vals)], smooth, label=f"{col} (running mean)")
    ax.set_xlabel("step")
    ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return png


def setup_run(cfg: RunConfig, script: str) -> Path:
    run_dir = Path(cfg.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps({"script": script, **asdict(cfg)}, indent=2))
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    return run_dir


def add_run_args(parser) -> None:
    """Add one ``--option`` per :class:`RunConfig` field (except ``extra``) to an argparse parser."""
    for name, default in asdict(RunConfig()).items():
        if name != "extra":
            parser.add_argument("--" + name.replace("_", "-"), type=type(default), default=default)


def run_config_from(args, extra: dict[str, Any]) -> RunConfig:
    """The :class:`RunConfig` of parsed arguments, with the script's own options in ``extra``."""
    cfg = RunConfig(**{k: getattr(args, k) for k in asdict(RunConfig()) if k != "extra"})
    cfg.extra = dict(extra)
    return cfg


def map_tables(fn: Callable[[Any], dict[str, np.ndarray]], items: Sequence[Any], out: Path | None, workers: int = 1,
               log_every: int = 0, what: str = "designs", **extra: Any) -> dict[str, np.ndarray]:
    """``fn`` of every item (in ``workers`` processes, item order kept), its arrays concatenated key by
    key, plus ``extra`` entries, saved atomically to ``out`` (.npz; None: not saved) and returned."""
    parts: dict[str, list[np.ndarray]] = {}
    t0 = time.time()
    pool = None
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(workers)
        results = pool.map(fn, items, chunksize=max(1, min(16, len(items) // (4 * workers))))
    else:
        results = map(fn, items)
    for n, rows in enumerate(results):
        for k, v in rows.items():
            parts.setdefault(k, []).append(v)
        if log_every and (n + 1) % log_every == 0:
            print(f"{what}: {n + 1}/{len(items)} ({time.time() - t0:.0f} s)", flush=True)
    if pool is not None:
        pool.shutdown()
    table = {k: np.concatenate(v) for k, v in parts.items()}
    table.update({k: np.array(v) for k, v in extra.items()})
    return table if out is None else save_table(out, table)


def optimizer_step(acc: Any, opt: torch.optim.Optimizer, loss: torch.Tensor, params: Iterable[torch.nn.Parameter],
                   grad_clip: float, ema: EMA, ema_model: torch.nn.Module, step: int) -> None:
    """One update: backward through accelerate, clip the gradient norm of ``params`` (when ``grad_clip``
    is set), step the optimizer, then fold ``ema_model``'s new weights into the EMA."""
    opt.zero_grad(set_to_none=True)
    acc.backward(loss)
    if grad_clip:
        acc.clip_grad_norm_(params, grad_clip)
    opt.step()
    ema.update(ema_model, step)


def write_final(run_dir: Path, cfg: RunConfig, log: LossLog) -> None:
    """The end of a run: ``final/training.json`` (the resolved configuration) and the loss plot."""
    (run_dir / "final").mkdir(parents=True, exist_ok=True)
    (run_dir / "final" / "training.json").write_text(json.dumps(asdict(cfg), indent=2))
    log.plot()


def save_table(out: Path, table: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Write ``table`` to ``out`` (.npz) atomically (a temporary file, then a rename); returns it."""
    from layerdiff.atomic import atomic_path

    with atomic_path(out, suffix=".npz") as tmp:  # .npz, or np.savez would add one
        np.savez(tmp, **table)
    return table
