"""Benchmarks of layerdiff's model components on CPU.

(a) ``vae``: encode / decode throughput (images/s) of the convolutional RGBA VAE
    (:class:`~layerdiff.models.RGBAAutoencoder` in its default configuration, 2D ``AutoencoderKL`` base)
    against ``AutoencoderKLQwenImage(input_channels=4)`` of about the same parameter count, at 128 and
    256 px, with the ratio.
(b) ``transformer``: median step time of the ``layerdiff-tiny`` transformer as the pipelines call it
    (``layerdiff.frames.predict_velocity``: signal channels + 2x2 packing + forward + unpacking) for
    4 layers + composite, against a plain ``QwenImageTransformer2DModel`` of the same config but
    16 input channels (no signal channels) called directly on tokens packed beforehand, timed
    round-robin in one process; peak memory of the forward passes of each as the peak-RSS growth
    in a fresh subprocess per configuration (peak mark reset after building the model).

Usage::

    python benchmarks/bench_models.py                       # everything, markdown tables
    python benchmarks/bench_models.py --only vae --repeats 5 --threads 2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

QWEN_VAE_CONFIG = dict(base_dim=20, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=1, input_channels=4)
TEXT_TOKENS = 16


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _interleaved_medians(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 2
                         ) -> dict[str, float]:
    """Median seconds per call of each function, timed round-robin so that load changes on a shared
    machine hit every candidate alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


# ---------------------------------------------------------------------------- (a) VAE
def bench_vae(sizes: list[int], batch: int, repeats: int) -> list[dict[str, Any]]:
    from diffusers import AutoencoderKLQwenImage

    from layerdiff.models import RGBAAutoencoder

    torch.manual_seed(0)
    ours = RGBAAutoencoder().eval()  # the default configuration (blocks 32, 64, 128, 128)
    qwen = AutoencoderKLQwenImage(**QWEN_VAE_CONFIG).eval()
    rows = []
    for size in sizes:
        x = torch.rand(batch, 4, size, size)  # (N, 4, H, W) straight RGBA
        x5 = (x * 2 - 1).unsqueeze(2)  # (N, 4, 1, H, W): one video frame in [-1, 1]
        with torch.no_grad():
            z = ours.encode_rgba(x)  # (N, 16, H/8, W/8)
            zq = qwen.encode(x5).latent_dist.mode()  # (N, 16, 1, H/8, W/8)
            t = _interleaved_medians({
                "ours_enc": lambda x=x: ours.encode_rgba(x),
                "ours_dec": lambda z=z: ours.decode_rgba(z),
                "qwen_enc": lambda x5=x5: qwen.encode(x5).latent_dist.mode(),
                "qwen_dec": lambda zq=zq: qwen.decode(zq).sample,
            }, repeats)
        t_enc, t_dec, q_enc, q_dec = t["ours_enc"], t["ours_dec"], t["qwen_enc"], t["qwen_dec"]
        rows.append(dict(
            size=size, batch=batch,
            ours_params_m=_params(ours) / 1e6, qwen_params_m=_params(qwen) / 1e6,
            ours_encode_ips=batch / t_enc, ours_decode_ips=batch / t_dec,
            ours_roundtrip_ips=batch / (t_enc + t_dec),
            qwen_encode_ips=batch / q_enc, qwen_decode_ips=batch / q_dec,
            qwen_roundtrip_ips=batch / (q_enc + q_dec),
            speedup=(q_enc + q_dec) / (t_enc + t_dec),
        ))
    return rows


# ---------------------------------------------------------------------------- (b) transformer
def _build_transformer(variant: str, size: int, layers: int) -> Callable[[], torch.Tensor]:
    """One configuration's step function. ``ours``: the layerdiff-tiny transformer as the pipelines call
    it (signal channels, packing, forward, unpacking); ``plain``: the same config with 16 input channels,
    called directly on tokens packed beforehand."""
    from diffusers import QwenImageTransformer2DModel

    from layerdiff.frames import frame_shapes, pack, predict_velocity
    from layerdiff.registry import DEFAULT_MODEL, LATENT_CHANNELS, get_preset

    config = dict(get_preset(DEFAULT_MODEL).components["transformer"].config)
    if variant == "plain":
        config.update(in_channels=4 * LATENT_CHANNELS)
    torch.manual_seed(0)
    model = QwenImageTransformer2DModel(**config).eval()
    frames, h = layers + 1, size // 8
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(1, frames, LATENT_CHANNELS, h, h, generator=g)  # (B, F, C, h, w)
    known = torch.zeros(1, frames)
    known[:, -1] = 1  # composite given (decomposition)
    text = torch.randn(1, TEXT_TOKENS, config["joint_attention_dim"], generator=g)  # (B, T, D)
    mask = torch.ones(1, TEXT_TOKENS, dtype=torch.long)
    sigma = torch.full((1,), 0.5)
    if variant == "ours":
        def step() -> torch.Tensor:
            with torch.no_grad():
                return predict_velocity(model, latents, known, sigma, text, mask)  # (B, F, C, h, w)
        return step
    tokens = pack(latents)  # (B, F * h/2 * w/2, 64)
    shapes = [frame_shapes(frames, h, h)]

    def plain_step() -> torch.Tensor:
        with torch.no_grad():
            return model(hidden_states=tokens, encoder_hidden_states=text, encoder_hidden_states_mask=mask,
                         timestep=sigma, img_shapes=shapes, return_dict=False)[0]  # (B, tokens, 64)
    return plain_step


def _proc_status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"/proc/self/status: no {field} field")


def _memory_worker(variant: str, size: int, layers: int, threads: int) -> dict[str, Any]:
    """In a fresh subprocess: build one configuration, reset the peak-RSS mark, run 3 steps and report
    the peak RSS growth over the RSS before the steps (Linux ``/proc/self/clear_refs``; elsewhere the
    ``ru_maxrss`` growth, which misses peaks below the import/build peak)."""
    torch.set_num_threads(threads)
    step = _build_transformer(variant, size, layers)
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM to the current RSS
        before_kb, method = _proc_status_kb("VmRSS"), "VmHWM"
    except OSError:
        before_kb, method = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "ru_maxrss"
    for _ in range(3):
        step()
    peak_kb = _proc_status_kb("VmHWM") if method == "VmHWM" else resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss
    return dict(peak_mb=max(0, peak_kb - before_kb) / 1024, rss_before_mb=before_kb / 1024, method=method)


def _peak_step_memory_mb(variant: str, size: int, layers: int, threads: int) -> float:
    """Peak RSS growth of 3 forward passes of one configuration, measured in a fresh subprocess."""
    cmd = [sys.executable, __file__, "--_worker", variant, "--sizes", str(size), "--layers", str(layers),
           "--threads", str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return float(json.loads(out.strip().splitlines()[-1])["peak_mb"])


def bench_transformer(sizes: list[int], layers: int, repeats: int, threads: int) -> list[dict[str, Any]]:
    rows = []
    for size in sizes:
        steps = {variant: _build_transformer(variant, size, layers) for variant in ("ours", "plain")}
        t = _interleaved_medians(steps, repeats)
        frames, tokens_per_frame = layers + 1, (size // 16) ** 2
        rows.append(dict(
            size=size, layers=layers, tokens=frames * tokens_per_frame,
            ours_step_ms=t["ours"] * 1e3, plain_step_ms=t["plain"] * 1e3, time_ratio=t["ours"] / t["plain"],
            ours_peak_mb=_peak_step_memory_mb("ours", size, layers, threads),
            plain_peak_mb=_peak_step_memory_mb("plain", size, layers, threads),
        ))
    return rows


# ---------------------------------------------------------------------------- output
def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> str:
    head = "| " + " | ".join(title for _, title, _ in columns) + " |"
    rule = "|" + "|".join("---:" for _ in columns) + "|"
    body = ["| " + " | ".join(format(r[key], fmt) for key, _, fmt in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])


VAE_COLUMNS = [("size", "px", "d"), ("ours_params_m", "ours M params", ".2f"),
               ("qwen_params_m", "Qwen M params", ".2f"), ("ours_encode_ips", "ours enc img/s", ".1f"),
               ("ours_decode_ips", "ours dec img/s", ".1f"),
               ("ours_roundtrip_ips", "ours enc+dec img/s", ".1f"),
               ("qwen_encode_ips", "Qwen enc img/s", ".1f"), ("qwen_decode_ips", "Qwen dec img/s", ".1f"),
               ("qwen_roundtrip_ips", "Qwen enc+dec img/s", ".1f"), ("speedup", "ours / Qwen", ".2f")]
TRANSFORMER_COLUMNS = [("size", "px", "d"), ("layers", "layers", "d"), ("tokens", "image tokens", "d"),
                       ("ours_step_ms", "ours ms/step", ".1f"),
                       ("plain_step_ms", "plain ms/step", ".1f"), ("time_ratio", "ours / plain", ".2f"),
                       ("ours_peak_mb", "ours peak +MB", ".0f"), ("plain_peak_mb", "plain peak +MB", ".0f")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("vae", "transformer"), help="run one benchmark only")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256], help="image sizes in px")
    parser.add_argument("--layers", type=int, default=4, help="layer frames (plus one composite frame)")
    parser.add_argument("--batch", type=int, default=1, help="VAE batch size")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (median reported)")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--_worker", choices=("ours", "plain"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if any(s % 16 for s in args.sizes):
        parser.error(f"--sizes must be multiples of 16, got {args.sizes}")

    if args._worker:
        print(json.dumps(_memory_worker(args._worker, args.sizes[0], args.layers, args.threads)))
        return 0

    torch.set_num_threads(args.threads)
    meta = dict(torch=torch.__version__, threads=args.threads, machine=platform.machine(),
                processor=platform.processor() or platform.platform(), repeats=args.repeats)
    results: dict[str, Any] = {"meta": meta}
    print(f"torch {meta['torch']}, {args.threads} thread(s), median of {args.repeats}\n")
    if args.only in (None, "vae"):
        results["vae"] = bench_vae(args.sizes, args.batch, args.repeats)
        print(f"## VAE encode/decode (batch {args.batch})\n")
        print(_table(results["vae"], VAE_COLUMNS) + "\n")
    if args.only in (None, "transformer"):
        results["transformer"] = bench_transformer(args.sizes, args.layers, args.repeats, args.threads)
        print(f"## Transformer step (layerdiff-tiny config, {args.layers} layers + composite, "
              f"{TEXT_TOKENS} text tokens)\n")
        print(_table(results["transformer"], TRANSFORMER_COLUMNS) + "\n")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
