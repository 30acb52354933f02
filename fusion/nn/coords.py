"""Normalised coordinates shared by every INR query (spatial and spectral).

Spatial convention (the same grid convention as :mod:`fusion.models.base`): an image of ``H x W``
pixels spans ``[-1, 1]`` along each axis, and pixel ``k`` of an axis with ``n`` pixels has its centre
at ``-1 + (2 k + 1) / n``. Coordinates are ``(y, x)`` pairs. Because a low-resolution image of ``h``
pixels covers the same extent as the ``H`` output pixels, its pixel ``k`` (centre at output pixel
``(k + 0.5) * H / h - 0.5``) lands at ``-1 + (2 k + 1) / h`` as well: one coordinate system serves
every resolution, including non-integer and per-axis ratios.

A *cell* is the size of a query pixel in the same units, ``(2 / H, 2 / W)``.

Spectral coordinates are band-centre wavelengths mapped linearly to ``[-1, 1]`` over a fixed
wavelength span, so models trained on one band set can be queried at other wavelengths.
"""

from __future__ import annotations

import torch

from fusion.errors import InputError

#: Default wavelength span (nm) mapped to [-1, 1]: covers VNIR and SWIR sensors.
WAVELENGTH_SPAN_NM = (350.0, 2550.0)


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    if len(size) != 2 or min(size) < 1:
        raise InputError(f"grid size must be two positive integers (H, W), got {tuple(size)}")
    return int(size[0]), int(size[1])


def pixel_centres(n: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Normalised centres of ``n`` pixels along one axis, shape ``(n,)``."""
    return (2 * torch.arange(n, device=device, dtype=dtype) + 1) / n - 1


def grid_coords(
    size: tuple[int, int], start: int = 0, stop: int | None = None, device=None, dtype=torch.float32
) -> torch.Tensor:
    """Pixel-centre coordinates ``(stop - start, 2)`` of a row-major slice of an ``H x W`` grid.

    Row-major pixel ``i`` is ``(i // W, i % W)``. Slicing lets a caller generate only the chunk
    of coordinates it queries, so memory does not grow with the output size.
    """
    height, width = _check_size(size)
    stop = height * width if stop is None else stop
    index = torch.arange(start, stop, device=device)
    rows, cols = index // width, index % width
    y = (2 * rows.to(dtype) + 1) / height - 1
    x = (2 * cols.to(dtype) + 1) / width - 1
    return torch.stack((y, x), dim=-1)


def make_coord(size: tuple[int, int], device=None, dtype=torch.float32) -> torch.Tensor:
    """All pixel-centre coordinates of an ``H x W`` grid, row-major, shape ``(H * W, 2)``."""
    return grid_coords(size, device=device, dtype=dtype)


def make_cell(size: tuple[int, int], n: int = 1, device=None, dtype=torch.float32) -> torch.Tensor:
    """Query-pixel size ``(2 / H, 2 / W)`` repeated for ``n`` queries, shape ``(n, 2)`` (a broadcast view)."""
    height, width = _check_size(size)
    cell = torch.tensor([2.0 / height, 2.0 / width], device=device, dtype=dtype)
    return cell.expand(n, 2)


def coord_to_index(coord: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Continuous pixel index ``((c + 1) * n - 1) / 2`` per axis of ``coord (..., 2)`` on an ``(h, w)`` grid.

    Integer results are pixel centres; ``-0.5`` and ``n - 0.5`` are the outer edges.
    """
    scale = coord.new_tensor([float(size[0]), float(size[1])])
    return ((coord + 1) * scale - 1) / 2


def normalize_wavelengths(
    wavelengths: torch.Tensor, span: tuple[float, float] = WAVELENGTH_SPAN_NM
) -> torch.Tensor:
    """Map wavelengths (nm) linearly from ``span`` to ``[-1, 1]`` (values outside the span extrapolate)."""
    low, high = span
    if not high > low:
        raise InputError(f"wavelength span must be increasing, got {span}")
    return (wavelengths - low) * (2.0 / (high - low)) - 1.0


def sample_at(features: torch.Tensor, coord: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Features ``(B, C, H, W)`` sampled at coordinates ``(B, N, 2)`` → ``(B, N, C)``.

    Bilinear (or ``"nearest"``) between pixel centres, border-clamped outside them; at a pixel centre
    of the feature grid the result is that pixel's value.
    """
    if features.ndim != 4 or coord.ndim != 3 or coord.shape[-1] != 2 or coord.shape[0] != features.shape[0]:
        raise InputError(
            f"sample_at: expected features (B, C, H, W) and coord (B, N, 2), got {tuple(features.shape)} "
            f"and {tuple(coord.shape)}"
        )
    grid = coord.flip(-1).unsqueeze(2).to(features.dtype)  # grid_sample wants (x, y)
    sampled = torch.nn.functional.grid_sample(
        features, grid, mode=mode, padding_mode="border", align_corners=False
    )
    return sampled.squeeze(-1).transpose(1, 2)
