"""The ``layerdiff`` command. Each subcommand lives in its own module exposing ``register(subparsers)``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Subcommand modules, in the order --help lists them.
SUBCOMMANDS = ["info", "convert", "models", "decompose", "generate", "edit", "extract", "batch", "eval",
               "extract_psd", "demo"]


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
        code = args.func(args)
    except (LayerdiffError, FileNotFoundError, IsADirectoryError, PermissionError) as err:
        print(f"layerdiff {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"layerdiff {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
