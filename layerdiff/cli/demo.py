"""``layerdiff demo``: serve the Gradio web demo (decompose, generate, edit, extract) on this machine.

The demo binds the loopback interface unless ``--host`` says otherwise; there is no public share link.
Gradio and the models are imported only when the command runs, so ``layerdiff --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from layerdiff.registry import DEFAULT_MODEL

ENV_MODEL = "LAYERDIFF_DEMO_MODEL"
DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The demo's options, shared by ``layerdiff demo`` and ``python -m demo.app``."""
    p.add_argument("--host", default="127.0.0.1",
                   help="interface to bind (default: %(default)s, this machine only; 0.0.0.0 exposes it)")
    p.add_argument("--port", type=int, default=7860, help="TCP port (default: %(default)s)")
    p.add_argument("--model", default=os.environ.get(ENV_MODEL) or DEFAULT_MODEL,
                   help=f"model preselected in the UI (default: ${ENV_MODEL} or {DEFAULT_MODEL}); "
                        "see `layerdiff models`")
    p.add_argument("--max-upload-mb", type=float, default=50.0,
                   help="largest accepted upload in MB (default: %(default)s)")
    p.add_argument("--max-decoded-mb", type=float, default=1024.0,
                   help="largest upload once decoded, in MB, refused before decoding (default: %(default)s)")
    p.add_argument("--concurrency", type=int, default=1,
                   help="model runs served at the same time (default: %(default)s)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="serve the web demo (Gradio) on 127.0.0.1",
                       description="Serve the layerdiff web demo: decompose an image or PSD, generate layers "
                                   "from text, edit one layer, download PSD / ORA / ZIP.")
    add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return load_app_module().serve(host=args.host, port=args.port, default_model=args.model,
                                   max_upload_mb=args.max_upload_mb, concurrency=args.concurrency,
                                   max_decoded_mb=args.max_decoded_mb)


def load_app_module() -> ModuleType:
    """The demo's ``app`` module: ``layerdiff.demo.app`` when installed as a package, else the ``demo/``
    folder of the source checkout this package was installed from, imported as a package. Without
    Gradio, a one-line :class:`LayerdiffError` names the install command."""
    from layerdiff.errors import LayerdiffError

    if importlib.util.find_spec("gradio") is None:
        raise LayerdiffError("the web demo needs Gradio, which is not installed: pip install 'layerdiff[demo]'")
    try:
        return importlib.import_module("layerdiff.demo.app")
    except ModuleNotFoundError as err:
        if err.name not in ("layerdiff.demo", "layerdiff.demo.app"):
            raise
    if not (DEMO_DIR / "app.py").is_file():
        raise LayerdiffError(f"{DEMO_DIR}: the web demo is not part of this installation; run it from a "
                             "source checkout of layerdiff")
    name = "layerdiff_demo"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, DEMO_DIR / "__init__.py",
                                                      submodule_search_locations=[str(DEMO_DIR)])
        package = importlib.util.module_from_spec(spec)
        sys.modules[name] = package
        spec.loader.exec_module(package)
    return importlib.import_module(f"{name}.app")
