"""Learned region layering: targets, features, the RegionLayerer model, the solver, the decomposer and
its training script."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from model_mixin import ModelTesterMixin

from layerdiff.models.region_layerer import RegionLayerer
from layerdiff.regions.decomposer import RegionLayerDecomposer
from layerdiff.regions.features import (
    PAIR_FEATURES,
    REGION_FEATURES,
    all_pairs,
    pair_features,
    region_features,
    swap_pairs,
)
from layerdiff.regions.graph import region_graph, relation_targets, visible_layer_counts
from layerdiff.regions.solve import assign_layers


def _design() -> np.ndarray:
    """Three layers on 64x64: white background, a red square, a blue disc biting into its right edge."""
    h = w = 64
    stack = np.zeros((3, h, w, 4), np.float32)
    stack[0] = (1.0, 1.0, 1.0, 1.0)
    stack[1, 10:40, 10:40] = (0.9, 0.1, 0.1, 1.0)
    yy, xx = np.mgrid[:h, :w]
    disc = (yy - 25) ** 2 + (xx - 40) ** 2 < 10 ** 2
    stack[2][disc] = (0.1, 0.2, 0.9, 1.0)
    return stack


def _composite(stack: np.ndarray) -> np.ndarray:
    out = stack[0].copy()
    for layer in stack[1:]:
        a = layer[..., 3:]
        out[..., :3] = layer[..., :3] * a + out[..., :3] * (1 - a)
    return out


# ------------------------------------------------------------------------------ targets
def test_visible_layer_counts_by_hand():
    labels = np.array([[0, 0, 1], [0, 2, 1]])
    stack = np.zeros((2, 2, 3, 4), np.float32)
    stack[0, ..., 3] = 1
    stack[1, 0, 2, 3] = 1.0  # layer 1 shows at (0, 2) only (region 1)
    stack[1, 1, 1, 3] = 0.4  # below 0.5: region 2 still shows the background
    counts = visible_layer_counts(labels, stack)
    np.testing.assert_array_equal(counts, [[3, 0], [1, 1], [1, 0]])


def test_relation_targets_by_hand():
    counts = np.array([[10, 0, 0], [0, 4, 0], [0, 3, 1], [0, 0, 5]])
    pairs = np.array([[0, 1], [1, 2], [3, 0], [2, 3]])
    rel, weight, bg = relation_targets(counts, pairs)
    np.testing.assert_array_equal(rel, [2, 0, 1, 2])  # second above / same / first above / second above
    np.testing.assert_allclose(weight, [1.0, 0.75, 1.0, 0.75])
    np.testing.assert_array_equal(bg, [1, 0, 0, 0])


# ------------------------------------------------------------------------------ features
def test_features_are_finite_and_swap_the_roles():
    graph = region_graph(_composite(_design()))
    assert graph.count == 3
    reg = region_features(graph)
    assert reg.shape == (3, REGION_FEATURES) and np.isfinite(reg).all()
    pairs = all_pairs(graph.count)
    fwd = pair_features(graph, pairs, reg)
    bwd = pair_features(graph, pairs[:, ::-1].copy(), reg)
    assert fwd.shape == (3, PAIR_FEATURES) and np.isfinite(fwd).all()
    r = REGION_FEATURES
    np.testing.assert_array_equal(fwd[:, :r], bwd[:, r:2 * r])  # region blocks exchanged
    np.testing.assert_allclose(fwd[:, 2 * r + 6], bwd[:, 2 * r + 7])  # hull containment exchanged
    np.testing.assert_allclose(fwd[:, 2 * r + 17], -bwd[:, 2 * r + 17])  # occlusion sign flips
    np.testing.assert_allclose(swap_pairs(fwd), bwd, atol=1e-6)  # the other order, derived


def test_pair_features_have_the_shipped_width():
    """Only the layout the shipped layerer reads exists: 2 x 20 region features + 18 relations."""
    assert PAIR_FEATURES == 58 and REGION_FEATURES == 20
    img, labels = np.ones((16, 32, 4), np.float32), np.zeros((16, 32), np.int64)
    labels[:, 16:] = 1
    img[:, 16:, :3] = 0.2
    from layerdiff.regions.graph import graph_from_labels

    feats = pair_features(graph_from_labels(img, labels), np.array([[0, 1]]))
    assert feats.shape == (1, PAIR_FEATURES)


# ------------------------------------------------------------------------------ solver
def _relations(layer_of: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    g = np.asarray(layer_of)
    same = (g[:, None] == g[None]).astype(float)
    above = (g[:, None] > g[None]).astype(float)
    return same, above, (g == 0).astype(float)


def test_assign_layers_recovers_groups_and_order():
    truth = [0, 2, 1, 2, 0, 3]
    same, above, bg = _relations(truth)
    area = np.array([500.0, 40, 60, 30, 100, 20])
    np.testing.assert_array_equal(assign_layers(same, above, bg, area), truth)


def test_assign_layers_meets_wanted_and_max_counts():
    same, above, bg = _relations([0, 1, 2, 3, 4])
    area = np.full(5, 50.0)
    assert assign_layers(same, above, bg, area, max_layers=3).max() == 2
    got = assign_layers(same, above, bg, area, wanted=2)
    assert got.max() == 1 and got[0] == 0
    assert np.all(np.diff(assign_layers(same, above, bg, area)) == 1)  # order kept


def test_assign_layers_absorbs_small_layers_into_best_linked_group():
    truth = [0, 1, 1, 2, 3]
    same, above, bg = _relations(truth)
    same[4, 1] = same[1, 4] = 0.2  # the speck (region 4) resembles layer 1 more than anything else
    area = np.array([1000.0, 200, 200, 150, 10])
    np.testing.assert_array_equal(assign_layers(same, above, bg, area), truth)  # off by default
    np.testing.assert_array_equal(assign_layers(same, above, bg, area, min_area=50.0), [0, 1, 1, 2, 1])
    # smallest first (the speck, then region 3, which has no link and joins the first group), never
    # below two layers
    np.testing.assert_array_equal(assign_layers(same, above, bg, area, min_area=1000.0), [0, 1, 1, 0, 1])
    # an exact count is kept
    assert assign_layers(same, above, bg, area, wanted=4, min_area=50.0).max() == 3


def test_assign_layers_rejects_nonsense():
    with pytest.raises(ValueError, match="no regions"):
        assign_layers(np.zeros((0, 0)), np.zeros((0, 0)), np.zeros(0), np.zeros(0))


# ------------------------------------------------------------------------------ model
class TestRegionLayererModel(ModelTesterMixin):
    shape_cases = [5, 1]

    def make_model(self):
        torch.manual_seed(0)
        return RegionLayerer(region_features=REGION_FEATURES, pair_features=PAIR_FEATURES, width=16, depth=2).eval()

    def make_inputs(self, case):
        g = torch.Generator().manual_seed(case)
        return {"pair_feats": torch.randn(case, PAIR_FEATURES, generator=g),
                "swapped_feats": torch.randn(case, PAIR_FEATURES, generator=g)}

    def run(self, model, inputs):
        return model(**inputs)

    def expected_shape(self, case):
        return (case, 3)


def test_numpy_runtime_matches_the_torch_model(tmp_path):
    from layerdiff.regions.runtime import NumpyRegionLayerer

    model = TestRegionLayererModel().make_model()
    model.save_pretrained(tmp_path / "layerer")
    fast = NumpyRegionLayerer.from_pretrained(tmp_path / "layerer")
    rng = np.random.default_rng(0)
    fwd, bwd = rng.normal(size=(9, PAIR_FEATURES)).astype(np.float32), rng.normal(size=(9, PAIR_FEATURES))
    np.testing.assert_allclose(fast.pair_probabilities(fwd, bwd), model.pair_probabilities(fwd, bwd.astype(np.float32)),
                               atol=1e-5)
    reg = rng.normal(size=(4, REGION_FEATURES)).astype(np.float32)
    np.testing.assert_allclose(fast.background_probabilities(reg), model.background_probabilities(reg), atol=1e-5)
    image = _composite(_design())
    a = RegionLayerDecomposer(model).decompose(image).to_numpy()
    b = RegionLayerDecomposer.from_pretrained(tmp_path / "layerer").decompose(image).to_numpy()
    np.testing.assert_allclose(a, b, atol=1e-6)
    with pytest.raises(Exception, match="not a layerer folder"):
        NumpyRegionLayerer.from_pretrained(tmp_path)


def test_relations_do_not_depend_on_pair_order():
    model = TestRegionLayererModel().make_model()
    a, b = torch.randn(7, PAIR_FEATURES), torch.randn(7, PAIR_FEATURES)
    p = model.relations(a, b)
    q = model.relations(b, a)
    torch.testing.assert_close(p[:, 0], q[:, 0])
    torch.testing.assert_close(p[:, 1], q[:, 2])
    torch.testing.assert_close(p.sum(-1), torch.ones(7))


# ------------------------------------------------------------------------------ decomposer
class _OracleLayerer:
    """Stands in for a trained RegionLayerer: answers from a known layer per region colour."""

    def __init__(self, layer_by_colour: dict[tuple[int, int, int], int]) -> None:
        self.layer_by_colour = layer_by_colour
        self.layers: np.ndarray | None = None

    def eval(self):
        return self

    def bind(self, graph) -> None:
        keys = np.asarray(list(self.layer_by_colour), float) / 10  # (K, 3)
        values = list(self.layer_by_colour.values())
        found = []
        for r in range(graph.count):
            px = graph.image[graph.regions.labels == r][:, :3].mean(0)  # nearest known colour
            found.append(values[int(np.argmin(((keys - px) ** 2).sum(1)))])
        self.layers = np.asarray(found)

    def pair_probabilities(self, fwd, bwd):
        n = len(self.layers)
        i, j = all_pairs(n).T
        li, lj = self.layers[i], self.layers[j]
        return np.stack([li == lj, li > lj, li < lj], -1).astype(np.float64)

    def background_probabilities(self, regional):
        return (self.layers == 0).astype(np.float64)


def bind_oracles(monkeypatch) -> None:
    """Make the decomposer show each graph to an oracle layerer before asking it."""
    from layerdiff.regions import decomposer as mod

    real = mod.predict_relations

    def bound(layerer, graph):
        layerer.bind(graph)
        return real(layerer, graph)

    monkeypatch.setattr(mod, "predict_relations", bound)


def test_decomposer_with_known_relations_recovers_the_layers(monkeypatch):
    stack = _design()
    image = _composite(stack)
    oracle = _OracleLayerer({(10, 10, 10): 0, (9, 1, 1): 1, (1, 2, 9): 2})
    bind_oracles(monkeypatch)
    out = RegionLayerDecomposer(oracle).decompose(image).to_numpy()  # (K, H, W, 4)
    assert out.shape[0] == 3
    assert np.abs(_composite(out) - image).max() <= 1 / 255 + 1e-6  # exact recomposition
    square = np.zeros((64, 64), bool)
    square[10:40, 10:40] = True
    inter = np.minimum(out[1, ..., 3], square).sum()
    assert inter / np.maximum(out[1, ..., 3], square).sum() > 0.95  # the square is completed under the disc
    np.testing.assert_allclose(out[1, 35, 35, :3], (0.9, 0.1, 0.1), atol=0.02)  # hidden colour filled
    # a layer under the minimum area is absorbed (the disc covers ~8% of the 64x64 image)
    merged = RegionLayerDecomposer(oracle, min_layer_area=0.15).decompose(image).to_numpy()
    assert merged.shape[0] == 2
    assert np.abs(_composite(merged) - image).max() <= 1 / 255 + 1e-6
    with pytest.raises(ValueError, match="min_layer_area"):
        RegionLayerDecomposer(oracle, min_layer_area=1.5)


def test_decomposer_with_a_random_model_runs_every_count():
    image = _composite(_design())
    dec = RegionLayerDecomposer(TestRegionLayererModel().make_model())
    for n in (1, 2, 4):
        out = dec.decompose(image, num_layers=n).to_numpy()
        assert out.shape[0] == n
        assert np.abs(_composite(out) - image).max() <= 1 / 255 + 1e-6
    auto = dec.decompose(image, max_layers=3)
    assert 1 <= len(auto) <= 3


# ------------------------------------------------------------------------------ training
def _cfg(tmp_path: Path, steps: int, name: str = "run"):
    from training.common import RunConfig

    cfg = RunConfig(output_dir=str(tmp_path / name), steps=steps, batch_size=64, lr=1e-3, warmup_steps=1,
                    checkpoint_every=2, log_every=1, ema_decay=0.9)
    cfg.extra = {"designs": 3, "data_seed": 1, "size": 64, "max_layers": 4, "width": 16, "depth": 1,
                 "background_weight": 0.5, "workers": 2}
    return cfg


def _losses(run: Path) -> list[float]:
    with (run / "loss.csv").open() as fh:
        return [float(r["loss"]) for r in csv.DictReader(fh)]


def test_train_layerer_runs_resumes_and_exports(tmp_path):
    from training import train_layerer

    full = _cfg(tmp_path, 4)
    assert train_layerer.train(full) == 0
    run = Path(full.output_dir)
    assert len(list((run / "segments").glob("*.npz"))) == 3 and (run / "features.npz").is_file()
    model = RegionLayerer.from_pretrained(run / "final" / "layerer")
    assert model.config.width == 16 and model.config.pair_features == PAIR_FEATURES
    expected = _losses(run)
    part = replace(full, output_dir=str(tmp_path / "resumed"), steps=2)
    train_layerer.train(part)
    train_layerer.train(replace(part, steps=4))
    np.testing.assert_allclose(_losses(Path(part.output_dir)), expected, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------ referring extraction
def _oracle_referrer(monkeypatch):
    from layerdiff.regions import decomposer as mod
    from layerdiff.regions.referrer import RegionReferrer

    oracle = _OracleLayerer({(10, 10, 10): 0, (9, 1, 1): 1, (1, 2, 9): 2})
    real = mod.predict_relations

    def bound(layerer, graph):
        layerer.bind(graph)
        return real(layerer, graph)

    monkeypatch.setattr("layerdiff.regions.referrer.predict_relations", bound)
    return RegionReferrer(oracle)


def _square() -> np.ndarray:
    sq = np.zeros((64, 64), bool)
    sq[10:40, 10:40] = True
    return sq


def _iou(alpha: np.ndarray, mask: np.ndarray) -> float:
    return float(np.minimum(alpha, mask).sum() / np.maximum(alpha, mask).sum())


@pytest.mark.parametrize("prompt", [
    {"points": [(15, 15)]},
    {"box": (8, 8, 42, 42)},
    {"text": "the red square"},
    {"mask": "visible"},
])
def test_region_referrer_extracts_the_amodal_object(monkeypatch, prompt):
    from layerdiff.referring import ReferringPrompt

    image = _composite(_design())
    if prompt.get("mask") == "visible":
        prompt = {"mask": _square() & (np.abs(image[..., 0] - 0.9) < 0.05)}
    out = _oracle_referrer(monkeypatch).extract(image, ReferringPrompt(**prompt)).to_numpy()
    assert out.shape[0] == 2
    assert np.abs(_composite(out) - image).max() <= 1 / 255 + 1e-6
    assert _iou(out[1, ..., 3], _square()) > 0.95  # the square, completed under the disc
    hole = _square() & ~((np.mgrid[:64, :64][0] - 25) ** 2 + (np.mgrid[:64, :64][1] - 40) ** 2 < 100)
    np.testing.assert_allclose(out[0][hole][:, :3].mean(0), (1, 1, 1), atol=0.02)  # filled with white


def test_region_referrer_peels_front_first_and_handles_nothing(monkeypatch):
    from layerdiff.referring import ReferringPrompt

    image = _composite(_design())
    ref = _oracle_referrer(monkeypatch)
    out = ref.extract(image, [ReferringPrompt(points=[(15, 15)]), ReferringPrompt(points=[(40, 25)])])
    assert out.metadata["extraction_order"] == [1, 0]  # the disc lies on top: extracted first
    stack = out.to_numpy()
    assert stack.shape[0] == 3 and np.abs(_composite(stack) - image).max() <= 1 / 255 + 1e-6
    assert _iou(stack[1, ..., 3], _square()) > 0.95 and stack[2, 25, 40, 3] > 0.99
    nothing = ref.extract(image, ReferringPrompt(text="the green thing")).to_numpy()
    assert nothing[1, ..., 3].max() == 0 and np.abs(nothing[0] - image).max() <= 1 / 255 + 1e-6
    with pytest.raises(ValueError, match="outside"):
        ref.extract(image, ReferringPrompt(points=[(99, 5)]))
    excluded = ref.extract(image, ReferringPrompt(points=[(15, 15), (40, 25, 0)])).to_numpy()
    assert excluded[1, 25, 44, 3] < 0.5 or _iou(excluded[1, ..., 3], _square()) > 0.95


def test_cli_region_path_decomposes_without_importing_torch(tmp_path):
    import subprocess
    import sys

    from PIL import Image

    Image.fromarray((_composite(_design()) * 255).round().astype(np.uint8)).save(tmp_path / "in.png")
    code = ("import sys; from layerdiff.cli import main; rc = main(['decompose', sys.argv[1], '-o', sys.argv[2]]); "
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH'); sys.exit(rc)")
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "in.png"), str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "NO-TORCH" in run.stdout
    assert (tmp_path / "out" / "in.psd").is_file() and any((tmp_path / "out" / "png").glob("*.png"))


def test_region_referrer_maps_prompts_to_the_work_size(monkeypatch):
    from layerdiff.referring import ReferringPrompt

    big = np.repeat(np.repeat(_composite(_design()), 12, axis=0), 12, axis=1)  # (768, 768, 4) > work size
    yy, xx = np.mgrid[:768, :768] / 12.0
    disc = (yy - 25) ** 2 + (xx - 40) ** 2 < 10 ** 2  # the top layer, in full-size pixels
    ref = _oracle_referrer(monkeypatch)
    for prompt in (ReferringPrompt(points=[(480, 300)]), ReferringPrompt(box=(348, 168, 612, 432))):
        out = ref.extract(big, prompt).to_numpy()  # (2, 768, 768, 4)
        assert _iou(out[1, ..., 3], disc) > 0.9  # unscaled, these prompts would miss the disc
        assert np.abs(_composite(out) - big).max() <= 1 / 255 + 1e-6
