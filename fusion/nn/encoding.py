"""Encodings of (relative) coordinates fed to INR decoders.

* ``"none"`` – the coordinate itself.
* ``"sinusoidal"`` – NeRF/PINR style: the coordinate followed by ``sin(2^k pi p), cos(2^k pi p)``
  for ``k = 0 .. num_freqs - 1`` (all axes per frequency), so the decoder still sees the raw offset.
* ``"periodic"`` – INR-HSISR's gamma (seed 004): ``gamma_k(p) = [cos 2^k pi x, sin 2^k pi x,
  cos 2^k pi y, sin 2^k pi y]`` for ``k = 0 .. num_freqs - 1``, without the raw coordinate.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from fusion.errors import InputError

ENCODINGS = ("none", "sinusoidal", "periodic")


def encoded_dim(kind: str, dims: int, num_freqs: int) -> int:
    """Width of the encoding of a ``dims``-dimensional coordinate."""
    if kind not in ENCODINGS:
        raise InputError(f"unknown coordinate encoding {kind!r}; choose one of {', '.join(ENCODINGS)}")
    if kind != "none" and num_freqs < 1:
        raise InputError(f"{kind} encoding needs num_freqs >= 1, got {num_freqs}")
    if kind == "none":
        return dims
    return dims * 2 * num_freqs + (dims if kind == "sinusoidal" else 0)


def encode_coords(p: torch.Tensor, kind: str = "none", num_freqs: int = 0) -> torch.Tensor:
    """Encode coordinates ``p (..., dims)`` into ``(..., encoded_dim(kind, dims, num_freqs))``."""
    encoded_dim(kind, p.shape[-1], num_freqs)
    if kind == "none":
        return p
    freqs = math.pi * 2.0 ** torch.arange(num_freqs, device=p.device, dtype=p.dtype)
    angles = p.unsqueeze(-2) * freqs.unsqueeze(-1)  # (..., num_freqs, dims)
    if kind == "periodic":
        waves = torch.stack((angles.cos(), angles.sin()), dim=-1)  # (..., F, dims, [cos, sin])
        return waves.flatten(-3)
    waves = torch.stack((angles.sin(), angles.cos()), dim=-2)  # (..., F, [sin, cos], dims)
    return torch.cat((p, waves.flatten(-3)), dim=-1)


class CoordEncoding(nn.Module):
    """Module form of :func:`encode_coords` with its output width in ``out_dim``."""

    def __init__(self, kind: str = "none", dims: int = 2, num_freqs: int = 0):
        super().__init__()
        self.kind, self.dims, self.num_freqs = kind, dims, num_freqs
        self.out_dim = encoded_dim(kind, dims, num_freqs)

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        if p.shape[-1] != self.dims:
            raise InputError(f"CoordEncoding: expected coordinates (..., {self.dims}), got {tuple(p.shape)}")
        return encode_coords(p, self.kind, self.num_freqs)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, dims={self.dims}, num_freqs={self.num_freqs}"
