"""Device and memory planning: where a model of a given parameter count runs (CUDA, offloaded, CPU) and
the one-line error that says what it needs when it does not fit."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..common import PipelineError

GIB = 1024 ** 3
OVERHEAD = 1.1  # resident weights -> memory, for buffers and fragmentation
ACTIVATION_GB = 2.0  # activations at 1024 px with a few layers, beyond the weights
CPU_AUTO_LIMIT_GB = 8.0  # without CUDA, models needing at most this much run on the CPU unasked


def memory_needed_gb(parameters: dict[str, int], dtype: torch.dtype, offload: bool) -> float:
    """Device memory in GiB: all weights (or, with model CPU offload, the largest component) plus margins."""
    size = torch.empty((), dtype=dtype).element_size()
    weights = [n * size / GIB for n in parameters.values()] or [0.0]
    resident = max(weights) if offload else sum(weights)
    return resident * OVERHEAD + ACTIVATION_GB


@dataclass(frozen=True)
class DevicePlan:
    """Where and how to load: ``device`` ("cpu", "cuda:0", ...), ``dtype`` and whether to offload."""

    device: str
    dtype: torch.dtype
    offload: bool


def plan_device(parameters: dict[str, int], device: str | torch.device | None,
                torch_dtype: torch.dtype | None, offload: bool, check_memory: bool = True) -> DevicePlan:
    """Choose device and dtype, or raise a PipelineError that says what the model needs."""
    gpu_dtype = torch_dtype or torch.bfloat16
    cpu_dtype = torch_dtype or torch.float32
    need = memory_needed_gb(parameters, gpu_dtype, offload)
    need_offload = memory_needed_gb(parameters, gpu_dtype, True)
    need_cpu = memory_needed_gb(parameters, cpu_dtype, False)
    has_cuda = torch.cuda.is_available()
    dev = None if device is None else torch.device(device)
    if dev is not None and dev.type == "cpu":
        if offload:
            raise PipelineError("enable_model_cpu_offload=True needs a CUDA device, but device='cpu' "
                                "was given")
        return DevicePlan("cpu", cpu_dtype, False)
    if dev is not None and dev.type != "cuda":
        raise PipelineError(f"device {str(dev)!r} is not supported; use 'cuda', 'cuda:N' or 'cpu'")
    if not has_cuda:
        if dev is None and not offload and need_cpu <= CPU_AUTO_LIMIT_GB:
            return DevicePlan("cpu", cpu_dtype, False)
        what = "enable_model_cpu_offload=True needs" if offload else "needs"
        raise PipelineError(
            f"Qwen-Image-Layered {what} a CUDA GPU with >= {math.ceil(need)} GB (found none); pass "
            f"device='cpu' to force (about {math.ceil(need_cpu)} GB of RAM, very slow)")
    index = dev.index if dev is not None and dev.index is not None else 0
    if index >= torch.cuda.device_count():
        raise PipelineError(f"device cuda:{index} does not exist ({torch.cuda.device_count()} CUDA devices)")
    props = torch.cuda.get_device_properties(index)
    total = props.total_memory / GIB
    if check_memory and total < need:
        hint = (f"; pass enable_model_cpu_offload=True (needs >= {math.ceil(need_offload)} GB)"
                if not offload and total >= need_offload else "")
        raise PipelineError(
            f"Qwen-Image-Layered needs a CUDA GPU with >= {math.ceil(need)} GB (found cuda:{index} "
            f"'{props.name}' with {total:.0f} GB){hint}; or pass device='cpu' to force, check_memory=False "
            f"to try anyway")
    return DevicePlan(f"cuda:{index}", gpu_dtype, offload)
