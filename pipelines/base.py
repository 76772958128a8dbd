"""The base of the layerdiff pipelines: loading, prompts, the denoising loop.

Every pipeline holds the same components (an RGBA VAE, the layer-aware transformer, a text encoder,
a flow-matching scheduler, the :class:`~layerdiff.pipelines.settings.PipelineSettings` and optionally the
layer refiner) and differs only in which frames are known (see :mod:`layerdiff.frames`). Sampling is
stateless (:func:`layerdiff.flow.get_schedule` and :func:`layerdiff.flow.euler_sample`): the scheduler
component only carries the time shift in its config, so one set of components may serve several calls
at once.
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import DiffusionPipeline

from layerdiff.flow import euler_sample, get_schedule, guidance_combine
from layerdiff.frames import encode_phrases, phrase_dim, predict_velocity
from layerdiff.models.weights import WeightsError, load_component
from layerdiff.refine import refine_layers
from layerdiff.registry import ModelPreset, get_preset

from .common import PipelineError
from .settings import PipelineSettings

COMPONENTS = ("vae", "transformer", "text_encoder", "scheduler")
OPTIONAL_COMPONENTS = ("settings", "refiner")
CONFIG_ONLY = ("scheduler", "settings")  # saved as a config file only
_ALLOWED_LIBRARIES = ("diffusers", "layerdiff")
GRID = 16  # pixel multiple of the native grid: 8x VAE downsampling x 2x2 patches
_UNSUPPORTED_SCHEDULES = ("use_dynamic_shifting", "shift_terminal", "use_karras_sigmas", "use_exponential_sigmas",
                          "use_beta_sigmas", "invert_sigmas", "stochastic_sampling")


def _resolve_class(library: str, name: str) -> type:
    """Component class from a model_index.json entry: only classes of diffusers and layerdiff (no remote code)."""
    root = library.split(".")[0]
    if root not in _ALLOWED_LIBRARIES:
        raise PipelineError(f"component class {library}.{name} is not allowed (only {_ALLOWED_LIBRARIES})")
    try:
        cls = getattr(importlib.import_module(library), name)
    except (ImportError, AttributeError):
        raise PipelineError(f"component class {library}.{name} does not exist") from None
    if not isinstance(cls, type):
        raise PipelineError(f"{library}.{name} is not a class")
    return cls


def build_components(preset: ModelPreset, seed: int = 0, torch_dtype: torch.dtype | None = None,
                     ) -> dict[str, Any]:
    """Components of a registry preset: loaded from its weight folder, or randomly initialised (seeded)
    from its component configs with settings from its ``native_resolution``, ``max_layers`` and ``defaults``."""
    root = preset.weights_path()
    if isinstance(root, str):
        raise PipelineError(
            f"model {preset.name!r}: weights {root!r} are not on this machine; download them to a folder and pass "
            f"its path to from_pretrained")
    if root is not None:
        if not Path(root).is_dir():
            raise PipelineError(f"model {preset.name!r}: weight folder {root} is missing; reinstall layerdiff or "
                                f"train the model (see MODEL_CARD.md)")
        return load_folder(Path(root), torch_dtype)
    comps: dict[str, Any] = {}
    for name, spec in preset.components.items():
        if name in COMPONENTS + OPTIONAL_COMPONENTS:
            comps[name] = _random_component(spec.load_class(), spec.config, name, seed, torch_dtype)
    comps["settings"] = PipelineSettings.from_preset(preset.native_resolution, preset.max_layers, preset.defaults)
    return comps


def _random_component(cls: type, config: dict[str, Any], name: str, seed: int,
                      torch_dtype: torch.dtype | None) -> Any:
    if name in CONFIG_ONLY:
        return cls(**config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = cls(**config)
    if torch_dtype is not None:
        model = model.to(torch_dtype)
    return model.eval()


def load_folder(path: Path, torch_dtype: torch.dtype | None = None) -> dict[str, Any]:
    """Components of a pipeline folder written by ``save_pretrained`` (its ``model_index.json``), weights from
    safetensors only. Half-precision weights compute in float32 unless ``torch_dtype`` says otherwise."""
    index_file = path / "model_index.json"
    if not index_file.is_file():
        raise PipelineError(f"{path}: not a layerdiff pipeline folder (model_index.json missing)")
    try:
        index = json.loads(index_file.read_text())
    except (OSError, ValueError) as err:
        raise PipelineError(f"{index_file}: not a readable pipeline index ({err})") from None
    comps: dict[str, Any] = {}
    for name in COMPONENTS + OPTIONAL_COMPONENTS:
        library, class_name = index.get(name) or (None, None)
        if library is None or class_name is None:
            if name in COMPONENTS:
                raise PipelineError(f"{path}: model_index.json has no component {name!r}")
            continue
        cls = _resolve_class(library, class_name)
        if name in CONFIG_ONLY:
            if not (path / name).is_dir():
                raise PipelineError(f"{path}: the {name} of the pipeline are missing (no {name}/ folder)")
            comps[name] = cls.from_pretrained(path, subfolder=name)
        else:
            comps[name] = load_component(cls, path / name, torch_dtype=torch_dtype or torch.float32).eval()
    if "settings" not in comps:  # a folder saved before the settings were a component kept them in the index
        comps["settings"] = PipelineSettings.from_preset(index.get("native_resolution", 128),
                                                         index.get("max_layers", 8), index.get("defaults", {}))
    return comps


class LayerPipelineBase(DiffusionPipeline):
    """Base of the decomposition, generation, editing and extraction pipelines.

    ``name`` is the model's registry or folder name (for messages); ``task`` the task whose default steps
    and guidance a call uses; ``options`` the keyword options of the task's contract method.
    """

    model_cpu_offload_seq = "text_encoder->transformer->vae"
    _optional_components: list[str] = list(OPTIONAL_COMPONENTS)
    task = "decompose"
    name: str | None = None
    options: frozenset[str] = frozenset()

    def __init__(self, vae: Any, transformer: Any, text_encoder: Any, scheduler: Any,
                 settings: PipelineSettings | None = None, refiner: Any = None) -> None:
        super().__init__()
        unsupported = [k for k in _UNSUPPORTED_SCHEDULES if scheduler.config.get(k)]
        if unsupported:
            raise PipelineError(f"scheduler: layerdiff samples a fixed time-shifted schedule; "
                                f"{', '.join(unsupported)} is not supported")
        self.register_modules(vae=vae, transformer=transformer, text_encoder=text_encoder, scheduler=scheduler,
                              settings=settings if settings is not None else PipelineSettings(), refiner=refiner)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, seed: int = 0, torch_dtype: torch.dtype | None = None,
                        **components: Any) -> LayerPipelineBase:
        """Load from a registry name (see ``layerdiff models``) or a folder written by ``save_pretrained``.

        ``seed`` initialises a preset without weights; ``components`` replace loaded ones (e.g.
        ``refiner=None``).
        """
        known = COMPONENTS + OPTIONAL_COMPONENTS
        unknown = sorted(set(components) - set(known))
        if unknown:
            raise PipelineError(f"from_pretrained: unknown argument(s) {unknown} (components: {', '.join(known)})")
        path = Path(name_or_path).expanduser()
        if path.is_dir():
            comps, name = load_folder(path, torch_dtype), path.name
        else:
            preset = get_preset(str(name_or_path))
            if preset.kind != "layerdiff":
                raise PipelineError(f"model {preset.name!r} is a {preset.kind!r} model, not a layerdiff diffusion "
                                    f"model")
            comps, name = build_components(preset, seed=seed, torch_dtype=torch_dtype), preset.name
        pipe = cls(**{**comps, **components})
        pipe.name = name
        return pipe

    def save_pretrained(self, save_directory: str | Path, **kwargs: Any) -> None:
        """Save every component (weights as safetensors; the scheduler and settings as configs) and
        ``model_index.json`` (diffusers writes both)."""
        if kwargs.get("safe_serialization") is False:
            raise WeightsError(f"{save_directory}: layerdiff saves weights as safetensors only")
        kwargs["safe_serialization"] = True
        super().save_pretrained(save_directory, **kwargs)

    # ------------------------------------------------------------------ settings
    @property
    def native_resolution(self) -> int:
        return int(self.settings.config.native_resolution)

    @property
    def max_layers(self) -> int:
        return int(self.settings.config.max_layers)

    @property
    def model_name(self) -> str:
        """The model's name for messages."""
        return self.name or type(self).__name__

    def sampling(self, num_inference_steps: int | None, guidance_scale: float | None) -> tuple[int, float]:
        """Steps and guidance of a call: the given ones, else the settings' defaults for :attr:`task`."""
        steps = self.settings.steps(self.task) if num_inference_steps is None else num_inference_steps
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise PipelineError(f"num_inference_steps must be an integer >= 1, got {num_inference_steps!r}")
        scale = self.settings.guidance(self.task) if guidance_scale is None else guidance_scale
        return int(steps), float(scale)

    # ------------------------------------------------------------------ helpers
    @property
    def _dtype(self) -> torch.dtype:
        return next(self.transformer.parameters()).dtype

    @property
    def _dtype_vae(self) -> torch.dtype:
        return next(self.vae.parameters()).dtype

    def native_grid(self, width: int, height: int) -> tuple[int, int]:
        """(w, h) in pixels, multiples of 16, with about native_resolution^2 area and the input's aspect."""
        side = self.native_resolution
        scale = math.sqrt(side * side / float(width * height))
        w = max(GRID, int(round(width * scale / GRID)) * GRID)
        h = max(GRID, int(round(height * scale / GRID)) * GRID)
        return w, h

    def encode_prompt(self, prompts: Sequence[str], guidance_scale: float
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Text tokens (B, T, D) + mask (B, T) and, for guidance > 1, the empty-prompt ones."""
        emb, mask = self.text_encoder.encode(list(prompts), device=self._execution_device)
        emb = emb.to(self._dtype)
        if guidance_scale <= 1.0:
            return emb, mask, None, None
        neg, neg_mask = self.text_encoder.encode([""] * len(prompts), device=self._execution_device)
        return emb, mask, neg.to(self._dtype), neg_mask

    def encode_layer_phrases(self, rows: Sequence[Sequence[str]]) -> torch.Tensor | None:
        """Per-frame layer phrases (one row of F strings per sample, "" = none) -> (B, F, P) embeddings, or
        None when the transformer reads no phrases or every phrase is empty (see :mod:`layerdiff.frames`)."""
        width = phrase_dim(self.transformer)
        if width == 0 or not any(p for row in rows for p in row):
            return None
        return encode_phrases(self.text_encoder, [list(r) for r in rows], width,
                              device=self._execution_device).to(self._dtype)

    def refiner_phrases(self, rows: Sequence[Sequence[str]]) -> torch.Tensor | None:
        """Per-layer phrases for the layer refiner: (B, F, P) embeddings ("" = zeros), or None without a refiner."""
        if self.refiner is None:
            return None
        return encode_phrases(self.text_encoder, [list(r) for r in rows], int(self.refiner.config.text_dim),
                              device=self._execution_device)

    def refine(self, layers: torch.Tensor, text: torch.Tensor, select: torch.Tensor | None = None,
               passes: int | None = None) -> torch.Tensor:
        """The layer refiner on one stack: layers (L, 4, H, W) straight RGBA, text (L, P) from
        :meth:`refiner_phrases`, ``passes`` passes (default: the settings' ``refine_passes``); see
        :func:`layerdiff.refine.refine_layers`."""
        passes = self.settings.config.refine_passes if passes is None else passes
        if isinstance(passes, bool) or not isinstance(passes, (int, np.integer)) or passes < 1:
            raise PipelineError(f"refine_passes must be an int >= 1, got {passes!r}")
        return refine_layers(self.refiner, layers, text, select, passes=int(passes))

    def denoise(
        self,
        clean: torch.Tensor,
        known: torch.Tensor,
        text: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None],
        num_inference_steps: int,
        guidance_scale: float,
        generator: torch.Generator | list[torch.Generator] | None,
        region: torch.Tensor | None = None,
        callback_on_step_end: Callable[..., dict[str, Any]] | None = None,
        phrases: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Sample the unknown frames. clean: (B, F, C, h, w) with known frames filled; known: (B, F);
        phrases: (B, F, P) layer-phrase embeddings or None. With guidance the unconditional branch drops
        both the prompt and the phrases."""
        noise = randn(clean.shape, generator, clean.device, clean.dtype)  # (B, F, C, h, w)
        shift = float(self.scheduler.config.shift)
        sigmas = get_schedule(num_inference_steps, shift).to(clean.device)  # (steps + 1,)
        emb, mask, neg, neg_mask = text

        def velocity(x: torch.Tensor, sigma: torch.Tensor, step: int) -> torch.Tensor:
            v = predict_velocity(self.transformer, x, known, sigma, emb, mask, region, phrases)
            if neg is not None:
                v_un = predict_velocity(self.transformer, x, known, sigma, neg, neg_mask, region)
                v = guidance_combine(v, v_un, guidance_scale)
            return v

        with self.progress_bar(total=num_inference_steps) as bar:

            def on_step(i: int, sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor | None:
                bar.update()
                if callback_on_step_end is None:
                    return None
                out = callback_on_step_end(self, i, sigma[0], {"latents": x})
                return (out or {}).get("latents")

            with torch.no_grad():
                return euler_sample(velocity, noise, clean, known, sigmas, on_step)

    def encode_layers(self, rgba: torch.Tensor) -> torch.Tensor:
        """(N, 4, H, W) straight RGBA in [0, 1] -> normalised latents (N, C, H/8, W/8)."""
        with torch.no_grad():
            return self.vae.encode_rgba(rgba.to(self._execution_device, self._dtype_vae))

    def decode_layers(self, latents: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) -> (N, 4, 8h, 8w) straight RGBA in [0, 1], float32."""
        with torch.no_grad():
            return self.vae.decode_rgba(latents.to(self._dtype_vae)).float().clamp(0, 1)


def randn(shape: Sequence[int], generator: torch.Generator | list[torch.Generator] | None,
          device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Gaussian noise; a list of generators gives one per batch element (diffusers convention)."""
    if isinstance(generator, list):
        if len(generator) != shape[0]:
            raise PipelineError(f"got {len(generator)} generators for a batch of {shape[0]}")
        return torch.stack([torch.randn(shape[1:], generator=g, dtype=torch.float32) for g in generator]
                           ).to(device, dtype)
    return torch.randn(tuple(shape), generator=generator, dtype=torch.float32).to(device, dtype)


def contract_call(pipe: Any, options: dict[str, Any], seed: int | None,
                  callback: Callable[[int, int], None] | None) -> tuple[dict[str, Any], bool]:
    """The keyword arguments of ``pipe.__call__`` for a contract method (``decompose`` / ``extract``) given
    its ``options``, ``seed`` and ``callback``, and whether to read text layers afterwards (``read_text``,
    default True). Options the pipeline does not declare are refused in one line
    (:func:`~layerdiff.contract.check_options`)."""
    from layerdiff.contract import check_options

    opts = check_options(pipe, options)
    read_text = bool(opts.pop("read_text", True))
    if "steps" in opts:
        opts["num_inference_steps"] = opts.pop("steps")
    opts["generator"] = torch.Generator().manual_seed(int(seed)) if seed is not None else None
    steps, _ = pipe.sampling(opts.get("num_inference_steps"), opts.get("guidance_scale"))
    opts["callback_on_step_end"] = progress_callback(callback, steps)
    opts["output_type"] = "np"
    return opts, read_text


def progress_callback(callback: Callable[[int, int], None] | None, total: int
                      ) -> Callable[..., dict[str, Any]] | None:
    """A contract ``callback(step, total)`` as diffusers' ``callback_on_step_end`` of a run of ``total`` steps."""
    if callback is None:
        return None

    def on_step_end(pipe: Any, i: int, sigma: torch.Tensor, tensors: dict[str, Any]) -> dict[str, Any]:
        callback(i + 1, total)
        return {}

    return on_step_end
