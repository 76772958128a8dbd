"""The hand-written caption set and its field-by-field scoring (benchmarks/bench_plan_generate.py --captions)."""

from __future__ import annotations

import copy
import json

import pytest
from bench_scripts import BENCHMARKS, load_benchmark

from layerdiff.data.synth_vocab import COLORS, SHAPES
from layerdiff.planning import PLACES

SET = BENCHMARKS / "data" / "captions_blind_s17.json"


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_plan_generate")


def test_the_caption_set_is_well_formed(bench):
    entries = bench.read_caption_set(SET)
    assert len(entries) == 80 and sum(bool(e["generation"]) for e in entries) == 20
    assert len({e["caption"] for e in entries}) == 80
    for e in entries:
        assert all(c in COLORS for c in e["gold"]["background"]["colors"])
        for lay in e["gold"]["layers"]:
            assert lay["color"] is None or lay["color"] in COLORS
            assert lay["shape"] is None or lay["shape"] in SHAPES
            assert lay["place"] is None or lay["place"] in PLACES


def test_field_scores_gold_against_itself_and_against_changes(bench):
    gold = {"background": {"kind": "solid", "colors": ["black"]},
            "layers": [{"kind": "object", "color": "pink", "shape": "heart", "text": None, "place": "left"},
                       {"kind": "text", "color": None, "shape": None, "text": "Hi", "place": None}]}
    assert all(bench.field_scores(gold, gold).values())
    swapped = copy.deepcopy(gold)
    swapped["layers"].reverse()
    assert bench.field_scores(swapped, gold)["exact"] and not bench.field_scores(swapped, gold, ordered=True)["exact"]
    other = copy.deepcopy(gold)
    other["layers"][1]["color"] = "red"  # the gold names no colour for the text: any colour agrees
    other["layers"][0]["shape"] = "star"
    other["background"]["colors"] = ["navy"]
    sc = bench.field_scores(other, gold)
    assert sc["colours"] and sc["text"] and sc["count"] and sc["places"]
    assert not sc["shapes"] and not sc["background"] and not sc["exact"]
    fewer = copy.deepcopy(gold)
    fewer["layers"].pop()
    sc = bench.field_scores(fewer, gold)
    assert not sc["count"] and not sc["text"] and not sc["exact"]
    scene = {"background": {"kind": "scene", "colors": []}, "layers": []}
    assert bench.field_scores({"background": {"kind": "scene", "colors": ["orange"]}, "layers": []}, scene)["exact"]


def test_bench_scores_a_caption_set_file(bench, tmp_path):
    captions = tmp_path / "set.json"
    captions.write_text(json.dumps({"captions": [
        {"id": 7, "caption": "a red circle on a blue background", "ordered": False, "generation": True,
         "gold": {"background": {"kind": "solid", "colors": ["blue"]},
                  "layers": [{"kind": "object", "color": "red", "shape": "circle", "text": None, "place": None}]}},
        {"id": 8, "caption": "a red circle on a blue background", "ordered": False, "generation": False,
         "gold": {"background": {"kind": "solid", "colors": ["blue"]},
                  "layers": [{"kind": "object", "color": "green", "shape": "circle", "text": None, "place": None}]}},
    ]}))
    out = tmp_path / "r.json"
    assert bench.main(["--captions", str(captions), "--parse-only", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["count"] == 2 and result["parsed_exactly"] == 0.5
    assert result["fields"]["colours"] == 0.5 and result["fields"]["shapes"] == 1.0
    assert result["misses"] == [{"id": 8, "caption": "a red circle on a blue background",
                                 "wrong": ["colours", "exact"]}]
    assert bench.main(["--captions", str(captions), "--generation-only", "--oracle", "--size", "64",
                       "--json", str(out)]) == 0
    assert json.loads(out.read_text())["count"] == 1
    assert bench.main(["--captions", str(captions), "--ids", "8", "--parse-only", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["parsed_exactly"] == 0.0 and json.loads(out.read_text())["count"] == 1


def test_read_caption_set_refuses_an_entry_without_a_gold(bench, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"captions": [{"caption": "a red star"}]}))
    with pytest.raises(ValueError, match=r"captions\[0\]"):
        bench.read_caption_set(bad)

