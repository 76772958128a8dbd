"""NumPy inference of a trained :class:`~layerdiff.models.region_layerer.RegionLayerer`.

The region path of decomposition needs neither the diffusion transformer nor torch: the layerer is
two small MLPs. Loading its safetensors with NumPy and evaluating the same layers (Linear, LayerNorm,
exact GELU) lets ``layerdiff decompose`` start without importing torch and diffusers (most of a cold
start's time). The torch module stays the one definition used for training and saving; tests check
that both give the same probabilities.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.special import erf

from ..errors import LayerdiffError

__all__ = ["NumpyRegionLayerer", "WEIGHTS_NAME"]

WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"
_LN_EPS = 1e-5  # torch.nn.LayerNorm's default


def _layers(state: dict[str, np.ndarray], prefix: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(kind, weight, bias) of ``prefix``.<i> modules in order: Linear (2-D weight) or LayerNorm (1-D)."""
    indices = sorted({int(k[len(prefix) + 1:].split(".")[0]) for k in state if k.startswith(prefix + ".")})
    out = []
    for i in indices:
        w = state[f"{prefix}.{i}.weight"].astype(np.float32)
        b = state[f"{prefix}.{i}.bias"].astype(np.float32)
        out.append(("linear" if w.ndim == 2 else "norm", w, b))
    return out


def _run(layers: list[tuple[str, np.ndarray, np.ndarray]], x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32)
    for kind, w, b in layers:
        if kind == "linear":
            x = x @ w.T + b
        else:  # LayerNorm then GELU (the hidden block of layerdiff.models.region_layerer._mlp)
            mu = x.mean(-1, keepdims=True)
            var = ((x - mu) ** 2).mean(-1, keepdims=True)
            x = (x - mu) / np.sqrt(var + _LN_EPS) * w + b
            x = 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))
    return x


class NumpyRegionLayerer:
    """The inference interface of RegionLayerer (``pair_probabilities``, ``background_probabilities``,
    ``fragment_probabilities`` when it has a fragment test) from a saved folder, in NumPy."""

    def __init__(self, config: dict, state: dict[str, np.ndarray]) -> None:
        self.config = config
        self.pair_layers = _layers(state, "pair_net")
        self.region_layers = _layers(state, "region_net")
        if not self.pair_layers or not self.region_layers:
            raise LayerdiffError("layerer weights lack pair_net / region_net tensors")
        self.layer_layers = _layers(state, "layer_net")  # the optional fragment test
        if bool(self.layer_layers) != bool(config.get("layer_features", 0)):
            raise LayerdiffError("layerer config and weights disagree about the fragment test (layer_net)")

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> NumpyRegionLayerer:
        from safetensors.numpy import load_file

        folder = Path(folder)
        config_file, weights = folder / "config.json", folder / WEIGHTS_NAME
        if not config_file.is_file() or not weights.is_file():
            raise LayerdiffError(f"{folder}: not a layerer folder (config.json and {WEIGHTS_NAME} expected)")
        return cls(json.loads(config_file.read_text()), load_file(str(weights)))

    def eval(self) -> NumpyRegionLayerer:
        return self

    def pair_probabilities(self, fwd: np.ndarray, bwd: np.ndarray) -> np.ndarray:
        """Order-consistent relation probabilities (m, 3): [same, first above, second above]."""
        logits = 0.5 * (_run(self.pair_layers, fwd) + _run(self.pair_layers, bwd)[:, [0, 2, 1]])  # (m, 3)
        logits -= logits.max(-1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(-1, keepdims=True)

    def background_probabilities(self, regional: np.ndarray) -> np.ndarray:
        """P(region in the bottom layer) (n,)."""
        return 1.0 / (1.0 + np.exp(-_run(self.region_layers, regional)[:, 0]))

    @property
    def has_fragment_test(self) -> bool:
        return bool(self.layer_layers)

    def fragment_probabilities(self, layer_feats: np.ndarray) -> np.ndarray:
        """P(fragment) (K,) of proposed layers' features (K, LAYER_FEATURES)."""
        if not self.layer_layers:
            raise LayerdiffError("this layerer has no fragment test (layer_features=0)")
        return 1.0 / (1.0 + np.exp(-_run(self.layer_layers, layer_feats)[:, 0]))
