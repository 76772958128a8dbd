"""Train the layer-aware transformer (flow matching over frames) in stages, with accelerate.

    python -m training.train_transformer --model layerdiff-tiny --vae runs/vae/final/vae \\
        --stage text2layers --steps 2000 --output-dir runs/tf-stage2 [--init runs/tf-stage1/final]

Stages (see training/tasks.py): ``text2rgba`` -> ``text2layers`` -> ``decompose`` (which also
trains editing, insertion and referring extraction). The VAE is frozen; the text encoder is
frozen when it is pretrained (MiniLM) and trained with the transformer otherwise.
Several GPUs / nodes: ``accelerate launch --config_file training/accelerate_multi_gpu.yaml
-m training.train_transformer ...`` with the same arguments.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from training.common import (
    EMA,
    LossLog,
    RunConfig,
    add_run_args,
    load_checkpoint,
    lr_at,
    optimizer_step,
    prune_checkpoints,
    run_config_from,
    sample_indices,
    save_checkpoint,
    setup_run,
    step_generator,
    write_final,
)
from training.tasks import STAGES, build_batch


def build_models(model: str, vae_path: str | None, init: str | None, seed: int, size: int | None = None):
    """Pipeline holding the models to train: from ``init`` (a pipeline folder) or freshly initialised from
    the preset's configs (never from its shipped weights); the VAE from a trained folder. ``size``, the
    training resolution, becomes the pipeline's ``native_resolution`` (the grid the saved model runs on);
    None keeps the init folder's or the preset's."""
    from dataclasses import replace

    from layerdiff.models.weights import load_component
    from layerdiff.pipelines import LayerDecomposePipeline
    from layerdiff.pipelines.base import build_components
    from layerdiff.registry import get_preset

    if init:
        pipe = LayerDecomposePipeline.from_pretrained(init)
        pipe.transformer.float()  # a shipped folder holds float16 weights; training keeps float32 masters
        widen_input(pipe, get_preset(model).components["transformer"].config)
    else:
        preset = replace(get_preset(model), weights=None)
        pipe = LayerDecomposePipeline(**build_components(preset, seed=seed))
    if size:
        pipe.register_modules(settings=pipe.settings.replace(native_resolution=size))
    if vae_path:
        pipe.vae = load_component(type(pipe.vae), vae_path).eval()
    return pipe


def widen_input(pipe, config: dict) -> None:
    """Give an ``init`` transformer the preset's wider input (the layer-phrase channels, see
    layerdiff.frames): the new input columns start at zero, so the model computes what it did before."""
    old = pipe.transformer
    new_in = int(config["in_channels"])
    if int(old.config.in_channels) == new_in:
        return
    if int(old.config.in_channels) > new_in:
        raise ValueError(f"--init transformer reads {old.config.in_channels} input channels, the preset {new_in}")
    widened = type(old).from_config({**old.config, "in_channels": new_in})
    state = old.state_dict()
    weight = state["img_in.weight"]  # (D, in_old)
    state["img_in.weight"] = torch.cat([weight, weight.new_zeros(weight.shape[0], new_in - weight.shape[1])], dim=1)
    widened.load_state_dict(state)
    pipe.transformer = widened.eval()


def encode_frames(vae, frames: torch.Tensor) -> torch.Tensor:
    """(B, F, 4, H, W) pixels -> (B, F, C, h, w) latents with the frozen VAE.

    Empty frames (padding layers: every value 0) all share one latent, encoded once.
    """
    b, f = frames.shape[:2]
    flat = frames.flatten(0, 1)  # (B*F, 4, H, W)
    empty = flat.flatten(1).abs().amax(dim=1) == 0  # (B*F,)
    with torch.no_grad():
        z_empty = vae.encode_rgba(torch.zeros_like(flat[:1]))  # (1, C, h, w)
        z = z_empty.expand(flat.shape[0], *z_empty.shape[1:]).clone()  # (B*F, C, h, w)
        if (~empty).any():
            z[~empty] = vae.encode_rgba(flat[~empty])
    return z.view(b, f, *z.shape[1:])


def train_step(pipe, batch, gen: torch.Generator, trainable_text: bool) -> torch.Tensor:
    """Loss of one batch: velocity MSE on unknown, valid frames.

    The batch is moved to the VAE's device; noise levels and noise are drawn on the CPU from ``gen``,
    so a step computes the same loss on any device (up to float rounding).
    """
    from layerdiff.flow import flow_loss, noise_frames, sample_training_sigmas
    from layerdiff.frames import encode_phrases, phrase_dim, predict_velocity, region_maps

    device = next(pipe.vae.parameters()).device
    batch = batch.to(device)
    x0 = encode_frames(pipe.vae, batch.frames)  # (B, F, C, h, w)
    region = region_maps(batch.region, x0.shape[-2:])  # (B, F, 1, h, w)
    sigma = sample_training_sigmas(x0.shape[0], generator=gen).to(device)  # (B,)
    noise = torch.randn(x0.shape, generator=gen).to(device)  # (B, F, C, h, w)
    xt = noise_frames(x0, noise, sigma, batch.known)
    with torch.set_grad_enabled(trainable_text):
        text, mask = pipe.text_encoder.encode(batch.prompts, device=device)
        phrases = encode_phrases(pipe.text_encoder, batch.phrases, phrase_dim(pipe.transformer),
                                 device=device)  # (B, F, P)
    pred = predict_velocity(pipe.transformer, xt, batch.known, sigma, text, mask, region, phrases)
    return flow_loss(pred, x0, noise, batch.known, batch.valid)


def main(argv: list[str] | None = None) -> int:
    from layerdiff.registry import DEFAULT_MODEL

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=DEFAULT_MODEL, help="registry preset giving the architecture")
    p.add_argument("--init", default=None, help="pipeline folder to start from (previous stage)")
    p.add_argument("--vae", default=None, help="trained VAE folder (from train_vae.py)")
    p.add_argument("--stage", choices=sorted(STAGES), default="decompose")
    p.add_argument("--size", type=int, default=128,
                   help="training resolution (square); the saved pipeline's native_resolution")
    p.add_argument("--max-layers", type=int, default=None)
    p.add_argument("--psd-shards", default=None, help="folder of PSD shards to mix in (extract-psd output)")
    p.add_argument("--psd-fraction", type=float, default=0.2)
    p.add_argument("--num-workers", type=int, default=0,
                   help="data-loader processes building the batches (0: built in the training process)")
    p.add_argument("--kind-weights", nargs="+", default=None, metavar="KIND=WEIGHT",
                   help="relative frequency of the synthetic element kinds, e.g. shape=0.7 text=0.1 "
                        "(unnamed kinds get 0; default: the engine's own mix)")
    add_run_args(p)
    args = p.parse_args(argv)
    extra = {k: getattr(args, k) for k in ("model", "init", "vae", "stage", "size", "max_layers", "psd_shards",
                                           "psd_fraction", "num_workers")}
    if args.kind_weights:
        try:
            extra["kind_weights"] = parse_kind_weights(args.kind_weights)
        except ValueError as err:
            p.error(f"--kind-weights: {err}")
    return train(run_config_from(args, extra))


def parse_kind_weights(pairs: list[str]) -> dict[str, float]:
    """``["shape=0.7", "text=0.1"]`` -> ``{"shape": 0.7, "text": 0.1}``: non-negative numbers, kinds of
    :data:`layerdiff.data.synthetic.DEFAULT_KIND_WEIGHTS` only."""
    from layerdiff.data.synthetic import DEFAULT_KIND_WEIGHTS

    out: dict[str, float] = {}
    for pair in pairs:
        kind, sep, value = pair.partition("=")
        if not sep or kind not in DEFAULT_KIND_WEIGHTS:
            raise ValueError(f"{pair!r} is not KIND=WEIGHT with KIND one of {', '.join(DEFAULT_KIND_WEIGHTS)}")
        try:
            weight = float(value)
        except ValueError:
            raise ValueError(f"{pair!r}: the weight is not a number") from None
        if not weight >= 0:
            raise ValueError(f"{pair!r}: the weight must be a non-negative number")
        out[kind] = weight
    if sum(out.values()) <= 0:
        raise ValueError("every weight is 0")
    return out


def train(cfg: RunConfig) -> int:
    from accelerate import Accelerator

    ex = cfg.extra
    run_dir = setup_run(cfg, "train_transformer")
    acc = Accelerator(mixed_precision=cfg.mixed_precision, cpu=not torch.cuda.is_available())
    torch.manual_seed(cfg.seed)
    pipe = build_models(ex["model"], ex.get("vae"), ex.get("init"), cfg.seed, size=ex.get("size"))
    for name in ("vae", "text_encoder", "transformer"):  # before the EMA copies the weights
        getattr(pipe, name).to(acc.device)
    max_layers = int(ex.get("max_layers") or pipe.max_layers)
    trainable_text = any(p.requires_grad for p in pipe.text_encoder.parameters())
    params = list(pipe.transformer.parameters()) + (list(pipe.text_encoder.parameters()) if trainable_text
                                                    else [])
    for module in (pipe.transformer, pipe.text_encoder):
        module.train(module is pipe.transformer or trainable_text)
    pipe.vae.requires_grad_(False)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    ema = EMA(pipe.transformer, cfg.ema_decay)
    start = load_checkpoint(run_dir, _Joint(pipe.transformer, pipe.text_encoder if trainable_text else None),
                            opt, ema)
    pipe.transformer, opt = acc.prepare(pipe.transformer, opt)
    log = LossLog(run_dir / "loss.csv", ["loss"], start)
    rank, world = acc.process_index, acc.num_processes
    batches = step_batches(cfg, max_layers, start, rank, world)
    for step, batch in zip(range(start, cfg.steps), batches):
        gen = step_generator(cfg.seed, step, rank)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        loss = train_step(pipe, batch, gen, trainable_text)
        optimizer_step(acc, opt, loss, params, cfg.grad_clip, ema, acc.unwrap_model(pipe.transformer), step)
        if acc.is_main_process:
            log.write(step, lr_at(step, cfg), {"loss": float(loss.detach())})
            if (step + 1) % cfg.log_every == 0:
                print(f"step {step + 1}/{cfg.steps} loss {float(loss.detach()):.4f}", flush=True)
            if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps:
                joint = _Joint(acc.unwrap_model(pipe.transformer), pipe.text_encoder if trainable_text else None)
                save_checkpoint(run_dir, step + 1, joint, opt, ema, {"run": asdict(cfg)})
                prune_checkpoints(run_dir)
    if acc.is_main_process:
        pipe.transformer = acc.unwrap_model(pipe.transformer)
        ema.copy_to(pipe.transformer)
        pipe.save_pretrained(run_dir / "final")
        write_final(run_dir, cfg, log)
    return 0


class _Joint(torch.nn.Module):
    """Transformer (+ trainable text encoder) as one module for checkpoints."""

    def __init__(self, transformer: torch.nn.Module, text_encoder: torch.nn.Module | None) -> None:
        super().__init__()
        self.transformer = transformer
        if text_encoder is not None:
            self.text_encoder = text_encoder


class StepBatches(torch.utils.data.IterableDataset):
    """The batches of steps ``start .. steps - 1`` of one rank, each a function of (seed, step, rank).

    With DataLoader workers, worker ``w`` of ``n`` builds the steps ``start + w, start + w + n, ...`` and
    the DataLoader takes one batch from each worker in turn, so the order (and every batch) is the one
    the training process would build itself: runs and resumes do not depend on the worker count.
    """

    def __init__(self, cfg: RunConfig, max_layers: int, start: int, rank: int, world: int) -> None:
        self.cfg, self.max_layers, self.start, self.rank, self.world = cfg, max_layers, start, rank, world

    def __iter__(self):
        from layerdiff.data.synthetic import SyntheticDesigns

        cfg, ex = self.cfg, self.cfg.extra
        info = torch.utils.data.get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        engine = SyntheticDesigns(seed=cfg.seed, size=int(ex["size"]), min_layers=1, max_layers=self.max_layers,
                                  kind_weights=ex.get("kind_weights"))
        shards = _psd_source(ex.get("psd_shards"), int(ex["size"]), self.max_layers)
        for step in range(self.start + worker, cfg.steps, workers):
            rng = np.random.default_rng([cfg.seed, step, self.rank])
            samples = [_sample(engine, shards, i, ex, rng)
                       for i in sample_indices(step, cfg.batch_size, self.rank, self.world)]
            yield build_batch(samples, ex["stage"], self.max_layers, rng)


def step_batches(cfg: RunConfig, max_layers: int, start: int, rank: int = 0, world: int = 1):
    """Iterator over the batches of steps ``start ..``: in this process, or from ``num_workers`` processes."""
    data = StepBatches(cfg, max_layers, start, rank, world)
    workers = int(cfg.extra.get("num_workers") or 0)
    if workers <= 0:
        return iter(data)
    return iter(torch.utils.data.DataLoader(data, batch_size=None, num_workers=workers,
                                            worker_init_fn=_one_thread, pin_memory=torch.cuda.is_available(),
                                            prefetch_factor=4, persistent_workers=False))


def _one_thread(_worker_id: int) -> None:
    torch.set_num_threads(1)


def _psd_source(folder: str | None, size: int, max_layers: int) -> list[Path] | None:
    """Shard files written by ``layerdiff extract-psd`` (layerdiff.data.shards), or None."""
    if not folder:
        return None
    from layerdiff.data.shards import list_shards

    files = list_shards(folder)
    return files or None


def _sample(engine, shards, index: int, ex: dict, rng: np.random.Generator):
    if shards is not None and rng.random() < float(ex.get("psd_fraction", 0.0)):
        from training.tasks import psd_sample

        return psd_sample(shards[index % len(shards)], int(ex["size"]), int(ex.get("max_layers") or 6))
    return engine.sample(index)


if __name__ == "__main__":
    sys.exit(main())
