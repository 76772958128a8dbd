"""``layerdiff generate`` with the layer planner: --show-plan, --plan, --box over a plan, one-line errors."""

from __future__ import annotations

import json

import numpy as np

from layerdiff.cli import main
from layerdiff.io import load
from layerdiff.planning import LayerPlan, plan_caption

CAPTION = 'a red star next to a blue circle on a yellow background with "SALE" in white'


def test_show_plan_prints_the_plan_and_generates_nothing(tmp_path, capsys):
    assert main(["generate", CAPTION, "--show-plan", "-o", str(tmp_path / "out")]) == 0
    printed = LayerPlan.from_json(capsys.readouterr().out)
    assert printed == plan_caption(CAPTION)
    assert not (tmp_path / "out").exists()


def test_caption_alone_goes_through_the_plan(tmp_path):
    out = tmp_path / "gen"
    assert main(["generate", CAPTION, "--model", "tiny-random", "--steps", "1", "--size", "64x48",
                 "-o", str(out), "--formats", "ora"]) == 0
    image = load(out / "generated.ora")
    assert len(image) == 4 and image.size == (64, 48)
    bottom = image[0].on_canvas(image.size)
    np.testing.assert_array_equal(bottom[..., 3], 1.0)
    np.testing.assert_allclose(bottom[..., :3], np.broadcast_to(np.array([250, 210, 30]) / 255, (48, 64, 3)),
                               atol=1 / 255)


def test_an_edited_plan_is_used(tmp_path, capsys):
    data = plan_caption("a red star on a yellow background").to_dict()
    data["background"] = {"kind": "linear", "colors": ["navy", "white"], "phrase": "", "angle": 0.0}
    data["layers"].append({"kind": "text", "text": "Hi", "color": "black", "box": [0.1, 0.1, 0.5, 0.3]})
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data))
    out = tmp_path / "gen"
    assert main(["generate", "--plan", str(path), "--model", "tiny-random", "--steps", "1", "--size", "64x64",
                 "-o", str(out), "--formats", "ora"]) == 0
    image = load(out / "generated.ora")
    assert len(image) == 3
    bottom = image[0].on_canvas(image.size)
    np.testing.assert_allclose(bottom[32, 0, :3], np.array([20, 30, 90]) / 255, atol=0.03)  # navy on the left
    np.testing.assert_allclose(bottom[32, -1, :3], np.array([245, 245, 245]) / 255, atol=0.03)  # white on the right
    text = image[2].on_canvas(image.size)[..., 3]
    ys, xs = np.nonzero(text > 0)
    assert xs.max() < 0.5 * 64 + 1 and ys.max() < 0.3 * 64 + 1


def test_box_overrides_a_planned_box(tmp_path, capsys):
    assert main(["generate", "a red star", "--box", "none", "--box", "0.6,0.6,0.9,0.9", "--show-plan"]) == 0
    plan = LayerPlan.from_json(capsys.readouterr().out)
    assert plan.layers[0].box == (0.6, 0.6, 0.9, 0.9)
    assert main(["generate", "a red star", "--box", "0.6,0.6,0.9,0.9", "--show-plan"]) == 1
    assert "1 --box values for the plan's 2 layers" in capsys.readouterr().err


def test_one_line_errors(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"background": {"kind": "radial", "colors": ["red"]}}')
    cases = [
        (["generate", ""], "prompt is empty"),
        (["generate", "a star", "--size", "0x0"], "--size"),
        (["generate", "--plan", str(bad)], "needs 2 colour"),
        (["generate", "--plan", str(tmp_path / "missing.json")], "cannot read"),
        (["generate", "a star", "--layer-prompt", "x", "--show-plan"], "--show-plan needs the planner"),
        (["generate", "--plan", str(bad), "--no-plan"], "cannot be combined"),
    ]
    for argv, message in cases:
        assert main(argv) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (argv, err)


def test_show_plan_keeps_a_shade_and_an_edited_shade_is_drawn(tmp_path, capsys):
    caption = 'a red star next to a blue heart on a light green background with the text "Open Late" in white'
    assert main(["generate", caption, "--show-plan"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["background"]["colors"] == ["light green"]
    shown["background"]["colors"] = ["dark red"]
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(shown))
    out = tmp_path / "gen"
    assert main(["generate", "--plan", str(path), "--model", "tiny-random", "--steps", "1", "--size", "48x32",
                 "-o", str(out), "--formats", "ora"]) == 0
    bottom = load(out / "generated.ora")[0].on_canvas((48, 32))
    from layerdiff.planning.colours import colour_rgb

    np.testing.assert_allclose(bottom[..., :3], np.broadcast_to(colour_rgb("dark red"), (32, 48, 3)), atol=1 / 255)
