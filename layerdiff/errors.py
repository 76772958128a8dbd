"""Exception types raised at layerdiff's boundaries. Each message is one line naming the input."""

from __future__ import annotations


class LayerdiffError(Exception):
    """Base class of every error layerdiff raises on bad input or configuration."""


class LayeredFileError(LayerdiffError, ValueError):
    """A file could not be read or written as a layered image.

    ``str(err)`` is one line: ``"<path>: <problem>"``. ``reason`` is a short machine-readable
    category (e.g. "truncated", "unsupported", "too-large", "not-an-image", "empty").
    """

    def __init__(self, path: object, problem: str, reason: str = "invalid") -> None:
        self.path = str(path)
        self.problem = " ".join(str(problem).split())
        self.reason = reason
        super().__init__(f"{self.path}: {self.problem}")


class UnknownModelError(LayerdiffError, KeyError):
    """A registry name that is not registered. The message lists the known names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
