"""LayerEditPipeline: exact operations and generative edits keep the other layers bit-identical."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerdiff.layered import Layer, LayeredImage
from layerdiff.pipelines import LayerEditPipeline, PipelineError


@pytest.fixture()
def pipe(tiny_components) -> LayerEditPipeline:
    p = LayerEditPipeline(**tiny_components)
    p.set_progress_bar_config(disable=True)
    return p


@pytest.fixture()
def stack() -> LayeredImage:
    rng = np.random.default_rng(0)
    bg = np.concatenate([rng.random((40, 56, 3)), np.ones((40, 56, 1))], -1)
    obj = np.zeros((40, 56, 4))
    obj[10:30, 12:40] = (0.9, 0.2, 0.1, 1.0)
    txt = np.zeros((40, 56, 4))
    txt[32:36, 5:50] = (0.1, 0.1, 0.1, 0.8)
    return LayeredImage((56, 40), [Layer(bg, name="bg"), Layer(obj, name="obj"), Layer(txt, name="text")])


@pytest.mark.parametrize("output_type", ["pil", "np", "pt", "latent"])
def test_regenerate_keeps_other_layers_bit_identical(pipe, stack, output_type):
    out = pipe(stack, layer="obj", operation="regenerate", prompt="a green star", output_type=output_type,
               generator=torch.Generator().manual_seed(0))
    if output_type == "latent":
        assert out.layers[0].shape[0] == 4  # 3 layer frames + composite
        return
    edited = out.images[0]
    assert [lay.name for lay in edited] == ["bg", "obj", "text"]
    for i in (0, 2):
        assert np.array_equal(edited[i].pixels, stack[i].pixels)
    assert not np.array_equal(edited[1].pixels, stack[1].pixels)
    assert np.array_equal(stack[1].pixels[15, 20], np.array([0.9, 0.2, 0.1, 1.0], np.float32))  # input untouched


def test_insert_adds_a_layer_at_the_position(pipe, stack):
    out = pipe(stack, layer=2, operation="insert", prompt="a yellow heart", box=(0.1, 0.1, 0.6, 0.6),
               output_type="np")
    edited = out.images[0]
    assert len(edited) == 4 and out.layers[0].shape == (4, 40, 56, 4)
    for old, new in [(0, 0), (1, 1), (2, 3)]:
        assert np.array_equal(edited[new].pixels, stack[old].pixels)
    alpha = edited[2].on_canvas(edited.size)[..., 3]  # (40, 56) the new layer
    inside = np.zeros_like(alpha, dtype=bool)
    inside[4:24, 5:34] = True  # the box (0.1, 0.1, 0.6, 0.6) of the 56 x 40 canvas
    assert alpha[~inside].max() == 0.0  # confined to the box


def test_insert_box_in_canvas_pixels_and_unconfined(pipe, stack):
    kwargs = {"layer": -1, "operation": "insert", "prompt": "a yellow heart", "output_type": "np"}
    frac = pipe(stack, box=(0.25, 0.25, 0.75, 0.75), generator=torch.Generator().manual_seed(3), **kwargs)
    px = pipe(stack, box=(14, 10, 42, 30), generator=torch.Generator().manual_seed(3), **kwargs)
    np.testing.assert_array_equal(frac.layers[0], px.layers[0])  # pixels of the 56 x 40 canvas
    free = pipe(stack, box=(0.25, 0.25, 0.75, 0.75), confine_to_box=False,
                generator=torch.Generator().manual_seed(3), **kwargs).layers[0][-1, ..., 3]  # (40, 56)
    outside = np.ones_like(free, dtype=bool)
    outside[10:30, 14:42] = False
    assert free[outside].max() > 0  # the random model draws outside the box when allowed to
    np.testing.assert_array_equal(frac.layers[0][-1, ..., 3][~outside], free[~outside])


@pytest.mark.parametrize(
    ("op", "kwargs"),
    [("move", {"dx": 3, "dy": -2}), ("scale", {"factor": 0.5}), ("recolor", {"color": "#00ff00"}),
     ("opacity", {"value": 0.5}), ("hide", {}), ("delete", {}), ("reorder", {"index": 0})],
)
def test_exact_operations_touch_only_the_target(pipe, stack, op, kwargs):
    edited = pipe(stack, layer="obj", operation=op, output_type="np", **kwargs).images[0]
    others = [lay for lay in stack if lay.name != "obj"]
    for lay in others:
        match = [e for e in edited if e.name == lay.name][0]
        assert np.array_equal(match.pixels, lay.pixels) and match.offset == lay.offset


def test_bad_edits(pipe, stack):
    with pytest.raises(PipelineError, match="no layer named"):
        pipe(stack, layer="nope", operation="hide")
    with pytest.raises(PipelineError, match="unknown operation"):
        pipe(stack, layer=1, operation="explode")
    with pytest.raises(PipelineError, match="needs the argument 'factor'"):
        pipe(stack, layer=1, operation="scale")
    with pytest.raises(PipelineError, match="insert position"):
        pipe(stack, layer=9, operation="insert", prompt="x")
    with pytest.raises(PipelineError, match="LayeredImage"):
        pipe(np.zeros((4, 4, 3)), layer=0)


def test_captions_of_the_fixed_layers_enter_as_their_phrases(pipe, stack):
    def latents(image):
        return pipe(image, layer="obj", operation="regenerate", prompt="a green star", output_type="latent",
                    generator=torch.Generator().manual_seed(0)).layers[0]

    plain = latents(stack)
    captioned = stack.copy()
    captioned[2].metadata["caption"] = "the word SALE in black"
    assert not torch.allclose(plain, latents(captioned))
    # a caption on the layer being regenerated is replaced by the prompt
    own = stack.copy()
    own[1].metadata["caption"] = "a red rectangle"
    torch.testing.assert_close(latents(own), plain)
    # an inserted layer keeps the captions of the layers it sits between
    out = pipe(captioned, layer=1, operation="insert", prompt="a blue dot", generator=torch.Generator().manual_seed(0))
    assert [lay.name for lay in out.images[0]][0] == "bg" and len(out.images[0]) == 4


def test_expected_output_slice(pipe):
    """A fixed seed gives a fixed regenerated layer (tiny-random from the shipped classes, its refiner included)."""
    rng = np.random.default_rng(0)
    image = LayeredImage((32, 32), [Layer(rng.random((32, 32, 4)).astype(np.float32)) for _ in range(3)])
    out = pipe(image, layer=1, operation="regenerate", prompt="a red square", output_type="np",
               generator=torch.Generator().manual_seed(0)).layers[0]
    expected = [0.5076, 0.462, 0.3226, 0.5154, 0.4662, 0.3205, 0.3514, 0.3177, 0.2223]
    np.testing.assert_allclose(out[1, 10:13, 10:13, 3].ravel(), expected, atol=5e-3)  # the new layer's alpha
    np.testing.assert_array_equal(out[[0, 2]], image.to_numpy()[[0, 2]])  # the others bit for bit
