"""One loader for every saved surrogate folder: :func:`load_surrogate`.

A folder written by :meth:`E2TSurrogate.save` holds ``config.json``; one written by
:meth:`~e2t_discovery.model.transfer.TransferModel.save` holds ``transfer.json``. The
campaign's model shelf and the screen's scoring actors load through here, so a campaign
with a ``[transfer]`` source is screened, proposed from and adapted like any other.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from e2t_discovery.model.protocol import Surrogate

__all__ = ["TRANSFER_META", "is_transfer_folder", "load_surrogate"]

#: The metadata file that marks a transfer model's folder.
TRANSFER_META = "transfer.json"


def is_transfer_folder(directory: str | Path) -> bool:
    """True when ``directory`` holds a saved transfer model."""
    return (Path(directory) / TRANSFER_META).is_file()


def load_surrogate(directory: str | Path, *, device: str | None = None) -> Surrogate:
    """Load the surrogate saved in ``directory``: a transfer model or an ``E2TSurrogate``.

    Args:
        directory: A folder written by ``save``.
        device: Device override of an ``E2TSurrogate`` (transfer models run on the CPU).

    Raises:
        ModelError: if files are missing, corrupt or from another format version.
    """
    if is_transfer_folder(directory):
        from e2t_discovery.model.transfer import load_transfer

        return load_transfer(directory)
    from e2t_discovery.model.surrogate import E2TSurrogate

    return E2TSurrogate.load(directory, device=device)
