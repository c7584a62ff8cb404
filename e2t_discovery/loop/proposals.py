"""Pending proposals and their end: answered by the lab, abandoned or failed.

A *batch* is what one ``e2t propose`` (or the propose step of one ``e2t run`` round)
records; its id is its round number. A proposal is *pending* (status ``proposed``) until
a lab file with its id is ingested (``measured``) or it is closed here, as in Ax's
``mark_abandoned`` / ``mark_failed``:

- ``abandoned``: the lab will not measure it (changed plans, out of stock); it no longer
  counts as pending and a later batch may propose it again;
- ``failed``: the lab tried and could not measure it (synthesis failed); it no longer
  counts as pending and is never proposed again.

A round of ``e2t run`` whose proposals are all measured, abandoned or failed counts as
measured, so the loop moves on. :func:`require_no_pending` keeps ``e2t propose`` from
silently opening a second batch while one awaits the lab.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from e2t_discovery.exceptions import ProposalError
from e2t_discovery.store import CLOSED_STATUSES, Store

__all__ = ["CLOSED_STATUSES", "pending_batches", "pending_summary", "require_no_pending",
           "close_proposals"]


def pending_batches(store: Store) -> pd.DataFrame:
    """Return one row per batch with pending proposals: ``batch`` (its round), ``n``."""
    pending = store.proposals(status="proposed")
    counts = pending.groupby("round", sort=True).size()
    return pd.DataFrame({"batch": counts.index.astype(int), "n": counts.to_numpy(int)})


def pending_summary(batches: pd.DataFrame) -> str:
    """Say which batches are pending, e.g. ``3 pending proposals (batch 2: 3)``."""
    total = int(batches["n"].sum())
    parts = ", ".join(f"batch {b}: {n}" for b, n in zip(batches["batch"], batches["n"],
                                                          strict=True))
    return f"{total} pending proposal{'s' if total != 1 else ''} ({parts})"


def require_no_pending(store: Store, name: str) -> None:
    """Refuse to open a new batch while proposals await the lab.

    Raises:
        ProposalError: naming the pending batches, how to answer or abandon them, and
            ``--allow-pending``.
    """
    batches = pending_batches(store)
    if batches.empty:
        return
    first = int(batches["batch"].iloc[0])
    raise ProposalError(
        f"campaign {name} has {pending_summary(batches)} awaiting the lab; answer them "
        f"with `e2t ingest {name} FILE` (a lab file with their ids), or abandon them with "
        f"`e2t proposals abandon {name} --batch {first}`; pass --allow-pending to open "
        f"another batch anyway")


def _one_selector(ids: list[str], batch: int | None, all_pending: bool) -> None:
    given = sum([bool(ids), batch is not None, all_pending])
    if given != 1:
        raise ProposalError("say which proposals: material ids, --batch N or --all "
                            "(exactly one of them)")


def close_proposals(store: Store, name: str, status: str, *, ids: Iterable[str] = (),
                    batch: int | None = None, all_pending: bool = False,
                    note: str | None = None) -> pd.DataFrame:
    """Mark pending proposals ``abandoned`` or ``failed``, all or nothing.

    Args:
        store: The campaign's writable store.
        name: Campaign name (for messages).
        status: ``abandoned`` or ``failed``.
        ids: Material ids whose pending proposals to close.
        batch: Close every pending proposal of this batch (round).
        all_pending: Close every pending proposal.
        note: Why (kept with each proposal and in the event).

    Returns:
        The proposals closed (as :meth:`Store.proposals` returns them, before the change).

    Raises:
        ProposalError: if not exactly one of ``ids``/``batch``/``all_pending`` is given,
            an id was never proposed or has no pending proposal, the batch does not exist
            or has none pending, or nothing is pending; nothing is changed then.
    """
    if status not in CLOSED_STATUSES:
        raise ProposalError(f"status {status!r} cannot close a proposal; use "
                            f"{' or '.join(CLOSED_STATUSES)}")
    wanted = list(dict.fromkeys(str(i) for i in ids))
    _one_selector(wanted, batch, all_pending)
    every = store.proposals()
    pending = every[every["status"] == "proposed"]
    verb = "abandon" if status == "abandoned" else "fail"
    hint = f"`e2t proposals list {name}` shows the pending ones"
    if wanted:
        known = set(every["material_id"].astype(str))
        unknown = [i for i in wanted if i not in known]
        if unknown:
            more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
            raise ProposalError(f"material {unknown[0]!r}{more} was never proposed in "
                                f"campaign {name}; {hint}")
        open_ids = set(pending["material_id"].astype(str))
        closed = [i for i in wanted if i not in open_ids]
        if closed:
            last = every[every["material_id"].astype(str) == closed[0]].iloc[-1]
            raise ProposalError(
                f"material {closed[0]!r} has no pending proposal (its proposal of batch "
                f"{int(last['round'])} is {last['status']}); only pending proposals can be "
                f"{'abandoned' if verb == 'abandon' else 'marked failed'}; {hint}")
        chosen = pending[pending["material_id"].astype(str).isin(wanted)]
    elif batch is not None:
        in_batch = every[every["round"] == batch]
        if in_batch.empty:
            batches = ", ".join(str(int(r)) for r in sorted(every["round"].unique()))
            raise ProposalError(f"campaign {name} has no batch {batch} (batches: "
                                f"{batches or 'none'}); "
                                f"{hint}")
        chosen = in_batch[in_batch["status"] == "proposed"]
        if chosen.empty:
            counts = ", ".join(f"{n} {s}" for s, n in
                               in_batch["status"].value_counts().sort_index().items())
            raise ProposalError(f"batch {batch} of campaign {name} has no pending proposals "
                                f"({counts}); nothing to {verb}")
    else:
        chosen = pending
        if chosen.empty:
            raise ProposalError(f"campaign {name} has no pending proposals; nothing to {verb}")
    store.close_proposals(chosen["material_id"].astype(str), status, note=note)
    return chosen.reset_index(drop=True)
