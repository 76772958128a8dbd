"""Pipeline settings are a registered component: components carry them, save/load round-trips them, and the
embedded model's folder holds what diffusers writes; weights load from safetensors only; the contract methods."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from layerdiff.contract import Decomposer, Extractor, OptionError
from layerdiff.models.weights import WeightsError
from layerdiff.pipelines import (
    LayerDecomposePipeline,
    LayerEditPipeline,
    LayerExtractPipeline,
    LayerGeneratePipeline,
    PipelineSettings,
)
from layerdiff.registry import get_preset

EMBEDDED = Path(__file__).resolve().parents[1] / "layerdiff" / "weights" / "layerdiff-tiny"
# settings unlike PipelineSettings' defaults, so that a pipeline that lost them would show it
SETTINGS = dict(native_resolution=48, max_layers=5, num_inference_steps=3, guidance_scale=1.0,
                generate_num_inference_steps=2, generate_guidance_scale=2.5, refine_passes=2)


@pytest.fixture()
def folder(tiny_components, tmp_path) -> Path:
    """tiny-random with :data:`SETTINGS`, saved."""
    pipe = LayerDecomposePipeline(**{**tiny_components, "settings": PipelineSettings(**SETTINGS)})
    pipe.save_pretrained(tmp_path / "model")
    return tmp_path / "model"


def _public(config) -> dict:
    return {k: v for k, v in dict(config).items() if not k.startswith("_")}


def _quiet(pipe):
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_save_pretrained_writes_the_settings_and_the_index_lists_them(folder):
    index = json.loads((folder / "model_index.json").read_text())
    assert index["settings"] == ["layerdiff.pipelines.settings", "PipelineSettings"]
    assert not {"max_layers", "native_resolution", "defaults"} & set(index)  # nothing patched in by hand
    saved = json.loads((folder / "settings" / "config.json").read_text())
    assert {k: saved[k] for k in SETTINGS} == SETTINGS
    loaded = LayerDecomposePipeline.from_pretrained(folder)
    assert {k: loaded.settings.config[k] for k in SETTINGS} == SETTINGS
    assert (loaded.max_layers, loaded.native_resolution) == (5, 48)


def test_components_and_from_pretrained_behave_identically(folder):
    """The README's ``LayerGeneratePipeline(**pipe.components)`` keeps every setting: same defaults, same output."""
    loaded = _quiet(LayerGeneratePipeline.from_pretrained(folder))
    built = _quiet(LayerGeneratePipeline(**LayerDecomposePipeline.from_pretrained(folder).components))
    assert _public(built.settings.config) == _public(loaded.settings.config)
    assert (built.max_layers, built.native_resolution) == (loaded.max_layers, loaded.native_resolution) == (5, 48)
    steps = []

    def count(pipe, i, sigma, tensors):
        steps.append(i)
        return tensors

    outputs = []
    for pipe in (loaded, built):
        out = pipe("a red circle", num_layers=2, layer_prompts=["a blue background", "a red circle"],
                   generator=torch.Generator().manual_seed(0), output_type="np", callback_on_step_end=count)
        outputs.append(out.layers[0])
    assert steps == [0, 1, 0, 1]  # generate_num_inference_steps=2 from the settings, both times
    assert outputs[0].shape == (2, 48, 48, 4)  # the native resolution from the settings
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_the_embedded_folder_holds_what_save_pretrained_writes(tmp_path):
    pipe = LayerDecomposePipeline.from_pretrained("layerdiff-tiny")
    pipe.save_pretrained(tmp_path / "again")
    written = json.loads((tmp_path / "again" / "model_index.json").read_text())
    shipped = json.loads((EMBEDDED / "model_index.json").read_text())
    for index in (written, shipped):
        index.pop("_diffusers_version")
    assert written == shipped
    assert (json.loads((tmp_path / "again" / "settings" / "config.json").read_text())
            == json.loads((EMBEDDED / "settings" / "config.json").read_text()))


def test_the_registry_preset_agrees_with_the_embedded_settings():
    preset = get_preset("layerdiff-tiny")
    settings = LayerDecomposePipeline.from_pretrained("layerdiff-tiny").settings
    expected = PipelineSettings.from_preset(preset.native_resolution, preset.max_layers, preset.defaults)
    assert _public(settings.config) == _public(expected.config)
    assert settings.steps("generate") == 40 and settings.guidance("generate") == 6.0
    assert settings.steps("decompose") == 8 and settings.guidance("edit") == 1.0


def test_settings_are_checked():
    with pytest.raises(ValueError, match="max_layers must be an integer >= 1"):
        PipelineSettings(max_layers=0)
    with pytest.raises(ValueError, match="unknown defaults"):
        PipelineSettings.from_preset(128, 6, {"num_steps": 3})


def test_the_sampler_keeps_no_state(tiny_components, design):
    """The scheduler component is never stepped: calls with different step counts can interleave."""
    pipe = _quiet(LayerDecomposePipeline(**tiny_components))
    before = dict(pipe.scheduler.config), getattr(pipe.scheduler, "sigmas", None)
    pipe(design, num_layers=2, num_inference_steps=3, output_type="latent")
    assert (dict(pipe.scheduler.config), getattr(pipe.scheduler, "sigmas", None)) == before


def test_pickled_weights_are_refused(folder):
    shutil.copytree(folder, folder.parent / "pickled")
    vae = folder.parent / "pickled" / "vae"
    (vae / "diffusion_pytorch_model.safetensors").rename(vae / "diffusion_pytorch_model.bin")
    with pytest.raises(WeightsError, match=r"vae: weights diffusion_pytorch_model.bin are pickled; layerdiff "
                                           r"loads safetensors only"):
        LayerDecomposePipeline.from_pretrained(folder.parent / "pickled")
    (vae / "diffusion_pytorch_model.bin").unlink()
    with pytest.raises(WeightsError, match="cannot load PatchAutoencoder weights"):
        LayerDecomposePipeline.from_pretrained(folder.parent / "pickled")


def test_save_pretrained_refuses_pickle(folder, tiny_components, tmp_path):
    with pytest.raises(WeightsError, match="safetensors only"):
        LayerDecomposePipeline(**tiny_components).save_pretrained(tmp_path / "x", safe_serialization=False)


def test_the_pipelines_follow_the_contract(tiny_components, design):
    decomposer = _quiet(LayerDecomposePipeline(**tiny_components))
    extractor = _quiet(LayerExtractPipeline(**tiny_components))
    assert isinstance(decomposer, Decomposer) and isinstance(extractor, Extractor)
    seen = []
    stack = decomposer.decompose(design, 2, seed=1, steps=1, callback=lambda i, n: seen.append((i, n)))
    assert len(stack) == 2 and seen == [(1, 1)]
    again = decomposer.decompose(design, 2, seed=1, steps=1)
    np.testing.assert_array_equal(stack.to_numpy(), again.to_numpy())
    with pytest.raises(OptionError, match="does not take the option method"):
        decomposer.decompose(design, 2, method="regions")
    with pytest.raises(OptionError, match="does not take the option min_layer_coverage"):  # never dropped
        extractor.extract(design, "the red disc", min_layer_coverage=0.1)
    with pytest.raises(OptionError, match="does not take the option max_layers"):
        extractor.extract(design, "the red disc", max_layers=3)
    with pytest.raises(TypeError):
        decomposer.decompose(design, 2, None)  # options are keyword-only
    assert not {"layerer"} & set(decomposer.components)


def test_generate_and_edit_pipelines_share_the_components(tiny_components):
    gen = LayerGeneratePipeline(**tiny_components)
    edit = LayerEditPipeline(**gen.components)
    assert all(getattr(edit, k) is v for k, v in gen.components.items())


def test_every_component_class_refuses_pickled_weights(tmp_path):
    """Loaded on their own, too: no class falls back to a pickled checkpoint."""
    from layerdiff.models import HashTextEncoder, LayerRefiner, PatchAutoencoder, RegionLayerer, RGBAAutoencoder

    for cls, config in ((PatchAutoencoder, {}), (LayerRefiner, dict(text_dim=8, widths=(8, 16), crop_size=16)),
                        (RegionLayerer, {}), (HashTextEncoder, dict(embed_dim=8, num_heads=2)),
                        (RGBAAutoencoder, dict(block_out_channels=(8, 8, 16, 16)))):
        folder = tmp_path / cls.__name__
        model = cls(**config)
        model.save_pretrained(folder)
        assert isinstance(cls.from_pretrained(folder), cls)  # safetensors load
        (folder / "diffusion_pytorch_model.safetensors").rename(folder / "diffusion_pytorch_model.bin")
        with pytest.raises(WeightsError, match="pickled; layerdiff loads safetensors only"):
            cls.from_pretrained(folder)
        with pytest.raises(WeightsError, match="use_safetensors=False refused"):
            cls.from_pretrained(folder, use_safetensors=False)
