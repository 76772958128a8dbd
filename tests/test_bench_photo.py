"""benchmarks/bench_photo.py (issue #28 items 2d and 3): its photo scenes are a pure function of (seed,
index), its scores read a perfect answer as one whole photo, and it runs end to end."""

from __future__ import annotations

import json

import numpy as np
from bench_scripts import load_benchmark


def test_bench_photo_scenes_and_scores(tmp_path):
    bench = load_benchmark("bench_photo")
    gt, photo = bench.photo_scene(2718, 1, 96)
    again, _ = bench.photo_scene(2718, 1, 96)
    assert photo == 1 and np.array_equal(gt, again) and gt.shape[1:] == (96, 96, 4)
    assert bench.photo_scene(2718, 0, 96)[1] == 0  # even indices: a photo background
    scores = bench.photo_scores(gt, gt, photo)
    assert scores["l1"] < 1e-6 and scores["photo_iou"] > 0.999 and scores["photo_pieces"] == 1
    out = tmp_path / "p.json"
    summary = bench.main(["--designs", "2", "--size", "96", "--json", str(out)])
    assert {"layerdiff-tiny/all", "layerdiff-tiny/background", "layerdiff-tiny/placed"} <= set(summary)
    assert len(json.loads(out.read_text())["rows"]["layerdiff-tiny"]) == 2
