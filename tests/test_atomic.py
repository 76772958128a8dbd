"""Output safety: folders layerdiff did not write are never replaced, killed runs leave no temporaries
behind on the next write, and the outputs of one command are written as one set with one run id."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from layerdiff.atomic import (
    AtomicSet,
    FolderNotOursError,
    atomic_dir,
    atomic_path,
    remove_stale_temporaries,
)
from layerdiff.cli import main
from layerdiff.cli.outputs import write_outputs
from layerdiff.io import load, save, save_set
from layerdiff.layered import Layer, LayeredImage

ROOT = Path(__file__).resolve().parents[1]


def small_image(value: int = 200) -> LayeredImage:
    bg = np.zeros((16, 20, 4), np.uint8)
    bg[..., :3], bg[..., 3] = (10, 20, 30), 255
    dot = np.zeros((6, 5, 4), np.uint8)
    dot[..., 0], dot[..., 3] = value, 255
    return LayeredImage((20, 16), [Layer(bg, name="bg"), Layer(dot, name="dot", offset=(3, 4))])


def _png(path: Path) -> Path:
    Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(path)
    return path


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# ------------------------------------------------------------------------------ item 1: foreign folders
def test_convert_into_a_users_folder_refuses_and_deletes_nothing(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"precious")
    (folder / "sub").mkdir()
    (folder / "sub" / "notes.txt").write_text("keep me")
    code = main(["convert", str(_png(tmp_path / "in.png")), str(folder)])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert len(err.splitlines()) == 1 and "refusing to replace" in err and "not a layerdiff output" in err
    assert (folder / "holiday.jpg").read_bytes() == b"precious"
    assert (folder / "sub" / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png", "photos"]  # no temporary left


def test_convert_replaces_its_own_png_folder_but_not_one_with_a_users_file(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    assert main(["convert", str(_png(tmp_path / "in.png")), str(folder)]) == 0
    save(small_image(), folder)  # our folder, written again: replaced
    assert len(load(folder)) == 2
    (folder / "mine.txt").write_text("added by the user")
    with pytest.raises(FolderNotOursError, match="not a layerdiff output"):
        save(small_image(), folder)
    assert (folder / "mine.txt").read_text() == "added by the user"
    assert len(load(folder)) == 2


def test_an_existing_file_is_not_replaced_by_a_folder(tmp_path: Path) -> None:
    target = tmp_path / "thing"
    target.write_text("a file")
    with pytest.raises(FolderNotOursError, match="not a folder"):
        save(small_image(), target, format="png-dir")
    assert target.read_text() == "a file"


def test_decompose_output_png_folder_of_a_user_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import layerdiff.io as io_module

    out = tmp_path / "out"
    (out / "png").mkdir(parents=True)
    (out / "png" / "logo.png").write_bytes(b"user data")
    args = argparse.Namespace(output=str(out), formats="psd,png,ora")
    written = []

    def spy(*a: object, **k: object) -> None:
        written.append(a)

    monkeypatch.setattr(io_module, "write_psd_to", spy)
    with pytest.raises(FolderNotOursError):
        write_outputs(small_image(), args, "poster")
    assert written == []  # refused before any output was encoded
    assert (out / "png" / "logo.png").read_bytes() == b"user data"
    assert sorted(p.name for p in out.iterdir()) == ["png"]  # refused before anything was written


def test_atomic_dir_default_recognises_layerdiff_folders_only(tmp_path: Path) -> None:
    asset = tmp_path / "asset"
    asset.mkdir()
    (asset / "asset.json").write_text(json.dumps({"format": "layerdiff-batch-asset"}))
    with atomic_dir(asset) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in asset.iterdir()) == ["new.txt"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "asset.json").write_text(json.dumps({"format": "somebody-else"}))
    with pytest.raises(FolderNotOursError), atomic_dir(other) as tmp:
        (tmp / "new.txt").write_text("new")
    assert (other / "asset.json").is_file() and not (other / "new.txt").exists()
    model = tmp_path / "model"
    model.mkdir()
    (model / "model_index.json").write_text(json.dumps({"_class_name": "LayerDecomposePipeline"}))
    with atomic_dir(model) as tmp:  # an exported layerdiff model folder
        (tmp / "model_index.json").write_text("{}")
    (model / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    with pytest.raises(FolderNotOursError), atomic_dir(model) as tmp:
        pass
    with atomic_dir(other, owned=lambda p: True) as tmp:  # the caller vouches for it
        (tmp / "x").write_text("x")
    assert sorted(p.name for p in other.iterdir()) == ["x"]


# ------------------------------------------------------------------------------ item 2: temporaries, sets
def test_stale_temporaries_of_dead_processes_are_removed_on_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "x.psd"
    dead = tmp_path / f".x.psd.{_dead_pid()}-abc123.psd.part"
    alive = tmp_path / f".x.psd.{os.getppid()}-abc123.psd.part"
    legacy_old = tmp_path / ".x.psd.ab12cd34.psd.part"
    legacy_new = tmp_path / ".x.psd.zz12cd34.psd.part"
    dead_dir = tmp_path / f".png.{_dead_pid()}-q1w2e3.part"
    unrelated = tmp_path / ".y.psd.1-abc.psd.part"
    for p in (dead, alive, legacy_old, legacy_new, unrelated):
        p.write_bytes(b"")
    dead_dir.mkdir()
    (dead_dir / "0001_a.png").write_bytes(b"x")
    old = time.time() - 7200
    os.utime(legacy_old, (old, old))
    save(small_image(), target)
    names = {p.name for p in tmp_path.iterdir()}
    assert dead.name not in names and legacy_old.name not in names
    assert {alive.name, legacy_new.name, unrelated.name, dead_dir.name} <= names
    save(small_image(), tmp_path / "png", format="png-dir")
    assert not dead_dir.exists()
    assert remove_stale_temporaries(target) == 0


def test_atomic_path_temporary_names_carry_the_pid(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "a.zip") as tmp:
        assert tmp.name.startswith(f".a.zip.{os.getpid()}-") and tmp.name.endswith(".zip.part")
        tmp.write_bytes(b"z")
    assert (tmp_path / "a.zip").read_bytes() == b"z"


def test_atomic_set_leaves_the_old_set_whole_when_a_write_fails(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("old a")
    with pytest.raises(RuntimeError), AtomicSet() as outputs:
        outputs.file(tmp_path / "a.txt").write_text("new a")
        outputs.file(tmp_path / "b.txt").write_text("new b")
        raise RuntimeError("writer failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    assert (tmp_path / "a.txt").read_text() == "old a"


def test_save_set_records_one_run_id_in_every_output(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    targets = [(tmp_path / "x.psd", None), (tmp_path / "png", "png-dir"), (tmp_path / "x.ora", None),
               (tmp_path / "x.zip", None)]
    written, run = save_set(small_image(), targets)
    assert written == [p for p, _ in targets]
    assert {load(p).metadata["run"] for p in written} == {run}
    assert main(["info", str(tmp_path / "x.psd")]) == 0
    assert f"written by run {run}" in capsys.readouterr().out.splitlines()[0]
    _, run2 = save_set(small_image(90), targets)
    assert run2 != run and {load(p).metadata["run"] for p in written} == {run2}


_KILLER = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    import layerdiff.atomic as atomic
    import layerdiff.io as io
    from layerdiff.layered import Layer, LayeredImage

    out, value, where = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if where == "writing":  # killed after the PSD and the PNG folder were staged, inside the ORA writer
        def die(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)
        io.write_ora_to = die
    elif where == "renaming":  # killed between the renames of the commit
        real, calls = os.replace, []
        def replace(src, dst):
            calls.append(dst)
            if len(calls) == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            real(src, dst)
        atomic.os.replace = replace
    px = np.zeros((8, 8, 4), np.uint8)
    px[..., 0], px[..., 3] = value, 255
    image = LayeredImage((8, 8), [Layer(px, name="a")])
    io.save_set(image, [(out + "/x.psd", None), (out + "/png", "png-dir"), (out + "/x.ora", None)],
                run=f"run{value}")
""")


def _run_killer(out: Path, value: int, where: str) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", _KILLER, str(out), str(value), where], env=env,
                          timeout=600).returncode


def _runs(out: Path) -> dict[str, str]:
    return {name: load(out / name).metadata["run"] for name in ("x.psd", "png", "x.ora")}


def test_killed_decompose_outputs_stay_one_set_and_leave_no_temporaries(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _run_killer(out, 10, "none") == 0
    assert set(_runs(out).values()) == {"run10"}
    assert _run_killer(out, 20, "writing") == -9
    assert set(_runs(out).values()) == {"run10"}  # the killed run changed none of the outputs
    assert any(p.name.endswith(".part") for p in out.iterdir())  # ... and left its temporaries
    assert _run_killer(out, 30, "renaming") == -9
    runs = _runs(out)
    assert runs["x.psd"] == "run30" and runs["png"] == "run10"  # mixed, and each says which run wrote it
    assert _run_killer(out, 40, "none") == 0
    assert set(_runs(out).values()) == {"run40"}
    assert sorted(p.name for p in out.iterdir()) == ["png", "x.ora", "x.psd"]  # stale temporaries gone
    assert int(np.asarray(load(out / "png").layers[0].pixels)[0, 0, 0] * 255 + 0.5) == 40


def test_a_folder_moved_aside_by_a_killed_swap_is_restored(tmp_path: Path) -> None:
    target = tmp_path / "png"
    save(small_image(), target)
    aside = tmp_path / f".png.{_dead_pid()}-k1l2.old"
    os.replace(target, aside)  # what a kill between the two renames of a swap leaves
    assert remove_stale_temporaries(target) == 1
    assert not aside.exists() and len(load(target)) == 2


def test_a_folder_moved_aside_that_cannot_be_restored_is_kept(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "png"
    save(small_image(), target)
    aside = tmp_path / f".png.{_dead_pid()}-k1l2.old"
    os.replace(target, aside)

    def refuse(src: object, dst: object) -> None:
        raise PermissionError("read-only folder")

    monkeypatch.setattr(os, "replace", refuse)
    assert remove_stale_temporaries(target) == 0
    assert aside.is_dir() and len(load(aside)) == 2  # the user's previous output is not deleted
