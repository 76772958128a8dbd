"""The held-out emoji set split per element (issue 28 item 1): choice of emoji, grouping, recomposition."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from layerdiff.blend import over
from layerdiff.data.emoji import (
    EmojiLibrary,
    element_groups,
    element_layers,
    heldout_selection,
    heldout_stems,
    never_trained,
)
from layerdiff.eval.harness import emoji_samples

EMOJI = Path(__file__).parent / "data" / "emoji"
BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_emoji.py"
PX = 128


def svg(stem: str) -> bytes:
    return (EMOJI / f"{stem}.svg").read_bytes()


def recomposed(layers: list[np.ndarray]) -> np.ndarray:
    out = layers[0]
    for layer in layers[1:]:
        out = over(out, layer)
    return out  # (H, W, 4)


def premultiplied(rgba: np.ndarray) -> np.ndarray:
    return np.concatenate([rgba[..., :3] * rgba[..., 3:], rgba[..., 3:]], axis=-1)  # (H, W, 4)


def test_never_trained_keeps_only_drawings_training_never_saw() -> None:
    assert not never_trained("u1f600")  # single codepoint: in the training library
    assert not never_trained("u1f44d_1f3fb")  # a trained emoji with a skin tone: same drawing, recoloured
    assert not never_trained("u1f469_1f3fd_200d_1f373")  # skin-tone variant of a joiner sequence
    assert not never_trained("u1f1fa_1f1f8")  # a flag (regional indicators)
    assert never_trained("u1f468_200d_1f373")  # man cook: a joiner sequence
    assert never_trained("u0023_20e3")  # keycap
    assert never_trained("u1f3f4_e0067_e0062_e0065_e006e_e0067_e007f")  # tag sequence (England)


def test_heldout_stems_lists_the_untrained_files(tmp_path: Path) -> None:
    for name in ("u1f600", "u1f44d_1f3fb", "u1f1fa_1f1f8", "u1f468_200d_1f373", "u0023_20e3"):
        (tmp_path / f"{name}.svg").write_bytes(b"<svg/>")
    assert heldout_stems(tmp_path) == ["u0023_20e3", "u1f468_200d_1f373"]
    with pytest.raises(FileNotFoundError, match="emoji folder not found"):
        heldout_stems(tmp_path / "missing")


@pytest.mark.parametrize("stem, groups", [
    ("u2b50", [[1], [2], [3]]),  # star: body, highlight, lower edge
    ("u2764", [[1], [2, 3], [4, 5]]),  # heart: body, two shadows of one paint, two highlights of one paint
    ("u1f333", [[1], [2], [3, 4], [5]]),  # tree: dark crown, light crown, trunk (one paint), trunk shade
])
def test_split_gives_the_elements_in_drawing_order_and_recomposes(stem: str, groups: list[list[int]]) -> None:
    layers, got = element_layers(svg(stem), PX, where=stem)
    assert got == groups
    assert len(layers) == len(groups) and all(layer.shape == (PX, PX, 4) for layer in layers)
    assert all(layer[..., 3].max() > 0.5 for layer in layers)  # every layer draws something
    whole = EmojiLibrary(EMOJI).render(stem, PX)  # (PX, PX, 4): the emoji rendered in one piece
    assert np.abs(premultiplied(recomposed(layers)) - premultiplied(whole)).max() <= 3 / 255
    # order matters: the base drawn last would hide the details
    flipped = recomposed([layers[1], layers[0]] + layers[2:])
    assert np.abs(premultiplied(flipped) - premultiplied(whole)).max() > 0.1


def test_small_elements_join_the_layer_below_and_the_count_is_capped() -> None:
    # grinning face: face, then eyes drawn as four paths (dark, highlight, dark, highlight), each
    # under 0.5% of the canvas alone: they become one layer over the face
    groups = element_groups(svg("u1f600"))
    assert groups == [[1], [2, 3, 4, 5], [6], [7], [8], [9, 10]]
    capped = element_groups(svg("u1f600"), max_layers=3)
    assert len(capped) == 3 and capped[0] == [1]
    assert [i for g in capped for i in g] == list(range(1, 11))  # consecutive runs, all elements, in order
    layers, _ = element_layers(svg("u1f600"), PX, max_layers=3)
    whole = EmojiLibrary(EMOJI).render("u1f600", PX)
    assert np.abs(premultiplied(recomposed(layers)) - premultiplied(whole)).max() <= 3 / 255


def test_unsplittable_and_bad_svgs_are_refused_with_their_name() -> None:
    with pytest.raises(ValueError, match="u1f3b5: one layer only"):
        element_layers(svg("u1f3b5"), PX, where="u1f3b5")  # a single path
    with pytest.raises(ValueError, match="broken.svg: not a readable SVG"):
        element_groups(b"<svg><path", where="broken.svg")
    with pytest.raises(ValueError, match="max_layers"):
        element_groups(svg("u2b50"), max_layers=0)


def held_out_folder(tmp_path: Path) -> Path:
    """Committed emoji copied under joiner-sequence names (untrained), plus one trained name."""
    names = {"u2b50": "u2b50_200d_1f525", "u2764": "u2764_200d_1fa79", "u1f333": "u1f333_200d_1f525",
             "u1f3b5": "u1f3b5_200d_1f3b5", "u1f600": "u1f600"}
    tmp_path.mkdir(parents=True, exist_ok=True)
    for src, dst in names.items():
        shutil.copy(EMOJI / f"{src}.svg", tmp_path / f"{dst}.svg")
    return tmp_path


def test_selection_is_seeded_skips_unsplittable_and_samples_load(tmp_path: Path) -> None:
    folder = held_out_folder(tmp_path)
    everything = heldout_selection(10, seed=28, folder=folder)
    # the single-path emoji cannot be split and the single-codepoint one was trained on
    assert sorted(everything) == ["u1f333_200d_1f525", "u2764_200d_1fa79", "u2b50_200d_1f525"]
    assert heldout_selection(10, seed=28, folder=folder) == everything  # same seed, same order
    assert {tuple(heldout_selection(2, seed=s, folder=folder)) for s in range(8)} != {tuple(everything[:2])}
    samples = emoji_samples(3, seed=28, size=PX, folder=folder)
    assert [s.name for s in samples] == [f"emoji-{stem}" for stem in everything]
    stack = {s.name: s.load() for s in samples}["emoji-u2764_200d_1fa79"]
    assert len(stack) == 3 and stack.size == (PX, PX)
    whole = EmojiLibrary(EMOJI).render("u2764", PX)
    assert np.abs(premultiplied(stack.composite()) - premultiplied(whole)).max() <= 3 / 255


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_emoji", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_says_when_the_emoji_folder_is_absent(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bench = load_bench()
    assert bench.main(["--list", "--emoji-dir", str(tmp_path / "absent")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bench_emoji: emoji folder not found:") and "\n" not in err


def test_bench_lists_and_writes_the_set(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from layerdiff.eval.harness import folder_samples

    bench = load_bench()
    folder = held_out_folder(tmp_path / "svg")
    assert bench.main(["--list", "--count", "2", "--size", "64", "--emoji-dir", str(folder)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("2 emoji (seed 28)") and len(lines) == 3
    out = tmp_path / "set"
    assert bench.main(["--write-set", str(out), "--count", "3", "--size", "64", "--emoji-dir", str(folder),
                       "--quiet"]) == 0
    written = folder_samples(out)
    assert sorted(s.name for s in written) == ["emoji-u1f333_200d_1f525", "emoji-u2764_200d_1fa79",
                                              "emoji-u2b50_200d_1f525"]
    assert [len(s.load()) for s in sorted(written, key=lambda s: s.name)] == [4, 3, 3]


def test_bench_scores_both_count_modes_and_resumes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bench = load_bench()
    folder = held_out_folder(tmp_path / "svg")
    out = tmp_path / "scores"
    argv = ["-o", str(out), "--models", "single-layer", "--count", "2", "--size", "64", "--emoji-dir", str(folder),
            "--quiet"]
    assert bench.main(argv) == 0
    printed = capsys.readouterr().out
    assert "count auto" in printed and "count gt" in printed
    for mode in ("auto", "gt"):
        rows = bench.read_rows(out / mode / "results.csv")
        assert len(rows) == 2 and {r["model"] for r in rows} == {"single-layer"}
        assert all(0.0 <= r["iou@0"] <= 1.0 and r["l1@5"] >= 0.0 and r["num_pred"] == 1.0 for r in rows)
    assert all(r["capped"] for r in bench.read_rows(out / "gt" / "results.csv"))  # asked for 1 of 3-4 layers
    stamp = (out / "auto" / "results.csv").stat().st_mtime_ns
    assert bench.main(argv + ["--resume"]) == 0  # everything scored already: nothing rewritten
    assert (out / "auto" / "results.csv").stat().st_mtime_ns == stamp
    assert bench.main(argv[:5] + ["3"] + argv[6:] + ["--resume"]) == 0  # one more emoji is added
    assert len(bench.read_rows(out / "auto" / "results.csv")) == 3


def test_bench_shards_reuse_the_set_and_merge(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bench = load_bench()
    folder = held_out_folder(tmp_path / "svg")
    common = ["--models", "single-layer", "--count", "3", "--size", "64", "--emoji-dir", str(folder), "--quiet",
              "--num-layers", "gt"]
    assert bench.main(["-o", str(tmp_path / "a"), "--shard", "0/2"] + common) == 0
    chosen = list(json.loads((tmp_path / "a" / "set.json").read_text())["emoji"])
    assert len(chosen) == 3
    assert bench.main(["-o", str(tmp_path / "b"), "--shard", "1/2", "--set-from", str(tmp_path / "a" / "set.json")]
                      + common) == 0
    a = [r["sample"] for r in bench.read_rows(tmp_path / "a" / "gt" / "results.csv")]
    b = [r["sample"] for r in bench.read_rows(tmp_path / "b" / "gt" / "results.csv")]
    assert a == [f"emoji-{chosen[0]}", f"emoji-{chosen[2]}"] and b == [f"emoji-{chosen[1]}"]
    assert bench.main(["--merge", str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(tmp_path / "all"),
                       "--num-layers", "gt"]) == 0
    assert sorted(r["sample"] for r in bench.read_rows(tmp_path / "all" / "gt" / "results.csv")) == sorted(a + b)
    assert "| single-layer | 3/3 |" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        bench.main(["-o", str(tmp_path / "c"), "--shard", "2/2"] + common)
