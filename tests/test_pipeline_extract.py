"""LayerExtractPipeline on tiny random components: frames and prompt maps as in training, outputs, exact
recomposition, odd sizes, several prompts, repeated extraction (peeling), bad prompts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from layerdiff.baselines.floodfill import FloodFillExtractor
from layerdiff.layered import LayeredImage, from_float
from layerdiff.pipelines import LayeredPipelineOutput, PipelineError
from layerdiff.pipelines.extract import (
    LayerExtractPipeline,
    occlusion_order,
    peel,
    remove_negative_parts,
)
from layerdiff.referring import PromptError, ReferringPrompt


@pytest.fixture()
def pipe(tiny_components) -> LayerExtractPipeline:
    p = LayerExtractPipeline(**tiny_components)
    p.set_progress_bar_config(disable=True)
    return p


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _err(stack: np.ndarray, image: np.ndarray) -> int:
    """Largest 8-bit difference between the composite of the 8-bit layers and the 8-bit input."""
    comp = LayeredImage.from_numpy(from_float(stack, 8)).composite()
    diff = from_float(comp, 8)[..., :3].astype(int) - from_float(image[..., :3], 8).astype(int)
    return int(np.abs(diff).max())


POINT = ReferringPrompt(points=[(25, 20)])
BOX = ReferringPrompt(box=(5, 34, 56, 42))


@pytest.mark.parametrize("output_type", ["pil", "np", "pt", "latent"])
def test_every_output_type(pipe, design, output_type):
    out = pipe(design, POINT, output_type=output_type, generator=_gen())
    assert isinstance(out, LayeredPipelineOutput) and len(out.layers) == 1
    layers = out.layers[0]
    if output_type == "pil":
        assert len(layers) == 2 and all(im.mode == "RGBA" and im.size == (61, 47) for im in layers)
    elif output_type == "np":
        assert layers.shape == (2, 47, 61, 4) and layers.dtype == np.float32
    elif output_type == "pt":
        assert isinstance(layers, torch.Tensor) and layers.shape == (2, 4, 47, 61)
    else:  # (P prompts, 3 frames [background, object, composite], C, h, w)
        assert layers.shape[:3] == (1, 3, 16) and out.images == []
    if output_type != "latent":
        result = out.images[0]
        assert isinstance(result, LayeredImage) and [layer.name for layer in result] == ["Background",
                                                                                          "object (point)"]


def test_frames_prompt_map_and_text_follow_the_training_convention(pipe, design, monkeypatch):
    seen = {}
    real_denoise, real_encode = pipe.denoise, pipe.encode_prompt

    def spy_denoise(clean, known, text, steps, scale, generator, region=None, **kw):
        seen.update(clean=clean, known=known, region=region)
        return real_denoise(clean, known, text, steps, scale, generator, region=region, **kw)

    def spy_encode(prompts, scale):
        seen["texts"] = list(prompts)
        return real_encode(prompts, scale)

    monkeypatch.setattr(pipe, "denoise", spy_denoise)
    monkeypatch.setattr(pipe, "encode_prompt", spy_encode)
    prompt = ReferringPrompt(box=(5, 34, 56, 42), text="a blue bar")
    pipe(design, prompt, output_type="np", generator=_gen())
    assert seen["clean"].shape[1] == 3  # [background, object, composite]
    assert seen["known"].tolist() == [[False, False, True]]
    region = seen["region"]  # (1, 3, 1, h, w) on the latent grid
    assert region[:, 0].abs().sum() == 0 and region[:, 2].abs().sum() == 0 and region[:, 1].sum() > 0
    gw, gh = pipe.native_grid(61, 47)
    expect = torch.from_numpy(prompt.raster((61, 47), (gw, gh)))  # the map at the native grid, area-pooled
    pooled = torch.nn.functional.adaptive_avg_pool2d(expect[None, None], region.shape[-2:])[0, 0]
    torch.testing.assert_close(region[0, 1, 0].float(), pooled)
    assert seen["texts"] == ["a blue bar"]


@pytest.mark.parametrize("prompt", [
    POINT, BOX, ReferringPrompt(mask=np.pad(np.ones((10, 10), bool), ((15, 22), (20, 31)))),
    ReferringPrompt(text="a red circle"),
    ReferringPrompt(points=[(25, 20, 1), (30, 37, 0)], box=(10, 5, 50, 45), text="the disc"),
])
def test_each_prompt_type_recomposes_exactly(pipe, design, prompt):
    out = pipe(design, prompt, output_type="np", generator=_gen())
    assert out.layers[0].shape == (2, 47, 61, 4)
    assert _err(out.layers[0], design) <= 1


def test_exact_recomposition_can_be_switched_off(pipe, design):
    on = pipe(design, BOX, output_type="np", generator=_gen()).images[0].composite()
    off = pipe(design, BOX, output_type="np", generator=_gen(), exact_recomposition=False,
               refine=False).images[0].composite()
    assert np.abs(on[..., :3] - design).max() <= 1.5 / 255
    assert np.abs(off[..., :3] - design).max() > 2 / 255  # a random model alone does not recompose


@pytest.mark.parametrize("size", [(17, 9), (101, 37)])
def test_odd_sizes(pipe, size):
    w, h = size
    img = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    corner = ReferringPrompt(points=[(w - 1, h - 1)])
    out = pipe(Image.fromarray(img), corner, output_type="np", generator=_gen())
    assert out.layers[0].shape == (2, h, w, 4)
    assert _err(out.layers[0], img.astype(np.float32) / 255) <= 1


def test_same_seed_same_result_and_prompts_matter(pipe, design):
    a = pipe.extract(design, POINT, seed=3).to_numpy()
    b = pipe.extract(design, POINT, seed=3).to_numpy()
    c = pipe.extract(design, BOX, seed=3).to_numpy()
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3  # the prompt map reaches the model


def test_several_prompts_stack_first_extracted_on_top(pipe, design):
    prompts = [POINT, BOX, ReferringPrompt(text="the background")]
    given = pipe(design, prompts, output_type="np", generator=_gen(), order="given").images[0]
    assert given.metadata["extraction_order"] == [0, 1, 2]
    names = ["Background", "the background", "object (box)", "object (point)"]
    assert [layer.name for layer in given] == names
    assert _err(given.to_numpy(), design) <= 1
    auto = pipe(design, prompts, output_type="np", generator=_gen()).images[0]
    order = auto.metadata["extraction_order"]
    assert sorted(order) == [0, 1, 2] and len(auto) == 4
    assert [layer.metadata["prompt_index"] for layer in auto.layers[1:]] == order[::-1]
    assert _err(auto.to_numpy(), design) <= 1


def test_repeated_extraction_peels_the_background(pipe, design):
    first = pipe.extract(design, POINT, seed=0)
    again = pipe.peel(first, BOX, seed=1)
    assert [layer.name for layer in again] == ["Background", "object (box)", "object (point)"]
    np.testing.assert_array_equal(again[2].pixels, first[1].pixels)  # the earlier object is untouched
    assert _err(again.to_numpy(), design) <= 1
    # the new pair recomposes to the old background
    assert _err(again.to_numpy()[:2], first[0].pixels) <= 1
    # the baseline peels through the same helper
    base = peel(FloodFillExtractor(), again, ReferringPrompt(points=[(2, 2)]))
    assert len(base) == 4 and _err(base.to_numpy(), design) <= 1


def test_point_on_a_flat_image_never_crashes(pipe):
    flat = np.full((32, 32, 3), 0.5, np.float32)
    out = pipe(flat, ReferringPrompt(points=[(3, 3)]), output_type="np", generator=_gen())
    assert _err(out.layers[0], flat) <= 1


@pytest.mark.parametrize("prompt, error, message", [
    (ReferringPrompt(box=(100, 100, 120, 130)), PromptError, "does not overlap the 61x47 image"),
    (ReferringPrompt(points=[(61, 0)]), PromptError, "outside the 61x47 image"),
    (ReferringPrompt(mask=np.ones((10, 40))), PromptError, "aspect ratios differ"),
    ([], PromptError, "no prompt"),
    (42, PromptError, "expected a ReferringPrompt"),
])
def test_bad_prompts_raise_clear_errors(pipe, design, prompt, error, message):
    with pytest.raises(error, match=message):
        pipe(design, prompt)


def test_bad_arguments(pipe, design):
    with pytest.raises(PipelineError, match="order must be"):
        pipe(design, POINT, order="random")
    with pytest.raises(PipelineError, match="one generator"):
        pipe(design, POINT, generator=[_gen(), _gen()])
    with pytest.raises(PipelineError, match="too small"):
        pipe(np.zeros((4, 40, 3), np.float32), ReferringPrompt(points=[(1, 1)]))
    with pytest.raises(PipelineError, match="output_type"):
        pipe(design, POINT, output_type="jpeg")
    with pytest.raises(PipelineError, match="peel needs"):
        peel(pipe, LayeredImage((4, 4)), POINT)


def test_occlusion_order_puts_the_object_matching_the_input_in_front():
    image = np.zeros((10, 10, 3), np.float32)
    image[2:8, 2:8] = (1, 0, 0)  # red in front where the two objects overlap
    objects = np.zeros((3, 10, 10, 4), np.float32)
    objects[0, 0:8, 0:8] = (0, 0, 1, 1)  # blue square, partly under the red one
    objects[1, 2:8, 2:8] = (1, 0, 0, 1)  # red square
    objects[2, 9:, 9:] = (0, 1, 0, 1)  # apart from both
    assert occlusion_order(objects, image) == [1, 2, 0]


def test_remove_negative_parts():
    pair = np.zeros((2, 10, 20, 4), np.float32)
    pair[1, 2:8, 2:8, 3] = 1.0
    pair[1, 2:8, 12:18, 3] = 1.0
    assert not remove_negative_parts(pair, [])
    assert not remove_negative_parts(pair, [(10.0, 5.0)])  # between the parts: nothing to remove
    assert remove_negative_parts(pair, [(14.0, 4.0)])
    assert pair[1, 2:8, 12:18, 3].max() == 0 and pair[1, 2:8, 2:8, 3].min() == 1


def test_the_loader_serves_extraction_by_this_pipeline():
    import layerdiff

    assert isinstance(layerdiff.load("floodfill", "extract"), FloodFillExtractor)
    pipe = layerdiff.load("tiny-random", "extract")
    assert isinstance(pipe, LayerExtractPipeline) and pipe.name == "tiny-random"


def test_expected_output_slice(pipe, design):
    """A fixed seed gives a fixed object layer (tiny-random from the shipped classes)."""
    out = pipe(design, ReferringPrompt(points=[(25, 20)]), output_type="np", generator=_gen()).layers[0]
    expected = [0.6235, 0.698, 0.6157, 0.2902, 0.5647, 0.2627, 0.1804, 0.3569, 0.1647]
    np.testing.assert_allclose(out[1, 20:23, 30:33, 3].ravel(), expected, atol=5e-3)  # the object's alpha
