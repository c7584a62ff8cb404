"""Small helpers that the one-line error messages share.

- :func:`did_you_mean` — ``"did you mean 'x'? "`` for the closest known name, or ``""``;
- :func:`closest_name` — the closest column of a header (case, punctuation and word
  aware), for "missing column" messages;
- :func:`listing` — a few names of a long list: ``a, b, c, d, e and 152 more``;
- :func:`shown_value` — a value's ``repr`` cut to 80 characters (``...`` at the end);
- :func:`first_line` — the first line of an exception's message (its type if empty).

Only the standard library is imported, so every layer may use it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Any

__all__ = ["closest_name", "did_you_mean", "first_line", "listing", "shown_value"]


def did_you_mean(name: str, known: Sequence[str]) -> str:
    """Return ``"did you mean 'x'? "`` for the closest of ``known`` (difflib), else ``""``."""
    close = difflib.get_close_matches(name, known, n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def closest_name(name: str, names: Sequence[str]) -> str | None:
    """Return the one of ``names`` closest to ``name``, or None if nothing is close.

    Case and punctuation are ignored; a name with ``name`` as one of its words (``id`` in
    ``monomer_ID``) comes next, then difflib's closest spelling.
    """
    def norm(text: str) -> str:
        return re.sub(r"[^0-9a-z]", "", text.lower())

    by_norm: dict[str, str] = {}
    for candidate in names:
        by_norm.setdefault(norm(candidate), candidate)
    target = norm(name)
    if target and target in by_norm:
        return by_norm[target]
    for candidate in names:
        if target and target in re.split(r"[^0-9a-z]+", candidate.lower()):
            return candidate
    hits = difflib.get_close_matches(target, [k for k in by_norm if k], n=1, cutoff=0.6)
    return by_norm[hits[0]] if hits else None


def listing(names: Sequence[str], shown: int, noun: str | None = None) -> str:
    """Return the first ``shown`` names joined by commas, and how many more there are.

    ``listing(header, 5)`` is ``a, b, c, d, e and 3 more``; with ``noun="columns"`` a long
    list starts with its size: ``8 columns: a, b, c, d, e and 3 more``. A list of at most
    ``shown`` names is just joined.
    """
    text = ", ".join(names[:shown])
    if len(names) <= shown:
        return text
    text = f"{text} and {len(names) - shown} more"
    return f"{len(names)} {noun}: {text}" if noun else text


def shown_value(value: Any) -> str:
    """Return ``repr(value)``, cut to 77 characters plus ``...`` if longer than 80."""
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def first_line(exc: BaseException) -> str:
    """Return the first line of an exception's message, or its type's name if it has none."""
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
