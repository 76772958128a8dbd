"""The top-layer network (layerdiff.models.top_layer), the peeling decomposer (layerdiff.layerd) and its
training script (training/train_top_layer.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerdiff.contract import Decomposer, LayerLimitError
from layerdiff.errors import LayerdiffError
from layerdiff.layerd import LayerDDecomposer, peel_once, split_parts
from layerdiff.models.top_layer import TopLayerNet

RED, BLUE = (0.9, 0.1, 0.1), (0.1, 0.2, 0.9)


def _tiny_net(seed: int = 0) -> TopLayerNet:
    torch.manual_seed(seed)
    return TopLayerNet(widths=(4, 8), native_size=16).eval()


def _design(size: int = 48) -> np.ndarray:
    """(size, size, 4): a white page, a red square and a blue disc partly over it."""
    img = np.ones((size, size, 4), np.float32)
    s = size // 8
    img[s:5 * s, s:5 * s, :3] = RED
    yy, xx = np.mgrid[:size, :size]
    img[(yy - 4 * s) ** 2 + (xx - 5 * s) ** 2 < (2 * s) ** 2, :3] = BLUE
    return np.round(img * 255) / 255  # on the 8-bit grid, as a file holds it


class ColourOracle:
    """A stand-in network that knows the design: the blue shapes are on top (where blue shows), then the
    whole red square (where any red shows)."""

    def predict(self, image: np.ndarray) -> np.ndarray:
        rgb = image[..., :3]
        blue = np.abs(rgb - np.asarray(BLUE)).max(-1) < 0.1
        if blue.sum() > 4:
            return blue.astype(np.float32)
        s = image.shape[0] // 8
        red = np.abs(rgb[s:5 * s, s:5 * s] - np.asarray(RED)).max(-1) < 0.1
        out = np.zeros(image.shape[:2], np.float32)
        if red.sum() > 4:
            out[s:5 * s, s:5 * s] = 1.0
        return out


# ----------------------------------------------------------------------------------------------- network
def test_network_shape_and_pinned_output():
    net = _tiny_net()
    x = torch.linspace(0, 1, 2 * 4 * 16 * 16).reshape(2, 4, 16, 16)
    with torch.no_grad():
        out = net(x)  # (2, 1, 16, 16)
    assert out.shape == (2, 1, 16, 16)
    assert torch.equal(out, _tiny_net()(x).detach())  # same seed, same weights, same output
    expected = torch.tensor([-0.16747, -0.35536, -0.10517, 0.34002, 0.07249, -0.11368])
    assert torch.allclose(out[0, 0, 7, :6], expected, atol=1e-4), out[0, 0, 7, :6].tolist()


def test_network_refuses_bad_shapes():
    net = _tiny_net()
    with pytest.raises(ValueError, match="multiples of 2"):
        net(torch.zeros(1, 4, 15, 16))
    with pytest.raises(ValueError, match="multiple of"):
        TopLayerNet(widths=(4, 8, 16), native_size=18)
    with pytest.raises(ValueError, match=r"\(H, W, 4\)"):
        net.predict(np.zeros((8, 8, 3), np.float32))


def test_predict_returns_an_alpha_at_the_input_size():
    alpha = _tiny_net().predict(_design(40)[:, :36])  # (40, 36)
    assert alpha.shape == (40, 36) and alpha.dtype == np.float32
    assert 0.0 <= alpha.min() and alpha.max() <= 1.0


def test_weights_round_trip_through_safetensors(tmp_path):
    net = _tiny_net()
    net.save_pretrained(tmp_path / "top_layer")
    assert (tmp_path / "top_layer" / "diffusion_pytorch_model.safetensors").is_file()
    again = LayerDDecomposer.from_pretrained(tmp_path)
    img = _design()
    assert np.array_equal(again.net.predict(img), net.predict(img))
    assert again.name == tmp_path.name


# -------------------------------------------------------------------------------------------- decomposer
def test_peel_once_takes_the_disc_and_completes_the_square_under_it():
    img = _design()
    prob = ColourOracle().predict(img)
    layer, rest = peel_once(img, prob)
    disc = prob > 0.5
    assert np.allclose(layer[disc & (layer[..., 3] >= 0.98), :3], BLUE, atol=1 / 255)
    # what the disc hid is completed from the page and the square (red and white both have R >= 0.9),
    # never a copy of the blue disc
    assert rest[disc, 0].min() > 0.85
    assert np.abs(rest[disc, :3] - np.asarray(BLUE)).max(-1).min() > 0.3
    assert np.allclose(rest[..., 3], 1.0)


def test_the_oracle_peels_disc_then_square_then_stops():
    dec = LayerDDecomposer(ColourOracle(), max_layers=6)
    out = dec.decompose(_design())
    assert len(out) == 3  # background, square, disc
    stack = out.to_numpy()
    disc = ColourOracle().predict(_design()) > 0.5
    assert stack[2, disc, 3].mean() > 0.95 and stack[2, ~disc, 3].mean() < 0.02
    assert np.abs(out.composite() - _design()).max() <= 0.5 / 255 + 1e-6
    # the background holds no copy of the shapes: what the square alone hid is page white (the 2-px band
    # around the outlines holds unblended edge colours); what the disc hid was completed from the square
    # and the page (R >= 0.9 both), never blue
    from scipy import ndimage

    shapes = (_design()[..., :3] < 0.95).any(-1)
    band = ndimage.binary_dilation(shapes, iterations=2) & ~ndimage.binary_erosion(shapes, iterations=2)
    assert stack[0][~band & ~disc, :3].min() > 0.8
    assert stack[0][disc & ~band, 0].min() > 0.85


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5])
def test_random_network_honours_the_contract(count):
    dec = LayerDDecomposer(_tiny_net(), max_layers=5)
    assert isinstance(dec, Decomposer)
    img = _design()
    out = dec.decompose(img, num_layers=count, seed=3)
    assert len(out) == count and out.size == (48, 48)
    assert np.abs(out.composite() - img).max() <= 0.5 / 255 + 1e-6
    auto = dec.decompose(img, max_layers=3)
    assert 1 <= len(auto) <= 3
    assert np.abs(auto.composite() - img).max() <= 0.5 / 255 + 1e-6


def test_counts_beyond_the_limit_and_options_are_refused():
    dec = LayerDDecomposer(_tiny_net(), max_layers=4)
    with pytest.raises(LayerLimitError, match="at most 4"):
        dec.decompose(_design(), num_layers=5)
    with pytest.raises(LayerdiffError, match="read_text"):
        dec.decompose(_design(), read_text=True)


def test_exact_count_splits_separate_parts_and_transparency_is_kept():
    img = np.zeros((40, 40, 4), np.float32)  # a transparent sticker sheet: two blue dots
    img[5:15, 5:15] = (*BLUE, 1.0)
    img[25:35, 22:34] = (*BLUE, 1.0)
    dec = LayerDDecomposer(ColourOracle(), max_layers=4)
    out = dec.decompose(img, num_layers=3)
    stack = out.to_numpy()
    assert len(out) == 3
    assert np.abs(out.composite() - img).max() <= 0.5 / 255 + 1e-6
    assert stack[..., 3][:, img[..., 3] == 0].max() == 0  # nothing invented under transparent pixels
    # each dot whole in a layer of its own (the sheet has no background: the bottom layer holds one)
    owners = [[k for k in range(3) if (stack[k, ..., 3] > 0.5)[box].all()]
              for box in (np.s_[5:15, 5:15], np.s_[25:35, 22:34])]
    assert len(owners[0]) == len(owners[1]) == 1 and owners[0] != owners[1]


def test_split_parts():
    layer = np.zeros((20, 20, 4), np.float32)
    layer[2:6, 2:6, 3] = 1.0
    layer[10:18, 10:18, 3] = 1.0
    big, small = split_parts(layer)
    assert big[..., 3].sum() == 64 and small[..., 3].sum() == 16
    assert split_parts(big) is None


def test_from_pretrained_needs_a_top_layer_network():
    with pytest.raises(LayerdiffError, match="no top-layer network"):
        LayerDDecomposer.from_pretrained("cluster-matting")


# -------------------------------------------------------------------------------------------- training
def test_peel_examples_follow_occlusion():
    from training.train_top_layer import peel_examples, top_layers

    stack = np.zeros((4, 16, 16, 4), np.float32)
    stack[0, ..., 3] = 1.0  # background
    stack[1, 2:10, 2:10, 3] = 1.0  # a panel ...
    stack[2, 4:8, 4:8, 3] = 1.0  # ... with a badge over it
    stack[3, 12:15, 12:15, 3] = 1.0  # a separate dot
    assert top_layers(stack[..., 3], [0, 1, 2, 3], floor=0) == [2, 3]
    pairs = peel_examples(stack)
    assert len(pairs) == 3  # badge + dot, then the panel, then the background alone
    assert pairs[0][1].sum() == 16 + 9 and pairs[1][1].sum() == 64 and pairs[2][1].sum() == 0
    assert np.allclose(pairs[1][0][..., 3], 1.0)
    assert len(peel_examples(stack[1:], opaque_background=False)) == 2  # transparent: panel is last


def test_training_runs_two_steps_and_refuses_held_out_seeds(tmp_path):
    from training import train_top_layer

    with pytest.raises(SystemExit):
        train_top_layer.main(["--data-seed", "2718", "--output-dir", str(tmp_path / "no")])
    run = tmp_path / "run"
    assert train_top_layer.main(["--steps", "2", "--designs", "2", "--batch-size", "2", "--native-size", "32",
                                 "--widths", "4,8", "--threads", "1", "--log-every", "1",
                                 "--output-dir", str(run)]) == 0
    assert (run / "loss.csv").read_text().count("\n") == 3  # header and two logged steps
    dec = LayerDDecomposer.from_pretrained(run / "final")
    assert dec.net.config.native_size == 32
    assert len(dec.decompose(_design(), num_layers=2)) == 2
