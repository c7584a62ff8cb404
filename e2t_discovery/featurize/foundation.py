"""Crystal feature vectors from a pretrained foundation model (CHGNet).

CHGNet (Deng et al., Nature Machine Intelligence 2023) is a graph network pretrained on
the energies, forces, stresses and magnetic moments of ~1.5 million Materials Project
relaxation frames; its wheel ships the pretrained weights, so nothing is downloaded at
run time. :func:`chgnet_crystal_features` returns its crystal feature vector — the
average over atoms of the last atom embeddings, the vector its energy head reads — for
each structure, for use as inputs beside the structure descriptors
(``StructureFeaturizer(foundation="chgnet")``).

CHGNet is an optional extra: ``pip install 'e2t-discovery[chgnet]'``.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from e2t_discovery.exceptions import FeaturizationError

__all__ = ["FOUNDATION_MODELS", "chgnet_crystal_features", "chgnet_version", "CHGNET_WIDTH"]

#: Foundation models a structure featurizer can append (``foundation=``).
FOUNDATION_MODELS = ("chgnet",)
#: Width of CHGNet's crystal feature vector (its atom embedding size).
CHGNET_WIDTH = 64
#: Structures per CHGNet forward pass.
_BATCH = 16


def _missing() -> FeaturizationError:
    return FeaturizationError(
        "foundation='chgnet' needs the chgnet package, which is not installed; "
        "install the extra with: pip install 'e2t-discovery[chgnet]'"
    )


def chgnet_version() -> str:
    """The installed CHGNet's version (part of every cache key of its features).

    Raises:
        FeaturizationError: if chgnet is not installed (with the install command).
    """
    try:
        import chgnet
    except ImportError:
        raise _missing() from None
    return str(chgnet.__version__)


@lru_cache(maxsize=1)
def _model() -> Any:
    try:
        from chgnet.model import CHGNet
    except ImportError:
        raise _missing() from None
    # CHGNet prints its parameter count on load and warns about pymatgen internals.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        model = CHGNet.load(verbose=False)
    return model.eval()


def chgnet_crystal_features(structures: Sequence[Any]) -> np.ndarray:
    """Return CHGNet's crystal feature vector of every structure.

    Args:
        structures: pymatgen ``Structure`` objects (already checked).

    Returns:
        ``n x CHGNET_WIDTH`` float32.

    Raises:
        FeaturizationError: if chgnet is not installed.
        ValueError: if CHGNet cannot build a graph of a structure (with its reason).
    """
    out = np.empty((len(structures), CHGNET_WIDTH), dtype=np.float32)
    if not len(structures):
        return out
    model = _model()
    import torch

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        for start in range(0, len(structures), _BATCH):
            batch = list(structures[start:start + _BATCH])
            try:
                pred = model.predict_structure(batch, task="e", return_crystal_feas=True,
                                               batch_size=_BATCH)
            except (ValueError, RuntimeError, IndexError) as exc:
                raise ValueError(f"CHGNet could not read the structure ({exc})") from exc
            rows = [pred] if isinstance(pred, dict) else list(pred)  # one structure: a dict
            for i, row in enumerate(rows):
                out[start + i] = np.asarray(row["crystal_fea"], dtype=np.float32)
    if not np.all(np.isfinite(out)):
        raise ValueError("CHGNet returned non-finite crystal features")
    return out
