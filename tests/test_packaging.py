"""A regular (non-editable) install carries every module and the embedded weights.

An editable install imports straight from the source tree, so a subpackage missing from
``[tool.setuptools] packages`` only breaks regular installs (``pip install .``, wheels): the
region layering of layerdiff-tiny once did.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO

tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11 (CI runs 3.11)")


def _setuptools_table() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]


def _module_folders() -> dict[str, Path]:
    """Every folder holding Python modules, by the package name an install gives it."""
    out = {}
    for package, folder in _setuptools_table()["package-dir"].items():
        root = REPO / folder
        for module in root.rglob("*.py"):
            rel = module.parent.relative_to(root).parts
            if "__pycache__" not in rel:
                out[".".join((package, *rel))] = module.parent
    return out


def test_every_module_folder_is_a_listed_package_with_an_init() -> None:
    listed = set(_setuptools_table()["packages"])
    folders = _module_folders()
    assert "layerdiff.regions" in folders
    missing = sorted(set(folders) - listed)
    assert not missing, f"folders with modules that a regular install leaves out: {missing}"
    no_init = sorted(name for name, folder in folders.items() if not (folder / "__init__.py").is_file())
    assert not no_init, f"packages without __init__.py: {no_init}"


@pytest.mark.slow
def test_wheel_holds_every_module_and_the_embedded_weights(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(REPO),
                    "-w", str(tmp_path)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("layerdiff-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for package, folder in _module_folders().items():
        for module in folder.glob("*.py"):
            assert f"{package.replace('.', '/')}/{module.name}" in names
    weights = REPO / "layerdiff" / "weights"
    for f in weights.rglob("*"):
        if f.is_file():
            assert f"layerdiff/{f.relative_to(REPO / 'layerdiff').as_posix()}" in names
    assert "layerdiff/samples/poster.png" in names
