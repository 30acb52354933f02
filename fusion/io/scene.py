"""A guide/low-resolution GeoTIFF pair opened for windowed fusion: :func:`open_pair` -> :class:`Scene`.

Checks (each failure is one :class:`~fusion.errors.InputError` naming the file): both files readable,
same CRS (or ``reproject=True``: the low-resolution image is warped to the guide's CRS on the fly),
unrotated grids, overlapping extents, guide pixels finer than low-resolution pixels on both axes.
Two files without any georeferencing are taken to cover the same extent.

Reads are per tile (:mod:`fusion.io.tiling`): the guide window comes from the file (clamped to the
scene's edge pixels), the low-resolution window is resampled from the native grid onto the virtual
grid aligned with the tile (:mod:`fusion.io.grid`) with Keys' cubic kernel (a = -0.5), which returns
the native samples unchanged when the grids happen to be aligned. Positions depend only on global
virtual pixel indices, so tiled and untiled runs see identical values. Nodata and NaN pixels become an
invalid mask (filled with 0 before fusion); an output pixel is invalid when its guide pixel is, or
when invalid native pixels carry weight in its low-resolution pixel.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch
from affine import Affine
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from fusion.degrade.resample import cubic, kernel_taps, taps_matrix
from fusion.errors import InputError
from fusion.io.bands import resolve_wavelengths
from fusion.io.grid import AxisMapping, grid_axes, is_axis_aligned, map_axis
from fusion.io.raster import RasterInfo, open_raster, representable
from fusion.io.tiling import Tile

CUBIC_SUPPORT = 4.0
WEIGHT_TOLERANCE = 1e-6  # invalid native pixels with less relative weight do not invalidate a pixel


@dataclass
class TileData:
    """One tile's inputs: ``lr (1, C, h, w)``, ``guide (1, G, H, W)`` (float32), ``valid (1, 1, H, W)``."""

    lr: torch.Tensor
    guide: torch.Tensor
    valid: torch.Tensor


class _Source:
    """An open dataset read in windows as float32 with an invalid mask (nodata, NaN, warp alpha)."""

    def __init__(self, dataset, info: RasterInfo, alpha_band: int | None = None):
        self.dataset, self.info, self.alpha_band = dataset, info, alpha_band

    def read(self, rows: tuple[int, int], cols: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Values ``(C, h, w)`` float32 (invalid pixels set to 0) and the invalid mask ``(h, w)``."""
        window = Window.from_slices(rows, cols)
        values = self.dataset.read(list(range(1, self.info.count + 1)), window=window)
        invalid = self.info.invalid(values)
        if self.alpha_band is not None:
            invalid |= self.dataset.read(self.alpha_band, window=window) == 0
        values = values.astype(np.float32, copy=False)
        values[:, invalid] = 0
        return values, invalid

    def close(self) -> None:
        self.dataset.close()


def _clamped_indices(start: int, stop: int, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Indices ``start .. stop - 1`` clamped to ``[0, size)``, relative to the clamped read range."""
    idx = np.clip(np.arange(start, stop), 0, size - 1)
    lo, hi = int(idx.min()), int(idx.max()) + 1
    return idx - lo, (lo, hi)


def _resampling_operator(positions: np.ndarray, size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Dense cubic interpolation ``(n_out, hi - lo)`` (float64) at native fractional ``positions`` along an
    axis of ``size`` pixels, and the native range ``[lo, hi)`` it reads (edges replicated)."""
    idx, weights = kernel_taps(torch.from_numpy(positions), size, cubic, CUBIC_SUPPORT, boundary="replicate")
    lo, hi = int(idx.min()), int(idx.max()) + 1
    return taps_matrix(idx - lo, weights, hi - lo), (lo, hi)


class Scene:
    """An opened pair; use as a context manager (``with open_pair(...) as scene``).

    Attributes: ``guide``, ``lr`` (:class:`RasterInfo`, ``lr.wavelengths`` resolved), ``rows`` and
    ``cols`` (:class:`~fusion.io.grid.AxisMapping`), ``shape`` ``(H, W)`` of the output,
    ``transform`` and ``crs`` of the output.
    """

    def __init__(self, guide: _Source, lr: _Source, rows: AxisMapping, cols: AxisMapping):
        self._guide, self._lr = guide, lr
        self.guide, self.lr = guide.info, lr.info
        self.rows, self.cols = rows, cols
        self.shape = (rows.size, cols.size)
        self.crs = self.guide.crs
        self.transform = self.guide.transform @ Affine.translation(cols.start, rows.start)

    # -- facts ----------------------------------------------------------------------------------
    @property
    def ratio(self) -> tuple[Fraction, Fraction]:
        """Per-axis ratio ``(y, x)`` of the virtual low-resolution grid used by the model."""
        return self.rows.ratio, self.cols.ratio

    @property
    def native_ratio(self) -> tuple[float, float]:
        """Per-axis ratio ``(y, x)`` of the files' pixel sizes."""
        return self.rows.native_ratio, self.cols.native_ratio

    def output_nodata(self, dtype) -> float | None:
        """Nodata of an output of ``dtype``: the low-resolution or guide nodata when it fits, else NaN for
        floats and the type's minimum for integers; ``None`` when neither input can have invalid pixels."""
        declared = [info.nodata for info in (self.lr, self.guide) if info.nodata is not None]
        for value in declared:
            if representable(value, dtype) or (np.isnan(value) and np.issubdtype(dtype, np.floating)):
                return value
        maybe_nan = any(np.issubdtype(info.dtype, np.floating) for info in (self.lr, self.guide))
        if not declared and not maybe_nan and self._lr.alpha_band is None:
            return None
        return float("nan") if np.issubdtype(dtype, np.floating) else float(np.iinfo(dtype).min)

    # -- reads ----------------------------------------------------------------------------------
    def read_guide(self, rows: tuple[int, int], cols: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Guide ``(G, n, m)`` float32 and invalid mask ``(n, m)`` for output pixel ranges (edge-clamped)."""
        row_idx, (r0, r1) = _clamped_indices(*rows, self.rows.size)
        col_idx, (c0, c1) = _clamped_indices(*cols, self.cols.size)
        values, invalid = self._guide.read(
            (self.rows.start + r0, self.rows.start + r1), (self.cols.start + c0, self.cols.start + c1)
        )
        if len(row_idx) != r1 - r0 or len(col_idx) != c1 - c0:  # the window reaches past the scene
            values, invalid = values[:, row_idx][:, :, col_idx], invalid[row_idx][:, col_idx]
        return torch.from_numpy(np.ascontiguousarray(values)), torch.from_numpy(np.ascontiguousarray(invalid))

    def read_lr(self, rows: tuple[int, int], cols: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Low-resolution ``(C, n, m)`` float32 on the virtual grid and its invalid mask ``(n, m)``."""
        op_y, span_y = _resampling_operator(self.rows.lr_positions(*rows), self.lr.height)
        op_x, span_x = _resampling_operator(self.cols.lr_positions(*cols), self.lr.width)
        values, invalid = self._lr.read(span_y, span_x)
        lr = (op_y @ torch.from_numpy(values).double() @ op_x.T).float()
        if not invalid.any():
            return lr, torch.zeros(lr.shape[1:], dtype=torch.bool)
        weight_on_invalid = op_y.abs() @ torch.from_numpy(invalid).double() @ op_x.abs().T
        return lr, weight_on_invalid > WEIGHT_TOLERANCE

    def read_tile(self, tile: Tile) -> TileData:
        """Everything a model needs for ``tile``, batched (B = 1)."""
        guide, guide_invalid = self.read_guide(tile.rows.window, tile.cols.window)
        lr, lr_invalid = self.read_lr(tile.rows.lr_window, tile.cols.lr_window)
        invalid = guide_invalid
        if (
            lr_invalid.any()
        ):  # the low-resolution pixel under each output pixel (windows start on multiples of p)
            near_y = torch.arange(guide.shape[1]) * self.rows.ratio.denominator // self.rows.ratio.numerator
            near_x = torch.arange(guide.shape[2]) * self.cols.ratio.denominator // self.cols.ratio.numerator
            invalid = invalid | lr_invalid[near_y][:, near_x]
        return TileData(lr[None], guide[None], ~invalid[None, None])

    # -- lifetime -------------------------------------------------------------------------------
    def close(self) -> None:
        self._lr.close()
        self._guide.close()

    def __enter__(self) -> Scene:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _georeference_like_guide(guide: RasterInfo, lr: RasterInfo) -> RasterInfo:
    """Give a non-georeferenced low-resolution image the guide's extent (the two cover the same area)."""
    scale = Affine.scale(guide.width / lr.width, guide.height / lr.height)
    return dataclasses.replace(lr, transform=guide.transform @ scale)


def _check_grids(guide: RasterInfo, lr: RasterInfo) -> None:
    for info in (guide, lr):
        if not is_axis_aligned(info.transform):
            raise InputError(f"{info.path}: rotated or sheared grids are not supported; warp the file first")
    if (guide.transform.a > 0) != (lr.transform.a > 0) or (guide.transform.e > 0) != (lr.transform.e > 0):
        raise InputError(f"{lr.path}: its grid is flipped relative to the guide {guide.path.name}")
    for axis, g, l in (("x", guide.res[0], lr.res[0]), ("y", guide.res[1], lr.res[1])):
        if g >= l * (1 - 1e-9):
            raise InputError(
                f"{guide.path}: guide pixels ({g:g} in {axis}) are not finer than those of the "
                f"low-resolution image {lr.path.name} ({l:g}); swap the two files?"
            )


def _open_lr(path: str | os.PathLike, guide: RasterInfo, reproject: bool) -> _Source:
    dataset = open_raster(path)
    info = RasterInfo.from_dataset(dataset, path)
    if guide.georeferenced != info.georeferenced:
        dataset.close()
        which, other = (info, guide) if not info.georeferenced else (guide, info)
        raise InputError(f"{which.path}: not georeferenced, but {other.path.name} is")
    if not info.georeferenced:
        return _Source(dataset, _georeference_like_guide(guide, info))
    if info.crs == guide.crs:
        return _Source(dataset, info)
    if not reproject:
        dataset.close()
        raise InputError(
            f"{info.path}: CRS {info.crs} differs from the guide's {guide.crs} ({guide.path.name}); "
            "use --reproject to warp it"
        )
    warped = WarpedVRT(dataset, crs=guide.crs, resampling=Resampling.cubic, add_alpha=True)
    bands = info.count
    warped_info = dataclasses.replace(
        RasterInfo.from_dataset(warped, path),
        count=bands,
        descriptions=info.descriptions,
        wavelengths=info.wavelengths,
    )
    return _Source(warped, warped_info, alpha_band=bands + 1)


def open_pair(
    guide_path: str | os.PathLike,
    lr_path: str | os.PathLike,
    reproject: bool = False,
    sensor: str | None = None,
    wavelengths: str | list[float] | None = None,
) -> Scene:
    """Open and check a guide (PAN or MSI) and a low-resolution (MS or HS) raster; see the module doc.

    ``wavelengths`` (nm, one per low-resolution band) or ``sensor`` (a preset name) supply band centres
    the low-resolution file's tags lack.
    """
    guide_dataset = open_raster(guide_path)
    guide = _Source(guide_dataset, RasterInfo.from_dataset(guide_dataset, guide_path))
    try:
        lr = _open_lr(lr_path, guide.info, reproject)
    except BaseException:
        guide.close()
        raise
    try:
        _check_grids(guide.info, lr.info)
        rows_g, cols_g = grid_axes(guide.info.transform, guide.info.width, guide.info.height)
        rows_l, cols_l = grid_axes(lr.info.transform, lr.info.width, lr.info.height)
        rows, cols = map_axis(rows_g, rows_l), map_axis(cols_g, cols_l)
        if rows.size == 0 or cols.size == 0:
            raise InputError(f"{lr.info.path}: does not overlap the guide {guide.info.path.name}")
        for mapping in (rows, cols):
            if mapping.ratio <= 1:
                raise InputError(
                    f"{lr.info.path}: pixel-size ratio to the guide {mapping.native_ratio:.4g} is too close "
                    "to 1 to fuse"
                )
        lr.info = dataclasses.replace(
            lr.info,
            wavelengths=resolve_wavelengths(lr.info.wavelengths, lr.info.descriptions, wavelengths, sensor),
        )
    except BaseException:
        lr.close()
        guide.close()
        raise
    return Scene(guide, lr, rows, cols)
