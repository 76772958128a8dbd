"""The layer refiner (layerdiff.models.LayerRefiner), its crop / paste / fill helpers (layerdiff.refine) and
its use in the generation and editing pipelines."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_mixin import ModelTesterMixin

from layerdiff.layered import Layer, LayeredImage
from layerdiff.models import LayerRefiner
from layerdiff.pipelines import LayerEditPipeline, LayerGeneratePipeline, PipelineError
from layerdiff.refine import crop, layer_window, paste, push_pull_fill, refine_layers


# ------------------------------------------------------------------------------ model
class TestLayerRefinerModel(ModelTesterMixin):
    shape_cases = [(2, 16), (1, 32)]

    def make_model(self):
        torch.manual_seed(0)
        return LayerRefiner(text_dim=12, widths=(8, 16), crop_size=16).eval()

    def make_inputs(self, case):
        b, s = case
        g = torch.Generator().manual_seed(b)
        return {"crop": torch.rand(b, 4, s, s, generator=g), "text": torch.randn(b, 12, generator=g)}

    def run(self, model, inputs):
        return model(**inputs)

    def expected_shape(self, case):
        return (case[0], 1, case[1], case[1])


def test_refiner_rejects_a_crop_off_its_grid():
    model = LayerRefiner(text_dim=4, widths=(4, 8, 8), crop_size=16)
    with pytest.raises(ValueError, match="multiple of 4"):
        model(torch.zeros(1, 4, 18, 18), torch.zeros(1, 4))


def test_untrained_refiner_reads_the_text():
    """FiLM starts at zero (the text has no effect) but receives gradients, so training can use it."""
    model = LayerRefiner(text_dim=6, widths=(4, 8), crop_size=8)
    x = torch.rand(2, 4, 8, 8)
    a = model(x, torch.zeros(2, 6))
    b = model(x, torch.ones(2, 6))
    torch.testing.assert_close(a, b)
    b.sum().backward()
    assert float(model.down[0].film.weight.grad.abs().sum()) > 0


# ------------------------------------------------------------------------------ crop / paste / fill
def test_layer_window_is_the_visible_box_with_a_margin():
    alpha = torch.zeros(64, 64)
    alpha[10:20, 30:50] = 1.0  # 10 rows, 20 columns
    alpha[40, 5] = 0.3  # faint: ignored while something is above 0.5
    cx, cy, side = layer_window(alpha, margin=0.3)
    assert (cx, cy) == (40.0, 15.0)
    assert side == pytest.approx(20 * 1.6)
    assert layer_window(torch.zeros(8, 8)) is None
    faint = torch.zeros(16, 16)
    faint[2:4, 2:4] = 0.2
    assert layer_window(faint, margin=0.0, min_side=1.0) == (3.0, 3.0, 2.0)


def test_crop_then_paste_returns_the_pixels_of_an_aligned_window():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(1, 3, 40, 50, generator=g)
    win = torch.tensor([[25.0, 18.0, 16.0]])  # pixels 17..32 x 10..25: aligned, 1 crop px per pixel
    c = crop(img, win, 16)  # (1, 3, 16, 16)
    torch.testing.assert_close(c[0], img[0, :, 10:26, 17:33])
    back, inside = paste(c, win, 40, 50)
    assert int(inside.sum()) == 16 * 16 and bool(inside[0, 0, 10:26, 17:33].all())
    torch.testing.assert_close(back[0, :, 10:26, 17:33], img[0, :, 10:26, 17:33])


def test_crop_outside_the_canvas_is_transparent():
    img = torch.ones(1, 4, 10, 10)
    c = crop(img, torch.tensor([[0.0, 0.0, 8.0]]), 8)  # window centred on the corner: pixels -4..3
    assert float(c[0, :, 4:, 4:].min()) == 1.0  # the canvas quarter
    assert float(c[0, :, :4].max()) == 0.0 and float(c[0, :, :, :4].max()) == 0.0  # beyond its edges


def test_push_pull_fills_from_the_weighted_pixels():
    rgb = torch.zeros(1, 3, 9, 13)
    rgb[0, :, 4, 6] = torch.tensor([0.2, 0.5, 0.9])
    weight = torch.zeros(1, 1, 9, 13)
    weight[0, 0, 4, 6] = 1.0
    filled = push_pull_fill(rgb, weight)
    torch.testing.assert_close(filled, torch.tensor([0.2, 0.5, 0.9]).view(1, 3, 1, 1).expand(1, 3, 9, 13))


# ------------------------------------------------------------------------------ refine_layers
def _blob_layers() -> torch.Tensor:
    layers = torch.zeros(3, 4, 32, 32)
    layers[0] = 1.0  # an opaque white background
    layers[1, :3] = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1)
    layers[1, 3, 8:20, 10:18] = 1.0  # a red blob
    layers[1, 3, 7, 10:18] = 0.3  # a faint fringe whose colour is not trusted
    layers[1, :3, 7] = torch.tensor([0.0, 0.0, 1.0]).view(3, 1)
    return layers  # layer 2 stays empty


def test_refine_layers_changes_only_the_selected_layers_inside_their_window():
    torch.manual_seed(3)
    model = LayerRefiner(text_dim=8, widths=(8, 16), crop_size=16).eval()
    with torch.no_grad():
        model.head.bias.fill_(2.0)  # an opinionated refiner: grows the alpha inside its window
    layers = _blob_layers()
    out = refine_layers(model, layers, torch.randn(3, 8), torch.tensor([False, True, True]))
    assert torch.equal(out[0], layers[0]) and torch.equal(out[2], layers[2])  # not selected / empty
    cx, cy, side = layer_window(layers[1, 3])
    ys, xs = torch.meshgrid(torch.arange(32) + 0.5, torch.arange(32) + 0.5, indexing="ij")
    outside = ((xs - cx).abs() > side / 2) | ((ys - cy).abs() > side / 2)
    assert bool(outside.any()) and torch.equal(out[1, 3][outside], layers[1, 3][outside])
    assert float(out[1, 3].sum()) > float(layers[1, 3].sum())  # it really redrew the alpha
    # trusted colours stay; everything else takes the layer's own colour (red), not the fringe's blue
    torch.testing.assert_close(out[1, :3], torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1).expand(3, 32, 32))


def test_refine_layers_without_a_selection_is_a_no_op_on_empty_stacks():
    model = LayerRefiner(text_dim=8, widths=(8, 16), crop_size=16).eval()
    empty = torch.zeros(2, 4, 16, 16)
    assert refine_layers(model, empty, torch.zeros(2, 8)) is empty
    assert refine_layers(model, empty, torch.zeros(2, 8), passes=3) is empty


def test_refine_layers_passes_run_the_refiner_again_on_its_output():
    torch.manual_seed(3)
    model = LayerRefiner(text_dim=8, widths=(8, 16), crop_size=16).eval()
    with torch.no_grad():
        model.head.bias.fill_(2.0)  # grows the alpha: each pass takes a larger window
    layers, text, select = _blob_layers(), torch.randn(3, 8), torch.tensor([False, True, True])
    once = refine_layers(model, layers, text, select)
    twice = refine_layers(model, layers, text, select, passes=2)
    torch.testing.assert_close(twice, refine_layers(model, once, text, select))
    assert float(twice[1, 3].sum()) > float(once[1, 3].sum())
    assert torch.equal(twice[0], layers[0]) and torch.equal(twice[2], layers[2])
    with pytest.raises(ValueError, match="at least 1"):
        refine_layers(model, layers, text, select, passes=0)


# ------------------------------------------------------------------------------ pipelines
@pytest.fixture()
def refiner() -> LayerRefiner:
    torch.manual_seed(1)
    model = LayerRefiner(text_dim=32, widths=(8, 16), crop_size=16).eval()
    with torch.no_grad():
        model.head.bias.fill_(1.5)
    return model


def _generate(components, refiner, **kwargs):
    pipe = LayerGeneratePipeline(**{**components, "refiner": refiner})
    pipe.set_progress_bar_config(disable=True)
    return pipe("a red square", num_layers=3, layer_prompts=["a blue background", "a red square", "a ring"],
                output_type="np", generator=torch.Generator().manual_seed(0), **kwargs).layers[0]


def test_generation_refines_the_foreground_layers_only(tiny_components, refiner):
    plain = _generate(tiny_components, None)
    off = _generate(tiny_components, refiner, refine=False)
    on = _generate(tiny_components, refiner)
    np.testing.assert_array_equal(off, plain)  # refine=False: the transformer's layers as decoded
    np.testing.assert_array_equal(on[0], plain[0])  # the background is never refined
    assert not np.array_equal(on[1:, ..., 3], plain[1:, ..., 3])


def test_generation_leaves_layers_without_a_layer_prompt_as_decoded(tiny_components, refiner):
    """Without a phrase there is no outline to draw (on validation captions it only cost colour and shape)."""
    pipe = LayerGeneratePipeline(**{**tiny_components, "refiner": refiner})
    pipe.set_progress_bar_config(disable=True)

    def run(**kwargs):
        return pipe("a red square", num_layers=3, output_type="np", generator=torch.Generator().manual_seed(0),
                    **kwargs).layers[0]

    np.testing.assert_array_equal(run(), run(refine=False))
    some, off = run(layer_prompts=["", "", "a ring"]), run(layer_prompts=["", "", "a ring"], refine=False)
    np.testing.assert_array_equal(some[:2], off[:2])
    assert not np.array_equal(some[2], off[2])


def _editor(components, refiner) -> tuple[LayerEditPipeline, LayeredImage]:
    """An edit pipeline with ``refiner`` (tiny-random: 2 sampling steps) and a random 3-layer image."""
    edit = LayerEditPipeline(**{**components, "refiner": refiner})
    edit.set_progress_bar_config(disable=True)
    rng = np.random.default_rng(0)
    return edit, LayeredImage((32, 32), [Layer(rng.random((32, 32, 4)).astype(np.float32)) for _ in range(3)])


def test_regenerate_with_a_refiner_keeps_the_other_layers_bit_identical(tiny_components, refiner):
    edit, image = _editor(tiny_components, refiner)
    kwargs = dict(layer=1, operation="regenerate", prompt="a red square", generator=torch.Generator().manual_seed(0))
    on = edit(image, **kwargs).images[0]
    off = edit(image, refine=False, **kwargs).images[0]
    for j in (0, 2):
        assert np.array_equal(on[j].pixels, image[j].pixels)
    assert not np.array_equal(on[1].pixels, off[1].pixels)


def test_refine_passes_redraw_from_the_previous_pass(tiny_components, refiner):
    """passes=2 is the refiner run on its own output; the model's ``refine_passes`` is the default."""
    once = _generate(tiny_components, refiner)
    twice = _generate(tiny_components, refiner, refine_passes=2)
    assert not np.array_equal(once, twice)
    np.testing.assert_array_equal(once[0], twice[0])  # the background is never refined
    settings = tiny_components["settings"].replace(refine_passes=2)
    pipe = LayerGeneratePipeline(**{**tiny_components, "refiner": refiner, "settings": settings})
    phrases = pipe.refiner_phrases([["a blue background", "a red square", "a ring"]])[0]  # (3, P)
    select = torch.tensor([False, True, True])
    layers = torch.from_numpy(once).permute(0, 3, 1, 2)  # (3, 4, H, W) after the first pass
    again = refine_layers(refiner, layers, phrases, select).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(twice, again, atol=1e-6)
    pipe.set_progress_bar_config(disable=True)
    by_default = pipe("a red square", num_layers=3, layer_prompts=["a blue background", "a red square", "a ring"],
                      output_type="np", generator=torch.Generator().manual_seed(0)).layers[0]
    np.testing.assert_array_equal(by_default, twice)
    for bad in (0, 1.5):
        with pytest.raises(PipelineError, match="refine_passes"):
            _generate(tiny_components, refiner, refine_passes=bad)


def test_regenerate_refines_with_the_passes_asked_for(tiny_components, refiner):
    edit, image = _editor(tiny_components, refiner)

    def run(passes):
        return edit(image, layer=1, operation="regenerate", prompt="a red square", refine_passes=passes,
                    generator=torch.Generator().manual_seed(0)).images[0]

    one, two = run(1), run(2)
    assert not np.array_equal(one[1].pixels, two[1].pixels)
    for j in (0, 2):
        assert np.array_equal(two[j].pixels, image[j].pixels)


def test_a_saved_pipeline_keeps_its_refiner(tiny_components, refiner, tmp_path):
    pipe = LayerGeneratePipeline(**{**tiny_components, "refiner": refiner})
    pipe.save_pretrained(tmp_path / "p")
    assert (tmp_path / "p" / "refiner" / "diffusion_pytorch_model.safetensors").is_file()
    loaded = LayerGeneratePipeline.from_pretrained(tmp_path / "p")
    assert isinstance(loaded.refiner, LayerRefiner)
    for (k, a), (_, b) in zip(refiner.state_dict().items(), loaded.refiner.state_dict().items()):
        assert torch.equal(a, b), k


# ------------------------------------------------------------------------------ the shipped refiner
def test_the_shipped_refiner_draws_the_outline_its_phrase_names():
    """One blocky fragment (what the transformer draws), four phrases, four outline classes of the check,
    with the model's own number of passes."""
    from layerdiff.eval.generation import classify_shape

    pipe = LayerGeneratePipeline.from_pretrained("layerdiff-tiny")
    assert isinstance(pipe.refiner, LayerRefiner)
    cells = (np.add.outer(np.arange(6), np.arange(6)) % 3 != 0).astype(np.float32)  # (6, 6) patches, a third missing
    layer = torch.zeros(1, 4, 128, 128)
    layer[0, 0] = 1.0  # red
    layer[0, 3, 32:80, 40:88] = torch.from_numpy(np.kron(cells, np.ones((8, 8), np.float32)))
    assert classify_shape(layer[0, 3].numpy()) == "pointy"  # ragged: no outline but the triangle must survive it
    drawn = {}
    for phrase in ("a red square", "a red circle", "a red ring", "a red triangle"):
        out = pipe.refine(layer, pipe.refiner_phrases([[phrase]])[0])
        drawn[phrase] = classify_shape(out[0, 3].numpy())
        assert torch.equal(out[0, :3][:, layer[0, 3] > 0.5], layer[0, :3][:, layer[0, 3] > 0.5])  # colour kept
    assert drawn == {"a red square": "box", "a red circle": "round", "a red ring": "hollow", "a red triangle": "pointy"}
