"""Issue 30 item 2 from a caption alone: the bottom layer is an opaque background with the named colour or
gradient; each named object is a layer of its own (a count gives that many layers); a plan past the model's
layer limit is refused in one line before anything is generated."""

from __future__ import annotations

import numpy as np
import pytest

from layerdiff.cli import main
from layerdiff.contract import LayerLimitError
from layerdiff.pipelines import LayerGeneratePipeline
from layerdiff.planning import plan_caption
from layerdiff.planning.draw import draw_background
from layerdiff.planning.generate import generate_from_plan


@pytest.fixture()
def pipe(tiny_components) -> LayerGeneratePipeline:
    p = LayerGeneratePipeline(**tiny_components)
    p.set_progress_bar_config(disable=True)
    return p


@pytest.mark.parametrize("caption, kind, colours, objects", [
    ("three small circles in orange on a teal backdrop", "solid", ["teal"], 3),
    ("a white star on a background fading from orange to purple", "linear", ["orange", "purple"], 1),
    ("a radial gradient, white in the center fading to blue, with a navy ring", "radial", ["white", "blue"], 1),
    ("Two stars on a green background, one red and one white", "solid", ["green"], 2),
])
def test_opaque_named_background_and_one_layer_per_named_object(pipe, caption, kind, colours, objects):
    plan = plan_caption(caption)
    assert (plan.background.kind, plan.background.colors) == (kind, colours)
    image = generate_from_plan(pipe, plan, 48, 48, seed=1, num_inference_steps=1)
    stack = image.to_numpy()  # (L, 48, 48, 4)
    assert len(image) == plan.num_layers == 1 + objects
    np.testing.assert_array_equal(stack[0, ..., 3], 1.0)
    np.testing.assert_allclose(stack[0], draw_background(plan.background, 48, 48), atol=1e-6)
    assert [image[k].metadata["caption"] for k in range(1, len(image))] == [lay.phrase for lay in plan.layers]


def test_a_plan_past_the_layer_limit_is_refused_before_generating(pipe):
    plan = plan_caption("ten red stars on a blue background")
    assert plan.num_layers == 11 and all(lay.shape == "star" for lay in plan.layers)
    assert pipe.max_layers < plan.num_layers
    with pytest.raises(LayerLimitError, match=rf"makes at most {pipe.max_layers} layers; got plan layers=11 "
                                              r"\(background included\)"):
        generate_from_plan(pipe, plan, 48, 48)


def test_the_cli_refuses_a_plan_past_the_limit_in_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "gen"
    assert main(["generate", "a dozen yellow circles on navy", "--model", "tiny-random", "--steps", "1",
                 "--size", "48x48", "-o", str(out)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "model 'tiny-random' makes at most 6 layers; got plan layers=13 (background included)" in err
    assert not out.exists()
    assert main(["generate", "a dozen yellow circles on navy", "--show-plan"]) == 0  # the plan itself is shown
