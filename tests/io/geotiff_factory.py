"""The ``make_geotiff`` fixture: small GeoTIFFs written with rasterio directly (not with ``fusion.io``).

Shared by ``tests/io``, ``tests/engine`` and ``tests/cli`` through their conftest files.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin


def write_geotiff(
    path,
    array,
    *,
    res=10.0,
    origin=(500_000.0, 4_100_000.0),
    crs="EPSG:32630",
    nodata=None,
    descriptions=None,
    band_tags=None,
    georeferenced=True,
):
    """Write ``array (C, H, W)`` or ``(H, W)`` with top-left corner ``origin`` and pixel size ``res``
    (a number or ``(x, y)``); ``band_tags`` is a list of per-band tag dicts."""
    array = np.asarray(array)
    array = array[None] if array.ndim == 2 else array
    res_x, res_y = (res, res) if np.isscalar(res) else res
    profile = {
        "driver": "GTiff",
        "width": array.shape[2],
        "height": array.shape[1],
        "count": array.shape[0],
        "dtype": array.dtype.name,
        "tiled": True,
        "blockxsize": 16,
        "blockysize": 16,
        "nodata": nodata,
    }
    if georeferenced:
        profile.update(crs=crs, transform=from_origin(origin[0], origin[1], res_x, res_y))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array)
        for band, text in enumerate(descriptions or [], start=1):
            dst.set_band_description(band, text)
        for band, tags in enumerate(band_tags or [], start=1):
            dst.update_tags(band, **tags)
    return path


@pytest.fixture
def make_geotiff(tmp_path):
    """``make_geotiff(name, array, **options)``: a GeoTIFF in ``tmp_path`` (see :func:`write_geotiff`)."""

    def make(name, array, **options):
        return write_geotiff(tmp_path / name, array, **options)

    return make
