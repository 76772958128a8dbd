"""Record what the embedded model produces for fixed inputs, through the command line, as hashes.

A restructuring must not change what users get. Run this before and after a change and compare:

    python tools/behaviour_snapshot.py make-inputs /tmp/snap/inputs      # once, from any version
    python tools/behaviour_snapshot.py run /tmp/snap/inputs before.json
    ... change the code ...
    python tools/behaviour_snapshot.py run /tmp/snap/inputs after.json
    python tools/behaviour_snapshot.py diff docs/behaviour/73ab922.json after.json   # the record of 73ab922

Cases: ~20 decompositions (synthetic designs, the bundled poster, PSD corpus files when
``../shared/data/psd-corpus`` exists; automatic and fixed counts), extractions (point, box, phrase),
generations (caption alone and with layer prompts) and edits (exact and generative). Each case hashes
the PNG layers the command wrote (pixels, not file bytes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "data" / "psd-corpus"
PSD_FILES = ("2layers.psd", "layer_comps.psd", "group.psd", "clipping-mask2.psd", "fill_adjustments.psd",
             "layers__smartobject-layer.psd")


def make_inputs(folder: Path) -> None:
    """Synthetic designs (seed 31337, 256 px), the poster and a few corpus PSDs into ``folder``."""
    from layerdiff.data.synthetic import SyntheticDesigns

    folder.mkdir(parents=True, exist_ok=True)
    designs = SyntheticDesigns(seed=31337, size=256, min_layers=2, max_layers=6)
    for i in range(10):
        designs.sample(i).layers.composite_pil().save(folder / f"synth{i:02d}.png")
    (folder / "poster.png").write_bytes((ROOT / "layerdiff" / "samples" / "poster.png").read_bytes())
    for name in PSD_FILES:
        if (CORPUS / name).is_file():
            (folder / name).write_bytes((CORPUS / name).read_bytes())


def _cases(inputs: Path) -> list[tuple[str, list[str]]]:
    cases: list[tuple[str, list[str]]] = []
    images = sorted(p for p in inputs.iterdir() if p.suffix in (".png", ".psd"))
    for img in images:
        cases.append((f"decompose/{img.name}/auto", ["decompose", str(img)]))
    for img in images[:4]:
        cases.append((f"decompose/{img.name}/3", ["decompose", str(img), "--layers", "3"]))
    poster = str(inputs / "poster.png")
    cases += [
        ("decompose/poster/diffusion", ["decompose", poster, "--method", "diffusion", "--layers", "3"]),
        ("extract/poster/point", ["extract", poster, "--point", "0.5,0.5", "--normalized"]),
        ("extract/poster/box", ["extract", poster, "--box", "0.1,0.1,0.6,0.6", "--normalized"]),
        ("extract/synth00/text", ["extract", str(inputs / "synth00.png"), "--text", "the red circle"]),
        ("generate/caption", ["generate", "a black circle on a yellow background", "--layers", "2"]),
        ("generate/layer-prompts", ["generate", "a navy background with a red circle", "--layers", "2",
                                    "--layer-prompt", "a navy background", "--layer-prompt", "a red circle"]),
    ]
    return cases


def _hash_layers(folder: Path) -> str:
    digest = hashlib.sha256()
    for png in sorted(folder.glob("*.png")):
        arr = np.asarray(Image.open(png).convert("RGBA"))
        digest.update(png.name.encode() + arr.tobytes())
    return digest.hexdigest()[:16]


def _layerdiff(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "layerdiff", *args], capture_output=True, text=True)


def run(inputs: Path, out_json: Path) -> None:
    result: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in _cases(inputs):
            out = Path(tmp) / name.replace("/", "_")
            proc = _layerdiff([*args, "-o", str(out), "--formats", "psd,png"])
            result[name] = _hash_layers(out / "png") if proc.returncode == 0 else f"error: {proc.stderr.strip()[-200:]}"
            print(f"{name}: {result[name]}", flush=True)
        # edits of the decomposed poster: exact (move, recolor) and generative (regenerate)
        stack = Path(tmp) / "decompose_poster.png_auto" / "poster.psd"
        for name, extra in (("edit/move", ["--op", "move", "--dx", "20"]),
                            ("edit/recolor", ["--op", "recolor", "--color", "#00aa00"]),
                            ("edit/regenerate", ["--op", "regenerate", "--prompt", "a green star"])):
            out = Path(tmp) / name.replace("/", "_")
            proc = _layerdiff(["edit", str(stack), "--layer", "1", *extra, "-o", str(out), "--formats", "psd,png"])
            result[name] = _hash_layers(out / "png") if proc.returncode == 0 else f"error: {proc.stderr.strip()[-200:]}"
            print(f"{name}: {result[name]}", flush=True)
    out_json.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")


def diff(before: Path, after: Path) -> int:
    a, b = json.loads(before.read_text()), json.loads(after.read_text())
    changed = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    for key in changed:
        print(f"CHANGED {key}: {a.get(key)} -> {b.get(key)}")
    print(f"{len(set(a) | set(b)) - len(changed)} identical, {len(changed)} changed")
    return 1 if changed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("make-inputs").add_argument("folder", type=Path)
    p = sub.add_parser("run")
    p.add_argument("inputs", type=Path)
    p.add_argument("output", type=Path)
    p = sub.add_parser("diff")
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    args = parser.parse_args()
    if args.cmd == "make-inputs":
        make_inputs(args.folder)
        return 0
    if args.cmd == "run":
        run(args.inputs, args.output)
        return 0
    return diff(args.before, args.after)


if __name__ == "__main__":
    raise SystemExit(main())
