"""Check a configuration value against the type annotation of the parameter it sets.

Campaign files set constructor parameters of the surrogate, the featurizer and the
strategy by name. TOML has integers, floats, strings, booleans, arrays and tables; this
module says whether a value fits a parameter's annotation (``int``, ``float``, ``bool``,
``str``, ``Path``, ``tuple[int, ...]``, ``list[...]``, ``dict[...]``, unions, ``Any``)
and, if not, why, in words a campaign file's author can act on.

API: ``type_problem(value, annotation) -> str | None``, ``describe(annotation) -> str``,
``parameter_types(callable) -> dict[str, object]``.
"""

from __future__ import annotations

import inspect
import numbers
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["type_problem", "describe", "parameter_types"]

_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
          Path: "a path", dict: "a table", list: "an array", tuple: "an array"}


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _what(value: object) -> str:
    """How a TOML author would call the value's type."""
    if isinstance(value, bool):
        return "a boolean"
    if _is_int(value):
        return "an integer"
    if _is_real(value):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array"
    return type(value).__name__


def describe(annotation: object) -> str:
    """Return the kind of value an annotation accepts, in words (``an integer``)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        parts = [a for a in typing.get_args(annotation) if a is not type(None)]
        return " or ".join(dict.fromkeys(describe(a) for a in parts))
    if origin in (tuple, list):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        return f"an array of {describe(args[0]).removeprefix('an ').removeprefix('a ')}s" \
            if args else "an array"
    if origin is dict:
        return "a table"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    return _NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)))  # type: ignore[call-overload]


def type_problem(value: object, annotation: object) -> str | None:
    """Return why ``value`` does not fit ``annotation`` (None if it does).

    Integers are accepted where a float is expected; booleans never count as numbers;
    a string never counts as a number (``"500"`` is refused with "remove the quotes").
    """
    if annotation is Any or annotation is inspect.Parameter.empty or annotation is object:
        return None
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if value is None and type(None) in args:
            return None
        if any(type_problem(value, a) is None for a in args if a is not type(None)):
            return None
        return _mismatch(value, annotation)
    if origin is typing.Literal:
        return None if value in typing.get_args(annotation) else _mismatch(value, annotation)
    if origin in (tuple, list) or annotation in (tuple, list):
        if not isinstance(value, list | tuple):
            return _mismatch(value, annotation)
        inner_types = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        for i, item in enumerate(value):
            inner = type_problem(item, inner_types[0]) if inner_types else None
            if inner is not None:
                return f"item {i} ({item!r}) {inner}"
        return None
    if origin is dict or annotation is dict:
        return None if isinstance(value, dict) else _mismatch(value, annotation)
    checks: dict[object, Callable[[object], bool]] = {
        int: _is_int, float: _is_real, bool: lambda v: isinstance(v, bool),
        str: lambda v: isinstance(v, str), Path: lambda v: isinstance(v, str | Path)}
    check = checks.get(annotation)
    if check is None:  # a class we do not know how to check from a TOML value
        return None
    return None if check(value) else _mismatch(value, annotation)


def _mismatch(value: object, annotation: object) -> str:
    wanted = describe(annotation)
    hint = ""
    if isinstance(value, str) and (_number(value) is not None):
        hint = "; remove the quotes"
    elif annotation is int and _is_real(value):
        hint = "; write a whole number without a decimal point"
    elif annotation is bool and isinstance(value, str | int):
        hint = "; write true or false without quotes"
    return f"must be {wanted}, not {_what(value)}{hint}"


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parameter_types(function: Callable[..., Any]) -> dict[str, object]:
    """Return the keyword parameters of ``function`` (or a class's ``__init__``) and their types.

    ``self``, ``*args`` and ``**kwargs`` are left out; a parameter without an annotation
    maps to ``inspect.Parameter.empty`` (any value).
    """
    target = function.__init__ if isinstance(function, type) else function  # type: ignore[misc]
    try:
        hints = typing.get_type_hints(target)
    except (NameError, TypeError):  # unresolvable annotations: accept any value
        hints = {}
    out: dict[str, object] = {}
    for name, param in inspect.signature(target).parameters.items():
        if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        out[name] = hints.get(name, inspect.Parameter.empty)
    return out
