"""GeoTIFF writing: round trips, casting, creation options, COG, atomicity."""

from __future__ import annotations

import os

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from fusion.errors import InputError, OutputError
from fusion.io import RasterWriter, cast_values, output_profile, parse_creation_options, write_raster


def test_round_trip_keeps_values_georeferencing_and_band_metadata(tmp_path):
    values = np.random.default_rng(0).random((3, 37, 45)).astype(np.float32)
    transform = from_origin(600_000.0, 4_700_000.0, 15.0, 15.0)
    write_raster(
        tmp_path / "a.tif", torch.from_numpy(values), crs="EPSG:32630", transform=transform, nodata=-1.0,
        descriptions=["red", None, "nir"], wavelengths=[654.6, None, 864.6], tags={"FUSION_METHOD": "gsa"},
    )  # fmt: skip
    with rasterio.open(tmp_path / "a.tif") as src:
        np.testing.assert_array_equal(src.read(), values)
        assert src.crs.to_epsg() == 32630 and src.transform == transform and src.nodata == -1.0
        assert src.descriptions == ("red", None, "nir")
        assert src.tags(1)["wavelength_nm"] == "654.6" and "wavelength_nm" not in src.tags(2)
        assert src.tags(3, ns="IMAGERY")["CENTRAL_WAVELENGTH_UM"] == "0.8646"
        assert src.tags()["FUSION_METHOD"] == "gsa"
        assert src.profile["tiled"] and src.profile["compress"] == "deflate"


def test_non_georeferenced_arrays_and_dtypes(tmp_path):
    write_raster(tmp_path / "cube.tif", np.arange(12, dtype=np.float64).reshape(3, 4))
    write_raster(tmp_path / "mask.tif", np.array([[True, False]]))
    with rasterio.open(tmp_path / "cube.tif") as src:
        assert src.crs is None and src.count == 1 and src.dtypes[0] == "float64"
        np.testing.assert_array_equal(src.read(1), np.arange(12).reshape(3, 4))
    with rasterio.open(tmp_path / "mask.tif") as src:
        assert src.dtypes[0] == "uint8" and src.read(1).tolist() == [[1, 0]]


def test_cast_values_rounds_clips_and_marks_nodata():
    values = np.array([[[-3.0, 0.4, 0.6, 254.5, 300.0, np.nan]]])
    invalid = np.array([[False, False, True, False, False, False]])
    assert cast_values(values, "uint8").tolist() == [[[0, 0, 1, 254, 255, 0]]]
    # nodata 0 at the bottom of the range: valid values stay >= 1, invalid and NaN pixels get 0
    assert cast_values(values, "uint8", invalid, nodata=0).tolist() == [[[1, 1, 0, 254, 255, 0]]]
    floats = cast_values(np.array([[[1e39, -1.5]]]), "float32", nodata=np.nan)
    assert (
        floats.dtype == np.float32 and floats[0, 0, 0] == np.finfo(np.float32).max and floats[0, 0, 1] == -1.5
    )


def test_creation_options_cog_and_bigtiff(tmp_path):
    assert parse_creation_options(["COMPRESS=ZSTD", "zlevel = 9"]) == {"compress": "ZSTD", "zlevel": "9"}
    with pytest.raises(InputError, match="--co ZSTD: expected NAME=VALUE"):
        parse_creation_options(["ZSTD"])
    with pytest.raises(InputError, match="--dtype int8"):
        output_profile(4, 4, 1, "int8")
    values = np.ones((2, 40, 40), np.uint16)
    write_raster(tmp_path / "big.tif", values, co=["BIGTIFF=YES", "BLOCKXSIZE=32", "BLOCKYSIZE=32"])
    assert (tmp_path / "big.tif").read_bytes()[:4] == b"II+\x00"  # BigTIFF magic
    write_raster(tmp_path / "cog.tif", values, cog=True, crs="EPSG:32630", transform=from_origin(0, 40, 1, 1))
    with rasterio.open(tmp_path / "cog.tif") as src:
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        np.testing.assert_array_equal(src.read(), values)
    assert sorted(os.listdir(tmp_path)) == ["big.tif", "cog.tif"]


def test_writes_are_atomic(tmp_path):
    profile = output_profile(32, 32, 1, "uint8")
    with pytest.raises(RuntimeError, match="late"), RasterWriter(tmp_path / "x.tif", profile) as out:
        out.write(np.ones((1, 16, 16), np.uint8), (0, 16), (0, 16))
        raise RuntimeError("late failure")
    assert os.listdir(tmp_path) == []
    write_raster(tmp_path / "x.tif", np.ones((4, 4), np.uint8))
    with pytest.raises(OutputError, match="x.tif: output exists"):
        write_raster(tmp_path / "x.tif", np.zeros((4, 4), np.uint8))
    write_raster(tmp_path / "x.tif", np.zeros((4, 4), np.uint8), overwrite=True)
    with rasterio.open(tmp_path / "x.tif") as src:
        assert src.read().max() == 0
    with pytest.raises(OutputError, match="does not exist"):
        write_raster(tmp_path / "missing" / "y.tif", np.zeros((4, 4), np.uint8))
    assert os.listdir(tmp_path) == ["x.tif"]
