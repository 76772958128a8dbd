"""LayerDecomposePipeline on tiny random components: outputs, batches, sizes, errors, exactness."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from layerdiff.errors import LayerdiffError
from layerdiff.layered import LayeredImage, from_float
from layerdiff.pipelines import LayerDecomposePipeline, LayeredPipelineOutput, PipelineError


@pytest.fixture()
def pipe(tiny_components) -> LayerDecomposePipeline:
    p = LayerDecomposePipeline(**tiny_components)
    p.set_progress_bar_config(disable=True)
    return p


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("output_type", ["pil", "np", "pt", "latent"])
def test_every_output_type(pipe, design, output_type):
    out = pipe(design, num_layers=3, output_type=output_type, generator=_gen())
    assert isinstance(out, LayeredPipelineOutput)
    assert len(out.layers) == 1
    layers = out.layers[0]
    if output_type == "pil":
        assert len(layers) == 3 and all(im.mode == "RGBA" and im.size == (61, 47) for im in layers)
    elif output_type == "np":
        assert layers.shape == (3, 47, 61, 4) and layers.dtype == np.float32
    elif output_type == "pt":
        assert isinstance(layers, torch.Tensor) and layers.shape == (3, 4, 47, 61)
    else:  # latent: (F = 3 layers + composite, C, h, w) on the native grid
        assert layers.shape[:2] == (4, 16) and out.images == []
    if output_type != "latent":
        assert isinstance(out.images[0], LayeredImage) and len(out.images[0]) == 3


@pytest.mark.parametrize("size", [(301, 173), (17, 9), (64, 64)])
def test_odd_sizes_come_back_at_input_size_and_recompose_exactly(pipe, size):
    w, h = size
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    out = pipe(Image.fromarray(img), num_layers=2, output_type="np", generator=_gen())
    stack = out.layers[0]
    assert stack.shape == (2, h, w, 4)
    comp = LayeredImage.from_numpy(from_float(stack, 8)).composite()
    err = np.abs(from_float(comp, 8)[..., :3].astype(int) - img.astype(int)).max()
    assert err <= 1, f"composite differs from the input by {err}/255"


def test_exact_recomposition_can_be_switched_off(pipe, design):
    on = pipe(design, num_layers=2, output_type="np", generator=_gen()).images[0].composite()
    off = pipe(design, num_layers=2, output_type="np", generator=_gen(), exact_recomposition=False,
               refine=False).images[0].composite()
    assert np.abs(on[..., :3] - design).max() <= 1.5 / 255
    assert np.abs(off[..., :3] - design).max() > 2 / 255  # a random model alone does not recompose


def test_batch_of_two_does_not_mix_layers(pipe, design):
    other = design[::-1, ::-1].copy()
    gens = [_gen(1), _gen(2)]
    both = pipe([design, other], num_layers=3, output_type="np", generator=gens)
    first = pipe(design, num_layers=3, output_type="np", generator=_gen(1))
    second = pipe(other, num_layers=3, output_type="np", generator=_gen(2))
    # 8-bit snapping can flip a rounding step where batched float math differs in the last bits
    np.testing.assert_allclose(both.layers[0], first.layers[0], atol=1.01 / 255)
    np.testing.assert_allclose(both.layers[1], second.layers[0], atol=1.01 / 255)
    lat_both = pipe([design, other], num_layers=3, output_type="latent", generator=[_gen(1), _gen(2)]).layers
    lat_second = pipe(other, num_layers=3, output_type="latent", generator=_gen(2)).layers[0]
    torch.testing.assert_close(lat_both[1], lat_second, atol=1e-4, rtol=1e-4)
    # each stack recomposes to its own input
    for stack, img in zip(both.layers, [design, other]):
        comp = LayeredImage.from_numpy(stack).composite()
        assert np.abs(comp[..., :3] - img).max() <= 1.5 / 255


def test_batch_with_different_aspect_ratios(pipe, design):
    tall = np.ascontiguousarray(np.transpose(design, (1, 0, 2)))
    out = pipe([design, tall], num_layers=2, output_type="np", generator=_gen())
    assert out.layers[0].shape[1:3] == (47, 61) and out.layers[1].shape[1:3] == (61, 47)


def test_determinism_and_seed_sensitivity(pipe, design):
    a = pipe(design, num_layers=2, output_type="latent", generator=_gen(3)).layers[0]
    b = pipe(design, num_layers=2, output_type="latent", generator=_gen(3)).layers[0]
    c = pipe(design, num_layers=2, output_type="latent", generator=_gen(4)).layers[0]
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_auto_layer_count_within_bounds(pipe, design):
    out = pipe(design, num_layers="auto", max_layers=4, output_type="np", generator=_gen())
    assert 1 <= out.layers[0].shape[0] <= 4


def test_callback_on_step_end_sees_every_step(pipe, design):
    seen = []

    def cb(p, i, t, kwargs):
        seen.append((i, float(t), kwargs["latents"].shape))
        return kwargs

    pipe(design, num_layers=2, num_inference_steps=3, output_type="latent", callback_on_step_end=cb)
    assert [s[0] for s in seen] == [0, 1, 2]
    assert seen[0][1] == pytest.approx(1.0)


def test_guidance_runs_the_unconditional_branch(pipe, design):
    a = pipe(design, num_layers=2, prompt="red disc", guidance_scale=1.0, output_type="latent",
             generator=_gen()).layers[0]
    b = pipe(design, num_layers=2, prompt="red disc", guidance_scale=3.0, output_type="latent",
             generator=_gen()).layers[0]
    assert not torch.allclose(a, b)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_layers": 0}, "makes at most 6 layers; got num_layers=0"),
        ({"num_layers": 99}, "makes at most 6 layers; got num_layers=99"),
        ({"num_layers": "many"}, "num_layers must be 'auto' or an integer"),
        ({"max_layers": 50}, "makes at most 6 layers; got max_layers=50"),
        ({"output_type": "jpg"}, "output_type must be one of"),
        ({"num_inference_steps": 0}, "num_inference_steps must be an integer >= 1"),
    ],
)
def test_bad_arguments(pipe, design, kwargs, message):
    with pytest.raises(LayerdiffError, match=message):
        pipe(design, **kwargs)


def test_bad_images(pipe):
    with pytest.raises(PipelineError, match="too small"):
        pipe(np.zeros((1, 1, 3), np.float32), num_layers=2)
    with pytest.raises(PipelineError, match="1-4 channels"):
        pipe(np.zeros((16, 16, 7), np.float32), num_layers=2)
    with pytest.raises(PipelineError, match="unsupported type"):
        pipe("not an image", num_layers=2)
    with pytest.raises(PipelineError, match="empty list"):
        pipe([], num_layers=2)


def test_huge_image_refused_before_work(pipe, monkeypatch):
    import layerdiff.pipelines.common as mod

    monkeypatch.setattr(mod, "MAX_PIXELS", 100 * 100)
    with pytest.raises(PipelineError, match="pixel limit"):
        pipe(np.zeros((101, 100, 3), np.float32), num_layers=2)


def test_save_and_reload_gives_the_same_result(pipe, design, tmp_path):
    pipe.save_pretrained(tmp_path / "p")
    assert not list((tmp_path / "p").rglob("*.bin")) and list((tmp_path / "p").rglob("*.safetensors"))
    again = LayerDecomposePipeline.from_pretrained(tmp_path / "p")
    again.set_progress_bar_config(disable=True)
    a = pipe(design, num_layers=2, num_inference_steps=2, output_type="latent", generator=_gen()).layers[0]
    b = again(design, num_layers=2, num_inference_steps=2, output_type="latent", generator=_gen()).layers[0]
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_from_pretrained_registry_name_and_unknown_name():
    from layerdiff.errors import UnknownModelError

    p = LayerDecomposePipeline.from_pretrained("tiny-random")
    assert p.max_layers == 6 and p.native_resolution == 32
    with pytest.raises(UnknownModelError, match="known models: .*tiny-random"):
        LayerDecomposePipeline.from_pretrained("no-such-model")


def test_folder_with_foreign_component_class_is_refused(pipe, tmp_path):
    import json

    pipe.save_pretrained(tmp_path / "p")
    index = json.loads((tmp_path / "p" / "model_index.json").read_text())
    index["vae"] = ["evil_module", "Payload"]
    (tmp_path / "p" / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(PipelineError, match="not allowed"):
        LayerDecomposePipeline.from_pretrained(tmp_path / "p")


def test_expected_output_slice(pipe, design):
    """A fixed seed gives fixed layers (tiny-random from the shipped classes, as diffusers' pipeline tests pin)."""
    out = pipe(design, num_layers=3, output_type="np", generator=_gen()).layers[0]
    expected = [0.9529, 0.8745, 0.8627, 0.8392, 0.5569, 0.4941, 0.6471, 0.2118, 0.2353]
    np.testing.assert_allclose(out[-1, 20:23, 20:23, 3].ravel(), expected, atol=5e-3)  # top layer's alpha
    latents = pipe(design, num_layers=3, output_type="latent", generator=_gen()).layers[0]  # (F, C, h, w)
    expected = [-0.6317, -1.8598, -0.2039, 0.395, 1.0603, 1.6983, 0.4813, -2.1987, 1.0859]
    np.testing.assert_allclose(latents[0, 0, 0, :9].numpy(), expected, atol=1e-3)
