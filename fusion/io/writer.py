"""GeoTIFF outputs: creation profiles, value casting, and an atomic, window-by-window writer.

Outputs are tiled, DEFLATE-compressed GeoTIFFs (``BIGTIFF=IF_SAFER``), optionally Cloud-Optimized
(written as a GeoTIFF first, then copied with GDAL's COG driver). They are written to a temporary
file in the target folder and renamed at the end (:func:`fusion.atomic.atomic_output`): an existing
file is only replaced with ``overwrite=True`` and nothing is left behind on error.

Band metadata travels with the file: descriptions, centre wavelengths (:mod:`fusion.io.bands`) and
dataset tags (e.g. ``FUSION_METHOD``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
import torch
from rasterio.errors import NotGeoreferencedWarning
from rasterio.windows import Window

from fusion.atomic import atomic_output
from fusion.errors import InputError
from fusion.io.bands import wavelength_tags

DTYPES = ("uint8", "uint16", "int16", "uint32", "int32", "float32", "float64")
DEFAULT_BLOCK = 512


def parse_creation_options(items: Iterable[str] | Mapping[str, str] | None) -> dict[str, str]:
    """``["COMPRESS=ZSTD", "ZLEVEL=9"]`` (or a mapping) to ``{"compress": "ZSTD", "zlevel": "9"}``."""
    if items is None:
        return {}
    if isinstance(items, Mapping):
        return {str(k).lower(): str(v) for k, v in items.items()}
    options = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InputError(f"--co {item}: expected NAME=VALUE")
        options[name.strip().lower()] = value.strip()
    return options


def output_profile(
    width: int,
    height: int,
    count: int,
    dtype: str,
    *,
    crs=None,
    transform=None,
    nodata: float | None = None,
    block: tuple[int, int] = (DEFAULT_BLOCK, DEFAULT_BLOCK),
    co: Iterable[str] | Mapping[str, str] | None = None,
) -> dict:
    """Creation profile of a tiled, compressed GeoTIFF; ``co`` (``NAME=VALUE``) overrides any option."""
    if str(dtype) not in DTYPES:
        raise InputError(f"--dtype {dtype}: use one of {', '.join(DTYPES)}")
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": count,
        "dtype": np.dtype(dtype).name,
        "tiled": True,
        "blockysize": block[0],
        "blockxsize": block[1],
        "compress": "deflate",
        "predictor": 3 if np.issubdtype(dtype, np.floating) else 2,
        "bigtiff": "if_safer",
        "interleave": "pixel" if count <= 4 else "band",
    }
    if crs is not None:
        profile["crs"] = crs
    if transform is not None:
        profile["transform"] = transform
    if nodata is not None:
        profile["nodata"] = nodata
    profile.update(parse_creation_options(co))
    return profile


def _cog_options(profile: Mapping) -> dict:
    return {
        "blocksize": profile["blockxsize"],
        "compress": profile["compress"],
        "predictor": "yes",
        "bigtiff": profile["bigtiff"],
        "overview_resampling": "average",
    }


def cast_values(
    values: np.ndarray, dtype, invalid: np.ndarray | None = None, nodata: float | None = None
) -> np.ndarray:
    """``values (C, h, w)`` to ``dtype``: rounded and clipped to its range (integers keep clear of an
    end-of-range ``nodata``), clipped to the finite range for floats; ``invalid (h, w)`` pixels and
    non-finite results become ``nodata`` when there is one."""
    dtype = np.dtype(dtype)
    bad = ~np.isfinite(values).all(axis=0)
    if invalid is not None:
        bad |= invalid
    if np.issubdtype(dtype, np.integer):
        lo, hi = np.iinfo(dtype).min, np.iinfo(dtype).max
        lo, hi = lo + (nodata == lo), hi - (nodata == hi)
        out = np.clip(np.rint(np.nan_to_num(values, nan=0.0)), lo, hi).astype(dtype)
    else:
        info = np.finfo(dtype)
        out = np.clip(values, info.min, info.max).astype(dtype)
    if nodata is not None and bad.any():
        out[:, bad] = nodata
    return out


@contextlib.contextmanager
def _scratch_file(next_to: Path) -> Iterator[Path]:
    fd, name = tempfile.mkstemp(prefix=f"{next_to.name}.", suffix=".tif", dir=next_to.parent)
    os.close(fd)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


class RasterWriter:
    """Write a GeoTIFF window by window, atomically.

    >>> with RasterWriter("out.tif", profile, tags={"FUSION_METHOD": "gsa"}) as out:  # doctest: +SKIP
    ...     out.write(values, rows=(0, 512), cols=(0, 512))   # values (C, 512, 512) of profile's dtype
    """

    def __init__(
        self,
        path: str | os.PathLike,
        profile: Mapping,
        *,
        overwrite: bool = False,
        cog: bool = False,
        tags: Mapping[str, str] | None = None,
        descriptions: Sequence[str | None] | None = None,
        wavelengths: Sequence[float | None] | None = None,
    ):
        self.path, self.profile, self.overwrite, self.cog = Path(path), dict(profile), overwrite, cog
        self.tags, self.descriptions, self.wavelengths = dict(tags or {}), descriptions, wavelengths
        self._stack: contextlib.ExitStack | None = None
        self._dataset = None

    def __enter__(self) -> RasterWriter:
        stack = contextlib.ExitStack()
        try:
            self._final = stack.enter_context(atomic_output(self.path, self.overwrite))
            target = stack.enter_context(_scratch_file(self._final)) if self.cog else self._final
            with warnings.catch_warnings():  # non-georeferenced outputs (simulated cubes) are fine
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                self._dataset = stack.enter_context(rasterio.open(target, "w", **self.profile))
            self._write_metadata()
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        return self

    def _write_metadata(self) -> None:
        dst = self._dataset
        if self.tags:
            dst.update_tags(**{key: str(value) for key, value in self.tags.items()})
        for band, text in enumerate(self.descriptions or [], start=1):
            if text:
                dst.set_band_description(band, text)
        for band, nm in enumerate(self.wavelengths or [], start=1):
            if nm is not None:
                for domain, items in wavelength_tags(nm).items():
                    dst.update_tags(band, ns=domain or None, **items)

    def write(self, values: np.ndarray, rows: tuple[int, int], cols: tuple[int, int]) -> None:
        """Write ``values (C, h, w)`` to output rows ``rows`` and columns ``cols`` (half-open ranges)."""
        self._dataset.write(values, window=Window.from_slices(rows, cols))

    def __exit__(self, exc_type, exc, tb) -> bool:
        stack, self._stack = self._stack, None
        try:
            if exc_type is None and self.cog:
                scratch = self._dataset.name
                self._dataset.close()
                rasterio.shutil.copy(scratch, self._final, driver="COG", **_cog_options(self.profile))
        except BaseException:
            stack.close()
            raise
        return stack.__exit__(exc_type, exc, tb)


def _storable_dtype(dtype: np.dtype) -> str:
    """``dtype``'s name if GeoTIFF stores it, else float32 (floats) or the smallest fitting integer type."""
    if dtype.name in DTYPES:
        return dtype.name
    if np.issubdtype(dtype, np.floating):
        return "float32"
    return next((name for name in DTYPES if np.can_cast(dtype, name)), "float64")


def write_raster(
    path: str | os.PathLike,
    array: np.ndarray | torch.Tensor,
    *,
    crs=None,
    transform=None,
    nodata: float | None = None,
    dtype: str | None = None,
    descriptions: Sequence[str | None] | None = None,
    wavelengths: Sequence[float | None] | None = None,
    tags: Mapping[str, str] | None = None,
    co: Iterable[str] | Mapping[str, str] | None = None,
    cog: bool = False,
    overwrite: bool = False,
) -> Path:
    """Write a whole ``(C, H, W)`` or ``(H, W)`` array (numpy or torch) as a GeoTIFF, atomically.

    Without ``crs``/``transform`` the file is not georeferenced. ``dtype`` (default: the array's)
    rounds and clips values to its range; NaN pixels become ``nodata`` when one is given.
    """
    values = array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
    if values.ndim == 2:
        values = values[None]
    if values.ndim != 3:
        raise InputError(f"{path}: expected a (C, H, W) or (H, W) array, got shape {values.shape}")
    dtype = dtype or _storable_dtype(values.dtype)
    profile = output_profile(
        values.shape[2],
        values.shape[1],
        values.shape[0],
        dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
        co=co,
    )
    with RasterWriter(
        path,
        profile,
        overwrite=overwrite,
        cog=cog,
        tags=tags,
        descriptions=descriptions,
        wavelengths=wavelengths,
    ) as out:
        out.write(cast_values(values, dtype, nodata=nodata), (0, values.shape[1]), (0, values.shape[2]))
    return Path(path)
