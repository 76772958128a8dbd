"""LayerGeneratePipeline on tiny random components."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerdiff.errors import LayerdiffError
from layerdiff.pipelines import LayerGeneratePipeline, PipelineError
from layerdiff.pipelines.common import box_maps, normalise_box


@pytest.fixture()
def pipe(tiny_components) -> LayerGeneratePipeline:
    p = LayerGeneratePipeline(**tiny_components)
    p.set_progress_bar_config(disable=True)
    return p


@pytest.mark.parametrize("output_type", ["pil", "np", "pt", "latent"])
def test_output_types(pipe, output_type):
    out = pipe("a red circle on a blue background", num_layers=3, output_type=output_type,
               generator=torch.Generator().manual_seed(0))
    layers = out.layers[0]
    if output_type == "pil":
        assert len(layers) == 3 and layers[0].size == (32, 32)
    elif output_type == "np":
        assert layers.shape == (3, 32, 32, 4)
    elif output_type == "pt":
        assert layers.shape == (3, 4, 32, 32)
    else:
        assert layers.shape[:2] == (4, 16)


def test_batch_of_prompts_matches_single_runs(pipe):
    gens = [torch.Generator().manual_seed(5), torch.Generator().manual_seed(6)]
    both = pipe(["red circle", "green star"], num_layers=2, output_type="np", generator=gens)
    one = pipe("green star", num_layers=2, output_type="np", generator=torch.Generator().manual_seed(6))
    np.testing.assert_allclose(both.layers[1], one.layers[0], atol=1e-4)


def test_size_and_aspect(pipe):
    out = pipe("poster", num_layers=2, width=90, height=40, output_type="np")
    assert out.layers[0].shape == (2, 40, 90, 4)


def test_boxes_change_the_result_and_are_validated(pipe):
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    a = pipe("icon", num_layers=2, output_type="latent", generator=g()).layers[0]
    b = pipe("icon", num_layers=2, boxes=[None, (0.1, 0.1, 0.5, 0.5)], output_type="latent", generator=g()).layers[0]
    assert not torch.allclose(a, b)
    with pytest.raises(PipelineError, match="got 1 boxes for 2 layers"):
        pipe("icon", num_layers=2, boxes=[(0, 0, 1, 1)])
    with pytest.raises(PipelineError, match="empty or outside"):
        pipe("icon", num_layers=2, boxes=[None, (0.5, 0.5, 0.2, 0.9)])


def test_box_maps_pixels_and_normalised():
    m = box_maps([(0.0, 0.0, 0.5, 0.5), (10, 0, 20, 10), None], 20, 10)
    assert m.shape == (3, 10, 20)
    assert m[0].sum() == 5 * 10 and m[1, :, 10:].all() and m[2].sum() == 0
    # boxes in pixels of an output size are fractions of it, whatever the sampling grid
    assert normalise_box((100, 50, 300, 150), 400, 200) == (0.25, 0.25, 0.75, 0.75)
    assert normalise_box((0.1, 0.2, 0.3, 0.4), 400, 200) == (0.1, 0.2, 0.3, 0.4)
    assert normalise_box(None, 400, 200) is None


def test_bad_inputs(pipe):
    with pytest.raises(LayerdiffError, match="makes at most 6 layers; got num_layers=0"):
        pipe("x", num_layers=0)
    with pytest.raises(PipelineError, match="output size 0x32"):  # 0 is not "the default size"
        pipe("x", num_layers=2, width=0)
    with pytest.raises(PipelineError, match="empty list"):
        pipe([], num_layers=2)
    with pytest.raises(PipelineError, match="output size"):
        pipe("x", num_layers=2, width=1, height=1)


def test_layer_prompts_change_their_layers_and_are_validated(pipe):
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    plain = pipe("a poster", num_layers=3, output_type="latent", generator=g()).layers[0]
    empty = pipe("a poster", num_layers=3, layer_prompts=["", "", ""], output_type="latent", generator=g()).layers[0]
    named = pipe("a poster", num_layers=3, layer_prompts=["a navy background", "a red circle"], output_type="latent",
                 generator=g()).layers[0]
    assert torch.equal(plain, empty)  # no phrase = zeros, as without layer prompts
    assert not torch.allclose(plain, named)
    # one list per prompt in a batch; a flat list applies to every prompt
    both = pipe(["a poster", "a poster"], num_layers=3, layer_prompts=[["a navy background", "a red circle"], []],
                output_type="latent", generator=[g(), g()]).layers
    torch.testing.assert_close(both[0], named, atol=1e-4, rtol=0)
    torch.testing.assert_close(both[1], plain, atol=1e-4, rtol=0)
    layered = pipe("a poster", num_layers=3, layer_prompts=["a navy background", "", "a red circle"]).images[0]
    assert [lay.name for lay in layered] == ["a navy background", "Layer 1", "a red circle"]
    assert layered[2].metadata["caption"] == "a red circle" and "caption" not in layered[1].metadata
    with pytest.raises(PipelineError, match="3 layer prompts for 2 layers"):
        pipe("x", num_layers=2, layer_prompts=["a", "b", "c"])
    with pytest.raises(PipelineError, match="got 1 lists for 2 prompts"):
        pipe(["x", "y"], num_layers=2, layer_prompts=[["a"]])
    with pytest.raises(PipelineError, match="must be a string"):
        pipe("x", num_layers=2, layer_prompts=["a", 3])


def _with_settings(pipe: LayerGeneratePipeline, **changes) -> LayerGeneratePipeline:
    """The pipeline on the same components with some settings changed."""
    other = LayerGeneratePipeline(**{**pipe.components, "settings": pipe.settings.replace(**changes)})
    other.set_progress_bar_config(disable=True)
    return other


def test_generation_guidance_default_comes_from_the_model(pipe):
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    explicit = pipe("a poster", num_layers=2, guidance_scale=3.0, output_type="latent", generator=g()).layers[0]
    plain = pipe("a poster", num_layers=2, output_type="latent", generator=g()).layers[0]
    pipe = _with_settings(pipe, generate_guidance_scale=3.0)
    default = pipe("a poster", num_layers=2, output_type="latent", generator=g()).layers[0]
    torch.testing.assert_close(default, explicit)
    assert not torch.allclose(default, plain)
    none = pipe("a poster", num_layers=2, guidance_scale=1.0, output_type="latent", generator=g()).layers[0]
    torch.testing.assert_close(none, plain)  # an explicit scale wins over the default


def test_generation_steps_default_comes_from_the_model(pipe):
    calls = []

    def count(p, i, sigma, tensors):
        calls.append(i)
        return tensors

    pipe("a poster", num_layers=2, output_type="latent", callback_on_step_end=count)
    assert len(calls) == 2  # the model's num_inference_steps
    calls.clear()
    pipe = _with_settings(pipe, generate_num_inference_steps=3)
    pipe("a poster", num_layers=2, output_type="latent", callback_on_step_end=count)
    assert len(calls) == 3  # generation's own default wins over the shared one
    calls.clear()
    pipe("a poster", num_layers=2, num_inference_steps=1, output_type="latent", callback_on_step_end=count)
    assert len(calls) == 1  # an explicit count wins over both


def test_expected_output_slice(pipe):
    """A fixed seed gives fixed layers (tiny-random from the shipped classes, its refiner included)."""
    out = pipe("a red circle", num_layers=3, layer_prompts=["blue", "a red circle", "a ring"], output_type="np",
               generator=torch.Generator().manual_seed(0)).layers[0]
    expected = [0.1131, 0.1222, 0.1314, 0.1615, 0.1657, 0.1553, 0.2435, 0.2306, 0.1859]
    np.testing.assert_allclose(out[-1, 20:23, 20:23, 3].ravel(), expected, atol=5e-3)  # top layer's alpha
