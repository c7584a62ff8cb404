"""Saving and loading a fitted surrogate: safetensors and JSON, no pickle.

A model folder (format :data:`FORMAT_VERSION`) holds:

- ``weights.safetensors``: every member's state as ``member{i}.<key>``, and the input
  kind's fitted state (keys ``input.*``);
- ``support.safetensors``: the support set, its inputs as the input kind's arrays plus
  ``y`` and ``domains``;
- ``config.json``: ``format``, ``config``, ``y_mean``, ``y_std``, ``n_members`` and the
  training ``history`` and the variance ``calibrations``.

:meth:`E2TSurrogate.save <e2t_discovery.model.surrogate.E2TSurrogate.save>` and
:meth:`~e2t_discovery.model.surrogate.E2TSurrogate.load` call :func:`save_surrogate` and
:func:`load_surrogate`; both heads share them (a head rebuilds its members through the
surrogate's ``_new_member``). Loading re-embeds the support set in the same batches as a
fresh fit, so a loaded model predicts bit for bit what the saved one did.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import torch

from e2t_discovery.exceptions import ModelError
from e2t_discovery.model.config import SurrogateConfig

if TYPE_CHECKING:
    from e2t_discovery.model.surrogate import E2TSurrogate

__all__ = ["FORMAT_VERSION", "load_surrogate", "save_surrogate"]

FORMAT_VERSION = 1

_Model = TypeVar("_Model", bound="E2TSurrogate")


def save_surrogate(model: E2TSurrogate, directory: str | Path) -> None:
    """Write a fitted ``model`` into ``directory`` (created if missing; files replaced)."""
    from safetensors.numpy import save_file as save_np
    from safetensors.torch import save_file as save_torch

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    weights = {f"member{i}.{k}": v.detach().cpu().clone().contiguous()
               for i, m in enumerate(model.members) for k, v in m.state_dict().items()}
    weights.update({k: torch.from_numpy(np.ascontiguousarray(v))
                    for k, v in model.inputs.state().items()})
    save_torch(weights, str(out / "weights.safetensors"))
    support = model.inputs.to_arrays(model._X)
    support.update({"y": model._y, "domains": model._domains})
    save_np({k: np.ascontiguousarray(v) for k, v in support.items()},
            str(out / "support.safetensors"))
    meta = {"format": FORMAT_VERSION, "config": model.config.to_dict(),
            "y_mean": model.y_mean, "y_std": model.y_std, "n_members": len(model.members),
            "history": model.history, "calibrations": model.calibrations}
    (out / "config.json").write_text(json.dumps(meta, indent=2))


def load_surrogate(cls: type[_Model], directory: str | Path, device: str | None) -> _Model:
    """Rebuild a surrogate of class ``cls`` from a folder written by :func:`save_surrogate`.

    Args:
        cls: The class to build (``E2TSurrogate`` builds the saved head's class).
        directory: The model folder.
        device: Override the saved device setting; None keeps it.

    Raises:
        ModelError: if files are missing, corrupt or from another format version.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file as load_np
    from safetensors.torch import load_file as load_torch

    src = Path(directory)
    try:
        meta = json.loads((src / "config.json").read_text())
        weights = load_torch(str(src / "weights.safetensors"))
        support = load_np(str(src / "support.safetensors"))
    except (OSError, json.JSONDecodeError, SafetensorError) as exc:
        raise ModelError(
            f"cannot load model from {src}: {exc}; re-train or re-save it") from exc
    if meta.get("format") != FORMAT_VERSION:
        raise ModelError(f"model in {src} has format {meta.get('format')!r}, this code reads "
                         f"{FORMAT_VERSION}; re-train it with this version")
    config = SurrogateConfig.from_dict(meta["config"])
    if device is not None:
        config = config.replace(device=device)
    model = cls(config)
    model.inputs.load_state({k: v.numpy() for k, v in weights.items()
                             if k.startswith("input.")}, config)
    model.y_mean, model.y_std = float(meta["y_mean"]), float(meta["y_std"])
    model.history = list(meta.get("history", []))
    model.calibrations = list(meta.get("calibrations", []))
    model._X = model.inputs.from_arrays(support)
    model._y = np.asarray(support["y"], dtype=np.float64)
    model._domains = np.asarray(support["domains"], dtype=np.int64)
    for i in range(int(meta["n_members"])):
        prefix = f"member{i}."
        state = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
        member = model._new_member(model._X)
        try:
            member.load_state_dict(state)
        except RuntimeError as exc:
            raise ModelError(f"weights in {src} do not match the saved config: {exc}") from exc
        model.members.append(member.to(model.device).eval())
    model._refresh_caches()
    return model
