"""layerdiff.load and the decomposer / extractor contract: task routing, the torch-free region path,
one-line errors for options an implementation cannot honour, one layer limit with one message, and
every registered preset honouring the contract on a tiny input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import layerdiff
from layerdiff.contract import (
    Decomposer,
    Extractor,
    LayerLimitError,
    OptionError,
    check_num_layers,
    check_options,
    layer_limit_message,
)
from layerdiff.errors import LayerdiffError
from layerdiff.layered import LayeredImage
from layerdiff.loader import clear_cache, load, resolve
from layerdiff.referring import ReferringPrompt
from layerdiff.registry import DEFAULT_MODEL, get_preset, list_presets

# presets whose weights are not on this machine (a hub download for a CUDA GPU)
NOT_LOCAL = {"qwen-image-layered"}


def _design(size: int = 48) -> np.ndarray:
    """(size, size, 4) a white page, a red square and a blue disc partly over it."""
    img = np.ones((size, size, 4), np.float32)
    s = size // 8
    img[s:5 * s, s:5 * s, :3] = (0.9, 0.1, 0.1)
    yy, xx = np.mgrid[:size, :size]
    img[(yy - 4 * s) ** 2 + (xx - 5 * s) ** 2 < (2 * s) ** 2, :3] = (0.1, 0.2, 0.9)
    return img


def _composite(stack: LayeredImage) -> np.ndarray:
    return stack.composite()


# ------------------------------------------------------------------------------ the contract helpers
def test_check_num_layers_has_one_limit_message():
    assert check_num_layers("auto", None, 6, "m") == (None, 6)
    assert check_num_layers(3, None, 6, "m") == (3, 6)
    assert check_num_layers("auto", 4, 6, "m") == (None, 4)
    with pytest.raises(LayerLimitError) as err:
        check_num_layers(12, None, 6, "m")
    assert str(err.value) == layer_limit_message("m", 6, "num_layers", 12)
    with pytest.raises(LayerLimitError) as err:
        check_num_layers("auto", 9, 6, "m")
    assert str(err.value) == layer_limit_message("m", 6, "max_layers", 9)
    for bad in ("three", 0, -1, 2.5, True):
        with pytest.raises(LayerLimitError):
            check_num_layers(bad, None, 6, "m")
    with pytest.raises(LayerLimitError, match="more than max_layers=2"):
        check_num_layers(3, 2, 6, "m")


def test_check_options_names_the_model_and_the_option():
    class Impl:
        name = "toy"
        options = frozenset({"order"})

    assert check_options(Impl(), {"order": "given", "steps": None}) == {"order": "given"}
    with pytest.raises(OptionError) as err:
        check_options(Impl(), {"steps": 20, "prompt": "x"})
    message = str(err.value)
    assert "\n" not in message and "'toy'" in message and "prompt, steps" in message and "order" in message


# ------------------------------------------------------------------------------ routing
def test_load_routes_tasks_and_methods():
    from layerdiff.baselines import ClusterMattingDecomposer, FloodFillExtractor, SingleLayerDecomposer
    from layerdiff.regions import RegionLayerDecomposer, RegionReferrer

    assert isinstance(layerdiff.load(), RegionLayerDecomposer)  # the default model, "auto" -> regions
    assert layerdiff.load() is load(DEFAULT_MODEL, "decompose")  # cached
    assert isinstance(load(DEFAULT_MODEL, "extract"), RegionReferrer)
    assert isinstance(load(DEFAULT_MODEL, "decompose", method="regions"), RegionLayerDecomposer)
    assert isinstance(load("cluster-matting"), ClusterMattingDecomposer)
    assert isinstance(load("single-layer"), SingleLayerDecomposer)
    assert isinstance(load("floodfill", "extract"), FloodFillExtractor)
    # the region decomposer and referrer share the NumPy layerer and its limit
    assert load().max_layers == get_preset(DEFAULT_MODEL).max_layers


@pytest.mark.parametrize("call, message", [
    (lambda: load("floodfill"), "model 'floodfill' does not decompose (it serves: extract)"),
    (lambda: load("cluster-matting", method="diffusion"), "has no 'diffusion' method for decompose"),
    (lambda: load(DEFAULT_MODEL, "paint"), "unknown task 'paint'"),
    (lambda: load(DEFAULT_MODEL, method="magic"), "unknown method 'magic'"),
    (lambda: load("no-such-model"), "unknown model 'no-such-model'"),
])
def test_load_errors_are_one_line(call, message):
    with pytest.raises(LayerdiffError) as err:
        call()
    assert message in str(err.value) and "\n" not in str(err.value)


def test_the_tasks_of_the_registry_are_the_loaders():
    for preset in list_presets():
        for task, methods in preset.tasks.items():
            for method in methods:
                assert preset.implementation(task, method)[0] == method
            assert preset.implementation(task)[0] == next(iter(methods))


def test_a_layerer_folder_is_a_model(tmp_path):
    from test_layering import TestRegionLayererModel

    from layerdiff.regions import RegionLayerDecomposer, RegionReferrer

    TestRegionLayererModel().make_model().save_pretrained(tmp_path / "mine")
    preset, source = resolve(tmp_path / "mine")
    assert preset.name == "mine" and set(preset.tasks) == {"decompose", "extract"}
    dec = load(tmp_path / "mine")
    assert isinstance(dec, RegionLayerDecomposer) and dec.name == "mine"
    assert isinstance(load(tmp_path / "mine", "extract"), RegionReferrer)
    out = dec.decompose(_design(), num_layers=2)
    assert len(out) == 2 and np.abs(out.composite() - _design()).max() <= 1 / 255 + 1e-6
    with pytest.raises(LayerdiffError, match="does not generate"):
        load(tmp_path / "mine", "generate")
    with pytest.raises(LayerdiffError, match="not a model folder"):
        load(tmp_path)


def test_region_path_takes_images_too_small_for_the_transformer():
    tiny = np.ones((4, 5, 4), np.float32)
    assert load().decompose(tiny).to_numpy().shape[1:] == (4, 5, 4)


# ------------------------------------------------------------------------------ torch-free region path
def test_region_path_imports_neither_torch_nor_diffusers():
    code = """
import sys
import numpy as np
import layerdiff
from layerdiff.referring import ReferringPrompt
img = np.ones((40, 40, 3), np.float32)
img[8:24, 8:24] = (0.9, 0.1, 0.1)
assert len(layerdiff.load().decompose(img, 2)) == 2
assert len(layerdiff.load(task="extract").extract(img, ReferringPrompt(points=[(12, 12, 1)]))) == 2
heavy = sorted(m for m in ("torch", "diffusers", "transformers") if m in sys.modules)
print("HEAVY", heavy)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "HEAVY []" in run.stdout


# ------------------------------------------------------------------------------ unhonoured options
def test_options_the_region_path_cannot_honour_are_refused():
    img = _design()
    with pytest.raises(OptionError, match="steps") as err:
        load().decompose(img, steps=20)
    assert "'layerdiff-tiny'" in str(err.value)
    with pytest.raises(OptionError, match="prompt"):
        load().decompose(img, prompt="a poster")
    with pytest.raises(OptionError, match="steps"):
        load(task="extract").extract(img, ReferringPrompt(points=[(10, 10, 1)]), steps=20)
    with pytest.raises(OptionError, match="steps"):
        load("floodfill", "extract").extract(img, ReferringPrompt(points=[(10, 10, 1)]), steps=20)


# ------------------------------------------------------------------------------ conformance
def _contract_cases() -> list[tuple[str, str, str]]:
    cases = []
    for preset in list_presets():
        for task in ("decompose", "extract"):
            for method in preset.tasks.get(task, {}):
                cases.append((preset.name, task, method))
    return cases


@pytest.mark.parametrize("name, task, method", _contract_cases())
def test_every_preset_honours_the_contract(name, task, method):
    """Each registered decomposer and extractor, loaded through layerdiff.load, on a tiny input."""
    if name in NOT_LOCAL:
        from layerdiff.registry import ComponentSpec

        cls = ComponentSpec(get_preset(name).implementation(task, method)[1]).load_class()
        assert callable(getattr(cls, task)) and isinstance(cls.options, frozenset)
        pytest.skip(f"{name}: weights are a hub download (the class is checked, not run)")
    impl = load(name, task, method=method)
    img = _design()
    assert isinstance(impl.name, str) and isinstance(impl.options, frozenset)
    steps = {"steps": 1} if "steps" in impl.options else {}
    if task == "decompose":
        assert isinstance(impl, Decomposer)
        assert impl.max_layers == get_preset(name).max_layers  # the preset's one limit
        calls = []
        out = impl.decompose(img, num_layers=1, seed=0, callback=lambda i, n: calls.append((i, n)), **steps)
        assert isinstance(out, LayeredImage) and len(out) == 1 and out.size == (48, 48)
        assert calls and calls[-1][0] == calls[-1][1]  # finished
        auto = impl.decompose(img, max_layers=1, **steps)
        assert len(auto) == 1
        with pytest.raises(LayerLimitError) as err:
            impl.decompose(img, num_layers=impl.max_layers + 1)
        assert str(err.value) == layer_limit_message(name, impl.max_layers, "num_layers", impl.max_layers + 1)
        with pytest.raises(OptionError):
            impl.decompose(img, no_such_option=1)
    else:
        assert isinstance(impl, Extractor)
        out = impl.extract(img, ReferringPrompt(points=[(12, 12, 1)]), seed=0, **steps)
        assert isinstance(out, LayeredImage) and len(out) == 2 and out.size == (48, 48)
        with pytest.raises(OptionError):
            impl.extract(img, ReferringPrompt(points=[(12, 12, 1)]), no_such_option=1)
    assert np.abs(out.composite() - img).max() <= 2 / 255  # every implementation recomposes exactly


def test_pipelines_of_one_model_share_components():
    """One VAE, transformer and text encoder per model across decompose, extract, generate and edit."""
    from layerdiff.pipelines import LayerEditPipeline, LayerGeneratePipeline

    dec = load("tiny-random", "decompose")
    gen, edit, ext = (load("tiny-random", task) for task in ("generate", "edit", "extract"))
    assert isinstance(gen, LayerGeneratePipeline) and isinstance(edit, LayerEditPipeline)
    for pipe in (gen, edit, ext):
        assert pipe.vae is dec.vae and pipe.transformer is dec.transformer and pipe.text_encoder is dec.text_encoder
        assert pipe.max_layers == dec.max_layers == get_preset("tiny-random").max_layers
        assert pipe.native_resolution == dec.native_resolution and pipe.name == "tiny-random"


def test_layerdiff_load_is_the_loader_and_import_stays_light():
    assert layerdiff.load is load and layerdiff.DEFAULT_MODEL == DEFAULT_MODEL
    code = "import sys, layerdiff; print('HEAVY', [m for m in ('torch', 'diffusers', 'scipy') if m in sys.modules])"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "HEAVY []" in run.stdout, run.stderr


def test_clear_cache_builds_afresh():
    first = load()
    clear_cache()
    assert load() is not first
