"""Geometry of a guide/low-resolution pair, one axis at a time (north-up grids are separable).

The output lies on the guide's grid: the guide pixels whose centres fall inside the low-resolution
image. The model sees the low-resolution image on a *virtual* grid aligned with the output: virtual
pixel ``k`` covers output pixels ``[k r, (k + 1) r)`` (the convention of :mod:`fusion.models.base`)
with ``r = p / q`` a small fraction close to the ratio of pixel sizes. Virtual pixel centres are
placed by their map coordinates on the native low-resolution grid, so offset grids (a fraction of a
pixel apart) and pixel sizes that are not an exact multiple of each other are handled by resampling,
never by index arithmetic that assumes alignment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from affine import Affine

EDGE_TOLERANCE = 1e-6  # pixels; absorbs float noise in geotransforms
MAX_DENOMINATOR = 8  # virtual ratios p / q with q <= 8 (10/3, 5/2, 4/3 ...); tiles align every p pixels


@dataclass(frozen=True)
class Axis:
    """One axis of a grid: pixel ``i`` spans map coordinates ``origin + step * [i, i + 1)``."""

    origin: float
    step: float
    size: int


def grid_axes(transform: Affine, width: int, height: int) -> tuple[Axis, Axis]:
    """``(rows, cols)`` axes of a north-up (unrotated) grid."""
    return Axis(transform.f, transform.e, height), Axis(transform.c, transform.a, width)


def is_axis_aligned(transform: Affine) -> bool:
    """True for grids without rotation or shear."""
    return transform.b == 0 and transform.d == 0 and transform.a != 0 and transform.e != 0


def snap_ratio(ratio: float, max_denominator: int = MAX_DENOMINATOR) -> Fraction:
    """The fraction ``p / q`` (``q <= max_denominator``) closest to ``ratio``."""
    return Fraction(ratio).limit_denominator(max_denominator)


@dataclass(frozen=True)
class AxisMapping:
    """The output axis (a run of guide pixels) and its virtual low-resolution grid on the native one.

    Virtual pixel ``k`` has its centre at native fractional pixel index ``lr_offset + lr_step * k``
    (0 = centre of native pixel 0).
    """

    start: int
    size: int
    ratio: Fraction
    native_ratio: float
    lr_offset: float
    lr_step: float

    def lr_positions(self, start: int, stop: int) -> np.ndarray:
        """Native fractional indices (float64) of virtual pixels ``start .. stop - 1``."""
        return self.lr_offset + self.lr_step * np.arange(start, stop, dtype=np.float64)


def map_axis(guide: Axis, lr: Axis, max_denominator: int = MAX_DENOMINATOR) -> AxisMapping:
    """Relate one guide axis to one low-resolution axis (steps of the same sign); size 0 = no overlap."""
    native_ratio = lr.step / guide.step
    # guide pixel i has its centre at native edge coordinate (o_g + s_g (i + 0.5) - o_l) / s_l
    first = (lr.origin - guide.origin) / guide.step - 0.5
    last = (lr.origin + lr.step * lr.size - guide.origin) / guide.step - 0.5
    start = max(0, math.ceil(first - EDGE_TOLERANCE))
    stop = min(guide.size, math.ceil(last - EDGE_TOLERANCE))
    ratio = snap_ratio(native_ratio, max_denominator)
    centre_of_first = guide.origin + guide.step * (start + 0.5 * float(ratio))
    return AxisMapping(
        start=start,
        size=max(0, stop - start),
        ratio=ratio,
        native_ratio=native_ratio,
        lr_offset=(centre_of_first - lr.origin) / lr.step - 0.5,
        lr_step=guide.step * float(ratio) / lr.step,
    )
