"""Real PSD files: score decomposers on the psd-tools corpus, both count modes (issue 28, item 1).

    python benchmarks/bench_psd.py -o runs/eval-psd                      # ../shared/data/psd-corpus
    python benchmarks/bench_psd.py tests/data/psd -o runs/eval-psd-subset --num-layers gt

The ground truth of each file is its visible layers as ``layerdiff eval`` reads them
(:func:`layerdiff.eval.harness.folder_samples`); files with fewer than two non-empty layers are run but
not scored. Scores as in ``layerdiff eval DATA --num-layers MODE`` for each mode, computed sample by
sample (every mode of one file before the next file) into ``OUT/<mode>/`` (``results.csv``,
``summary.md``, ``summary.json``, rewritten after each file; ``--resume`` skips the files already
scored). ``OUT/run.json`` records the data folder, the models and the git commit.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_emoji import git_commit, score_modes  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "data" / "psd-corpus"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?", default=str(DEFAULT_CORPUS),
                    help="folder of layered files (default: ../shared/data/psd-corpus next to the checkout)")
    ap.add_argument("-o", "--output", required=True, help="output folder (OUT/<mode>/)")
    ap.add_argument("--models", default="layerdiff-tiny,cluster-matting,single-layer",
                    help="comma-separated model names (see `layerdiff models`)")
    ap.add_argument("--num-layers", nargs="+", choices=("auto", "gt"), default=["auto", "gt"],
                    help="count modes to run: auto (each model chooses) and/or gt (the true count)")
    ap.add_argument("--limit", type=int, help="the first N files only")
    ap.add_argument("--resume", action="store_true", help="keep the scores already in OUT and score the rest")
    ap.add_argument("--quiet", action="store_true", help="print only the summary tables")
    args = ap.parse_args(argv)
    from layerdiff.eval.harness import folder_samples, markdown_table

    data = Path(args.data)
    if not data.is_dir():
        print(f"bench_psd: data folder not found: {data} (the PSD corpus lives in ../shared/data/psd-corpus "
              "next to the checkout; give its folder as DATA)", file=sys.stderr)
        return 2
    try:
        samples = folder_samples(data, args.limit)
    except ValueError as err:
        print(f"bench_psd: {err}", file=sys.stderr)
        return 2
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    commit = git_commit()
    (out / "run.json").write_text(json.dumps({"commit": commit, "data": str(data), "files": len(samples),
                                              "models": models, "modes": args.num_layers}, indent=1) + "\n")
    log = None if args.quiet else (lambda msg: print(msg, flush=True))
    summaries = score_modes(samples, models, out, args.num_layers, resume=args.resume, log=log)
    for mode, summary in summaries.items():
        print(f"\n## {data.name}, {len(samples)} files, count {mode} (commit {commit})\n")
        print(markdown_table(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
