"""Self-describing checkpoints: a checkpoint alone rebuilds its model.

Layout (plain containers only, loadable with ``torch.load(weights_only=True)``)::

    {"format": "fusion-ckpt/1", "fusion_version": str,
     "model": {"name": str, "args": dict}, "state_dict": {...},
     "meta": {"sensor", "lr_bands", "guide_bands", "band_centres_nm", "data_range", ...},
     **extra}   # optimizer state, step, config, ... for training runs

Training runs (:mod:`fusion.engine.trainer`) add ``"step"``, ``"config"`` (the resolved config),
``"val"`` (metrics, in ``best.pt``) and, in resumable checkpoints (``last.pt``), ``"train_state"``:
``{"model": raw weights, "optimizer", "scheduler", "ema_updates", "rng": {"torch", "cuda"}, "best"}``.
``"state_dict"`` then holds the EMA weights, which are what inference should use.
"""

from __future__ import annotations

import copy
import hashlib
import os
from pathlib import Path
from typing import Any

import torch

from fusion import __version__
from fusion.atomic import atomic_output
from fusion.errors import InputError
from fusion.models import FusionModel, create_model

FORMAT = "fusion-ckpt/1"


def save_checkpoint(
    model: FusionModel,
    path: str | os.PathLike,
    meta: dict[str, Any] | None = None,
    overwrite: bool = True,
    **extra: Any,
) -> Path:
    """Write ``model`` (built by :func:`fusion.create_model`, so it knows its spec) atomically to ``path``."""
    spec = getattr(model, "spec", None)
    if spec is None:
        raise ValueError("model has no spec; build it with fusion.create_model(name, **args)")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "fusion_version": __version__,
        "model": copy.deepcopy(spec),
        "state_dict": state,
        "meta": dict(meta or {}),
        **extra,
    }
    with atomic_output(path, overwrite=overwrite) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load and validate a checkpoint's payload; :class:`InputError` names the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise InputError(f"{path}: not a readable fusion checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise InputError(f"{path}: not a fusion checkpoint (format {found!r}, expected {FORMAT!r})")
    for key in ("model", "state_dict"):
        if key not in payload:
            raise InputError(f"{path}: checkpoint lacks {key!r}")
    return payload


def load_checkpoint(path: str | os.PathLike) -> tuple[FusionModel, dict[str, Any]]:
    """Rebuild the model stored at ``path`` with its weights; returns ``(model, payload)``."""
    payload = read_checkpoint(path)
    spec = payload["model"]
    try:
        model = create_model(spec["name"], **spec.get("args", {}))
    except KeyError as exc:
        raise InputError(f"{path}: checkpoint names an unknown model ({exc.args[0]})") from None
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise InputError(f"{path}: weights do not fit model {spec['name']!r}: {first}") from None
    return model, payload


def file_hash(path: str | os.PathLike, length: int = 12) -> str:
    """Short SHA-256 of a file, recorded in outputs that a checkpoint produced."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:length]
