"""Progress for long steps: a tqdm bar on a terminal, plain lines anywhere else.

A bar redrawn with carriage returns is noise in a log file or a CI job, and hiding it
(tqdm's ``disable=None``) leaves a long step silent. :func:`progress_bar` returns a tqdm
bar when stderr is a terminal and otherwise a :class:`PlainProgress` that writes one
line at most every ``E2T_PROGRESS_INTERVAL`` seconds (default 10) and one when it ends,
e.g. ``screen: 40,960/100,000 cand (41%), 3,912/s`` or ``E2T meta-training: 120/400
steps (30%), 2.1/s, val=0.532``. A step shorter than the interval prints nothing.
"""

from __future__ import annotations

import os
import sys
import time
from typing import IO, Any, Protocol

__all__ = ["PlainProgress", "Progress", "progress_bar"]


class Progress(Protocol):
    """What long steps call on their progress display (tqdm or :class:`PlainProgress`)."""

    def update(self, n: float = 1) -> Any: ...

    def set_postfix(self, refresh: bool = True, **values: Any) -> Any: ...

    def close(self) -> Any: ...


class PlainProgress:
    """The subset of tqdm's interface the package uses, printed as plain lines."""

    def __init__(self, total: float | None, desc: str, unit: str, interval_s: float,
                 stream: IO[str] | None = None) -> None:
        self.total, self.desc, self.unit = total, desc, unit.strip()
        self.interval_s = interval_s
        self.stream = stream
        self.n = 0.0
        self.postfix = ""
        self.start = self.last = time.monotonic()
        self.printed = False
        self.closed = False

    def update(self, n: float = 1) -> None:
        """Advance by ``n``; print a line if the interval has passed."""
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.interval_s:
            self.last = now
            self._print()

    def set_postfix(self, refresh: bool = True, **values: Any) -> None:
        """Show ``key=value`` pairs after the count (as tqdm does)."""
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        """Print the final line if the step was long enough to print any."""
        if self.closed:
            return
        self.closed = True
        if self.printed or time.monotonic() - self.start >= self.interval_s:
            self._print(final=True)

    def _print(self, final: bool = False) -> None:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        count = f"{self.n:,.0f}" + (f"/{self.total:,.0f}" if self.total else "")
        parts = [f"{count} {self.unit}".strip()]
        if self.total:
            parts[0] += f" ({self.n / self.total:.0%})"
        parts.append(f"{self.n / elapsed:,.1f}/s" if self.n / elapsed < 100
                     else f"{self.n / elapsed:,.0f}/s")
        if self.postfix:
            parts.append(self.postfix)
        if final:
            parts.append(f"done in {elapsed:,.1f} s")
        print(f"{self.desc}: " + ", ".join(parts), file=self.stream or sys.stderr, flush=True)
        self.printed = True

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_bar(total: float | None = None, *, desc: str, unit: str = "it",
                 enabled: bool = True, **tqdm_kwargs: Any) -> Any:
    """A progress display for a long step.

    Args:
        total: Expected count (None when unknown).
        desc: What the step is (the line's prefix).
        unit: What is counted.
        enabled: False: show nothing at all (library callers, tests).
        **tqdm_kwargs: Passed to tqdm on a terminal (``leave``, ``unit_scale``, ...).

    Returns:
        A tqdm bar on a terminal (or a disabled one), else a :class:`PlainProgress`.
    """
    from tqdm.auto import tqdm

    if not enabled:
        return tqdm(total=total, disable=True)
    if sys.stderr.isatty():
        return tqdm(total=total, desc=desc, unit=unit, **tqdm_kwargs)
    interval = float(os.environ.get("E2T_PROGRESS_INTERVAL", "10"))
    return PlainProgress(total, desc, unit, interval)
