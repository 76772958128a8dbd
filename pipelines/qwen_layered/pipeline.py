"""The upstream Qwen-Image-Layered model behind layerdiff's decomposition interface.

Qwen-Image-Layered (Yin et al. 2025, "Qwen-Image-Layered: Towards Inherent Editability via Layer
Decomposition") decomposes an image into RGBA layers with an RGBA VAE and a layer-aware MMDiT
(VLD-MMDiT); diffusers ships it as ``QwenImageLayeredPipeline``. :class:`QwenLayeredDecomposePipeline`
holds one such pipeline (loaded from the hub id ``Qwen/Qwen-Image-Layered`` or a local folder) and
returns :class:`~layerdiff.layered.LayeredImage` s with layerdiff's guarantees: exact recomposition,
full-resolution refinement at the input's own size and an automatic layer count, all through
:func:`layerdiff.recompose.paint_full_resolution` and :func:`~layerdiff.pipelines.common.drop_empty_layers`.

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
3. *The processor needs torchvision*: without it, :mod:`.processor` stands in for the auto-caption
   processor.
4. *Resolution is 640 or 1024 only* (an ``assert``), at the input's aspect ratio snapped to 32 px.
   The model still runs at one of those buckets; the layers are painted back at the input's own
   size, so any input size comes back at its size (and ``resolution`` is checked with a clear error).
5. ``true_cfg_scale > 1`` is silently ignored without a negative prompt; the default negative prompt
   here is ``" "`` (as in the model card), so guidance is on.
6. A VAE whose latent channels equal its 4 input channels makes upstream take the RGBA image for
   latents and skip encoding; such configs are refused at construction.

Requirements are checked before any weight is loaded: the parameter count is read from the
safetensors headers (or, for a hub id not yet downloaded, by building the models on the meta
device from their configs, :mod:`.weights`) and compared with the CUDA memory (:mod:`.devices`); a
missing GPU, missing weights or too little memory give one-line errors that name what is needed.
Weights come from a registry name, a hub id or a folder (:mod:`.hub`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import QwenImageLayeredPipeline
from diffusers.pipelines.qwenimage.pipeline_qwenimage_layered import calculate_dimensions

from layerdiff.contract import check_num_layers, check_options
from layerdiff.layered import LayeredImage, from_float
from layerdiff.recompose import paint_full_resolution

from ..common import (
    MAX_PIXELS,
    MIN_SIDE,
    LayeredPipelineOutput,
    PipelineError,
    as_rgba_array,
    check_output_type,
    drop_empty_layers,
    format_layers,
    stack_to_layered,
)
from .devices import plan_device
from .hub import cached_snapshot, download, download_command, hub_offline, resolve_source
from .processor import load_upstream
from .weights import check_weight_folder, component_parameters, missing_weight_files

RESOLUTIONS = (640, 1024)
MAX_LAYERS = 20  # the model was trained with at most 20 layers
DEFAULTS: dict[str, Any] = dict(
    num_inference_steps=50, true_cfg_scale=4.0, resolution=640, negative_prompt=" ", cfg_normalize=True,
    use_en_prompt=True, auto_max_layers=8,
)
"""Call defaults (the model card's settings); ``auto_max_layers`` bounds ``num_layers="auto"``."""


class _DenoisingDone(Exception):
    """Raised from the step callback after the last step to stop upstream before its decode."""


class QwenLayeredDecomposePipeline:
    """Decompose images into RGBA layers (bottom to top) with the upstream Qwen-Image-Layered model.

    Holds a diffusers ``QwenImageLayeredPipeline`` as ``self.pipe``; see the module docstring for what
    is fixed on top of it. Load with :meth:`from_pretrained`; call with one image or a list.
    """

    name: str = "qwen-image-layered"
    options: frozenset[str] = frozenset({
        "prompt", "negative_prompt", "steps", "true_cfg_scale", "resolution", "exact_recomposition", "refine",
        "min_layer_coverage", "cfg_normalize", "use_en_prompt"})
    """The keyword options :meth:`decompose` honours (``steps``: sampling steps)."""

    def __init__(self, pipe: QwenImageLayeredPipeline, defaults: dict[str, Any] | None = None,
                 max_layers: int = MAX_LAYERS, name: str = "qwen-image-layered") -> None:
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
        self.name = str(name)

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
        source, preset_defaults, label = resolve_source(name_or_path)
        unknown = set(kwargs) - set(DEFAULTS)
        if unknown:
            raise PipelineError(f"unknown option(s) {sorted(unknown)}; call defaults are {sorted(DEFAULTS)}")
        defaults = {**DEFAULTS, **preset_defaults, **kwargs}
        if isinstance(source, str):
            folder = cached_snapshot(source, cache_dir)
            if folder is None or missing_weight_files(folder):
                if hub_offline(local_files_only):
                    state = "not" if folder is None else "only partly"
                    raise PipelineError(
                        f"{label}: weights of {source} are {state} in the hub cache and downloads are off; "
                        f"download them with `{download_command()}` and pass the folder")
                configs = download(source, cache_dir, allow_patterns=["*.json", "*.txt"])
                plan_device(component_parameters(configs), device, torch_dtype, enable_model_cpu_offload,
                            check_memory)  # refuse before tens of GB are downloaded
                folder = download(source, cache_dir)
        else:
            folder = source
        check_weight_folder(folder)
        plan = plan_device(component_parameters(folder), device, torch_dtype, enable_model_cpu_offload,
                           check_memory)
        pipe = load_upstream(folder, plan.dtype)
        if plan.offload:
            pipe.enable_model_cpu_offload(device=plan.device)
        else:
            pipe.to(plan.device)
        return cls(pipe, defaults=defaults, name=label)

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
            exact_recomposition, refine: see :func:`layerdiff.recompose.paint_full_resolution`.
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
            stacks.append(paint_full_resolution(low, arr, exact_recomposition, refine))

        # 7. Output.
        return LayeredPipelineOutput(images=[stack_to_layered(s) for s in stacks],
                                     layers=format_layers(stacks, output_type))

    def decompose(self, image: Any, num_layers: int | str = "auto", *, max_layers: int | None = None,
                  seed: int | None = None, callback: Callable[[int, int], None] | None = None,
                  **options: Any) -> LayeredImage:
        """Decompose one image into a :class:`LayeredImage` (the :class:`~layerdiff.contract.Decomposer`
        contract).

        ``num_layers="auto"`` samples ``max_layers`` layer frames (default ``auto_max_layers``) and drops
        the empty ones; ``seed`` seeds the sampling noise; ``callback(step, total)`` follows the sampling
        steps; ``options`` are those of :attr:`options` (``steps`` is ``num_inference_steps``), any other
        raises a one-line :class:`~layerdiff.contract.OptionError`.
        """
        given = check_options(self, options)
        wanted, _ = check_num_layers(num_layers, max_layers, self.max_layers, self.name)
        if "steps" in given:
            given["num_inference_steps"] = given.pop("steps")
        on_step = None
        if callback is not None:
            total = int(self._default("num_inference_steps", given.get("num_inference_steps")))

            def on_step(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
                callback(step + 1, total)
                return {}

        generator = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        count: int | str = "auto" if wanted is None else wanted
        return self(image, num_layers=count, max_layers=max_layers if wanted is None else None, output_type="np",
                    generator=generator, callback_on_step_end=on_step, **given).images[0]

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
