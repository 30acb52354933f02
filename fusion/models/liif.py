"""``liif``: local implicit image function for arbitrary-scale HS super-resolution (no guide).

Chen, Liu & Wang, "Learning Continuous Image Representation with Local Implicit Image Function",
CVPR 2021 (seeds 002/003). An EDSR-baseline-like encoder turns the low-resolution image into a latent
grid; :class:`fusion.nn.SpatialQuery` decodes any coordinate from the 4 nearest (unfolded) codes,
their offsets and the query's cell, blended with the opposite-rectangle areas. It is the no-PAN
baseline and the spatial core other models reuse (:class:`EDSREncoder`, :class:`ResidualBlock`).
Differences from the public code: ``docs/models/liif.md``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from fusion.errors import InputError
from fusion.models.base import INRModel
from fusion.nn import SpatialQuery, sample_at
from fusion.nn.activations import ActivationSpec
from fusion.registry import MODELS


class ResidualBlock(nn.Module):
    """EDSR's block without batch norm: ``x + scale * conv(relu(conv(x)))``, ``(B, D, h, w)`` → same."""

    def __init__(self, width: int, scale: float = 1.0):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1),
        )
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.scale * self.body(x)


class EDSREncoder(nn.Module):
    """EDSR-baseline without its upsampler: ``(B, C, h, w)`` → latent ``(B, width, h, w)``.

    Head convolution, ``blocks`` residual blocks and a convolution, with a long skip from the head.
    ``reach`` is its receptive radius in input pixels.
    """

    def __init__(self, in_channels: int, width: int = 64, blocks: int = 16, res_scale: float = 1.0):
        super().__init__()
        if in_channels < 1 or width < 1 or blocks < 0:
            raise InputError(f"EDSREncoder: bad sizes in {in_channels}, width {width}, blocks {blocks}")
        self.head = nn.Conv2d(in_channels, width, 3, padding=1)
        self.body = nn.Sequential(
            *[ResidualBlock(width, res_scale) for _ in range(blocks)], nn.Conv2d(width, width, 3, padding=1)
        )
        self.out_dim, self.reach = width, 2 * blocks + 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head = self.head(x)
        return head + self.body(head)


def stand_in(like: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """A zero tensor of ``shape`` that occupies one element (a broadcast view), for unused inputs."""
    return like.new_zeros(()).expand(*shape)


@MODELS.register("liif")
class LIIF(INRModel):
    """LIIF: EDSR-baseline encoder + local implicit queries; super-resolves the low-resolution image alone.

    The guide is not used: ``model(lr, guide)`` only takes the output size from it, and
    ``model(lr, None, out_size=(H, W))`` works without one. Any output size (non-integer and per-axis
    ratios) and band count.

    Args:
        lr_bands: band count ``C`` of the input and output.
        guide_bands: accepted for the common signature and ignored.
        width, blocks: encoder channels and residual blocks (EDSR-baseline: 64, 16).
        hidden, activations: decoder MLP widths and activation spec(s) (one, or one per hidden layer,
            e.g. a :func:`fusion.nn.mire_search` sequence).
        unfold, ensemble, cell: LIIF's feature unfolding, local ensemble and cell decoding.
        encoding, num_freqs: encoding of the relative coordinate (``"none"``, ``"sinusoidal"``,
            ``"periodic"``; see :mod:`fusion.nn.encoding`).
        residual: add the bilinear upsampling of ``lr`` to the decoded values.
    """

    def __init__(
        self,
        lr_bands: int,
        guide_bands: int | None = None,
        width: int = 64,
        blocks: int = 16,
        hidden: Sequence[int] = (256, 256, 256, 256),
        activations: ActivationSpec | Sequence[ActivationSpec] = "relu",
        unfold: bool = True,
        ensemble: bool = True,
        cell: bool = True,
        encoding: str = "none",
        num_freqs: int = 0,
        residual: bool = True,
    ):
        super().__init__(lr_bands=lr_bands, guide_bands=None)
        self.encoder = EDSREncoder(lr_bands, width, blocks)
        self.spatial = SpatialQuery(
            width,
            lr_bands,
            hidden,
            activations,
            unfold=unfold,
            ensemble=ensemble,
            cell=cell,
            encoding=encoding,
            num_freqs=num_freqs,
        )
        self.residual = residual
        self.receptive_field = float(self.encoder.reach + int(unfold) + 1)

    @classmethod
    def tiny_args(cls) -> dict:
        """A small configuration for fast tests."""
        return {"width": 16, "blocks": 1, "hidden": (32, 32)}

    def forward(self, lr, guide=None, out_size=None, chunk=None) -> torch.Tensor:
        """``lr (B, C, h, w)`` → ``(B, C, H, W)``; ``(H, W)`` is ``out_size`` or the guide's size."""
        if guide is None:
            if out_size is None or lr.ndim != 4:
                raise InputError("liif: without a guide, give lr (B, C, h, w) and out_size=(H, W)")
            guide = stand_in(lr, (lr.shape[0], 1, *out_size))
        return super().forward(lr, guide, out_size, chunk)

    def encode(self, lr: torch.Tensor, guide: torch.Tensor):
        return self.spatial.prepare(self.encoder(lr)), lr

    def query(self, state, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        latent, lr = state
        values = self.spatial.query(latent, coord, cell)
        return values + sample_at(lr, coord) if self.residual else values
