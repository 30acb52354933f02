"""A thin :class:`torch.nn.Module` around any functional metric (for training loops and model code)."""

from __future__ import annotations

import torch
from torch import nn

from fusion.errors import InputError


class Metric(nn.Module):
    """``Metric("q2n", convention="float")(pred, ref)`` calls :func:`fusion.metrics.q2n` with those arguments.

    Args:
        name: a functional metric of :mod:`fusion.metrics` (``psnr``, ``sam``, ``q2n``, ``d_s``, ...).
        **kwargs: keyword arguments bound to every call (``ratio``, ``convention``, ``block_size``...).
    """

    def __init__(self, name: str, **kwargs):
        super().__init__()
        import fusion.metrics as metrics

        function = getattr(metrics, name, None)
        if name.startswith("evaluate") or not callable(function) or isinstance(function, type):
            raise InputError(f"unknown metric {name!r}; see fusion.metrics.__all__")
        self.name, self.function, self.kwargs = name, function, kwargs

    def forward(self, *images) -> torch.Tensor:
        return self.function(*images, **self.kwargs)

    def extra_repr(self) -> str:
        return ", ".join([repr(self.name), *(f"{k}={v!r}" for k, v in self.kwargs.items())])
