"""The one model registry: named presets shared by the pipelines, the CLI, training and the demo.

A preset names the classes of its components (as lazy ``"module:Class"`` import paths, so
importing the registry stays cheap), their configurations, where the weights live and under
what licence. Sizes are presets, not subclasses.

Weight locations:
- ``None``: random initialisation from the configs (tests, training from scratch);
- ``"embedded:<folder>"``: a folder inside ``layerdiff/weights/`` shipped with the package;
- any other string: a local folder or a hub id handed to ``from_pretrained``.

Tasks: each preset lists the tasks it serves ("decompose", "extract", "generate", "edit") and, per task,
its implementations by method ("regions", "diffusion", "baseline"), the first being what
``method="auto"`` picks. :func:`layerdiff.load` reads that table; nothing else chooses an implementation.
Each preset has one layer limit, ``max_layers``, used by every implementation of it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import LayerdiffError, UnknownModelError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_MODEL = "layerdiff-tiny"
"""The model used wherever none is named (CLI, demo, batch, eval, :func:`layerdiff.load`)."""
TASKS = ("decompose", "extract", "generate", "edit")
METHODS = ("regions", "diffusion", "baseline")


@dataclass(frozen=True)
class ComponentSpec:
    """One component of a preset: ``target`` is ``"module:Class"``; ``config`` its constructor kwargs."""

    target: str
    config: dict[str, Any] = field(default_factory=dict)

    def load_class(self) -> type:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class ModelPreset:
    """A named model: what it is, what it is built from and where its weights are."""

    name: str
    kind: str  # a label for listings: "layerdiff", "decomposer", "extractor", "qwen-image-layered"
    description: str
    # task -> {method: "module:Class"}; the class has ``from_pretrained(name, **kwargs)``; the first
    # method of a task is the one ``method="auto"`` picks
    tasks: dict[str, dict[str, str]] = field(default_factory=dict)
    components: dict[str, ComponentSpec] = field(default_factory=dict)
    weights: str | None = None
    license: str = "Apache-2.0"
    native_resolution: int = 128
    max_layers: int = 8  # the one layer limit of every implementation of this preset
    defaults: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for task, methods in self.tasks.items():
            if task not in TASKS:
                raise ValueError(f"preset {self.name!r}: unknown task {task!r} (tasks: {', '.join(TASKS)})")
            if not methods or any(m not in METHODS for m in methods):
                raise ValueError(f"preset {self.name!r}: task {task!r} needs methods from {METHODS}, "
                                 f"got {list(methods)}")
        if self.max_layers < 1:
            raise ValueError(f"preset {self.name!r}: max_layers must be >= 1, got {self.max_layers}")

    def serves(self, task: str) -> bool:
        return task in self.tasks

    def implementation(self, task: str, method: str = "auto") -> tuple[str, str]:
        """(method, ``"module:Class"``) serving ``task``; ``method="auto"`` is the first one listed.
        A task or method the preset lacks raises a one-line :class:`LayerdiffError`."""
        methods = self.tasks.get(task)
        if not methods:
            serves = ", ".join(self.tasks) or "nothing"
            raise LayerdiffError(f"model {self.name!r} does not {task} (it serves: {serves})")
        if method == "auto":
            method = next(iter(methods))
        if method not in methods:
            raise LayerdiffError(f"model {self.name!r} has no {method!r} method for {task} "
                                 f"(it has: {', '.join(methods)})")
        return method, methods[method]

    def weights_path(self) -> Path | str | None:
        """Resolved weight location: a Path for embedded/local folders, a hub id string, or None."""
        if self.weights is None:
            return None
        if self.weights.startswith("embedded:"):
            return WEIGHTS_DIR / self.weights.split(":", 1)[1]
        local = Path(self.weights).expanduser()
        return local if local.exists() else self.weights


def default_steps(defaults: dict[str, Any], task: str = "") -> int:
    """Sampling steps from a model's ``defaults``: ``<task>_num_inference_steps`` when the model sets one
    for ``task`` (e.g. "generate"), else its ``num_inference_steps``, else 8."""
    shared = defaults.get("num_inference_steps", 8)
    return int(defaults.get(f"{task}_num_inference_steps", shared) if task else shared)


_REGISTRY: dict[str, ModelPreset] = {}


def register(preset: ModelPreset, overwrite: bool = False) -> ModelPreset:
    """Add a preset. Re-registering a name needs ``overwrite=True``."""
    if preset.name in _REGISTRY and not overwrite:
        raise ValueError(f"model {preset.name!r} is already registered")
    _REGISTRY[preset.name] = preset
    return preset


def get_preset(name: str) -> ModelPreset:
    """The preset called ``name``; an unknown name raises :class:`UnknownModelError` listing the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownModelError(f"unknown model {name!r}; known models: {known}") from None


def list_presets(kind: str | None = None, task: str | None = None) -> list[ModelPreset]:
    """All presets (optionally of one kind, or serving one task), sorted by name."""
    return [p for _, p in sorted(_REGISTRY.items())
            if (kind is None or p.kind == kind) and (task is None or p.serves(task))]


def model_names(kind: str | None = None, task: str | None = None) -> list[str]:
    return [p.name for p in list_presets(kind, task)]


def decomposer_names() -> list[str]:
    """Names usable wherever a decomposer is chosen (CLI, eval, demo, batch)."""
    return model_names(task="decompose")


# --------------------------------------------------------------------------- presets
# Architecture of the layerdiff models (see layerdiff/models): an RGBA VAE (4 -> 4 channels,
# 8x downsampling, 16 latent channels), diffusers' QwenImageTransformer2DModel with the layer
# axis in its rotary code, and a text encoder. The transformer reads, per latent pixel, the
# 16 latent channels plus 2 signal channels (frame known/unknown flag, region hint), packed 2x2,
# and the frame's layer-phrase embedding (the text encoder's width; see layerdiff.frames).
LATENT_CHANNELS = 16
SIGNAL_CHANNELS = 2


def _transformer_config(width_heads: int, head_dim: int, depth: int, text_dim: int) -> dict[str, Any]:
    rope_frame = head_dim // 4
    rope_xy = (head_dim - rope_frame) // 2
    return dict(
        patch_size=2,
        in_channels=4 * (LATENT_CHANNELS + SIGNAL_CHANNELS) + text_dim,
        out_channels=LATENT_CHANNELS,
        num_layers=depth,
        attention_head_dim=head_dim,
        num_attention_heads=width_heads,
        joint_attention_dim=text_dim,
        axes_dims_rope=(head_dim - 2 * rope_xy, rope_xy, rope_xy),
        use_layer3d_rope=True,
    )


def _diffusion_tasks(regions: bool = False) -> dict[str, dict[str, str]]:
    """The task table of a layerdiff model; with ``regions`` its region layerer serves decomposition and
    extraction first (NumPy, no torch import), the diffusion pipelines second."""
    decompose = {"diffusion": "layerdiff.pipelines:LayerDecomposePipeline"}
    extract = {"diffusion": "layerdiff.pipelines:LayerExtractPipeline"}
    if regions:
        decompose = {"regions": "layerdiff.regions.decomposer:RegionLayerDecomposer", **decompose}
        extract = {"regions": "layerdiff.regions.referrer:RegionReferrer", **extract}
    return {"decompose": decompose, "extract": extract,
            "generate": {"diffusion": "layerdiff.pipelines:LayerGeneratePipeline"},
            "edit": {"diffusion": "layerdiff.pipelines:LayerEditPipeline"}}


register(ModelPreset(
    name="tiny-random",
    kind="layerdiff",
    description="Tiny randomly initialised layerdiff model for tests (no weights): layerdiff-tiny's classes at "
                "tiny sizes.",
    tasks=_diffusion_tasks(),
    components={
        # 2x2 RGBA patches, 16 latent channels: the unfitted patch autoencoder is the identity (lossless)
        "vae": ComponentSpec("layerdiff.models.patch_vae:PatchAutoencoder",
                             dict(patch_size=2, latent_channels=LATENT_CHANNELS)),
        "transformer": ComponentSpec("diffusers:QwenImageTransformer2DModel", _transformer_config(2, 16, 2, 32)),
        "text_encoder": ComponentSpec("layerdiff.models.text_encoder:MiniLMTextEncoder", dict(
            max_length=16, bert_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                            intermediate_size=64))),
        "scheduler": ComponentSpec("diffusers:FlowMatchEulerDiscreteScheduler", dict(shift=1.0)),
        "refiner": ComponentSpec("layerdiff.models.layer_refiner:LayerRefiner",
                                 dict(text_dim=32, widths=(8, 16), crop_size=16)),
    },
    weights=None,
    license="Apache-2.0 (code only; random weights)",
    native_resolution=32,
    max_layers=6,
    defaults=dict(num_inference_steps=2, guidance_scale=1.0),
))

register(ModelPreset(
    name="layerdiff-tiny",
    kind="layerdiff",
    description="Embedded default model: small RGBA VAE + layer-aware MMDiT + region layerer + layer refiner, "
                "trained by us on synthetic designs and PSD layers; runs on a laptop CPU.",
    tasks=_diffusion_tasks(regions=True),
    components={
        "vae": ComponentSpec("layerdiff.models.patch_vae:PatchAutoencoder",
                             dict(patch_size=8, latent_channels=LATENT_CHANNELS)),
        "transformer": ComponentSpec("diffusers:QwenImageTransformer2DModel", _transformer_config(4, 64, 6, 384)),
        "text_encoder": ComponentSpec("layerdiff.models.text_encoder:MiniLMTextEncoder", {}),
        "scheduler": ComponentSpec("diffusers:FlowMatchEulerDiscreteScheduler", dict(shift=1.0)),
        "layerer": ComponentSpec("layerdiff.models.region_layerer:RegionLayerer",
                                 dict(region_features=20, pair_features=58, width=128, depth=3)),
        "refiner": ComponentSpec("layerdiff.models.layer_refiner:LayerRefiner",
                                 dict(text_dim=384, widths=(16, 32, 64, 96), crop_size=64)),
    },
    weights="embedded:layerdiff-tiny",
    license="Apache-2.0 (weights trained by the layerdiff authors; text encoder all-MiniLM-L6-v2, Apache-2.0)",
    native_resolution=128,
    max_layers=6,
    # The pipelines' settings (layerdiff.pipelines.PipelineSettings; the embedded folder's settings/ holds
    # the same, tested): generation with guidance 6 and 40 steps, decomposition and edits without guidance
    # in 8 steps, three refiner passes (how they were chosen: MODEL_CARD.md).
    defaults=dict(num_inference_steps=8, guidance_scale=1.0, generate_guidance_scale=6.0,
                  generate_num_inference_steps=40, refine_passes=3),
))

# Non-learned decomposers (layerdiff/baselines): what a user reaches for on a CPU today. Registered here
# so that every comparison (eval, demo, batch, CLI) can run them side by side with the models.
register(ModelPreset(
    name="single-layer",
    kind="decomposer",
    description="Baseline: the input as one layer (no decomposition).",
    tasks={"decompose": {"baseline": "layerdiff.baselines:SingleLayerDecomposer"}},
    license="Apache-2.0 (code only; no weights)",
    native_resolution=0,
    max_layers=1,
))

register(ModelPreset(
    name="cluster-matting",
    kind="decomposer",
    description="Non-learned decomposer for flat graphics: Lab colour regions ordered by enclosure and occlusion, "
                "colour-line matting, push-pull fill, exact recomposition; CPU, about a second.",
    tasks={"decompose": {"baseline": "layerdiff.baselines:ClusterMattingDecomposer"}},
    license="Apache-2.0 (code only; no weights)",
    native_resolution=512,
    max_layers=8,
))

register(ModelPreset(
    name="floodfill",
    kind="extractor",
    description="Baseline extractor: colour flood fill from points, a GrabCut-like colour-model cut-out of a box, "
                "colour words of a phrase; soft edges, push-pull fill, exact recomposition; CPU.",
    tasks={"extract": {"baseline": "layerdiff.baselines:FloodFillExtractor"}},
    license="Apache-2.0 (code only; no weights)",
    native_resolution=0,
    max_layers=1,
))

register(ModelPreset(
    name="qwen-image-layered",
    kind="qwen-image-layered",
    description="Upstream Qwen-Image-Layered (Yin et al. 2025) via diffusers, with exact recomposition, "
                "full-resolution painting and automatic layer count; needs a CUDA GPU with about 48 GB "
                "(model CPU offload) or 64 GB and a ~58 GB download.",
    tasks={"decompose": {"diffusion": "layerdiff.pipelines.qwen_layered:QwenLayeredDecomposePipeline"}},
    weights="Qwen/Qwen-Image-Layered",
    license="Apache-2.0 (weights by the Qwen team, Alibaba)",
    native_resolution=640,
    max_layers=20,
    defaults=dict(num_inference_steps=50, true_cfg_scale=4.0, resolution=640),
))
