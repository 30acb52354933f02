"""Shape checks shared by the blocks of :mod:`fusion.nn`."""

from __future__ import annotations

import torch

from fusion.errors import InputError


def check_broadcast(where: str, shapes: dict[str, tuple[int, ...]]) -> None:
    """Raise :class:`InputError` from ``where`` unless ``shapes`` (input name → leading dims) broadcast."""
    try:
        torch.broadcast_shapes(*shapes.values())
    except RuntimeError:
        listed = ", ".join(f"{name} {tuple(shape)}" for name, shape in shapes.items())
        raise InputError(f"{where}: leading dimensions do not broadcast: {listed}") from None
