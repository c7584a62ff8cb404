"""Campaign files as text: pydantic errors as one line, and a small TOML writer.

``explain(exc, source, root)`` names the file, the dotted key, the bad value and the fix
of the first validation error; ``dump_toml(data)`` writes the nested dicts of a config
back as TOML that ``tomllib`` reads to the same data.
"""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import ValidationError

from e2t_discovery.messages import shown_value

__all__ = ["dump_toml", "explain"]


# ---------------------------------------------------------------------- error messages
def _allowed_keys(root: Any, loc: tuple[Any, ...]) -> list[str]:
    """Return the field names of the model at ``loc`` (a path into ``root``)."""
    model: Any = root
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = field.annotation
    return list(getattr(model, "model_fields", {}))


def explain(exc: ValidationError, source: str, root: Any) -> str:
    """Turn a pydantic error of model ``root`` into one line: file, key, bad value, fix."""
    errors = exc.errors()
    first = errors[0]
    loc = tuple(first["loc"])
    key = ".".join(str(p) for p in loc) or "(top level)"
    kind = first["type"]
    if kind == "extra_forbidden":
        table = ".".join(str(p) for p in loc[:-1])
        allowed = _allowed_keys(root, loc[:-1])
        where = f"[{table}]" if table else "the top level"
        message = (f"unknown key {key!r} in {where}; allowed keys: {', '.join(allowed)}")
    elif kind == "missing":
        table = ".".join(str(p) for p in loc[:-1])
        where = f"the [{table}] table" if table else "the file"
        message = f"missing required key {key!r}; add it to {where}"
    else:
        reason = first["msg"].removeprefix("Value error, ")
        message = f"{key} = {shown_value(first.get('input'))} is invalid: {reason}"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return f"{source}: {message}{more}"


# ---------------------------------------------------------------------- TOML writer
def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_value(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        escaped = (value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
                   .replace("\t", "\\t").replace("\r", "\\r"))
        escaped = "".join(c if ord(c) >= 0x20 and ord(c) != 0x7F else f"\\u{ord(c):04x}"
                          for c in escaped)
        return f'"{escaped}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{" + items + "}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dump_toml(data: dict[str, Any], prefix: str = "") -> str:
    """Write nested dicts as TOML tables (scalars first, then sub-tables)."""
    lines: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    out = ""
    if prefix and (lines or not tables):
        out += f"[{prefix}]\n"
    if lines:
        out += "\n".join(lines) + "\n"
    for key, value in tables:
        name = f"{prefix}.{_toml_key(key)}" if prefix else _toml_key(key)
        out += ("\n" if out else "") + dump_toml(value, name)
    return out
