"""DyLinear (DynamicPINR's dynamic query mapping, seed 000 Fig. 6).

A generative linear layer (GL) turns a conditioning vector ``c`` (e.g. the decoded spatial feature
``H_dec`` of a pixel) into low-rank temporary parameters ``U(c) (out, r)`` and ``V(c) (r, in)``; the
modulated linear layer (ML) applies them on top of a static weight:

    y = W x + b + U(c) V(c) x / sqrt(r * in)

The rank-``r`` update is applied as ``U (V x)`` and never formed as a full matrix.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from fusion.errors import InputError
from fusion.nn.checks import check_broadcast


class DyLinear(nn.Module):
    """Linear layer ``in_dim → out_dim`` whose weight is modulated per condition ``(..., cond_dim)``.

    ``forward(x (..., in_dim), cond (..., cond_dim))`` → ``(..., out_dim)``; the leading dimensions of
    ``x`` and ``cond`` broadcast, so one condition per pixel serves all its bands, e.g. ``x (P, L, in)``
    with ``cond (P, 1, cond_dim)`` generates each pixel's temporary weights once.
    """

    def __init__(self, in_dim: int, out_dim: int, cond_dim: int, rank: int = 4, bias: bool = True):
        super().__init__()
        if min(in_dim, out_dim, cond_dim, rank) < 1:
            raise InputError(
                f"DyLinear: sizes must be positive, got in {in_dim}, out {out_dim}, "
                f"cond {cond_dim}, rank {rank}"
            )
        self.in_dim, self.out_dim, self.cond_dim, self.rank = in_dim, out_dim, cond_dim, rank
        self.linear = nn.Linear(in_dim, out_dim, bias=bias)  # ML: the static part
        self.generate = nn.Linear(cond_dim, rank * (out_dim + in_dim))  # GL
        self.scale = 1.0 / math.sqrt(rank * in_dim)

    def temporary_weights(self, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """GL: ``U (..., out_dim, rank)`` and ``V (..., rank, in_dim)`` from ``cond (..., cond_dim)``."""
        if cond.shape[-1] != self.cond_dim:
            raise InputError(f"DyLinear: expected cond (..., {self.cond_dim}), got {tuple(cond.shape)}")
        params = self.generate(cond)
        u, v = params.split((self.out_dim * self.rank, self.rank * self.in_dim), dim=-1)
        return u.unflatten(-1, (self.out_dim, self.rank)), v.unflatten(-1, (self.rank, self.in_dim))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_dim:
            raise InputError(f"DyLinear: expected x (..., {self.in_dim}), got {tuple(x.shape)}")
        check_broadcast("DyLinear", {"x": x.shape[:-1], "cond": cond.shape[:-1]})
        u, v = self.temporary_weights(cond)
        low_rank = (v @ x.unsqueeze(-1)) * self.scale  # (..., rank, 1)
        return self.linear(x) + (u @ low_rank).squeeze(-1)
