"""GeoTIFF input and output; the only package that imports rasterio.

* :func:`open_pair` -> :class:`Scene`: a guide/low-resolution pair checked and opened for tiled reads.
* :class:`RasterInfo`: what we know about one raster (:meth:`RasterInfo.read`); :func:`read_raster`
  reads a small one whole; :func:`sample_pair` gives the shipped Landsat-8 sample.
* :func:`write_raster` (whole arrays) and :class:`RasterWriter` (window by window): atomic GeoTIFF writes
  with band descriptions, wavelengths and tags; :func:`output_profile` builds creation profiles.
* :func:`plan_tiles`: tiles on the output grid aligned with the low-resolution grid.
"""

from fusion.io.bands import parse_wavelengths
from fusion.io.raster import RasterInfo, gdal_env, open_raster, read_raster, sample_pair
from fusion.io.scene import Scene, TileData, open_pair
from fusion.io.tiling import Tile, block_size, core_size, plan_tiles
from fusion.io.writer import (
    DTYPES,
    RasterWriter,
    cast_values,
    output_profile,
    parse_creation_options,
    write_raster,
)

__all__ = [
    "DTYPES",
    "RasterInfo",
    "RasterWriter",
    "Scene",
    "Tile",
    "TileData",
    "block_size",
    "cast_values",
    "core_size",
    "gdal_env",
    "open_pair",
    "open_raster",
    "output_profile",
    "parse_creation_options",
    "parse_wavelengths",
    "plan_tiles",
    "read_raster",
    "sample_pair",
    "write_raster",
]
