"""A cheaper ``__init__`` for the frozen, slotted dataclasses every order creates.

A frozen dataclass's generated ``__init__`` sets each field through
``object.__setattr__(self, "name", value)``, which looks the name up on every call. The
order path builds a dozen such objects per order (requests, orders, fills, updates,
risk proposals), so :func:`fast_init` gives a class an ``__init__`` that sets each slot
through its own descriptor instead: the same signature, defaults and ``__post_init__``
call, about half the cost. The class stays frozen (assignment still raises) and its
equality, hash, repr, pickling and ``dataclasses.replace`` are the dataclass's own. A
test holds every decorated class's objects equal to those of the generated ``__init__``
(kept as ``__init__.__wrapped__``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["fast_init"]


def fast_init(cls: type[T]) -> type[T]:
    """Give the frozen, slotted dataclass ``cls`` a descriptor-setting ``__init__``.

    Only plain fields are supported (positional or keyword, plain defaults): a field
    with a default factory, ``init=False``, ``kw_only`` or an ``InitVar`` is refused, so
    the new ``__init__`` never has to reproduce more of the generated one than it can.
    """
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"fast_init: {cls.__name__} is not a frozen, slotted dataclass")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if len(fields) != len(cls.__dataclass_fields__):  # type: ignore[attr-defined]
        raise TypeError(f"fast_init: {cls.__name__} has an InitVar or ClassVar pseudo-field")
    namespace: dict[str, Any] = {}
    args: list[str] = []
    body: list[str] = []
    for f in fields:
        if not f.init or f.kw_only or f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"fast_init: {cls.__name__}.{f.name} is not a plain field")
        if f.default is dataclasses.MISSING:
            args.append(f.name)
        else:
            namespace[f"_default_{f.name}"] = f.default
            args.append(f"{f.name}=_default_{f.name}")
        namespace[f"_set_{f.name}"] = getattr(cls, f.name).__set__
        body.append(f"    _set_{f.name}(self, {f.name})")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    source = f"def __init__(self, {', '.join(args)}):\n" + "\n".join(body) + "\n"
    exec(source, namespace)
    init = namespace["__init__"]
    generated = cls.__init__  # type: ignore[misc]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__annotations__ = dict(getattr(generated, "__annotations__", {}))
    init.__doc__ = generated.__doc__
    init.__wrapped__ = generated
    cls.__init__ = init  # type: ignore[misc]
    return cls


def _setters(cls: type, namespace: dict[str, Any]) -> list[str]:
    """Each field's slot setter put in ``namespace`` as ``_set_<name>``; the field names."""
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    for name in names:
        namespace[f"_set_{name}"] = getattr(cls, name).__set__
    return names


def _compile(cls: type, name: str, source: str, namespace: dict[str, Any]) -> Any:
    exec(source, namespace)
    fn = namespace[name]
    fn.__qualname__ = f"{cls.__qualname__}.{name}"
    fn.__module__ = cls.__module__
    return fn


def fast_copy(cls: type[T], field: str) -> Any:
    """``copy(obj, value)``: ``obj`` (a frozen, slotted ``cls``) with ``field`` set to
    ``value``, every other slot copied, ``__post_init__`` not run: for a field that takes
    no part in validation (an id), where ``dataclasses.replace`` would build and check
    the object again. Straight-line code, one setter call a field."""
    namespace: dict[str, Any] = {"_cls": cls, "_new": object.__new__}
    names = _setters(cls, namespace)
    if field not in names:
        raise TypeError(f"fast_copy: {cls.__name__} has no field {field!r}")
    body = [
        f"    _set_{n}(new, value)" if n == field else f"    _set_{n}(new, obj.{n})" for n in names
    ]
    head = "def copy(obj, value):\n    new = _new(_cls)\n"
    source = head + "\n".join(body) + "\n    return new\n"
    return _compile(cls, "copy", source, namespace)


def fast_build(cls: type[T], given: tuple[str, ...]) -> Any:
    """``build(*values)``: a ``cls`` with the ``given`` fields set from ``values`` (in that
    order) and every other field its default, ``__post_init__`` not run: the caller has
    made the checks that apply to what it builds. Straight-line code, one setter call a
    field, no argument parsing for the defaults."""
    namespace: dict[str, Any] = {"_cls": cls, "_new": object.__new__}
    names = _setters(cls, namespace)
    unknown = [n for n in given if n not in names]
    if unknown:
        raise TypeError(f"fast_build: {cls.__name__} has no field(s) {', '.join(unknown)}")
    body: list[str] = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in given:
            body.append(f"    _set_{f.name}(new, {f.name})")
        elif f.default is not dataclasses.MISSING:
            namespace[f"_default_{f.name}"] = f.default
            body.append(f"    _set_{f.name}(new, _default_{f.name})")
        else:
            raise TypeError(f"fast_build: {cls.__name__}.{f.name} has no default")
    head = f"def build({', '.join(given)}):\n    new = _new(_cls)\n"
    source = head + "\n".join(body) + "\n    return new\n"
    return _compile(cls, "build", source, namespace)
