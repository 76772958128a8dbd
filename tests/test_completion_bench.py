"""bench_completion runs end to end on a tiny set and reports both figures."""

from __future__ import annotations

import json
from pathlib import Path

from bench_scripts import load_benchmark


def test_bench_completion_small(tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    summary = load_benchmark("bench_completion").main(
        ["--designs", "2", "--size", "96", "--json", str(out)])
    data = json.loads(out.read_text())
    assert data["summary"]["oracle"]["designs"] == summary["oracle"]["designs"]
    assert summary["decomposer"] == "layerdiff-tiny"
    import inspect

    from layerdiff.regions.decomposer import RegionLayerDecomposer

    keys = ["today", "completed"]
    if "complete" in inspect.signature(RegionLayerDecomposer.__init__).parameters:
        keys.append("built_in")  # the decomposer's own completion, scored beside the push-pull fill
    for key in keys:
        assert set(summary[key]) >= {"occluded_l1", "ghost_rate", "uncovered_share", "samples"}
    assert len(data["through"]) == 2 and len(data["oracle"]) == 2
    for row in data["oracle"]:
        if "completion_l1" in row:
            assert 0.0 <= row["completion_l1"] <= 1.0 and row["method"]


def test_bench_completion_spaces() -> None:
    result = load_benchmark("bench_completion").main(["--spaces", "--seed", "7", "--designs", "6", "--size", "64"])
    assert set(result) == {"srgb", "linear", "auto"}
    assert result["srgb"]["l1"] < 0.01  # the synthetic gradients are interpolated in sRGB


def test_bench_completion_exemplar_ab_by_background(tmp_path: Path) -> None:
    summary = load_benchmark("bench_completion").main(
        ["--designs", "2", "--size", "96", "--skip-oracle", "--skip-post-hoc", "--exemplar-ab"])
    for key in ("exemplar_off", "exemplar_on"):
        assert set(summary[key]) >= {"occluded_l1", "ghost_rate", "samples"}
        groups = summary[f"{key}_by_background"]
        assert groups["all"]["samples"] == 2.0
        assert sum(g["samples"] for name, g in groups.items() if name != "all") == 2.0
    assert "today" not in summary  # the push-pull decomposer was skipped
