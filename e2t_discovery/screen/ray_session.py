"""The one place Ray starts: quietly, lazily, and shut down by whoever scoped it.

A command that may need Ray (``screen``, ``run``, ``library``) opens a :func:`ray_session`;
the code that actually needs workers calls :func:`ensure_ray` inside it. Ray therefore
starts only when work needs it (a small library is scored in process and never pays the
start-up), at most once per session (a 16-round ``e2t run`` starts it once), and is shut
down when the outermost session ends, only if we started it. A Ray already running in
this process (a test fixture, a user's notebook) or a cluster named by ``address`` /
``RAY_ADDRESS`` is used as it is and left running.

Clean: a local Ray started here keeps its session files (sockets, logs, spilled objects)
in a fresh ``e2t-ray-*`` folder of the temporary directory (``RAY_TMPDIR`` if set),
removed when the session shuts Ray down, instead of Ray's default ``/tmp/ray`` that
outlives the command.

Quiet: no dashboard, no worker logs on the driver, and Ray's own log records (its
"Token authentication is enabled …" banner among them: token authentication itself stays
on) go to a file when the session names one (the campaign's ``logs/ray.log``), never to
the terminal.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ensure_ray", "ray_session"]


@dataclass
class _Session:
    address: str | None
    num_cpus: int | None
    log_file: Path | None
    started: bool = False
    saved: tuple[list[logging.Handler], bool, int] | None = None
    temp_dir: str | None = None


_SESSIONS: list[_Session] = []


@contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None,
                log_file: str | Path | None = None) -> Iterator[None]:
    """Scope inside which a Ray started by :func:`ensure_ray` stays up.

    Args:
        address: ``None``: a local Ray (or ``RAY_ADDRESS`` if set); ``"auto"`` or
            ``host:port``: connect to that cluster.
        num_cpus: CPUs of a local Ray (default: this machine's cores).
        log_file: Where Ray's log records go (default: dropped).
    """
    session = _Session(address, num_cpus, Path(log_file) if log_file else None)
    _SESSIONS.append(session)
    try:
        yield
    finally:
        _SESSIONS.remove(session)
        if session.started:
            import ray

            ray.shutdown()
        if session.temp_dir is not None:
            shutil.rmtree(session.temp_dir, ignore_errors=True)
        _detach(session)


def ensure_ray() -> bool:
    """Make sure Ray is initialized in this process; return True if this call started it.

    Call it inside a :func:`ray_session`: the outermost session owns what is started (it
    shuts Ray down at its end) and gives the ``address``, ``num_cpus`` and ``log_file``.

    Raises:
        RuntimeError: if called outside any :func:`ray_session` (nobody would shut Ray down).
    """
    import ray

    if ray.is_initialized():
        return False
    if not _SESSIONS:
        raise RuntimeError("ensure_ray() needs an enclosing ray_session()")
    owner = _SESSIONS[0]
    address, num_cpus, log_file = owner.address, owner.num_cpus, owner.log_file
    address = address or os.environ.get("RAY_ADDRESS") or None
    # Ray's driver logger at ERROR during start-up (its banners are warnings), then
    # warnings to the log file and only errors on the terminal (_route_ray_logs)
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                              "configure_logging": True, "logging_level": logging.ERROR}
    if address is None:
        kwargs["num_cpus"] = num_cpus or os.cpu_count() or 1
        owner.temp_dir = _session_dir()
        if owner.temp_dir is not None:
            kwargs["_temp_dir"] = owner.temp_dir
    else:  # an existing cluster refuses num_cpus, and keeps its own auth mode
        kwargs["address"] = address
    saved = _logger_state()
    ray.init(**kwargs)
    owner.started = True
    owner.saved = saved
    _route_ray_logs(log_file)
    return True


#: Ray puts sockets at ``<temp>/session_<date>_<time>_<pid>/sockets/plasma_store`` (64
#: characters after ``<temp>`` with a 7-digit pid), and an AF_UNIX path holds at most 107
#: bytes: deeper temp folders keep Ray's default.
_RAY_SOCKET_SUFFIX = 64
_UNIX_PATH_MAX = 107


def _session_dir() -> str | None:
    """A fresh ``e2t-ray-*`` folder for Ray's session files, or None if its sockets'
    paths would be too long (Ray then uses its own default folder)."""
    parent = os.environ.get("RAY_TMPDIR") or tempfile.gettempdir()
    if len(os.path.abspath(parent)) + len("/e2t-ray-xxxxxxxx") + _RAY_SOCKET_SUFFIX \
            > _UNIX_PATH_MAX:
        return None
    return tempfile.mkdtemp(prefix="e2t-ray-", dir=parent)


def _logger_state() -> tuple[list[logging.Handler], bool, int]:
    logger = logging.getLogger("ray")
    return list(logger.handlers), logger.propagate, logger.level


def _route_ray_logs(log_file: Path | None) -> None:
    """Ray's warnings to ``log_file`` (if given), only its errors to the terminal."""
    logger = logging.getLogger("ray")
    for handler in logger.handlers:
        handler.setLevel(logging.ERROR)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setLevel(logging.WARNING)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        handler.set_name("e2t-ray-log")
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)


def _detach(session: _Session) -> None:
    """Give Ray's logger back the handlers and level it had before the session."""
    if session.saved is None:
        return
    logger = logging.getLogger("ray")
    for handler in logger.handlers:
        if handler.get_name() == "e2t-ray-log":
            handler.close()
    logger.handlers, logger.propagate, level = session.saved
    logger.setLevel(level)
