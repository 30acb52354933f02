"""Input handling shared by the metrics: tensor conversion, shape checks, conventions, windows.

Every metric computes in float64 on the device of its inputs: window statistics of 11-bit DN data
(sums of 1024 products of values up to 2047) lose the toolbox's precision in float32.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from fusion.errors import InputError

CONVENTIONS = ("reference", "float")
"""``reference``: the MATLAB toolbox's numerics (DN data, Q2n's uint16 quantisation, 21-pixel border cut in
the reduced-resolution protocol, the toolbox's resampling for D_S). ``float``: the same formulas on float
data, without quantisation or border cut."""

MATLAB_EPS = float(np.finfo(np.float64).eps)
"""MATLAB's ``eps``, which the toolbox substitutes for a zero standard deviation or norm."""

TOOLBOX_BORDER = 21
"""The toolbox's ``dim_cut``: ``I(21:end-21, 21:end-21)`` drops 20 leading and 21 trailing rows/columns."""


def check_convention(convention: str) -> str:
    """Return ``convention`` if it is one of :data:`CONVENTIONS`, else raise :class:`InputError`."""
    if convention not in CONVENTIONS:
        raise InputError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    return convention


def as_batch(x, name: str) -> torch.Tensor:
    """``x`` as a float64 ``(B, C, H, W)`` tensor; numpy arrays and ``(C, H, W)``/``(H, W)`` inputs accepted.

    A 3-D input is one sample, a 2-D input one band of one sample. Raises :class:`InputError` naming
    ``name`` for other ranks or non-finite values.
    """
    tensor = torch.from_numpy(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
    if tensor.ndim == 2:
        tensor = tensor[None, None]
    elif tensor.ndim == 3:
        tensor = tensor[None]
    elif tensor.ndim != 4:
        raise InputError(f"{name}: expected a (B, C, H, W) array, got shape {tuple(tensor.shape)}")
    tensor = tensor.to(torch.float64)
    if not torch.isfinite(tensor.sum()):  # one cheap reduction; any NaN/inf makes the sum non-finite
        raise InputError(f"{name}: contains NaN or infinite values")
    return tensor


def as_pair(pred, ref, names: tuple[str, str] = ("pred", "ref")) -> tuple[torch.Tensor, torch.Tensor]:
    """Convert two images with :func:`as_batch` and check that their shapes are equal."""
    pred, ref = as_batch(pred, names[0]), as_batch(ref, names[1])
    if pred.shape != ref.shape:
        raise InputError(
            f"{names[0]} {tuple(pred.shape)} and {names[1]} {tuple(ref.shape)} must have the same shape"
        )
    return pred, ref.to(pred.device)


def check_min_size(x: torch.Tensor, size: int, what: str) -> None:
    """Raise :class:`InputError` if the image is smaller than ``size`` pixels along H or W."""
    if min(x.shape[-2:]) < size:
        raise InputError(f"{what} needs images of at least {size} x {size} pixels, got {tuple(x.shape[-2:])}")


def check_dn_range(x: torch.Tensor, name: str) -> None:
    """In the reference convention data are digital numbers: reject images that look scaled to [0, 1]."""
    if x.numel() and float(x.amax()) <= 1.0:
        raise InputError(
            f"{name}: the 'reference' convention casts to uint16 DN, but the data lie in [0, 1]; "
            "pass DN values (e.g. 0..2047 for 11-bit data) or use convention='float' (--convention float)"
        )


def quantize_uint16(x: torch.Tensor) -> torch.Tensor:
    """MATLAB's ``uint16(x)``: round half away from zero, saturate to [0, 65535] (kept as float64)."""
    return torch.floor(x + 0.5).clamp_(0, 65535)


def cut_border(x: torch.Tensor, border: int = TOOLBOX_BORDER) -> torch.Tensor:
    """The toolbox's border cut ``I(border:end-border, border:end-border)`` on ``(..., H, W)``.

    Drops ``border - 1`` leading and ``border`` trailing rows and columns (MATLAB 1-based indexing).
    """
    if border <= 0:
        return x
    h, w = x.shape[-2:]
    if min(h, w) <= 2 * border:
        raise InputError(f"image of {h} x {w} pixels is too small for a {border}-pixel border cut")
    return x[..., border - 1 : h - border, border - 1 : w - border]


def box_sum(x: torch.Tensor, size: int) -> torch.Tensor:
    """Sums over every ``size``² window inside ``x (..., H, W)`` ('valid'): ``(..., H-s+1, W-s+1)``.

    Two one-dimensional running sums keep the cost independent of ``size``.
    """
    for dim in (-1, -2):
        cums = torch.cumsum(x, dim)
        n = cums.shape[dim]
        x = cums.narrow(dim, size - 1, n - size + 1).clone()
        x.narrow(dim, 1, n - size).sub_(cums.narrow(dim, 0, n - size))
    return x


def blocks(x: torch.Tensor, size: int, shift: int | None = None) -> torch.Tensor:
    """Square blocks of ``x (B, C, H, W)`` as ``(B, nH, nW, C, size * size)`` (a view when shift == size).

    Blocks start every ``shift`` pixels (default ``size``: distinct blocks); trailing pixels that do not
    fill a block are dropped.
    """
    shift = shift or size
    tiles = x.unfold(2, size, shift).unfold(3, size, shift)  # (B, C, nH, nW, size, size)
    return tiles.permute(0, 2, 3, 1, 4, 5).flatten(-2)


def block_row_groups(x: torch.Tensor, size: int, shift: int | None = None) -> list[slice]:
    """Row slices of ``x (B, C, H, W)`` holding consecutive groups of block rows within the chunk budget.

    Blocks start every ``shift`` rows (default ``size``); each slice covers whole blocks only.
    """
    shift = shift or size
    height = x.shape[-2]
    block_rows = (height - size) // shift + 1
    per_block_row = max(1, x.numel() // height) * size
    group = max(1, chunk_elements(x.device) // per_block_row)
    return [
        slice(r * shift, (min(block_rows, r + group) - 1) * shift + size) for r in range(0, block_rows, group)
    ]


def check_block_multiple(x: torch.Tensor, size: int, what: str) -> None:
    """The toolbox's ``blockproc`` indices need H and W to be multiples of the block size."""
    h, w = x.shape[-2:]
    if h % size or w % size:
        raise InputError(f"{what}: image sides {h} x {w} must be multiples of the block size {size}")


def chunk_elements(device: torch.device) -> int:
    """Elements per image strip: 256 K on CPU, 128 M on GPUs (usually the whole image).

    On CPU, strips of 2 MB stay in cache and below the allocator's mmap threshold, so their temporaries
    reuse freed memory; larger temporaries are mapped afresh each time, and their page faults, serialised
    in the kernel, took most of the time of the sliding-window metrics on one thread.
    """
    return 1 << 18 if device.type == "cpu" else 1 << 27


def strip_sums(fn: Callable[..., torch.Tensor], window: int, *images: torch.Tensor) -> torch.Tensor:
    """Sum ``fn`` over row strips of single-band slabs for a 'valid' sliding window of ``window`` rows.

    ``images`` are ``(B, C, H, W)`` tensors of one shape. ``fn(where, *strips)`` receives aligned
    ``(n, rows, W)`` strips (consecutive strips overlap by ``window - 1`` rows, so every valid window lies
    in exactly one strip) and ``where = (slabs, rows)``, the slices of the flattened ``B * C`` slabs and of
    the image rows they hold; it returns ``(n, k)`` sums over the windows of its strip. Returns
    ``(B, C, k)``. Strips of :func:`chunk_elements` bound the memory of temporaries; on a GPU one strip is
    usually the whole image.
    """
    batch, bands, height, width = images[0].shape
    flat = [x.reshape(batch * bands, height, width) for x in images]
    budget = chunk_elements(images[0].device)
    outputs = height - window + 1
    rows = max(1, min(outputs, budget // width - window + 1))  # output rows per strip
    slabs = max(1, budget // ((rows + window - 1) * width))
    parts = []
    for s0 in range(0, batch * bands, slabs):
        total = 0
        for r0 in range(0, outputs, rows):
            where = (slice(s0, s0 + slabs), slice(r0, min(outputs, r0 + rows) + window - 1))
            total = total + fn(where, *(x[where] for x in flat))
        parts.append(total)
    return torch.cat(parts).unflatten(0, (batch, bands))


def fft_filter(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Correlate each band of ``x (B, C, H, W)`` with its kernel ``(C, ky, kx)`` (odd sizes), replicate edges.

    MATLAB's ``imfilter(x, h, 'replicate')`` computed by FFT (overlap-save over row strips of the padded
    image, band by band): the cost does not grow with the kernel size (41 x 41 for the toolbox's MTF
    filters at ratio 4), and strips of :func:`chunk_elements` bound the size of the transforms.
    """
    ky, kx = kernels.shape[-2:]
    padded = F.pad(x, (kx // 2, kx // 2, ky // 2, ky // 2), mode="replicate")
    height, width = x.shape[-2], padded.shape[-1]
    strip = min(padded.shape[-2], max(2 * ky, chunk_elements(x.device) // width))  # padded rows per FFT
    rows = strip - ky + 1  # output rows per strip
    size = (_fast_fft_length(strip), _fast_fft_length(width))  # zero padding beyond the strip: no wrap-around
    out = torch.empty_like(x)
    for band in range(x.shape[1]):
        kernel = torch.fft.rfft2(kernels[band].flip(-2, -1).to(x), s=size)
        for r0 in range(0, height, rows):
            segment = padded[:, band, r0 : r0 + strip]  # the last one may be shorter
            filtered = torch.fft.irfft2(torch.fft.rfft2(segment, s=size) * kernel, s=size)
            out[:, band, r0 : r0 + rows] = filtered[:, ky - 1 : segment.shape[-2], kx - 1 : width]
    return out


def _fast_fft_length(n: int) -> int:
    """The smallest ``2^a 3^b 5^c >= n``: transform lengths with small prime factors only are fastest."""
    best = 1 << max(0, (n - 1).bit_length())
    power3 = 1
    while power3 < best:
        power35 = power3
        while power35 < best:
            length = power35
            while length < n:
                length *= 2
            best = min(best, length)
            power35 *= 5
        power3 *= 3
    return best
