"""Shared machinery of the layerdiff pipelines: loading, prompts, the denoising loop, outputs.

Every pipeline holds the same four components (an RGBA VAE, the layer-aware transformer, a text
encoder and a flow-matching scheduler) and differs only in which frames are known
(see :mod:`layerdiff.frames`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput

from layerdiff.errors import LayerdiffError
from layerdiff.flow import euler_sample, guidance_combine
from layerdiff.frames import encode_phrases, phrase_dim, predict_velocity
from layerdiff.layered import Layer, LayeredImage
from layerdiff.refine import REFINE_PASSES, refine_layers
from layerdiff.registry import ComponentSpec, ModelPreset, get_preset

OUTPUT_TYPES = ("pil", "np", "pt", "latent")
COMPONENTS = ("vae", "transformer", "text_encoder", "scheduler")
# the region layerer: decomposition of flat graphics (layerdiff.layering); the layer refiner: the outline
# stage of generation (layerdiff.refine)
OPTIONAL_COMPONENTS = ("layerer", "refiner")
_ALLOWED_LIBRARIES = ("diffusers", "layerdiff")
GRID = 16  # pixel multiple of the native grid: 8x VAE downsampling x 2x2 patches


@dataclass
class LayeredPipelineOutput(BaseOutput):
    """Result of a layerdiff pipeline.

    images: one :class:`LayeredImage` per input (empty for ``output_type="latent"``).
    layers: per input, the layers bottom to top as ``output_type`` asks: a list of RGBA PIL images
        ("pil"), an (L, H, W, 4) float array ("np"), an (L, 4, H, W) tensor ("pt") or the final
        (F, C, h, w) frame latents ("latent", composite frame last).
    """

    images: list[LayeredImage] = field(default_factory=list)
    layers: list[Any] = field(default_factory=list)


class PipelineError(LayerdiffError, ValueError):
    """Bad arguments to a pipeline call."""


def _resolve_class(library: str, name: str) -> type:
    """Component class from a model_index.json entry: only classes of diffusers and layerdiff (no remote code)."""
    import importlib

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
    """Components of a registry preset: loaded from its weights, or randomly initialised (seeded)."""
    root = preset.weights_path()
    if isinstance(root, str):
        raise PipelineError(
            f"model {preset.name!r}: weights {root!r} are not on this machine; download them to a folder and pass "
            f"its path to from_pretrained")
    if root is not None and not Path(root).is_dir():
        raise PipelineError(f"model {preset.name!r}: weight folder {root} is missing; reinstall layerdiff or train "
                            f"the model (see MODEL_CARD.md)")
    comps: dict[str, Any] = {}
    for name, spec in preset.components.items():
        comps[name] = _load_component(spec, name, root, seed, torch_dtype)
    return comps


def _load_component(spec: ComponentSpec, name: str, root: Path | None, seed: int,
                    torch_dtype: torch.dtype | None) -> Any:
    cls = spec.load_class()
    if name == "scheduler":
        if root is not None and (Path(root) / name).is_dir():
            return cls.from_pretrained(root, subfolder=name)
        return cls(**spec.config)
    if root is not None:
        if not (Path(root) / name).is_dir():
            raise PipelineError(f"{root}: the weights of component {name!r} are missing (no {name}/ folder)")
        # Shipped weights may be stored in half precision; compute in float32 unless told otherwise.
        model = cls.from_pretrained(Path(root) / name, torch_dtype=torch_dtype or torch.float32)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = cls(**spec.config)
        if torch_dtype is not None:
            model = model.to(torch_dtype)
    return model.eval()


class LayerPipelineBase(DiffusionPipeline):
    """Base of the decomposition, generation, editing and extraction pipelines."""

    model_cpu_offload_seq = "text_encoder->transformer->vae"
    _optional_components: list[str] = list(OPTIONAL_COMPONENTS)

    def __init__(self, vae: Any, transformer: Any, text_encoder: Any, scheduler: Any, layerer: Any = None,
                 refiner: Any = None, native_resolution: int = 128, max_layers: int = 8) -> None:
        super().__init__()
        self.register_modules(vae=vae, transformer=transformer, text_encoder=text_encoder, scheduler=scheduler,
                              layerer=layerer, refiner=refiner)
        self._native_resolution = int(native_resolution)
        self._max_layers = int(max_layers)
        self.preset_defaults: dict[str, Any] = {}

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, seed: int = 0, torch_dtype: torch.dtype | None = None,
                        **kwargs: Any) -> LayerPipelineBase:
        """Load from a registry name (see ``layerdiff models``) or a folder written by ``save_pretrained``."""
        path = Path(name_or_path).expanduser()
        if path.is_dir():
            return cls._from_folder(path, torch_dtype=torch_dtype, **kwargs)
        preset = get_preset(str(name_or_path))
        if preset.kind != "layerdiff":
            raise PipelineError(f"model {preset.name!r} is a {preset.kind!r} model, not a layerdiff diffusion model")
        comps = build_components(preset, seed=seed, torch_dtype=torch_dtype)
        kwargs.setdefault("native_resolution", preset.native_resolution)
        kwargs.setdefault("max_layers", preset.max_layers)
        pipe = cls(**comps, **kwargs)
        pipe.preset_defaults = dict(preset.defaults)
        return pipe

    @classmethod
    def _from_folder(cls, path: Path, torch_dtype: torch.dtype | None = None, **kwargs: Any) -> LayerPipelineBase:
        index_file = path / "model_index.json"
        if not index_file.is_file():
            raise PipelineError(f"{path}: not a layerdiff pipeline folder (model_index.json missing)")
        index = json.loads(index_file.read_text())
        comps = {}
        for name in COMPONENTS:
            if name not in index:
                raise PipelineError(f"{path}: model_index.json has no component {name!r}")
            library, class_name = index[name]
            comp_cls = _resolve_class(library, class_name)
            if name == "scheduler":
                comps[name] = comp_cls.from_pretrained(path, subfolder=name)
            else:
                comps[name] = comp_cls.from_pretrained(path / name, torch_dtype=torch_dtype or torch.float32).eval()
        for name in OPTIONAL_COMPONENTS:
            library, class_name = index.get(name) or (None, None)
            if library is not None and class_name is not None:
                comps[name] = _resolve_class(library, class_name).from_pretrained(
                    path / name, torch_dtype=torch_dtype or torch.float32).eval()
        for key in ("native_resolution", "max_layers"):
            if key in index:
                kwargs.setdefault(key, index[key])
        pipe = cls(**comps, **kwargs)
        pipe.preset_defaults = dict(index.get("defaults", {}))
        return pipe

    def use_regions(self, method: str, output_type: str) -> bool:
        """Whether a call with ``method`` ("auto", "regions", "diffusion") runs the region layerer."""
        if method not in ("auto", "regions", "diffusion"):
            raise PipelineError(f"method must be 'auto', 'regions' or 'diffusion', got {method!r}")
        if method == "regions" and self.layerer is None:
            raise PipelineError("method='regions' needs a layerer component; this pipeline has none")
        if method == "regions" and output_type == "latent":
            raise PipelineError("output_type='latent' needs method='diffusion'")
        return method == "regions" or (method == "auto" and self.layerer is not None and output_type != "latent")

    def _default(self, name: str, value: Any, fallback: Any) -> Any:
        if value is not None:
            return value
        return self.preset_defaults.get(name, fallback)

    # ------------------------------------------------------------------ helpers
    @property
    def native_resolution(self) -> int:
        return self._native_resolution

    @property
    def max_layers(self) -> int:
        return self._max_layers

    @property
    def _dtype(self) -> torch.dtype:
        return next(self.transformer.parameters()).dtype

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
        :meth:`refiner_phrases`, ``passes`` passes (default: the model's ``refine_passes``, else 1);
        see :func:`layerdiff.refine.refine_layers`."""
        passes = self._default("refine_passes", passes, REFINE_PASSES)
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
        if int(num_inference_steps) < 1:
            raise PipelineError(f"num_inference_steps must be >= 1, got {num_inference_steps}")
        noise = _randn(clean.shape, generator, clean.device, clean.dtype)  # (B, F, C, h, w)
        # Evenly spaced noise levels 1 -> 0 (the scheduler applies its time shift and appends 0).
        self.scheduler.set_timesteps(sigmas=np.linspace(1.0, 0.0, num_inference_steps + 1)[:-1].tolist(),
                                     device="cpu")
        sigmas = self.scheduler.sigmas.to(device=clean.device, dtype=torch.float32)  # (steps + 1,)
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

    @property
    def _dtype_vae(self) -> torch.dtype:
        return next(self.vae.parameters()).dtype

    def save_pretrained(self, save_directory: str | Path, **kwargs: Any) -> None:
        """Save components (safetensors) and model_index.json (with native resolution and max layers)."""
        kwargs.setdefault("safe_serialization", True)
        super().save_pretrained(save_directory, **kwargs)
        index_file = Path(save_directory) / "model_index.json"
        index = json.loads(index_file.read_text())
        index["native_resolution"] = self.native_resolution
        index["max_layers"] = self.max_layers
        index["defaults"] = dict(self.preset_defaults)
        index_file.write_text(json.dumps(index, indent=2, sort_keys=True))


# ---------------------------------------------------------------------- utilities
def _randn(shape: Sequence[int], generator: torch.Generator | list[torch.Generator] | None,
           device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Gaussian noise; a list of generators gives one per batch element (diffusers convention)."""
    if isinstance(generator, list):
        if len(generator) != shape[0]:
            raise PipelineError(f"got {len(generator)} generators for a batch of {shape[0]}")
        return torch.stack([torch.randn(shape[1:], generator=g, dtype=torch.float32) for g in generator]
                           ).to(device, dtype)
    return torch.randn(tuple(shape), generator=generator, dtype=torch.float32).to(device, dtype)


def resize_rgba(rgba: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize (N, 4, H, W) straight RGBA to (h, w) = size in premultiplied space (no colour fringes)."""
    rgb, a = rgba[:, :3], rgba[:, 3:4]
    h, w = size
    big = rgba.shape[-2] * rgba.shape[-1] > h * w
    mode = "area" if big else "bilinear"
    kw = {} if big else {"align_corners": False}
    pre = F.interpolate(torch.cat([rgb * a, a], dim=1), size=(h, w), mode=mode, **kw)  # (N, 4, h, w)
    a2 = pre[:, 3:4].clamp(0, 1)
    rgb2 = torch.where(a2 > 1e-6, pre[:, :3] / a2.clamp_min(1e-6), torch.zeros_like(pre[:, :3]))
    return torch.cat([rgb2.clamp(0, 1), a2], dim=1)


def as_rgba_array(image: Any, what: str = "image") -> np.ndarray:
    """PIL / numpy / torch / LayeredImage -> (H, W, 4) float32 straight RGBA in [0, 1]."""
    from PIL import Image

    from layerdiff.layered import pil_to_rgba, to_float

    if isinstance(image, LayeredImage):
        return image.composite()
    if isinstance(image, Image.Image):
        return to_float(np.asarray(pil_to_rgba(image)))
    if isinstance(image, torch.Tensor):
        t = image.detach().cpu().float()
        if t.ndim != 3 or t.shape[0] not in (1, 3, 4):
            raise PipelineError(f"{what}: expected a (C, H, W) tensor with 1, 3 or 4 channels, got {tuple(t.shape)}")
        return to_float(t.permute(1, 2, 0).numpy())
    if isinstance(image, np.ndarray):
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (1, 2, 3, 4)):
            raise PipelineError(f"{what}: expected an (H, W[, C]) array with 1-4 channels, got {image.shape}")
        return to_float(image)
    raise PipelineError(f"{what}: unsupported type {type(image).__name__} (use a PIL image, array, tensor or "
                        f"LayeredImage)")


def format_layers(stacks: list[np.ndarray], output_type: str) -> list[Any]:
    """Per-image (L, H, W, 4) float stacks -> the requested output type."""
    from PIL import Image

    from layerdiff.layered import from_float

    if output_type == "np":
        return stacks
    if output_type == "pt":
        return [torch.from_numpy(s).permute(0, 3, 1, 2).contiguous() for s in stacks]
    return [[Image.fromarray(from_float(layer, 8), "RGBA") for layer in s] for s in stacks]


def stack_to_layered(stack: np.ndarray, names: Sequence[str] | None = None) -> LayeredImage:
    """(L, H, W, 4) float -> LayeredImage with default names 'Background', 'Layer 1', ..."""
    n = stack.shape[0]
    names = list(names) if names is not None else ["Background"] + [f"Layer {i}" for i in range(1, n)]
    return LayeredImage((stack.shape[2], stack.shape[1]), [Layer(stack[i], name=names[i]) for i in range(n)])


def check_output_type(output_type: str) -> None:
    if output_type not in OUTPUT_TYPES:
        raise PipelineError(f"output_type must be one of {OUTPUT_TYPES}, got {output_type!r}")
