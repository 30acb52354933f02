"""Tiles on the output (guide) grid, aligned with the virtual low-resolution grid.

With a ratio ``p / q`` per axis, every tile starts on a multiple of ``p`` output pixels (``q``
low-resolution pixels), so each tile sees the low-resolution pixels at exactly the positions an
untiled run sees them. A tile's *window* is its core plus a halo (rounded up to a multiple of ``p``)
on each side, and its end is padded up to a multiple of ``p``; windows may reach past the scene
(reads clamp to the scene's edge pixels), and only the core is written. The untiled run is the single
tile whose core is the whole scene, so it pads the scene edges exactly as the tiled run does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from itertools import product

BLOCK_MULTIPLE = 16  # GeoTIFF tile sizes must be multiples of 16
MAX_BLOCK = 512


@dataclass(frozen=True)
class Span:
    """A tile along one axis: ``core``, ``window`` in output pixels; ``lr_window`` in virtual LR pixels."""

    core: tuple[int, int]
    window: tuple[int, int]
    lr_window: tuple[int, int]

    @property
    def core_in_window(self) -> slice:
        """Where the core lies inside the window."""
        return slice(self.core[0] - self.window[0], self.core[1] - self.window[0])


@dataclass(frozen=True)
class Tile:
    """A 2-D tile: spans along rows and columns."""

    rows: Span
    cols: Span

    @property
    def core_in_window(self) -> tuple[slice, slice]:
        return self.rows.core_in_window, self.cols.core_in_window

    @property
    def window_size(self) -> tuple[int, int]:
        return self.rows.window[1] - self.rows.window[0], self.cols.window[1] - self.cols.window[0]

    @property
    def lr_size(self) -> tuple[int, int]:
        return self.rows.lr_window[1] - self.rows.lr_window[0], self.cols.lr_window[1] - self.cols.lr_window[
            0
        ]

    def describe(self) -> str:
        (r0, r1), (c0, c1) = self.rows.core, self.cols.core
        return f"rows {r0}-{r1 - 1}, cols {c0}-{c1 - 1}"


def alignment_unit(ratio: Fraction, lr_unit: int = 1, out_unit: int = 1) -> int:
    """Output pixels that tile starts must be multiples of, along one axis with ratio ``p / q``.

    Always a whole number of low-resolution pixels that is a multiple of ``lr_unit`` (a model's
    attention windows, say), and a multiple of ``out_unit`` output pixels (a model's output cells).
    """
    p, q = ratio.numerator, ratio.denominator
    lr_pixels = math.lcm(q, lr_unit)
    return math.lcm(lr_pixels // q * p, out_unit)


def core_size(size: int, ratio: Fraction, tile: int | None, unit: int | None = None) -> int:
    """Core length along one axis: ``tile`` rounded down to the alignment unit (whole axis if ``None``/0).

    ``unit`` defaults to :func:`alignment_unit` (``p``); cores are multiples of ``lcm(unit, 16)`` when
    that fits in ``tile`` (so they also fall on GeoTIFF block boundaries), else of ``unit``.
    """
    unit = unit or alignment_unit(ratio)
    if not tile or tile >= size:
        return math.ceil(size / unit) * unit
    block_unit = math.lcm(unit, BLOCK_MULTIPLE)
    unit = block_unit if block_unit <= tile else unit
    return max(unit, tile // unit * unit)


def block_size(core: int) -> int:
    """GeoTIFF block length for cores of length ``core``: the largest multiple of 16 up to 512 dividing it."""
    divisors = [b for b in range(BLOCK_MULTIPLE, MAX_BLOCK + 1, BLOCK_MULTIPLE) if core % b == 0]
    return divisors[-1] if divisors else MAX_BLOCK


def plan_axis(size: int, ratio: Fraction, tile: int | None, halo: int, unit: int | None = None) -> list[Span]:
    """Spans covering ``size`` output pixels: cores of :func:`core_size`, ``halo`` pixels of context.

    Cores and windows start on multiples of ``unit`` (default :func:`alignment_unit`, ``p``).
    """
    p, q = ratio.numerator, ratio.denominator
    unit = unit or alignment_unit(ratio)
    core = core_size(size, ratio, tile, unit)
    pad = math.ceil(halo / unit) * unit
    spans = []
    for start in range(0, size, core):
        stop = min(size, start + core)
        window = (start - pad, math.ceil(stop / p) * p + pad)
        spans.append(Span((start, stop), window, (window[0] // p * q, window[1] // p * q)))
    return spans


def plan_tiles(
    shape: tuple[int, int],
    ratio: tuple[Fraction, Fraction],
    tile: int | None,
    halo: int,
    lr_unit: int = 1,
    out_unit: int = 1,
) -> list[Tile]:
    """Row-major tiles covering an output of ``shape (H, W)``, starting on multiples of ``lr_unit``
    low-resolution pixels and of ``out_unit`` output pixels (see :func:`alignment_unit`)."""
    rows = plan_axis(shape[0], ratio[0], tile, halo, alignment_unit(ratio[0], lr_unit, out_unit))
    cols = plan_axis(shape[1], ratio[1], tile, halo, alignment_unit(ratio[1], lr_unit, out_unit))
    return [Tile(r, c) for r, c in product(rows, cols)]
