"""Reading hyperspectral cubes (.npz, .mat, .tif) with their band wavelengths: :func:`load_cube`.

Layouts: ``.npz`` and ``.mat`` cubes are stored ``(H, W, C)`` (as in the CAVE/Harvard/AVIRIS files);
the band axis is the one whose length equals the number of wavelengths when the file has them, else
the last. GeoTIFFs are ``(C, H, W)`` and are read through :mod:`fusion.io` (imported only then).

The cube array is the first of :data:`CUBE_KEYS` present in the file, else its only 3-D array;
wavelengths (nm) come from the first of :data:`WAVELENGTH_KEYS`, or the GeoTIFF band tags.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fusion.errors import InputError

CUBE_KEYS = ("cube", "hsi", "hs", "gt", "data", "img", "image")
WAVELENGTH_KEYS = ("wavelengths_nm", "wavelengths", "wavelength", "wl", "bands_nm")
SUFFIXES = (".npz", ".mat", ".tif", ".tiff")


@dataclass(frozen=True)
class Cube:
    """A cube ``data (C, H, W)`` float32 (stored values divided by ``scale``) and its band centres."""

    data: np.ndarray
    wavelengths_nm: tuple[float, ...] | None
    scale: float
    path: Path

    @property
    def bands(self) -> int:
        return self.data.shape[0]


def default_scale(dtype: np.dtype) -> float:
    """Divisor mapping stored values to about [0, 1]: the type's maximum for unsigned integers, else 1."""
    dtype = np.dtype(dtype)
    return float(np.iinfo(dtype).max) if np.issubdtype(dtype, np.unsignedinteger) else 1.0


def _read_mat(path: Path) -> dict[str, np.ndarray]:
    """Variables of a MATLAB file: v7.3 (HDF5) via h5py, axes back in MATLAB order; older ones via scipy."""
    import h5py
    import scipy.io

    if h5py.is_hdf5(path):
        with h5py.File(path, "r") as stream:
            return {k: np.asarray(v).T for k, v in stream.items() if isinstance(v, h5py.Dataset)}
    try:
        return {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
    except (ValueError, NotImplementedError) as exc:
        raise InputError(f"{path}: not a readable MATLAB file ({exc})") from None


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    if path.suffix == ".npz":
        try:
            with np.load(path) as stream:
                return {k: stream[k] for k in stream.files}
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: not a readable .npz file ({exc})") from None
    return _read_mat(path)


def pick_array(arrays: dict[str, np.ndarray], keys, path: Path, what: str, ndim: int | None = None):
    """The first of ``keys`` in ``arrays``, else the only array with ``ndim`` dimensions, else ``None``."""
    for key in keys:
        if key in arrays:
            return np.asarray(arrays[key])
    if ndim is None:
        return None
    candidates = [np.asarray(a) for a in arrays.values() if np.ndim(a) == ndim]
    if len(candidates) != 1:
        raise InputError(f"{path}: cannot tell which array is the {what} (name it one of {', '.join(keys)})")
    return candidates[0]


def bands_first(array: np.ndarray, source: Path, bands: int | None = None) -> np.ndarray:
    """``(H, W, C)`` -> ``(C, H, W)``; with ``bands`` known, the axis of that length is the band axis.
    ``source`` (the file) prefixes error messages."""
    if array.ndim == 2:
        return array[None]
    if array.ndim != 3:
        raise InputError(f"{source}: expected a 2-D or 3-D array, got shape {array.shape}")
    axis = 2
    if bands is not None and array.shape[2] != bands:
        if array.shape[0] != bands:
            raise InputError(f"{source}: no axis of an array of shape {array.shape} has {bands} bands")
        axis = 0
    return np.moveaxis(array, axis, 0)


def _read_tif(path: Path) -> tuple[np.ndarray, tuple[float | None, ...]]:
    from fusion.io import read_raster

    values, info = read_raster(path)
    return values, info.wavelengths


def load_cube(path: str | os.PathLike, scale: float | None = None) -> Cube:
    """Read a hyperspectral cube and its wavelengths; values become float32 divided by ``scale``.

    ``scale`` defaults to :func:`default_scale` of the stored type (65535 for uint16 CAVE cubes, 1 for
    floats and signed integers such as AVIRIS reflectance x 10000 -- give ``scale=10000`` there).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such cube file")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"{path}: unsupported cube format {suffix!r} (use {', '.join(SUFFIXES)})")
    if suffix in (".tif", ".tiff"):
        raw, tags = _read_tif(path)
        wavelengths = None if any(w is None for w in tags) else np.asarray(tags, dtype=np.float64)
    else:
        arrays = _read_arrays(path)
        wavelengths = pick_array(arrays, WAVELENGTH_KEYS, path, "wavelengths")
        wavelengths = None if wavelengths is None else np.asarray(wavelengths, dtype=np.float64).reshape(-1)
        cube = pick_array(arrays, CUBE_KEYS, path, "cube", ndim=3)
        raw = bands_first(cube, path, None if wavelengths is None else len(wavelengths))
    if raw.ndim != 3:
        raise InputError(f"{path}: expected a 3-D cube, got shape {raw.shape}")
    if wavelengths is not None and len(wavelengths) != raw.shape[0]:
        raise InputError(f"{path}: {len(wavelengths)} wavelengths for a cube with {raw.shape[0]} bands")
    scale = float(scale) if scale is not None else default_scale(raw.dtype)
    if not scale > 0:
        raise InputError(f"{path}: scale must be positive, got {scale}")
    data = np.array(raw, dtype=np.float32, order="C")
    data /= np.float32(scale)
    if not np.isfinite(data).all():
        raise InputError(f"{path}: cube contains NaN or infinite values")
    wl = None if wavelengths is None else tuple(float(w) for w in wavelengths)
    return Cube(data, wl, scale, path)
