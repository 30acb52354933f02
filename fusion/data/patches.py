"""Patch sampling: random windows, windows aligned with a (possibly non-integer) ratio, flips.

Randomness is *keyed*: every sample draws from ``numpy.random.default_rng((seed, key))``, so a sample
depends only on the dataset seed and its key -- not on worker count, process rank or what was drawn
before. That is what makes batches reproducible and resumable (see :mod:`fusion.data.sampling`).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import torch

from fusion.errors import InputError

MAX_DENOMINATOR = 100  # ratios are snapped to p / q with q <= this (3.3 -> 33/10)


def keyed_rng(seed: int, key: int) -> np.random.Generator:
    """The random generator of sample ``key`` of a dataset seeded with ``seed``."""
    return np.random.default_rng((int(seed), int(key)))


def random_window(
    size: tuple[int, int], patch: tuple[int, int], rng: np.random.Generator
) -> tuple[slice, slice]:
    """A uniformly placed ``patch (ph, pw)`` window inside an image of ``size (H, W)``."""
    if patch[0] > size[0] or patch[1] > size[1]:
        raise InputError(f"patch {tuple(patch)} is larger than the image {tuple(size)}")
    top = int(rng.integers(0, size[0] - patch[0] + 1))
    left = int(rng.integers(0, size[1] - patch[1] + 1))
    return slice(top, top + patch[0]), slice(left, left + patch[1])


def centre_window(size: tuple[int, int], patch: tuple[int, int]) -> tuple[slice, slice]:
    """The ``patch`` window in the middle of an image of ``size`` (deterministic, for validation)."""
    if patch[0] > size[0] or patch[1] > size[1]:
        raise InputError(f"patch {tuple(patch)} is larger than the image {tuple(size)}")
    top, left = (size[0] - patch[0]) // 2, (size[1] - patch[1]) // 2
    return slice(top, top + patch[0]), slice(left, left + patch[1])


def as_fraction(ratio: float | Fraction) -> Fraction:
    """``ratio`` as a fraction ``p / q`` (``q <= MAX_DENOMINATOR``): 4 -> 4/1, 3.3 -> 33/10."""
    return Fraction(ratio).limit_denominator(MAX_DENOMINATOR)


def aligned_span(lr_length: int, lr_patch: int, ratio: Fraction, start: int) -> tuple[slice, slice]:
    """LR span ``[start, start + lr_patch)`` and the HR span it covers, ``[start r, (start + lr_patch) r)``.

    On the grid convention of :mod:`fusion.models.base` the two spans cover the same extent exactly
    when ``start r`` and ``lr_patch r`` are whole numbers; :class:`InputError` otherwise.
    """
    if start + lr_patch > lr_length:
        raise InputError(f"low-resolution patch of {lr_patch} at {start} exceeds the image ({lr_length})")
    hr_start, hr_length = start * ratio, lr_patch * ratio
    if hr_start.denominator != 1 or hr_length.denominator != 1:
        raise InputError(
            f"a low-resolution patch of {lr_patch} pixels at {start} does not cover whole pixels at ratio "
            f"{ratio} (use a patch that is a multiple of {ratio.denominator})"
        )
    return slice(start, start + lr_patch), slice(int(hr_start), int(hr_start + hr_length))


def aligned_window(
    lr_size: tuple[int, int],
    ratio: tuple[Fraction, Fraction],
    lr_patch: tuple[int, int],
    rng: np.random.Generator | None,
) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """A window on the LR grid and the HR window covering the same extent, per axis ``ratio = p / q``.

    Starts are multiples of ``q`` (so that they fall on HR pixel edges), uniformly drawn with ``rng``,
    or centred when ``rng`` is ``None``. Returns ``((lr_rows, lr_cols), (hr_rows, hr_cols))``.
    """
    lr_spans, hr_spans = [], []
    for length, patch, r in zip(lr_size, lr_patch, ratio, strict=True):
        step = r.denominator
        last = (length - patch) // step  # number of admissible starts minus one
        if last < 0:
            raise InputError(
                f"low-resolution patch {tuple(lr_patch)} is larger than the image {tuple(lr_size)}"
            )
        index = int(rng.integers(0, last + 1)) if rng is not None else last // 2
        lr_span, hr_span = aligned_span(length, patch, r, index * step)
        lr_spans.append(lr_span)
        hr_spans.append(hr_span)
    return tuple(lr_spans), tuple(hr_spans)


def random_flip(arrays: dict[str, torch.Tensor], rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """Apply one random element of the dihedral group (flips, transpose) to every ``(C, H, W)`` array.

    The same transform is applied to all arrays, so LR, guide and reference stay aligned (a transpose
    only when every array is square, so that sizes do not change).
    """
    flip_y, flip_x, transpose = (bool(v) for v in rng.integers(0, 2, size=3))
    square = all(a.shape[-1] == a.shape[-2] for a in arrays.values())
    out = {}
    for name, array in arrays.items():
        dims = [d for d, flag in ((-2, flip_y), (-1, flip_x)) if flag]
        array = torch.flip(array, dims) if dims else array
        out[name] = array.transpose(-1, -2) if transpose and square else array
    return out
