"""Shared fixtures: tiny random pipelines and paths to the test data.

Test data:

- ``PSD_FILES`` (``tests/data/psd``): a committed subset of psd-tools' test files that the unit tests read,
  so the suite passes on a plain clone.
- ``PSD_CORPUS``: the whole psd-tools corpus (204 files) in ``<shared>/data/psd-corpus``, outside the
  repository. Tests marked ``psd_corpus`` need it; they are skipped where it is absent, and the terminal
  summary says either how many corpus files the marked tests covered or that they were not run.
- Emoji: ``LAYERDIFF_EMOJI_DIR`` is pointed at ``<shared>/data/noto-emoji-svg`` when present, otherwise at
  the committed subset in ``tests/data/emoji`` (an explicit ``LAYERDIFF_EMOJI_DIR`` is left alone).

``<shared>`` is ``$LAYERDIFF_SHARED_DIR`` or ``../shared`` next to the checkout; pointing the variable at an
empty folder runs the suite as a plain clone would.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LAYERDIFF_SHARED_DIR") or REPO.parent / "shared") / "data"
PSD_CORPUS = SHARED / "psd-corpus"
PSD_FILES = REPO / "tests" / "data" / "psd"
EMOJI_DIR = SHARED / "noto-emoji-svg"
EMOJI_SUBSET = REPO / "tests" / "data" / "emoji"
CORPUS_MARK = "psd_corpus"

if not os.environ.get("LAYERDIFF_EMOJI_DIR"):
    os.environ["LAYERDIFF_EMOJI_DIR"] = str(EMOJI_DIR if EMOJI_DIR.is_dir() else EMOJI_SUBSET)

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


def corpus_files() -> list[Path]:
    """The PSD/PSB files of the whole corpus, sorted; empty where the corpus is absent."""
    if not PSD_CORPUS.is_dir():
        return []
    return sorted(p for p in PSD_CORPUS.iterdir() if p.suffix.lower() in (".psd", ".psb"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{CORPUS_MARK}: needs the whole PSD corpus (<shared>/data/psd-corpus); "
                                       "skipped where it is absent, and the summary says so")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if PSD_CORPUS.is_dir():
        return
    skip = pytest.mark.skip(reason=f"psd-corpus not present ({PSD_CORPUS})")
    for item in items:
        if item.get_closest_marker(CORPUS_MARK):
            item.add_marker(skip)


_CORPUS_TESTS = {"ran": 0, "skipped": 0}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count the corpus tests: a skip is reported by the setup phase, a run by the call phase."""
    if CORPUS_MARK not in report.keywords:
        return
    if report.when == "call":
        _CORPUS_TESTS["ran"] += 1
    elif report.when == "setup" and report.skipped:
        _CORPUS_TESTS["skipped"] += 1


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """One line on the PSD corpus and one on the emoji library, so a skipped corpus shows in every log."""
    ran, skipped = _CORPUS_TESTS["ran"], _CORPUS_TESTS["skipped"]
    files = corpus_files()
    if not files:
        line = (f"psd-corpus: not present ({PSD_CORPUS}), {skipped} whole-corpus tests not run"
                if skipped else f"psd-corpus: not present ({PSD_CORPUS}), no whole-corpus test selected")
    elif ran or skipped:
        line = f"psd-corpus: {len(files)} files in {PSD_CORPUS}, {ran} corpus tests ran ({skipped} skipped)"
    else:
        line = f"psd-corpus: {len(files)} files present, no whole-corpus test selected"
    emoji = Path(os.environ["LAYERDIFF_EMOJI_DIR"])
    count = len(list(emoji.glob("u*.svg"))) if emoji.is_dir() else 0
    terminalreporter.write_line(line)
    terminalreporter.write_line(f"emoji: {count} SVGs in {emoji}")


@pytest.fixture(scope="session")
def tiny_components() -> dict:
    """Components of the 'tiny-random' preset (random weights, seeded), shared by pipeline tests."""
    from layerdiff.pipelines import LayerDecomposePipeline

    pipe = LayerDecomposePipeline.from_pretrained("tiny-random", seed=0)
    return dict(pipe.components)


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
