"""A YAML syntax error said in one line, with where it is: ``str(WorkbenchError)`` is one
line, and PyYAML's own message spans five (each mark quoted with the text under it)."""

from __future__ import annotations

from typing import Any

__all__ = ["describe"]


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
