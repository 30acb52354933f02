"""MTF-matched blur kernels: a Gaussian whose frequency response at the low-resolution Nyquist
frequency equals the sensor's gain (GNyq), for any ratio, optionally per axis.

Two constructions are offered:

* ``method="gaussian"`` (default): a sampled spatial Gaussian with standard deviation
  ``sigma = ratio * sqrt(-2 ln GNyq) / pi`` pixels. Its continuous Fourier transform is
  ``exp(-2 pi^2 sigma^2 f^2)``, which equals GNyq at ``f = 0.5 / ratio`` cycles per pixel; sampling
  and truncation at ``size // 2 = ceil(5 * ratio)`` pixels change that by far less than 0.001.
  The kernel is separable, so blurring costs two 1-D passes.
* ``method="toolbox"``: the construction of the reference pansharpening toolbox (``genMTF``): a
  Gaussian *frequency* response sampled on ``N`` points with ``alpha = (N - 1) * (1 / ratio) / 2 /
  sqrt(-2 ln GNyq)``, turned into a spatial filter by frequency sampling and a radial Kaiser window
  (beta 0.5), ``N = 41`` at ratio 4. The toolbox's ``N - 1`` assumes the N frequency samples span
  [-Nyquist, Nyquist], whereas the DFT puts them at ``k / N`` cycles per pixel, so this kernel's
  actual gain at ``0.5 / ratio`` is about ``GNyq ** (N / (N - 1)) ** 2`` (0.28 for 0.30): use it for
  parity with the toolbox, not for accuracy.

Kernel size grows with the ratio: ``2 * ceil(5 * ratio) + 1`` per axis (41 at ratio 4, the toolbox's
size). Kernels are normalised to sum to 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from fusion.errors import InputError

Ratio = float | Sequence[float] | torch.Tensor
Gains = float | Sequence[float] | torch.Tensor

KAISER_BETA = 0.5  # the toolbox ports' (and MATLAB kaiser's default) window parameter


def ratio_pair(ratio: Ratio) -> tuple[float, float]:
    """``(ratio_y, ratio_x)`` from a scalar or a per-axis pair; each must exceed 1."""
    if isinstance(ratio, torch.Tensor):
        ratio = ratio.detach().flatten().tolist()
    pair = (float(ratio), float(ratio)) if not isinstance(ratio, Sequence) else tuple(map(float, ratio))
    if len(pair) == 1:
        pair = (pair[0], pair[0])
    if len(pair) != 2 or min(pair) <= 1.0 or not all(math.isfinite(r) for r in pair):
        raise InputError(f"ratio must be a number > 1 or a (y, x) pair of such numbers, got {ratio!r}")
    return pair


def kernel_size(ratio: float) -> int:
    """Odd kernel size for one axis at ``ratio``: ``2 * ceil(5 * ratio) + 1`` (41 at ratio 4)."""
    return 2 * math.ceil(5 * float(ratio) - 1e-9) + 1


def as_gains(gnyq: Gains, like: torch.Tensor | None = None) -> torch.Tensor:
    """GNyq as a floating tensor (``like``'s dtype/device when given); values must lie in (0, 1)."""
    if like is None and isinstance(gnyq, torch.Tensor) and gnyq.is_floating_point():
        like = gnyq
    dtype = like.dtype if like is not None and like.is_floating_point() else torch.get_default_dtype()
    device = like.device if like is not None else None
    gains = torch.as_tensor(gnyq, dtype=dtype, device=device)
    if not gains.is_floating_point():
        gains = gains.to(dtype)
    if not torch.jit.is_tracing() and ((gains <= 0) | (gains >= 1)).any():
        raise InputError(f"MTF gains at Nyquist must lie strictly between 0 and 1, got {gnyq!r}")
    return gains


def gaussian_sigma(gnyq: torch.Tensor, ratio: torch.Tensor | float) -> torch.Tensor:
    """Spatial standard deviation (pixels) of the Gaussian whose response at ``0.5 / ratio`` is GNyq.

    Broadcasts ``gnyq`` against ``ratio``; differentiable in both.
    """
    return ratio * torch.sqrt(-2.0 * torch.log(gnyq)) / math.pi


def gaussian_taps(sigma: torch.Tensor, offsets: torch.Tensor, half: torch.Tensor | float) -> torch.Tensor:
    """Unnormalised Gaussian ``exp(-d^2 / 2 sigma^2)`` at ``offsets``, zero where ``|d| > half``."""
    taps = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return torch.where(offsets.abs() <= half, taps, torch.zeros_like(taps))


def mtf_taps_1d(gnyq: Gains, ratio: float, size: int | None = None, like: torch.Tensor | None = None):
    """Per-band 1-D Gaussian taps ``(C, size)`` summing to 1 for one axis at ``ratio``."""
    gains = as_gains(gnyq, like).reshape(-1)
    size = size or kernel_size(ratio)
    half = size // 2
    offsets = torch.arange(-half, half + 1, dtype=gains.dtype, device=gains.device)
    taps = gaussian_taps(gaussian_sigma(gains, ratio)[:, None], offsets, half)
    return taps / taps.sum(-1, keepdim=True)


def _kaiser_radial(size_y: int, size_x: int, like: torch.Tensor) -> torch.Tensor:
    """2-D window from a 1-D Kaiser window by rotation (``fwind1``'s method): ``w(sqrt(n1^2 + n2^2))``."""
    half = (max(size_y, size_x) - 1) / 2
    ny = torch.arange(size_y, dtype=like.dtype, device=like.device) - (size_y - 1) / 2
    nx = torch.arange(size_x, dtype=like.dtype, device=like.device) - (size_x - 1) / 2
    radius = torch.sqrt(ny[:, None] ** 2 + nx[None, :] ** 2) / half
    inside = radius <= 1
    arg = KAISER_BETA * torch.sqrt(torch.clamp(1 - radius**2, min=0))
    beta = torch.tensor(KAISER_BETA, dtype=like.dtype, device=like.device)
    return torch.where(inside, torch.special.i0(arg) / torch.special.i0(beta), torch.zeros_like(arg))


def _toolbox_kernel(gains: torch.Tensor, ratio: tuple[float, float], size: tuple[int, int]) -> torch.Tensor:
    """The reference toolbox's ``genMTF`` filter for each gain: ``(C, size_y, size_x)``."""
    responses = []
    for axis_ratio, n in zip(ratio, size, strict=True):
        idx = torch.arange(n, dtype=gains.dtype, device=gains.device) - (n - 1) / 2
        alpha = ((n - 1) * (1.0 / axis_ratio) / 2) / torch.sqrt(-2.0 * torch.log(gains))
        responses.append(torch.exp(-0.5 * (idx / alpha[:, None]) ** 2))
    desired = responses[0][:, :, None] * responses[1][:, None, :]
    spatial = torch.fft.fftshift(torch.fft.ifft2(torch.fft.ifftshift(desired, dim=(-2, -1))), dim=(-2, -1))
    kernel = spatial.real * _kaiser_radial(size[0], size[1], gains)
    return kernel / kernel.sum(dim=(-2, -1), keepdim=True)


def mtf_kernel(
    gnyq: Gains,
    ratio: Ratio,
    size: int | Sequence[int] | None = None,
    method: str = "gaussian",
    like: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-band MTF-matched kernels ``(C, ky, kx)``, each summing to 1.

    Args:
        gnyq: gain at the low-resolution Nyquist frequency, one per band (scalar for one band).
        ratio: resolution ratio, scalar or ``(ratio_y, ratio_x)``; non-integer allowed.
        size: kernel size (int or per-axis pair); default ``2 * ceil(5 * ratio) + 1`` per axis.
        method: ``"gaussian"`` (accurate, separable) or ``"toolbox"`` (the toolbox's ``genMTF``).
        like: tensor whose dtype/device the kernels take.
    """
    ry, rx = ratio_pair(ratio)
    if size is None:
        sizes = (kernel_size(ry), kernel_size(rx))
    else:
        sizes = (int(size), int(size)) if isinstance(size, int) else tuple(int(s) for s in size)
    if any(s < 1 or s % 2 == 0 for s in sizes):
        raise InputError(f"MTF kernel size must be odd and positive, got {size!r}")
    gains = as_gains(gnyq, like).reshape(-1)
    if method == "gaussian":
        taps_y = mtf_taps_1d(gains, ry, sizes[0])
        taps_x = mtf_taps_1d(gains, rx, sizes[1])
        return taps_y[:, :, None] * taps_x[:, None, :]
    if method == "toolbox":
        return _toolbox_kernel(gains, (ry, rx), sizes)
    raise InputError(f"unknown MTF kernel method {method!r}; use 'gaussian' or 'toolbox'")
