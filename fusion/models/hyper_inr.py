"""``hyper-inr``: a hypernetwork predicts a small MLP per S×S cell (INR-HSISR), for spectral SR or fusion.

Zhang, Zhu, Min & Zhai, "Implicit Neural Representation Learning for Hyperspectral Image
Super-Resolution", IEEE TGRS 61, 2023 (seeds 000 §1 and 004; ``REFERENCE-papers.md`` §6). A CNN
(strided convolutions, then estimator blocks) maps the input image to a grid of parameter vectors, one
per ``S x S`` cell; each pixel ``p`` of a cell is decoded by that cell's MLP from ``[X_p, gamma(p)]``,
its input values and the periodic encoding ``gamma_k(p) = [cos 2^k pi x, sin 2^k pi x, cos 2^k pi y,
sin 2^k pi y]`` of its position inside the cell.

Two modes. ``"spectral"``: spectral super-resolution, guide only (RGB/MSI/PAN ``(B, G, H, W)``) →
``C`` bands at the same size, as in the paper. ``"fusion"``: the bilinear upsampling of the LR-HSI is
concatenated to the guide as ``X`` and the MLP's output is a residual on it. Differences from the
public code and why: ``docs/models/hyper-inr.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fusion.errors import InputError
from fusion.models.base import INRModel
from fusion.models.liif import ResidualBlock, stand_in
from fusion.nn import HyperMLP, encode_coords, sample_at
from fusion.nn.activations import ActivationSpec
from fusion.nn.coords import coord_to_index
from fusion.nn.hyper import LEAKY
from fusion.registry import MODELS

MODES = ("fusion", "spectral")

#: Parameter floats of the cells one query chunk reads at once (~256 MiB fp32) when every query of
#: the chunk lies in a different cell; chunks of whole rows of cells read about S² times fewer.
PARAMS_PER_CHUNK = 1 << 26


def cell_position(coord: torch.Tensor, size: tuple[int, int], cell: int, grid: tuple[int, int]):
    """Cell index and position inside it of queries ``coord (B, N, 2)`` on an ``(H, W)`` image.

    Cell ``(i, j)`` covers image pixels ``[i S, (i + 1) S) x [j S, (j + 1) S)``. Returns the row-major
    cell index ``(B, N)`` into the ``grid = (ceil(H / S), ceil(W / S))`` cells and the position in
    ``[-1, 1]`` inside the cell ``(B, N, 2)`` (pixel centres at ``-1 + (2 k + 1) / S``).
    """
    edge = coord_to_index(coord, size) + 0.5  # distance from the image's top-left edge, in pixels
    limit = edge.new_tensor(grid) - 1
    index = torch.minimum((edge.detach() / cell).floor().clamp_min(0), limit)
    local = (edge - index * cell) * (2.0 / cell) - 1
    index = index.long()
    return index[..., 0] * grid[1] + index[..., 1], local


def per_cell_mlp(mlp: HyperMLP, x: torch.Tensor, index: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Apply cell ``index (B, N)``'s MLP (``params (cells, P)``) to each query's input ``x (B, N, in)``.

    Queries are grouped by cell into a zero-padded ``(cells hit, most queries in one cell, in)`` batch,
    so each hit cell's parameters are read once, not once per query. → ``(B, N, out)``.
    """
    flat = index.flatten()
    cells, group, counts = torch.unique(flat, return_inverse=True, return_counts=True)
    order = torch.argsort(group, stable=True)
    slot = torch.empty_like(order)
    slot[order] = torch.arange(len(flat), device=flat.device) - (counts.cumsum(0) - counts)[group[order]]
    grouped = x.new_zeros(len(cells), int(counts.max()), x.shape[-1])
    grouped[group, slot] = x.flatten(0, 1)
    out = mlp(grouped, params[cells])  # (cells hit, slots, out)
    return out[group, slot].view(*index.shape, -1)


class HyperNetwork(nn.Module):
    """CNN ``(B, in, H, W)`` → parameter grid ``(B, P, ceil(H / S), ceil(W / S))``.

    A 3×3 convolution, ``log2(S)`` stride-2 3×3 convolutions (each ``ceil(n / 2)``), ``blocks``
    residual estimator blocks, and a 1×1 convolution to ``P`` offsets. The parameters are a learned
    shared vector ``base`` (initialised like an ordinary MLP) plus the offsets scaled by
    ``1 / sqrt(fan_in)`` of the layer they belong to, so an untrained model is one shared MLP.
    """

    def __init__(self, in_channels: int, mlp: HyperMLP, width: int, blocks: int, cell: int):
        super().__init__()
        if cell < 1 or cell & (cell - 1):
            raise InputError(f"hyper-inr: the cell size must be a power of two, got {cell}")
        layers = [nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(int(math.log2(cell))):
            layers += [nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU(inplace=True)]
        layers += [ResidualBlock(width) for _ in range(blocks)]
        self.body = nn.Sequential(*layers)
        self.out = nn.Conv2d(width, mlp.num_params, 1)
        with torch.no_grad():
            self.out.weight.mul_(0.1)
            self.out.bias.zero_()
        bases, scales = [], []
        for fan_in, fan_out in zip(mlp.widths[:-1], mlp.widths[1:], strict=False):
            bound = 1 / math.sqrt(fan_in)  # torch.nn.Linear's default initialisation
            bases.append(torch.empty(fan_out * fan_in + fan_out).uniform_(-bound, bound))
            scales.append(torch.full((fan_out * fan_in + fan_out,), bound))
        self.base = nn.Parameter(torch.cat(bases))
        self.register_buffer("scale", torch.cat(scales), persistent=False)
        # Receptive radius in input pixels of any pixel's parameters: the strided chain sees +-(S - 1)
        # around S m, the head +-1 more, the blocks +-2 cells each; the pixel is up to S - 1 from S m.
        self.reach = 2 * cell - 1 + 2 * blocks * cell

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        offsets = self.out(self.body(x))
        return self.base.view(1, -1, 1, 1) + offsets * self.scale.view(1, -1, 1, 1).to(offsets.dtype)


@dataclass
class HyperState:
    """Per-cell parameters ``params (B * cells, P)``, pixel inputs ``X (B, in, H, W)``, the LR image."""

    params: torch.Tensor
    grid: tuple[int, int]
    inputs: torch.Tensor
    lr: torch.Tensor | None


@MODELS.register("hyper-inr")
class HyperINR(INRModel):
    """INR-HSISR: a hypernetwork CNN predicts one small MLP per S×S cell, decoding ``[X_p, gamma(p)]``.

    ``mode="spectral"``: spectral super-resolution ``guide (B, G, H, W)`` → ``(B, C, H, W)`` with
    ``C = lr_bands`` (the target band count); ``lr`` is not used and may be ``None``.
    ``mode="fusion"`` (default): ``X = [guide, bilinear(lr)]`` and the output is a residual on
    ``bilinear(lr)``; any ratio (non-integer, per-axis), band count and guide.

    Args:
        lr_bands, guide_bands: ``C`` (output bands; the LR-HSI's bands in fusion mode) and ``G``.
        mode: ``"fusion"`` or ``"spectral"``.
        width, blocks: hypernetwork channels and estimator blocks.
        cell: ``S``, the side of a cell sharing one MLP (a power of two).
        hidden, activations: the per-cell MLP's hidden widths and activation spec(s) (one, or one per
            hidden layer, e.g. a :func:`fusion.nn.mire_search` sequence; LeakyReLU(0.1) by default).
        num_freqs: frequencies ``N`` of ``gamma`` (default ``log2(S) + 1``: up to one period per
            2 pixels).
    """

    def __init__(
        self,
        lr_bands: int,
        guide_bands: int,
        mode: str = "fusion",
        width: int = 64,
        blocks: int = 5,
        cell: int = 4,
        hidden: Sequence[int] = (64, 64, 64, 64),
        activations: ActivationSpec | Sequence[ActivationSpec] = LEAKY,
        num_freqs: int | None = None,
    ):
        super().__init__(lr_bands=lr_bands, guide_bands=guide_bands)
        if mode not in MODES:
            raise InputError(f"hyper-inr: mode must be one of {MODES}, got {mode!r}")
        self.mode, self.cell = mode, int(cell)
        self.num_freqs = int(math.log2(max(cell, 1))) + 1 if num_freqs is None else int(num_freqs)
        in_channels = guide_bands + (lr_bands if mode == "fusion" else 0)
        self.mlp = HyperMLP(in_channels + 4 * self.num_freqs, lr_bands, hidden, activations)
        self.hyper = HyperNetwork(in_channels, self.mlp, width, blocks, self.cell)
        self.default_chunk = max(1, PARAMS_PER_CHUNK // self.mlp.num_params)

    @classmethod
    def tiny_args(cls) -> dict:
        """A small configuration for fast tests."""
        return {"width": 32, "blocks": 1, "cell": 4, "hidden": (32, 32)}

    def halo(self, ratio: tuple[float, float]) -> int:
        # The hypernetwork works on the guide grid; the bilinear upsampling reaches one LR pixel.
        return int(math.ceil(self.hyper.reach + max(ratio)))

    def tile_alignment(self) -> tuple[int, int]:
        return 1, self.cell  # each S x S output cell has its own MLP: tiles start on cell edges

    def forward(self, lr, guide, out_size=None, chunk=None) -> torch.Tensor:
        """``lr (B, C, h, w)`` (``None`` in spectral mode) and ``guide (B, G, H, W)`` → ``(B, C, H, W)``."""
        if lr is None:
            if self.mode != "spectral" or guide.ndim != 4:
                raise InputError("hyper-inr: lr is required in fusion mode (spectral mode takes lr=None)")
            lr = stand_in(guide, (guide.shape[0], self.lr_bands, *guide.shape[-2:]))
        return super().forward(lr, guide, out_size, chunk)

    def encode(self, lr: torch.Tensor, guide: torch.Tensor) -> HyperState:
        size = tuple(guide.shape[-2:])
        if self.mode == "fusion":
            up = F.interpolate(lr, size=size, mode="bilinear", align_corners=False)
            inputs, residual = torch.cat((guide.to(up.dtype), up), dim=1), lr
        else:
            inputs, residual = guide, None
        params = self.hyper(inputs)  # (B, P, ceil(H / S), ceil(W / S))
        return HyperState(
            params.permute(0, 2, 3, 1).flatten(0, 2), tuple(params.shape[-2:]), inputs, residual
        )

    def query(self, state: HyperState, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        size = tuple(state.inputs.shape[-2:])
        index, local = cell_position(coord, size, self.cell, state.grid)
        index = index + torch.arange(coord.shape[0], device=index.device).view(-1, 1) * (
            state.grid[0] * state.grid[1]
        )
        x = torch.cat(
            (sample_at(state.inputs, coord), encode_coords(local, "periodic", self.num_freqs)), dim=-1
        )
        values = per_cell_mlp(self.mlp, x, index, state.params)
        return values if state.lr is None else values + sample_at(state.lr, coord)
