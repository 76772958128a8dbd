"""The suite's own test data: the committed subsets carry their licences, and a run without the shared
corpus says so in its summary instead of skipping in silence."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import EMOJI_SUBSET, PSD_FILES, REPO


def test_committed_subsets_are_small_and_licensed() -> None:
    psd = [p for p in PSD_FILES.iterdir() if p.suffix.lower() in (".psd", ".psb")]
    assert len(psd) >= 20 and sum(p.stat().st_size for p in psd) < 600_000
    assert "Permission is hereby granted" in (PSD_FILES / "LICENSE-psd-tools.txt").read_text()
    readme = (PSD_FILES / "README.md").read_text()
    assert "psd-tools" in readme and "MIT" in readme
    emoji = list(EMOJI_SUBSET.glob("u*.svg"))
    assert len(emoji) >= 10 and (EMOJI_SUBSET / "u1f600.svg").is_file()
    assert "Apache License, Version 2.0" in (EMOJI_SUBSET / "LICENSE-noto-emoji.txt").read_text()
    assert "Noto Emoji" in (EMOJI_SUBSET / "README.md").read_text()


def _pytest(shared: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("LAYERDIFF_EMOJI_DIR", "PYTEST_ADDOPTS")}
    env["LAYERDIFF_SHARED_DIR"] = str(shared)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=600)


def test_without_the_shared_folder_the_corpus_tests_are_skipped_and_counted(tmp_path: Path) -> None:
    proc = _pytest(tmp_path, "tests/test_io_roundtrip.py", "-k", "colour_modes")
    assert proc.returncode == 0, proc.stdout[-2000:]
    corpus = tmp_path / "data" / "psd-corpus"
    assert f"psd-corpus: not present ({corpus}), 3 whole-corpus tests not run" in proc.stdout
    assert f"emoji: {len(list(EMOJI_SUBSET.glob('u*.svg')))} SVGs in {EMOJI_SUBSET}" in proc.stdout
    assert "3 skipped" in proc.stdout


def test_a_present_corpus_is_named_with_its_file_count(tmp_path: Path) -> None:
    corpus = tmp_path / "data" / "psd-corpus"
    corpus.mkdir(parents=True)
    for name in ("1layer.psd", "2layers.psb"):
        shutil.copy(PSD_FILES / name, corpus / name)
    (tmp_path / "data" / "noto-emoji-svg").mkdir()
    shutil.copy(EMOJI_SUBSET / "u1f600.svg", tmp_path / "data" / "noto-emoji-svg" / "u1f600.svg")
    proc = _pytest(tmp_path, "tests/test_io_roundtrip.py::test_16_bit_srgb_psd_keeps_16_bit")
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "psd-corpus: 2 files present, no whole-corpus test selected" in proc.stdout
    assert f"emoji: 1 SVGs in {tmp_path / 'data' / 'noto-emoji-svg'}" in proc.stdout
