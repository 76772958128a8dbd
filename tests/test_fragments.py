"""The fragment test (solver step 6): layer features, targets, absorption, the model head, its NumPy
runtime, the decomposer's use of it and its training script."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_layering import _composite, _design, _OracleLayerer, bind_oracles

from layerdiff.errors import LayerdiffError
from layerdiff.models.region_layerer import RegionLayerer
from layerdiff.regions.decomposer import RegionLayerDecomposer
from layerdiff.regions.features import PAIR_FEATURES, REGION_FEATURES
from layerdiff.regions.fragments import (
    LAYER_FEATURES,
    absorb_fragments,
    fragment_targets,
    layer_features,
    spend_count_on_objects,
)
from layerdiff.regions.graph import region_graph
from layerdiff.regions.runtime import NumpyRegionLayerer


def _graph_and_layers():
    """The three-layer design's region graph, the true layer of every region and P(same) that ties the
    disc (layer 2) to the square (layer 1) at 0.8."""
    image = _composite(_design())
    graph = region_graph(image)
    keys = {(10, 10, 10): 0, (9, 1, 1): 1, (1, 2, 9): 2}
    colours = np.asarray(list(keys), float) / 10
    layer = np.array([list(keys.values())[int(np.argmin(((colours - image[graph.regions.labels == r][:, :3].mean(0))
                                                         ** 2).sum(1)))] for r in range(graph.count)])
    same = (layer[:, None] == layer[None]).astype(float)
    tie = (layer[:, None] == 1) & (layer[None] == 2) | (layer[:, None] == 2) & (layer[None] == 1)
    same[tie] = 0.8
    return image, graph, layer, same, (layer == 0).astype(float)


def test_layer_features_by_hand():
    _, graph, layer, same, bg = _graph_and_layers()
    feats, partner = layer_features(graph, same, bg, layer)
    assert feats.shape == (3, LAYER_FEATURES) and feats.dtype == np.float32 and np.isfinite(feats).all()
    np.testing.assert_array_equal(feats[0], 0.0)
    assert partner.tolist() == [0, 2, 1]  # square and disc are each other's best link
    np.testing.assert_allclose(feats[1:, 0], 0.8)  # the link to the partner
    np.testing.assert_allclose(feats[1:, 2], 0.0)  # the link to the background
    np.testing.assert_array_equal(feats[1:, 5], 0.0)  # the partner is not the background
    area = graph.regions.area
    disc = area[layer == 2].sum() / area.sum()
    np.testing.assert_allclose(feats[2, 3], np.log(disc) / 10, rtol=1e-5)
    np.testing.assert_allclose(feats[2, 6], 0.0)  # no region of the disc is background
    assert 0 < feats[2, 11] < 1  # the disc shares part of its outline with the square
    assert feats[2, 12] > 0.3  # a sharp step: blue on red
    with pytest.raises(ValueError, match="two layers"):
        layer_features(graph, same, bg, np.zeros_like(layer))
    assert LAYER_FEATURES == 16  # the layout the shipped fragment test reads


def test_boundary_steps_carry_each_regions_texture_on_the_diagonal():
    from layerdiff.regions.features import boundary_steps
    from layerdiff.regions.graph import graph_from_labels

    labels = np.zeros((16, 32), np.int64)
    labels[:, 16:] = 1
    image = np.ones((16, 32, 4), np.float32)
    image[:, :16, :3] = 0.2  # left: flat
    image[:, 16:, :3] = np.where(np.arange(16)[None, :, None] % 2, 0.9, 0.6)  # right: stripes (texture)
    steps = boundary_steps(graph_from_labels(image, labels))
    assert steps[0, 0] < 1e-6 < steps[1, 1]
    assert steps[0, 1] == steps[1, 0] > 0


def test_fragment_targets_by_hand():
    layer = np.array([0, 1, 2, 2])
    counts = np.array([[50, 0, 0], [0, 20, 0], [0, 9, 1], [0, 6, 0]])  # (regions, ground-truth layers)
    # layer 2 (regions 2-3) mostly shows ground-truth layer 1, as does its partner (layer 1)
    assert fragment_targets(layer, np.array([0, 0, 1]), counts).tolist() == [False, False, True]
    # partners swapped: layer 1 (ground truth 1) with layer 2 is a fragment, layer 2 with the background not
    assert fragment_targets(layer, np.array([0, 2, 0]), counts).tolist() == [False, True, False]
    counts[1] = (0, 0, 20)  # layer 1 now shows ground-truth layer 2: no longer the same as layer 2
    assert fragment_targets(layer, np.array([0, 2, 1]), counts).tolist() == [False, False, False]


def test_absorb_fragments_merges_the_most_certain_and_keeps_two_layers():
    _, graph, layer, same, bg = _graph_and_layers()
    seen = []

    def prob(feats):
        seen.append(len(feats))
        return np.array([0.2, 0.9])[: len(feats)]

    out = absorb_fragments(graph, same, bg, layer, prob)
    assert seen == [2]  # one round: after the merge only two layers remain
    np.testing.assert_array_equal(out, np.where(layer == 2, 1, layer))  # the disc joined the square
    np.testing.assert_array_equal(absorb_fragments(graph, same, bg, layer, prob, threshold=0.95), layer)
    always = absorb_fragments(graph, same, bg, layer, lambda f: np.ones(len(f)))
    assert always.max() == 1  # never fewer than two layers


class _FragmentOracle(_OracleLayerer):
    """The oracle layerer with a fragment test that calls every proposed layer a fragment."""

    has_fragment_test = True
    config = {"layer_features": 16}

    def fragment_probabilities(self, feats):
        return np.ones(len(feats))


def test_decomposer_applies_the_fragment_test_to_automatic_counts_only(monkeypatch):
    image = _composite(_design())
    oracle = _FragmentOracle({(10, 10, 10): 0, (9, 1, 1): 1, (1, 2, 9): 2})
    bind_oracles(monkeypatch)
    auto = RegionLayerDecomposer(oracle).decompose(image).to_numpy()
    assert auto.shape[0] == 2
    assert np.abs(_composite(auto) - image).max() <= 1 / 255 + 1e-6
    assert RegionLayerDecomposer(oracle).decompose(image, num_layers=3).to_numpy().shape[0] == 3
    assert RegionLayerDecomposer(oracle, fragment_threshold=1.0).decompose(image).to_numpy().shape[0] == 3
    with pytest.raises(ValueError, match="fragment_threshold"):
        RegionLayerDecomposer(oracle, fragment_threshold=2.0)


def test_decomposer_spends_an_exact_count_on_objects(monkeypatch):
    import layerdiff.regions.decomposer as decomposer

    image = _composite(_design())
    oracle = _FragmentOracle({(10, 10, 10): 0, (9, 1, 1): 1, (1, 2, 9): 2})
    bind_oracles(monkeypatch)
    calls = []

    def spy(graph, same, bg, layer, probability, threshold, keep=None):
        calls.append(threshold)
        return spend_count_on_objects(graph, same, bg, layer, probability, threshold, keep=keep)

    monkeypatch.setattr(decomposer, "spend_count_on_objects", spy)
    RegionLayerDecomposer(oracle).decompose(image)
    assert calls == []  # the automatic count absorbs fragments instead
    RegionLayerDecomposer(oracle, fragment_threshold=0.6).decompose(image, num_layers=3)
    assert calls == [0.6]


def _layerer_with_head() -> RegionLayerer:
    torch.manual_seed(0)
    return RegionLayerer(region_features=REGION_FEATURES, pair_features=PAIR_FEATURES, width=16, depth=1,
                         layer_features=LAYER_FEATURES, layer_width=8, layer_depth=2).eval()


def test_fragment_head_runs_the_same_in_numpy_and_checks_its_config(tmp_path):
    model = _layerer_with_head()
    assert model.has_fragment_test and not RegionLayerer(width=8, depth=1).has_fragment_test
    model.save_pretrained(tmp_path / "layerer")
    fast = NumpyRegionLayerer.from_pretrained(tmp_path / "layerer")
    assert fast.has_fragment_test
    feats = np.random.default_rng(0).normal(size=(5, LAYER_FEATURES)).astype(np.float32)
    np.testing.assert_allclose(fast.fragment_probabilities(feats), model.fragment_probabilities(feats), atol=1e-5)
    with pytest.raises(ValueError, match="no fragment test"):
        RegionLayerer(width=8, depth=1).fragment_logits(torch.zeros(1, LAYER_FEATURES))
    config = json.loads((tmp_path / "layerer" / "config.json").read_text())
    config["layer_features"] = 0
    (tmp_path / "layerer" / "config.json").write_text(json.dumps(config))
    with pytest.raises(LayerdiffError, match="disagree"):
        NumpyRegionLayerer.from_pretrained(tmp_path / "layerer")


def test_train_fragment_test_labels_trains_and_exports(tmp_path):
    from training import train_fragment_test
    from training.common import RunConfig

    torch.manual_seed(0)  # unseeded, a random layerer sometimes proposed no fragment at all (m == 0)
    base = RegionLayerer(region_features=REGION_FEATURES, pair_features=PAIR_FEATURES, width=16, depth=1)
    base.save_pretrained(tmp_path / "base")
    cfg = RunConfig(output_dir=str(tmp_path / "run"), steps=30, lr=1e-2, warmup_steps=1, log_every=5, ema_decay=0.5)
    cfg.extra = {"layerer": str(tmp_path / "base"), "designs": 4, "data_seed": 11, "adjusted_designs": 2,
                 "adjusted_seed": 12, "size": 64, "max_layers": 6, "target": "cost", "workers": 2,
                 "layer_width": 8, "layer_depth": 1}
    assert train_fragment_test.train(cfg) == 0
    run = Path(cfg.output_dir)
    table = np.load(run / "fragments.npz")
    m = len(table["features"])
    assert table["features"].shape[1] == 16 and table["deltas"].shape == (m, 4) and m > 0
    assert np.isfinite(table["deltas"]).all() and set(np.unique(table["majority"])) <= {0.0, 1.0}
    assert int(table["designs"]) == 6 and bool(table["metric"])
    trained = RegionLayerer.from_pretrained(run / "final" / "layerer")
    assert trained.has_fragment_test and trained.config.layer_width == 8
    for name, value in base.state_dict().items():  # the pair and background heads are untouched
        torch.testing.assert_close(trained.state_dict()[name], value)
    assert (run / "loss.csv").read_text().count("\n") >= 3
    # the majority target reuses the cached rows (no metric needed)
    stamp = (run / "fragments.npz").stat().st_mtime_ns
    cfg.extra.update(target="majority", workers=1)
    assert train_fragment_test.train(cfg) == 0
    assert (run / "fragments.npz").stat().st_mtime_ns == stamp
    assert RegionLayerer.from_pretrained(run / "final" / "layerer").config.layer_features == LAYER_FEATURES


def test_targets_from_the_score_changes():
    from training.train_fragment_test import targets_from

    table = {"majority": np.array([1.0, 0.0, 0.0]),
             # l1@0, l1@5, iou@0, iou@5 changes when the layer joins its partner
             "deltas": np.array([[-0.02, 0.0, 0.05, 0.0], [-0.01, -0.01, -0.03, 0.0], [0.03, 0.0, 0.2, 0.0]])}
    assert targets_from(table, "majority").tolist() == [1, 0, 0]
    assert targets_from(table, "l1").tolist() == [1, 0, 0]  # the second loses IoU, the third gains L1
    assert targets_from(table, "cost").tolist() == [1, 0, 1]  # cost: L1 up 0.03, IoU up 0.2


def test_merge_into_partner_renumbers_the_layers_above():
    from training.train_fragment_test import merge_into_partner

    layer = np.array([0, 1, 2, 3, 2])
    np.testing.assert_array_equal(merge_into_partner(layer, 2, 3), [0, 1, 2, 2, 2])
    np.testing.assert_array_equal(merge_into_partner(layer, 1, 0), [0, 0, 1, 2, 1])


def test_spend_count_on_objects_splits_two_separate_objects_and_absorbs_a_fragment():
    image = np.ones((96, 160, 4), np.float32)  # white canvas
    yy, xx = np.mgrid[0:96, 0:160]
    disc = np.hypot(yy - 48, xx - 40) < 20
    square = (yy >= 30) & (yy < 66) & (xx >= 104) & (xx < 140)
    speck = (yy >= 44) & (yy < 52) & (xx >= 60) & (xx < 66)  # a green fleck on the disc's edge
    image[disc, :3], image[square, :3], image[speck, :3] = (0.9, 0.1, 0.1), (0.1, 0.2, 0.9), (0.1, 0.8, 0.2)
    graph = region_graph(image)
    labels = graph.regions.labels
    d, s, f = int(labels[48, 40]), int(labels[48, 120]), int(labels[48, 62])
    assert len({d, s, f, int(labels[2, 2])}) == 4
    layer = np.zeros(graph.count, np.int64)
    layer[[d, s]], layer[f] = 1, 2  # the disc and the square share a layer; the fleck took the third
    same = np.full((graph.count, graph.count), 0.1)
    same[d, f] = same[f, d] = 0.6
    bg = (layer == 0).astype(float)

    def tiny(feats):  # layers under 1% of the canvas are fragments
        return (feats[:, 3] < np.log(0.01) / 10.0).astype(float)

    out = spend_count_on_objects(graph, same, bg, layer, tiny)
    assert out.max() == 2 and out[d] != out[s] and out[f] == out[d] and (out[layer == 0] == 0).all()
    np.testing.assert_array_equal(spend_count_on_objects(graph, same, bg, layer, lambda x: np.zeros(len(x))), layer)
    keep = np.zeros(graph.count, bool)
    keep[[d, s]] = True  # a text line's words: not split
    np.testing.assert_array_equal(spend_count_on_objects(graph, same, bg, layer, tiny, keep=keep), layer)
