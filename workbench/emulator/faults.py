"""Fault injection for the emulator: what can go wrong, when, and to which requests.

A :class:`Fault` is a small frozen description; :class:`FaultBook` arms it (counts,
a seeded random generator) and answers "does a fault apply to this request / bar /
connection?". Kinds:

============  =========================================================================
``error``     answer with ``status`` (429 with rate-limit headers, 500, 503, 504, ...);
              ``ambiguous=True`` runs the request first (an order *is* created), then
              answers with the error: the client must look the order up by client id
``slow``      delay the answer by ``delay`` seconds, ``when="after"`` the request ran
              (default: a client timeout leaves an ambiguous outcome) or ``"before"``
``reject``    refuse an order submission with Alpaca's ``code`` (40310000 insufficient
              buying power, 40010001 validation, 42210000 business rule, ...)
``partial``   cap fills at ``qty`` shares (or ``fraction`` of the bar volume) per order
              per bar, so orders fill in parts
``drop``      close the ``stream`` (``trading``, ``data`` or ``both``) connections;
              ``abrupt=True`` (default) cuts TCP without a close frame (code 1006)
``silent``    the stream connections stay open but send nothing; ``pings=False`` also
              stops answering pings (a half-open connection)
``refuse``    refuse the next stream connections at authentication (data: ``code``
              406 connection limit or 402 auth failed; trading: unauthorized)
============  =========================================================================

Targeting: ``method`` and ``path`` (a glob, e.g. ``/v2/orders*``) select requests;
``times`` limits how many requests (bars for ``partial``, connections for ``refuse``)
it hits, ``probability`` (with ``seed``) makes it random. Stream faults act once when
installed, or at every ``every``-th bar. The command-line grammar is
``KIND[,name=value...]`` where KIND may be a status code: ``429,path=/v2/orders,times=2``.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import random
from dataclasses import dataclass
from typing import Any

from workbench.errors import ConfigError

KINDS = ("error", "slow", "reject", "partial", "drop", "silent", "refuse")
STREAMS = ("trading", "data", "both")
HTTP_KINDS = frozenset({"error", "slow"})
STREAM_KINDS = frozenset({"drop", "silent", "refuse"})
#: Default messages for rejections, by Alpaca code.
REJECT_MESSAGES = {
    40310000: "insufficient buying power",
    40010001: "invalid order request",
    42210000: "potential wash trade detected. use complex orders",
    40410000: "asset not found",
}


@dataclass(frozen=True)
class Fault:
    """One fault; build it with the class methods (``Fault.error(429, times=2)``)."""

    kind: str
    status: int | None = None
    code: int | None = None
    message: str | None = None
    method: str | None = None
    path: str | None = None
    symbol: str | None = None
    times: int | None = None
    probability: float = 1.0
    seed: int = 0
    ambiguous: bool = False
    delay: float = 0.0
    when: str = "after"
    retry_after: float = 1.0
    qty: float | None = None
    fraction: float | None = None
    stream: str | None = None
    abrupt: bool = True
    pings: bool = True
    every: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"fault kind {self.kind!r} is not known", hint=_KINDS_HINT)
        if self.kind == "error" and not (self.status and 400 <= self.status <= 599):
            raise ConfigError(
                f"error fault needs an HTTP status 400-599, got {self.status!r}",
                hint="e.g. Fault.error(429) or --fault 504,ambiguous=true",
            )
        if self.kind == "slow" and not self.delay > 0:
            raise ConfigError("slow fault needs delay > 0 seconds", hint="e.g. slow,delay=2")
        if self.when not in ("before", "after"):
            raise ConfigError(f"fault when={self.when!r}: use before or after")
        if self.kind == "partial" and (self.qty is None) == (self.fraction is None):
            raise ConfigError(
                "partial fault needs exactly one of qty or fraction",
                hint="qty: shares per order per bar; fraction: share of the bar's volume",
            )
        if self.qty is not None and not self.qty > 0:
            raise ConfigError(f"partial fault qty must be positive, got {self.qty}")
        if self.fraction is not None and not 0 < self.fraction <= 1:
            raise ConfigError(f"partial fault fraction must be in (0, 1], got {self.fraction}")
        if self.kind in STREAM_KINDS and self.stream not in STREAMS:
            raise ConfigError(
                f"{self.kind} fault needs stream=trading, data or both, got {self.stream!r}"
            )
        if self.kind == "refuse" and self.stream == "both":
            raise ConfigError("refuse fault: name one stream (trading or data)")
        if not 0 <= self.probability <= 1:
            raise ConfigError(f"fault probability must be in [0, 1], got {self.probability}")
        if self.times is not None and self.times < 1:
            raise ConfigError(f"fault times must be at least 1, got {self.times}")
        if self.every is not None and self.every < 1:
            raise ConfigError(f"fault every must be at least 1 bar, got {self.every}")

    # -- constructors ----------------------------------------------------------------
    @classmethod
    def error(cls, status: int, **kw: Any) -> Fault:
        """Answer matching requests with ``status`` (``ambiguous=True``: after running them)."""
        return cls("error", status=status, **kw)

    @classmethod
    def slow(cls, delay: float, **kw: Any) -> Fault:
        return cls("slow", delay=delay, **kw)

    @classmethod
    def reject(cls, code: int = 40310000, **kw: Any) -> Fault:
        return cls("reject", code=code, **kw)

    @classmethod
    def partial(cls, qty: float | None = None, fraction: float | None = None, **kw: Any) -> Fault:
        return cls("partial", qty=qty, fraction=fraction, **kw)

    @classmethod
    def drop(cls, stream: str, **kw: Any) -> Fault:
        return cls("drop", stream=stream, **kw)

    @classmethod
    def silent(cls, stream: str, **kw: Any) -> Fault:
        return cls("silent", stream=stream, **kw)

    @classmethod
    def refuse(cls, stream: str, **kw: Any) -> Fault:
        return cls("refuse", stream=stream, **kw)

    # -- (de)serialisation -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The fields that differ from the defaults (what the state dump shows)."""
        base = Fault.__dataclass_fields__
        return {
            f: v for f, v in dataclasses.asdict(self).items() if f == "kind" or v != base[f].default
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Fault:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(doc) - known)
        if unknown:
            raise ConfigError(
                f"fault: unknown field(s) {', '.join(unknown)}",
                hint="known: " + ", ".join(sorted(known)),
            )
        kwargs = {k: _coerce(k, v) for k, v in doc.items()}
        if "kind" not in kwargs:
            raise ConfigError("fault: kind is missing", hint=_KINDS_HINT)
        return cls(**kwargs)

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """Read ``KIND[,name=value...]`` (KIND may be an HTTP status: ``429,times=2``)."""
        parts = [p.strip() for p in spec.split(",") if p.strip()]
        if not parts:
            raise ConfigError("empty fault spec", hint=_KINDS_HINT)
        head, rest = parts[0], parts[1:]
        doc: dict[str, Any] = {}
        if head.isdigit():
            doc = {"kind": "error", "status": head}
        elif "=" in head:
            rest = parts
        else:
            doc = {"kind": head.lower()}
        for part in rest:
            name, sep, value = part.partition("=")
            if not sep:
                raise ConfigError(
                    f"fault spec {spec!r}: cannot read {part!r}", hint="write name=value pairs"
                )
            doc[name.strip().lower()] = value.strip()
        return cls.from_dict(doc)

    # -- matching ----------------------------------------------------------------------
    def matches_request(self, method: str, path: str) -> bool:
        if self.kind not in HTTP_KINDS:
            return False
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path is None or fnmatch.fnmatchcase(path, self.path)

    def hits_stream(self, stream: str) -> bool:
        return self.stream in (stream, "both")


_KINDS_HINT = "kinds: " + ", ".join(KINDS) + " (or an HTTP status such as 429)"
_INTS = {"status", "code", "times", "seed", "every"}
_FLOATS = {"probability", "delay", "retry_after", "qty", "fraction"}
_BOOLS = {"ambiguous", "abrupt", "pings"}


def _coerce(name: str, value: Any) -> Any:
    """Values from the command line or JSON, as the field types."""
    if value is None:
        return None
    try:
        if name in _INTS:
            return int(value)
        if name in _FLOATS:
            return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"fault {name}: {value!r} is not a number") from None
    if name in _BOOLS:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"fault {name}: {value!r} is not true or false")
    if name == "kind":
        return str(value).lower()
    if name == "method":
        return str(value).upper()
    return value


class _Armed:
    """A fault with its run-time state: hits left and its own random generator."""

    __slots__ = ("fault", "left", "rng")

    def __init__(self, fault: Fault) -> None:
        self.fault = fault
        self.left = fault.times
        self.rng = random.Random(fault.seed)

    def fire(self) -> bool:
        """Roll the dice and count the hit; False when it does not apply this time."""
        if self.left is not None and self.left <= 0:
            return False
        if self.fault.probability < 1.0 and self.rng.random() >= self.fault.probability:
            return False
        if self.left is not None:
            self.left -= 1
        return True

    @property
    def spent(self) -> bool:
        return self.left is not None and self.left <= 0


class FaultBook:
    """The installed faults, in the order they were added (the first match wins)."""

    def __init__(self, faults: tuple[Fault, ...] | list[Fault] = ()) -> None:
        self._armed: list[_Armed] = []
        for fault in faults:
            self.add(fault)

    def add(self, fault: Fault) -> None:
        self._armed.append(_Armed(fault))

    def clear(self) -> None:
        self._armed.clear()

    def remove_spent(self) -> None:
        self._armed = [a for a in self._armed if not a.spent]

    @property
    def faults(self) -> list[Fault]:
        return [a.fault for a in self._armed if not a.spent]

    def describe(self) -> list[dict[str, Any]]:
        return [{**a.fault.to_dict(), "left": a.left} for a in self._armed if not a.spent]

    def for_request(self, method: str, path: str) -> Fault | None:
        """The first error or slow fault that applies to this request (its hit is counted)."""
        for armed in self._armed:
            if armed.fault.matches_request(method, path) and armed.fire():
                return armed.fault
        return None

    def rejection(self, symbol: str) -> Fault | None:
        """The reject fault for an order submission in ``symbol`` (its hit is counted)."""
        for armed in self._armed:
            fault = armed.fault
            if fault.kind == "reject" and fault.symbol in (None, symbol) and armed.fire():
                return fault
        return None

    def partial_cap(self, symbol: str) -> Fault | None:
        """The partial-fill fault for ``symbol`` on this bar (counts one bar)."""
        for armed in self._armed:
            fault = armed.fault
            if fault.kind != "partial" or (fault.symbol not in (None, symbol)):
                continue
            if armed.fire():
                return fault
        return None

    def refusal(self, stream: str) -> Fault | None:
        """The refuse fault for a new connection to ``stream`` (counts one connection)."""
        for armed in self._armed:
            fault = armed.fault
            if fault.kind == "refuse" and fault.hits_stream(stream) and armed.fire():
                return fault
        return None

    def periodic(self, bar_number: int) -> list[Fault]:
        """Stream faults due at this bar (those with ``every``)."""
        due = []
        for armed in self._armed:
            fault = armed.fault
            periodic = fault.kind in ("drop", "silent") and fault.every
            if periodic and bar_number % fault.every == 0 and armed.fire():  # type: ignore[operator]
                due.append(fault)
        return due
