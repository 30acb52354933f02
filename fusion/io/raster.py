"""Opening one raster with clear errors, and the facts we read from it (:class:`RasterInfo`).

Every public reader here raises :class:`~fusion.errors.InputError` naming the file and the problem
instead of GDAL's own messages.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.transform import array_bounds

from fusion.errors import InputError
from fusion.io.bands import read_wavelengths

GDAL_CACHE_MB = 256


def gdal_env() -> rasterio.Env:
    """GDAL settings for streaming work: a block cache of 256 MB (unless ``GDAL_CACHEMAX`` is set), so
    that memory stays bounded by the tile rather than by GDAL's default of 5 % of the machine's RAM."""
    return rasterio.Env(**({} if "GDAL_CACHEMAX" in os.environ else {"GDAL_CACHEMAX": GDAL_CACHE_MB}))


def open_raster(path: str | os.PathLike):
    """Open ``path`` for reading with rasterio; missing or unreadable files raise :class:`InputError`."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a raster file")
    if not path.exists():
        raise InputError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(path)
    except RasterioIOError:
        raise InputError(f"{path}: not a raster file that GDAL can read") from None


@dataclass(frozen=True)
class RasterInfo:
    """What the fusion pipeline needs to know about one raster (sizes in pixels, wavelengths in nm)."""

    path: Path
    width: int
    height: int
    count: int
    dtype: str
    crs: CRS | None
    transform: Affine
    nodata: float | None
    descriptions: tuple[str | None, ...]
    wavelengths: tuple[float | None, ...]

    @classmethod
    def from_dataset(cls, dataset, path: str | os.PathLike | None = None) -> RasterInfo:
        """Describe an open rasterio dataset (``path`` overrides its name, e.g. for a warped view)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            transform = dataset.transform
        return cls(
            path=Path(path if path is not None else dataset.name),
            width=dataset.width,
            height=dataset.height,
            count=dataset.count,
            dtype=dataset.dtypes[0],
            crs=dataset.crs,
            transform=transform,
            nodata=dataset.nodata,
            descriptions=tuple(dataset.descriptions),
            wavelengths=read_wavelengths(dataset),
        )

    @classmethod
    def read(cls, path: str | os.PathLike) -> RasterInfo:
        """Open ``path``, describe it and close it."""
        with open_raster(path) as dataset:
            return cls.from_dataset(dataset, path)

    @property
    def georeferenced(self) -> bool:
        """True when the file has a CRS or a non-identity geotransform."""
        return self.crs is not None or not self.transform.is_identity

    @property
    def res(self) -> tuple[float, float]:
        """Pixel size ``(x, y)`` in CRS units (positive)."""
        return abs(self.transform.a), abs(self.transform.e)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` in CRS units."""
        return array_bounds(self.height, self.width, self.transform)

    def invalid(self, values: np.ndarray) -> np.ndarray:
        """Per-pixel invalid mask ``(h, w)`` of ``values (C, h, w)``: any band NaN/inf or equal to nodata."""
        bad = (
            ~np.isfinite(values) if np.issubdtype(values.dtype, np.floating) else np.zeros(values.shape, bool)
        )
        if self.nodata is not None and representable(self.nodata, values.dtype):
            bad |= values == np.asarray(self.nodata).astype(values.dtype)
        return bad.any(axis=0)


def representable(value: float, dtype) -> bool:
    """True when ``value`` is a finite number that ``dtype`` can hold exactly (any number for floats)."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.floating):
        return not np.isnan(value)
    info = np.iinfo(dtype)
    return float(value).is_integer() and info.min <= value <= info.max


def read_raster(path: str | os.PathLike) -> tuple[np.ndarray, RasterInfo]:
    """A whole raster ``(C, H, W)`` in its stored dtype, with its :class:`RasterInfo` (small files only)."""
    with open_raster(path) as dataset:
        return dataset.read(), RasterInfo.from_dataset(dataset, path)


def sample_pair() -> tuple[Path, Path]:
    """``(guide, lr)``: the shipped Landsat-8 PAN (15 m) and MS (30 m) pair over Pamplona."""
    folder = Path(__file__).resolve().parents[1] / "sample_data"
    return folder / "landsat8_pamplona_pan15m.tif", folder / "landsat8_pamplona_ms30m.tif"
