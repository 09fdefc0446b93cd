"""A YAML syntax error said in one line, with where it is: ``str(WorkbenchError)`` is one
line, and PyYAML's own message spans five (each mark quoted with the text under it); and
a config file read as text, or refused in one line when it cannot be."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.errors import ConfigError

__all__ = ["describe", "read_text"]


def read_text(path: str | Path, what: str) -> str:
    """``path``'s text (UTF-8). A file that cannot be read, or is not text (saved as UTF-16,
    or a binary file given by mistake: a UnicodeDecodeError traceback), is a
    :class:`ConfigError` naming ``what`` it was to be."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{what} {path} is not text (UTF-8): byte {exc.start} cannot be read",
            hint="save it as UTF-8 text",
        ) from None


def describe(exc: BaseException) -> str:
    """``expected ',' or ']', but got '<stream end>' at line 3, column 1 (while parsing a
    flow sequence at line 2, column 19)`` for a PyYAML error; one line of any other."""
    problem = getattr(exc, "problem", None)
    if not problem:
        text = " ".join(str(exc).split())
        return text or type(exc).__name__
    out = f"{problem}{_at(getattr(exc, 'problem_mark', None))}"
    context = getattr(exc, "context", None)
    if context:
        out += f" ({context}{_at(getattr(exc, 'context_mark', None))})"
    return out


def _at(mark: Any) -> str:
    if mark is None:
        return ""
    return f" at line {mark.line + 1}, column {mark.column + 1}"
