"""Optimisers, the warm-up + cosine learning-rate schedule, and exponential moving averages of weights."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from fusion.errors import InputError

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


def build_optimizer(params: Iterable[nn.Parameter], spec: Mapping[str, Any]) -> torch.optim.Optimizer:
    """``spec``: ``{name: adam|adamw|sgd, lr, ...}``; other keys go to the torch optimiser (``betas``...)."""
    args = dict(spec)
    name = args.pop("name", "adamw")
    if name not in OPTIMIZERS:
        raise InputError(f"unknown optimizer {name!r} (known: {', '.join(OPTIMIZERS)})")
    if "betas" in args:
        args["betas"] = tuple(args["betas"])
    try:
        return OPTIMIZERS[name](params, **args)
    except TypeError as exc:
        raise InputError(f"optimizer {name!r}: {exc}") from None


def warmup_cosine(step: int, total: int, warmup: int = 0, floor: float = 0.0) -> float:
    """Learning-rate factor at ``step``: linear from ``1 / (warmup + 1)`` to 1 over ``warmup`` steps, then
    a half cosine from 1 down to ``floor`` at ``total``; ``floor`` afterwards."""
    if step < warmup:
        return (step + 1) / (warmup + 1)
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def build_scheduler(
    optimizer: torch.optim.Optimizer, total: int, warmup: int = 0, floor: float = 0.0
) -> torch.optim.lr_scheduler.LambdaLR:
    """A :class:`LambdaLR` following :func:`warmup_cosine`; call ``step()`` once per optimiser step."""
    if total < 1 or warmup < 0 or not 0 <= floor <= 1:
        raise InputError(
            f"schedule needs steps >= 1, warmup >= 0, 0 <= min_lr_factor <= 1; got {total}, {warmup}, {floor}"
        )
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(step, total, warmup, floor)
    )


class EMA(nn.Module):
    """Exponential moving average of a model's parameters (buffers are copied).

    ``shadow = d * shadow + (1 - d) * param`` with ``d = min(decay, (1 + n) / (10 + n))`` after ``n``
    updates, so that early averages are not dominated by the random initial weights. ``module`` is
    the averaged copy (evaluate and export it); :meth:`state_dict` includes the update count.
    """

    def __init__(self, model: nn.Module, decay: float):
        super().__init__()
        if not 0 < decay < 1:
            raise InputError(f"EMA decay must lie in (0, 1), got {decay}")
        self.decay = float(decay)
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold the current weights of ``model`` (same architecture, unwrapped) into the average."""
        n = int(self.updates)
        decay = min(self.decay, (1 + n) / (10 + n))
        shadow, current = self.module.state_dict(), model.state_dict()
        floats = [name for name, value in shadow.items() if value.is_floating_point()]
        if floats:  # one fused kernel per dtype group instead of one per tensor
            torch._foreach_lerp_(
                [shadow[k] for k in floats], [current[k].detach() for k in floats], 1 - decay
            )
        for name, value in shadow.items():
            if not value.is_floating_point():
                value.copy_(current[name])
        self.updates += 1
