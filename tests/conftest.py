"""Shared fixtures: tiny random pipelines and paths to the shared test data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
PSD_CORPUS = SHARED / "psd-corpus"
EMOJI_DIR = SHARED / "noto-emoji-svg"

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@pytest.fixture(scope="session")
def tiny_components() -> dict:
    """Components of the 'tiny-random' preset (random weights, seeded), shared by pipeline tests."""
    from layerdiff.pipelines import LayerDecomposePipeline

    pipe = LayerDecomposePipeline.from_pretrained("tiny-random", seed=0)
    return {**pipe.components, "native_resolution": pipe.native_resolution, "max_layers": pipe.max_layers}


@pytest.fixture()
def design() -> np.ndarray:
    """A small flat 'design' (61 x 47, RGB float): gradient background, a red disc, a blue bar."""
    h, w = 47, 61
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([0.9 - 0.3 * yy / h, 0.9 - 0.2 * xx / w, np.full_like(xx, 0.8)], axis=-1)
    disc = ((yy - 20) ** 2 + (xx - 25) ** 2) < 100
    img[disc] = (0.85, 0.1, 0.1)
    img[35:41, 5:55] = (0.1, 0.2, 0.8)
    return img.astype(np.float32)
