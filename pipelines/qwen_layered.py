"""The upstream Qwen-Image-Layered model behind layerdiff's decomposition interface.

Qwen-Image-Layered (Yin et al. 2025, "Qwen-Image-Layered: Towards Inherent Editability via Layer
Decomposition") decomposes an image into RGBA layers with an RGBA VAE and a layer-aware MMDiT
(VLD-MMDiT); diffusers ships it as ``QwenImageLayeredPipeline``. :class:`QwenLayeredDecomposePipeline`
holds one such pipeline (loaded from the hub id ``Qwen/Qwen-Image-Layered`` or a local folder) and
returns :class:`~layerdiff.layered.LayeredImage` s with layerdiff's guarantees: exact recomposition,
full-resolution refinement at the input's own size and an automatic layer count, all through
:meth:`LayerDecomposePipeline.paint_full_resolution <layerdiff.pipelines.decompose.LayerDecomposePipeline>`
and :func:`~layerdiff.pipelines.decompose.drop_empty_layers`.

Upstream defects (diffusers 0.42) and what this wrapper does about them:

1. *Batches mix layers.* Upstream decodes the layer frames of all images as one flat list of
   ``B * L`` images, then slices image ``b`` as ``[b * f, (b + 1) * f)`` with ``f`` read from the
   latent shape *before* the composite frame was dropped (``f = L + 1``). Image 0 thus takes the
   first layer of image 1 and the last image gets fewer layers (a batch of two with ``layers=2``
   returns 3 and 1 layers). A list of images with one prompt string fails outright (batch size 1).
   Here each image runs on its own, with its own generator when a list is given.
2. *``output_type="latent"`` crashes* (``UnboundLocalError``: that branch sets ``image`` and returns
   ``images``). Here the final latents are taken from the documented ``callback_on_step_end`` hook
   at the last step, upstream is stopped there, and decoding (one layer frame at a time, which also
   bounds the VAE's peak memory) happens here; ``"latent"`` returns the unpacked frame latents.
3. *The processor needs torchvision.* transformers' ``Qwen2VLProcessor`` cannot be built without
   torchvision (its video-processor slot is checked against a class that only exists with it).
   Without torchvision the pipeline is loaded with ``processor=None`` and the auto-caption path
   (empty prompt) gets :class:`PilQwenVLProcessor`: the slow PIL ``Qwen2VLImageProcessorPil`` plus
   the pipeline's own tokenizer. With torchvision installed the stock processor is used.
4. *Resolution is 640 or 1024 only* (an ``assert``), at the input's aspect ratio snapped to 32 px.
   The model still runs at one of those buckets; the layers are painted back at the input's own
   size, so any input size comes back at its size (and ``resolution`` is checked with a clear error).
5. ``true_cfg_scale > 1`` is silently ignored without a negative prompt; the default negative prompt
   here is ``" "`` (as in the model card), so guidance is on.
6. A VAE whose latent channels equal its 4 input channels makes upstream take the RGBA image for
   latents and skip encoding; such configs are refused at construction.

Requirements are checked before any weight is loaded: the parameter count is read from the
safetensors headers (or, for a hub id not yet downloaded, by building the models on the meta
device from their configs) and compared with the CUDA memory; a missing GPU, missing weights or too
little memory give one-line errors that name what is needed.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import QwenImageLayeredPipeline
from diffusers.pipelines.qwenimage.pipeline_qwenimage_layered import calculate_dimensions

from layerdiff.errors import UnknownModelError
from layerdiff.layered import LayeredImage, from_float
from layerdiff.registry import get_preset

from .base import (
    LayeredPipelineOutput,
    PipelineError,
    as_rgba_array,
    check_output_type,
    format_layers,
    stack_to_layered,
)
from .decompose import MAX_PIXELS, MIN_SIDE, LayerDecomposePipeline, drop_empty_layers

HUB_ID = "Qwen/Qwen-Image-Layered"
RESOLUTIONS = (640, 1024)
MAX_LAYERS = 20  # the model was trained with at most 20 layers
DEFAULTS: dict[str, Any] = dict(
    num_inference_steps=50, true_cfg_scale=4.0, resolution=640, negative_prompt=" ", cfg_normalize=True,
    use_en_prompt=True, auto_max_layers=8,
)
"""Call defaults (the model card's settings); ``auto_max_layers`` bounds ``num_layers="auto"``."""

COMPONENT_DIRS = ("transformer", "text_encoder", "vae")
WEIGHT_SUFFIXES = (".safetensors", ".bin")
GIB = 1024 ** 3
OVERHEAD = 1.1  # resident weights -> memory, for buffers and fragmentation
ACTIVATION_GB = 2.0  # activations at 1024 px with a few layers, beyond the weights
CPU_AUTO_LIMIT_GB = 8.0  # without CUDA, models needing at most this much run on the CPU unasked
_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class _DenoisingDone(Exception):
    """Raised from the step callback after the last step to stop upstream before its decode."""


# ------------------------------------------------------------------------------ caption processor
class PilQwenVLProcessor:
    """The part of ``Qwen2VLProcessor`` that Qwen-Image-Layered's auto-caption uses, without torchvision.

    ``__call__(text, images)`` expands each ``<|image_pad|>`` to one token per merged vision patch
    (``prod(grid_thw) / merge_size^2``), tokenizes, and returns ``input_ids``, ``attention_mask``,
    ``mm_token_type_ids`` (1 on image tokens; Qwen2.5-VL needs them for its 3D rotary positions),
    ``pixel_values`` and ``image_grid_thw``; ``batch_decode`` is the tokenizer's.
    """

    image_token = "<|image_pad|>"

    def __init__(self, image_processor: Any, tokenizer: Any) -> None:
        self.image_processor = image_processor
        self.tokenizer = tokenizer
        self.image_token_id = int(tokenizer.convert_tokens_to_ids(self.image_token))

    @classmethod
    def from_folder(cls, folder: str | Path, tokenizer: Any) -> PilQwenVLProcessor:
        """Image processor from ``folder/preprocessor_config.json`` (a ``processor/`` subfolder)."""
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

        return cls(Qwen2VLImageProcessorPil.from_pretrained(str(folder)), tokenizer)

    def __call__(self, text: str | Sequence[str], images: Any = None, padding: bool = True,
                 return_tensors: str = "pt") -> Any:
        from transformers import BatchFeature

        if return_tensors != "pt":
            raise PipelineError(f"PilQwenVLProcessor returns torch tensors only, got "
                                f"return_tensors={return_tensors!r}")
        texts = [text] if isinstance(text, str) else list(text)
        data: dict[str, Any] = {}
        if images is not None:
            vision = self.image_processor(images=images, return_tensors="pt")
            data.update(pixel_values=vision["pixel_values"], image_grid_thw=vision["image_grid_thw"])
            merge = int(self.image_processor.merge_size) ** 2
            counts = [int(g.prod()) // merge for g in vision["image_grid_thw"]]  # tokens per image
            if sum(t.count(self.image_token) for t in texts) != len(counts):
                raise PipelineError(f"the text has {sum(t.count(self.image_token) for t in texts)} "
                                    f"{self.image_token} placeholders for {len(counts)} images")
            expanded, k = [], 0
            for t in texts:
                parts = t.split(self.image_token)
                out = parts[0]
                for part in parts[1:]:
                    out += self.image_token * counts[k] + part
                    k += 1
                expanded.append(out)
            texts = expanded
        tokens = self.tokenizer(texts, padding=padding, return_tensors="pt")
        data.update(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"])
        data["mm_token_type_ids"] = (tokens["input_ids"] == self.image_token_id).long()  # (B, T)
        return BatchFeature(data)

    def batch_decode(self, *args: Any, **kwargs: Any) -> list[str]:
        return self.tokenizer.batch_decode(*args, **kwargs)


# ------------------------------------------------------------------------------ weights and memory
def download_command(target: str | Path | None = None) -> str:
    """The shell command that fetches the upstream weights."""
    return f"hf download {HUB_ID} --local-dir {target or './Qwen-Image-Layered'}"


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


def _hub_offline(local_files_only: bool | None) -> bool:
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    return bool(local_files_only) or env or bool(constants.HF_HUB_OFFLINE)


def _cached_snapshot(repo_id: str, cache_dir: str | Path | None) -> Path | None:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, cache_dir=cache_dir, local_files_only=True))
    except LocalEntryNotFoundError:
        return None


def _download(repo_id: str, cache_dir: str | Path | None, allow_patterns: list[str] | None = None) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, cache_dir=cache_dir, allow_patterns=allow_patterns))
    except Exception as err:  # network, auth, disk: all end in the same advice
        reason = (str(err).splitlines() or [""])[0][:200]
        raise PipelineError(f"{repo_id}: download failed ({type(err).__name__}: {reason}); download the "
                            f"weights with `{download_command()}` and pass the folder") from None


def _source(name_or_path: str | Path) -> tuple[Path | str, dict[str, Any], str]:
    """(local folder or hub id, call defaults, display name) for a registry name, hub id or folder."""
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
            return where, {**DEFAULTS, **preset.defaults}, preset.name
    path = Path(text).expanduser()
    if path.exists() or not _HUB_ID_RE.match(text) or text.startswith((".", "/", "~")):
        return path, dict(DEFAULTS), text
    return text, dict(DEFAULTS), text


# ------------------------------------------------------------------------------ the pipeline
class QwenLayeredDecomposePipeline:
    """Decompose images into RGBA layers (bottom to top) with the upstream Qwen-Image-Layered model.

    Holds a diffusers ``QwenImageLayeredPipeline`` as ``self.pipe``; see the module docstring for what
    is fixed on top of it. Load with :meth:`from_pretrained`; call with one image or a list.
    """

    def __init__(self, pipe: QwenImageLayeredPipeline, defaults: dict[str, Any] | None = None,
                 max_layers: int = MAX_LAYERS) -> None:
        vae_cfg = pipe.vae.config
        if int(vae_cfg.input_channels) != 4:
            raise PipelineError(f"Qwen-Image-Layered needs an RGBA VAE (input_channels=4), got "
                                f"input_channels={vae_cfg.input_channels}")
        if int(vae_cfg.z_dim) == int(vae_cfg.input_channels):
            raise PipelineError(f"VAE z_dim={vae_cfg.z_dim} equals its input channels: upstream would take "
                                f"the image for latents and skip encoding; use a VAE with z_dim != 4")
        self.pipe = pipe
        self.preset_defaults: dict[str, Any] = {**DEFAULTS, **(defaults or {})}
        self._max_layers = int(max_layers)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path = "qwen-image-layered",
        torch_dtype: torch.dtype | None = None,
        device: str | torch.device | None = None,
        enable_model_cpu_offload: bool = False,
        check_memory: bool = True,
        cache_dir: str | Path | None = None,
        local_files_only: bool | None = None,
        **kwargs: Any,
    ) -> QwenLayeredDecomposePipeline:
        """Load from the registry name ``qwen-image-layered``, a hub id or a local diffusers folder.

        Args:
            torch_dtype: default bfloat16 on CUDA, float32 on the CPU.
            device: None picks CUDA when the model fits (a small model runs on the CPU without CUDA);
                "cpu" forces the CPU; "cuda[:N]" a GPU.
            enable_model_cpu_offload: keep components on the CPU and move each to the GPU while it
                runs (diffusers' model CPU offload); needs about the largest component's memory.
            check_memory: refuse a GPU with less memory than the estimate (False: try anyway).
            cache_dir, local_files_only: hub cache options; a hub id that is not cached is
                downloaded unless offline (``HF_HUB_OFFLINE=1`` or ``local_files_only=True``).
            kwargs: call defaults (e.g. ``num_inference_steps=20``, ``resolution=1024``).
        """
        source, defaults, label = _source(name_or_path)
        unknown = set(kwargs) - set(DEFAULTS)
        if unknown:
            raise PipelineError(f"unknown option(s) {sorted(unknown)}; call defaults are {sorted(DEFAULTS)}")
        defaults.update(kwargs)
        if isinstance(source, str):
            folder = _cached_snapshot(source, cache_dir)
            if folder is None or missing_weight_files(folder):
                if _hub_offline(local_files_only):
                    state = "not" if folder is None else "only partly"
                    raise PipelineError(
                        f"{label}: weights of {source} are {state} in the hub cache and downloads are off; "
                        f"download them with `{download_command()}` and pass the folder")
                configs = _download(source, cache_dir, allow_patterns=["*.json", "*.txt"])
                plan_device(component_parameters(configs), device, torch_dtype, enable_model_cpu_offload,
                            check_memory)  # refuse before tens of GB are downloaded
                folder = _download(source, cache_dir)
        else:
            folder = source
        check_weight_folder(folder)
        plan = plan_device(component_parameters(folder), device, torch_dtype, enable_model_cpu_offload,
                           check_memory)
        pipe = _load_upstream(folder, plan.dtype)
        if plan.offload:
            pipe.enable_model_cpu_offload(device=plan.device)
        else:
            pipe.to(plan.device)
        return cls(pipe, defaults=defaults)

    # ------------------------------------------------------------------ properties
    @property
    def max_layers(self) -> int:
        return self._max_layers

    @property
    def native_resolution(self) -> int:
        return int(self.preset_defaults["resolution"])

    @property
    def device(self) -> torch.device:
        return self.pipe._execution_device

    @property
    def dtype(self) -> torch.dtype:
        return self.pipe.transformer.dtype

    def to(self, device: str | torch.device) -> QwenLayeredDecomposePipeline:
        self.pipe.to(device)
        return self

    def set_progress_bar_config(self, **kwargs: Any) -> None:
        self.pipe.set_progress_bar_config(**kwargs)

    # ------------------------------------------------------------------ decomposition
    @torch.no_grad()
    def __call__(
        self,
        image: Any | Sequence[Any],
        num_layers: int | str = 4,
        max_layers: int | None = None,
        prompt: str | Sequence[str] = "",
        negative_prompt: str | None = None,
        num_inference_steps: int | None = None,
        true_cfg_scale: float | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "pil",
        exact_recomposition: bool = True,
        refine: bool = True,
        resolution: int | None = None,
        min_layer_coverage: float = 0.002,
        cfg_normalize: bool | None = None,
        use_en_prompt: bool | None = None,
        callback_on_step_end: Callable[..., dict[str, Any]] | None = None,
    ) -> LayeredPipelineOutput:
        """Decompose one image or a list of images (each run on its own: layers never mix).

        Args:
            image: PIL image, (H, W, C) array, (C, H, W) tensor or LayeredImage, or a list of them.
            num_layers: layers to produce, or "auto": sample ``max_layers`` layers and drop those with
                at most ``min_layer_coverage`` of their pixels at alpha > 0.5 (the bottom one is kept).
            max_layers: bound for "auto" (default ``auto_max_layers``, at most 20).
            prompt: description (one, or one per image); empty: upstream captions the image itself.
            negative_prompt: for true CFG (default " ", which turns guidance on when true_cfg_scale > 1).
            generator: one generator, or one per image (then each image matches its single run).
            output_type: "pil", "np", "pt" (layers at the input's size) or "latent": per image the
                normalised frame latents (L + 1, C, h, w), layers bottom to top, composite frame last.
            exact_recomposition, refine: see :meth:`LayerDecomposePipeline.paint_full_resolution`.
            resolution: the model's working bucket, 640 or 1024 (the output keeps the input's size).
        """
        # 1. Check inputs.
        check_output_type(output_type)
        images = list(image) if isinstance(image, (list, tuple)) else [image]
        if not images:
            raise PipelineError("image: got an empty list")
        rgba = [as_rgba_array(im, f"image {i}") for i, im in enumerate(images)]
        res = int(self._default("resolution", resolution))
        if res not in RESOLUTIONS:
            raise PipelineError(f"resolution must be one of {RESOLUTIONS} (the model's buckets; the output "
                                f"keeps the input's size), got {resolution}")
        grids = []
        for i, arr in enumerate(rgba):
            h, w = arr.shape[:2]
            if min(h, w) < MIN_SIDE:
                raise PipelineError(f"image {i}: {w}x{h} is too small (each side must be >= {MIN_SIDE} px)")
            if h * w > MAX_PIXELS:
                raise PipelineError(f"image {i}: {w}x{h} exceeds the {MAX_PIXELS} pixel limit")
            grid = self.model_grid(w, h, res)
            if min(grid) < 32:
                raise PipelineError(f"image {i}: aspect ratio {w}x{h} is too extreme for the {res} px bucket")
            grids.append(grid)
        auto = num_layers == "auto"
        cap = int(self._default("auto_max_layers", max_layers))
        if not 1 <= cap <= self.max_layers:
            raise PipelineError(f"max_layers must be in [1, {self.max_layers}], got {max_layers}")
        if not auto:
            if isinstance(num_layers, bool) or not isinstance(num_layers, (int, np.integer)):
                raise PipelineError(f"num_layers must be an int or 'auto', got {num_layers!r}")
            if not 1 <= int(num_layers) <= self.max_layers:
                raise PipelineError(f"num_layers must be in [1, {self.max_layers}], got {num_layers}")
        frames_l = cap if auto else int(num_layers)
        prompts = [prompt] * len(images) if isinstance(prompt, str) else list(prompt)
        if len(prompts) != len(images):
            raise PipelineError(f"got {len(prompts)} prompts for {len(images)} images")
        if isinstance(generator, list) and len(generator) != len(images):
            raise PipelineError(f"got {len(generator)} generators for {len(images)} images")
        steps = int(self._default("num_inference_steps", num_inference_steps))
        if steps < 1:
            raise PipelineError(f"num_inference_steps must be >= 1, got {num_inference_steps}")
        cfg = float(self._default("true_cfg_scale", true_cfg_scale))
        options = dict(
            negative_prompt=self._default("negative_prompt", negative_prompt) if cfg > 1.0 else None,
            true_cfg_scale=cfg,
            cfg_normalize=bool(self._default("cfg_normalize", cfg_normalize)),
            use_en_prompt=bool(self._default("use_en_prompt", use_en_prompt)),
            num_inference_steps=steps, resolution=res, layers=frames_l,
        )

        # 2-5. Per image: upstream encodes, denoises; we take the final latents.
        latents = []
        for i, arr in enumerate(rgba):
            gen = generator[i] if isinstance(generator, list) else generator
            latents.append(self._sample(arr, prompts[i], gen, grids[i], options, callback_on_step_end))
        if output_type == "latent":
            return LayeredPipelineOutput(images=[], layers=[lat.float().cpu() for lat in latents])

        # 6. Decode the layer frames, choose the count, paint at the input's own size.
        stacks = []
        for arr, lat in zip(rgba, latents):
            low = self.decode_latents(lat)  # (L, h', w', 4)
            if auto:
                low = drop_empty_layers(low, min_layer_coverage)
            stacks.append(LayerDecomposePipeline.paint_full_resolution(low, arr, exact_recomposition, refine))

        # 7. Output.
        return LayeredPipelineOutput(images=[stack_to_layered(s) for s in stacks],
                                     layers=format_layers(stacks, output_type))

    def decompose(self, image: Any, num_layers: int | str = "auto", max_layers: int | None = None,
                  seed: int | None = 0, **kwargs: Any) -> LayeredImage:
        """Decompose one image and return its :class:`LayeredImage` (the decomposer interface)."""
        if seed is not None:
            kwargs["generator"] = torch.Generator().manual_seed(int(seed))
        return self(image, num_layers=num_layers, max_layers=max_layers, output_type="np", **kwargs).images[0]

    def model_grid(self, width: int, height: int, resolution: int) -> tuple[int, int]:
        """(w, h) in pixels at which upstream runs an input of this size (its bucket, multiples of 32)."""
        cw, ch = calculate_dimensions(resolution * resolution, width / height)
        multiple = self.pipe.vae_scale_factor * 2
        return int(cw // multiple * multiple), int(ch // multiple * multiple)

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor) -> np.ndarray:
        """Frame latents (L + 1, C, h, w) from ``output_type="latent"`` -> layers (L, 8h, 8w, 4) float32.

        Layer frames are decoded one at a time (upstream decodes all of them in one VAE batch).
        """
        vae = self.pipe.vae
        dev = self.pipe._execution_device
        c = vae.config.z_dim
        mean = torch.tensor(vae.config.latents_mean, device=dev, dtype=vae.dtype).view(1, c, 1, 1, 1)
        std = torch.tensor(vae.config.latents_std, device=dev, dtype=vae.dtype).view(1, c, 1, 1, 1)
        out = []
        try:
            for k in range(latents.shape[0] - 1):
                z = latents[k].to(dev, vae.dtype)[None, :, None] * std + mean  # (1, C, 1, h, w)
                x = vae.decode(z, return_dict=False)[0][:, :, 0]  # (1, 4, H, W) in [-1, 1]
                out.append((x.float() / 2 + 0.5).clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy())  # (H, W, 4)
        finally:
            self.pipe.maybe_free_model_hooks()
        return np.stack(out)

    # ------------------------------------------------------------------ internals
    def _default(self, name: str, value: Any) -> Any:
        return self.preset_defaults[name] if value is None else value

    def _sample(self, rgba: np.ndarray, prompt: str, generator: torch.Generator | None, grid: tuple[int, int],
                options: dict[str, Any], callback: Callable[..., dict[str, Any]] | None) -> torch.Tensor:
        """Run upstream's encode + denoising for one image; return its frame latents (L + 1, C, h, w)."""
        from PIL import Image

        if not prompt.strip() and self.pipe.vl_processor is None:
            raise PipelineError("prompt is empty and this model folder has no processor/ for the automatic "
                                "caption; pass prompt='a description of the image'")
        state: dict[str, torch.Tensor] = {}

        def on_step(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            out = callback(self, step, timestep, tensors) if callback is not None else {}
            out = out or {}
            if step == pipe.num_timesteps - 1:
                state["latents"] = out.get("latents", tensors["latents"])
                raise _DenoisingDone
            return out

        pil = Image.fromarray(from_float(rgba, 8), "RGBA")
        try:
            self.pipe(image=pil, prompt=prompt, generator=generator, callback_on_step_end=on_step,
                      callback_on_step_end_tensor_inputs=["latents"], output_type="pt", **options)
        except _DenoisingDone:  # raised by on_step at the last step: the latents are already captured
            pass
        except torch.OutOfMemoryError:
            raise PipelineError(
                f"out of GPU memory decomposing into {options['layers']} layers at {options['resolution']} "
                f"px; use resolution=640, fewer layers, or load with enable_model_cpu_offload=True") from None
        finally:
            self.pipe.maybe_free_model_hooks()  # upstream's own call to it is skipped by the early stop
        if "latents" not in state:
            raise PipelineError("upstream pipeline finished without reaching its last denoising step")
        gw, gh = grid
        packed = state["latents"]  # (1, (L + 1) * gh/16 * gw/16, 4C)
        frames = QwenImageLayeredPipeline._unpack_latents(packed, gh, gw, options["layers"],
                                                          self.pipe.vae_scale_factor)  # (1, C, L + 1, h, w)
        frames = frames[0].permute(1, 0, 2, 3)  # (L + 1, C, h, w) with h = gh/8, composite frame first
        return torch.cat([frames[1:], frames[:1]])  # layers bottom to top, composite last


def _load_upstream(folder: Path, dtype: torch.dtype) -> QwenImageLayeredPipeline:
    """diffusers' from_pretrained; without torchvision the processor is replaced (module docstring, 3)."""
    from transformers.utils import is_torchvision_available

    stock = is_torchvision_available()
    kwargs: dict[str, Any] = {"dtype": dtype}
    if not stock:
        kwargs["processor"] = None
    pipe = QwenImageLayeredPipeline.from_pretrained(str(folder), **kwargs)
    if not stock:
        proc_dir = folder / "processor"
        pipe.vl_processor = (PilQwenVLProcessor.from_folder(proc_dir, pipe.tokenizer)
                             if (proc_dir / "preprocessor_config.json").is_file() else None)
    return pipe
