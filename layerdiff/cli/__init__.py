"""The ``layerdiff`` command. Each subcommand lives in its own module exposing ``register(subparsers)``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

# Subcommand modules, in the order --help lists them.
SUBCOMMANDS = ["info", "convert", "models", "decompose", "generate", "edit", "extract", "batch", "eval",
               "extract_psd", "demo"]

# Modules of the optional extras (pyproject.toml [project.optional-dependencies]) -> (extra, distribution).
OPTIONAL_MODULES = {
    "gradio": ("demo", "gradio"),
    "gradio_client": ("demo", "gradio_client"),
    "skimage": ("data", "scikit-image"),
    "cairosvg": ("data", "cairosvg"),
    "ray": ("batch", "ray"),
    "rapidocr_onnxruntime": ("text", "rapidocr-onnxruntime"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="layerdiff", description="Layered images: decompose, generate, edit.")
    parser.add_argument("--version", action="version", version=f"layerdiff {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"layerdiff.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"layerdiff.cli.{name}":
                continue  # subcommand not part of this build
            raise
        module.register(sub)
    return parser


def _version() -> str:
    from layerdiff import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, run, and turn layerdiff errors into one-line messages with exit code 1."""
    from layerdiff.errors import LayerdiffError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with one_line_warnings(args.command):
            code = args.func(args)
    except (LayerdiffError, FileNotFoundError, IsADirectoryError, PermissionError) as err:
        message, hint = str(err), missing_extra(err)
        if hint and "pip install" not in message:  # unless the error already says what to install
            message += f"; {hint}"
        print(f"layerdiff {args.command}: error: {message}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader of stdout left early (`| head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit's flush must not fail again
        return 1
    except (ModuleNotFoundError, OSError) as err:
        hint = missing_extra(err)
        if hint is None:
            raise
        print(f"layerdiff {args.command}: error: {hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"layerdiff {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


@contextmanager
def one_line_warnings(command: str) -> Iterator[None]:
    """Warnings print as one line, ``layerdiff COMMAND: warning: MESSAGE``, not Python's two-line form with the
    source file; the previous formatter comes back afterwards."""
    previous = warnings.formatwarning

    def formatwarning(message, category, filename, lineno, line=None) -> str:
        return f"layerdiff {command}: warning: {message}\n"

    warnings.formatwarning = formatwarning
    try:
        yield
    finally:
        warnings.formatwarning = previous


def missing_extra(err: BaseException) -> str | None:
    """If ``err`` or an exception it was raised from is an optional module that is not installed (or cairo's
    C library, which cairosvg loads), one line naming what to install; else None."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, ModuleNotFoundError) and err.name:
            top = err.name.split(".")[0]
            if top in OPTIONAL_MODULES:
                extra, dist = OPTIONAL_MODULES[top]
                return (f"the {extra} extra is not installed (no module {top!r} from {dist}): "
                        f"pip install 'layerdiff[{extra}]'")
        if type(err) is OSError and "cairo" in str(err).lower():
            return ("cairosvg found no cairo library: install it (Debian/Ubuntu: apt-get install libcairo2, "
                    "macOS: brew install cairo)")
        err = err.__cause__ or err.__context__
    return None


if __name__ == "__main__":
    sys.exit(main())
