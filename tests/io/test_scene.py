"""open_pair: geometry of offset/non-integer grids, resampled windows, masks, band metadata, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import array_bounds, from_origin
from rasterio.warp import Resampling, calculate_default_transform, reproject

from fusion.errors import InputError
from fusion.io import RasterInfo, open_pair, plan_tiles

ORIGIN = (500_000.0, 4_100_000.0)


def ramp(x, y):
    """A linear function of map coordinates (reproduced exactly by cubic interpolation)."""
    return 0.5 * (x - ORIGIN[0]) - 0.25 * (ORIGIN[1] - y) + 100.0


def ramp_raster(shape, res, origin, bands=2):
    """``(bands, H, W)`` float64: band b is ``(b + 1) * ramp`` at the pixel centres."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]] + 0.5
    x, y = origin[0] + cols * res[0], origin[1] - rows * res[1]
    return np.stack([(b + 1) * ramp(x, y) for b in range(bands)])


# (guide pixel size, LR pixel size, LR origin offset in metres): integer, Pamplona-like, non-integer ratio
GEOMETRIES = [
    ((15.0, 15.0), (30.0, 30.0), (0.0, 0.0)),
    ((15.000377, 14.999362), (29.997604, 30.001564), (-6.69, -4.97)),
    ((6.0, 6.0), (20.0, 20.0), (7.3, -2.9)),
]


def brute_force_window(guide_res, guide_shape, lr_origin, lr_res, lr_shape):
    """Guide rows/cols whose centres lie inside the LR extent, by checking every pixel."""
    ys = ORIGIN[1] - (np.arange(guide_shape[0]) + 0.5) * guide_res[1]
    xs = ORIGIN[0] + (np.arange(guide_shape[1]) + 0.5) * guide_res[0]
    rows = np.flatnonzero((ys <= lr_origin[1]) & (ys > lr_origin[1] - lr_shape[0] * lr_res[1]))
    cols = np.flatnonzero((xs >= lr_origin[0]) & (xs < lr_origin[0] + lr_shape[1] * lr_res[0]))
    return rows, cols


@pytest.mark.parametrize(("guide_res", "lr_res", "offset"), GEOMETRIES)
def test_output_grid_and_virtual_lr_follow_map_coordinates(make_geotiff, guide_res, lr_res, offset):
    guide_shape, lr_shape = (97, 83), (41, 37)
    lr_origin = (ORIGIN[0] + offset[0], ORIGIN[1] + offset[1])
    guide = make_geotiff("guide.tif", np.ones(guide_shape, np.float32), res=guide_res)
    lr = make_geotiff("lr.tif", ramp_raster(lr_shape, lr_res, lr_origin), res=lr_res, origin=lr_origin)
    rows, cols = brute_force_window(guide_res, guide_shape, lr_origin, lr_res, lr_shape)
    with open_pair(guide, lr) as scene:
        assert scene.shape == (len(rows), len(cols))
        expected = from_origin(
            ORIGIN[0] + cols[0] * guide_res[0], ORIGIN[1] - rows[0] * guide_res[1], *guide_res
        )
        assert scene.transform.almost_equals(expected)
        assert scene.native_ratio == pytest.approx((lr_res[1] / guide_res[1], lr_res[0] / guide_res[0]))
        ry, rx = (float(r) for r in scene.ratio)
        assert (ry, rx) == pytest.approx(scene.native_ratio, rel=1e-3)
        n_y, n_x = int(scene.shape[0] / ry), int(scene.shape[1] / rx)
        values, invalid = scene.read_lr((0, n_y), (0, n_x))
    # virtual pixel k covers output pixels [k r, (k + 1) r): its centre in map coordinates
    y = expected.f - (np.arange(n_y) + 0.5) * ry * guide_res[1]
    x = expected.c + (np.arange(n_x) + 0.5) * rx * guide_res[0]
    truth = ramp(x[None, :], y[:, None])
    inner = (slice(3, -3), slice(3, -3))  # away from the clamped edges
    for band in range(2):
        np.testing.assert_allclose(values[band][inner].numpy(), (band + 1) * truth[inner], rtol=1e-5)
    assert not invalid.any()


def test_windows_read_in_pieces_equal_one_read(make_geotiff):
    rng = np.random.default_rng(0)
    guide_values = rng.random((80, 90), dtype=np.float32)
    guide_values[40, 41] = np.nan
    guide = make_geotiff("g.tif", guide_values, res=6.0)
    lr = make_geotiff(
        "l.tif", rng.random((3, 25, 28), dtype=np.float32), res=20.0, origin=(500_003.1, 4_099_998.0)
    )
    with open_pair(guide, lr) as scene:
        (untiled,) = plan_tiles(scene.shape, scene.ratio, None, 12)
        whole = scene.read_tile(untiled)
        tiles = plan_tiles(scene.shape, scene.ratio, 30, 12)
        assert len(tiles) == 9
        for tile in tiles:  # every tile window lies inside the untiled window (same padding at the edges)
            part = scene.read_tile(tile)
            rows = slice(
                tile.rows.window[0] - untiled.rows.window[0], tile.rows.window[1] - untiled.rows.window[0]
            )
            cols = slice(
                tile.cols.window[0] - untiled.cols.window[0], tile.cols.window[1] - untiled.cols.window[0]
            )
            lr_rows = slice(*(i - untiled.rows.lr_window[0] for i in tile.rows.lr_window))
            lr_cols = slice(*(i - untiled.cols.lr_window[0] for i in tile.cols.lr_window))
            assert torch.equal(part.guide, whole.guide[..., rows, cols])
            assert torch.equal(part.valid, whole.valid[..., rows, cols])
            assert torch.equal(part.lr, whole.lr[..., lr_rows, lr_cols])


def test_nodata_and_nan_become_the_output_mask(make_geotiff):
    guide_values = np.full((20, 24), 7, np.uint16)
    guide_values[3, 5] = 0  # guide nodata
    lr_values = np.ones((2, 10, 12), np.float32)
    lr_values[1, 6, 8] = np.nan  # one LR pixel invalid in one band
    guide = make_geotiff("g.tif", guide_values, res=5.0, nodata=0)
    lr = make_geotiff("l.tif", lr_values, res=10.0)
    with open_pair(guide, lr) as scene:
        tile = plan_tiles(scene.shape, scene.ratio, None, 0)[0]
        data = scene.read_tile(tile)
        assert scene.output_nodata("uint16") == 0
        assert scene.output_nodata("float32") == 0  # the guide's nodata fits float32 too
    expected_invalid = np.zeros((20, 24), bool)
    expected_invalid[3, 5] = True
    expected_invalid[12:14, 16:18] = True  # aligned grids at ratio 2: LR pixel (6, 8) covers this block
    np.testing.assert_array_equal(~data.valid[0, 0].numpy(), expected_invalid)
    assert data.guide[0, 0, 3, 5] == 0 and torch.isfinite(data.lr).all()
    assert (
        data.lr[0, 1, 6, 8] == 0 and data.lr[0, 0, 6, 8] == 0
    )  # invalid pixels are filled with 0 in every band


def test_band_metadata_from_tags_and_arguments(make_geotiff):
    guide = make_geotiff("g.tif", np.ones((20, 20), np.float32), res=5.0)
    tags = [{"wavelength_nm": "665"}, {"WAVELENGTH": "0.56", "wavelength_units": "Micrometers"}, {}]
    lr = make_geotiff(
        "l.tif",
        np.ones((3, 10, 10), np.float32),
        res=10.0,
        band_tags=tags,
        descriptions=["red", "green", "blue"],
    )
    with open_pair(guide, lr) as scene:
        assert scene.lr.wavelengths[:2] == pytest.approx((665.0, 560.0))
        assert scene.lr.wavelengths[2] is None
        assert scene.lr.descriptions == ("red", "green", "blue")
    with open_pair(guide, lr, wavelengths="650, 550,450") as scene:
        assert scene.lr.wavelengths == (650.0, 550.0, 450.0)
    with pytest.raises(InputError, match="--wavelengths: 2 wavelengths given for 3 bands"):
        open_pair(guide, lr, wavelengths="650,550")
    # a sensor preset fills what the tags lack, matching bands by name (Landsat-8 OLI preset: blue 482.6 nm)
    with open_pair(guide, lr, sensor="landsat8") as scene:
        assert scene.lr.wavelengths == pytest.approx((665.0, 560.0, 482.6))


def test_pairs_without_georeferencing_cover_the_same_extent(make_geotiff):
    guide = make_geotiff("g.tif", np.ones((30, 45), np.float32), georeferenced=False)
    lr = make_geotiff("l.tif", np.ones((2, 10, 15), np.float32), georeferenced=False)
    with open_pair(guide, lr) as scene:
        assert scene.shape == (30, 45)
        assert tuple(map(float, scene.ratio)) == (3.0, 3.0)
    georeferenced = make_geotiff("geo.tif", np.ones((2, 10, 15), np.float32))
    with pytest.raises(InputError, match="g.tif: not georeferenced, but geo.tif is"):
        open_pair(guide, georeferenced)


def test_reproject_warps_the_lr_to_the_guide_crs(make_geotiff, tmp_path):
    lr_res, lr_shape = (30.0, 30.0), (40, 40)
    guide = make_geotiff(
        "g.tif", np.ones((100, 100), np.float32), res=10.0, origin=(ORIGIN[0] + 100, ORIGIN[1] - 100)
    )
    utm = ramp_raster(lr_shape, lr_res, ORIGIN, bands=1).astype(np.float32)
    # write the LR in Web Mercator: warp the UTM ramp there first
    src_transform = from_origin(*ORIGIN, *lr_res)
    bounds = array_bounds(*lr_shape, src_transform)
    dst_transform, width, height = calculate_default_transform(
        "EPSG:32630", "EPSG:3857", *lr_shape[::-1], *bounds
    )
    merc = np.full((1, height, width), np.nan, np.float32)
    reproject(utm, merc, src_transform=src_transform, src_crs="EPSG:32630", dst_transform=dst_transform,
              dst_crs="EPSG:3857", resampling=Resampling.bilinear, dst_nodata=np.nan)  # fmt: skip
    path = tmp_path / "merc.tif"
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=1, dtype="float32",
                       crs="EPSG:3857", transform=dst_transform, nodata=np.nan) as dst:  # fmt: skip
        dst.write(merc)
    with pytest.raises(InputError, match="merc.tif: CRS EPSG:3857 differs .* use --reproject"):
        open_pair(guide, path)
    with open_pair(guide, path, reproject=True) as scene:
        assert scene.crs.to_epsg() == 32630
        data = scene.read_tile(plan_tiles(scene.shape, scene.ratio, None, 0)[0])
        n = data.lr.shape[-1]
        ry, rx = (float(r) for r in scene.ratio)
        y = scene.transform.f - (np.arange(n) + 0.5) * ry * 10.0
        x = scene.transform.c + (np.arange(n) + 0.5) * rx * 10.0
        truth = ramp(x[None, :], y[:, None])
        inner = (slice(4, -4), slice(4, -4))
        lr = data.lr[0, 0].numpy()[: truth.shape[0], : truth.shape[1]]
        # two warps (UTM -> Mercator -> UTM) of a linear ramp stay within a small fraction of its range
        assert np.abs(lr[inner] - truth[inner]).max() < 0.01 * np.ptp(truth)


def test_bad_inputs_name_the_file(make_geotiff, tmp_path):
    guide = make_geotiff("g.tif", np.ones((20, 20), np.float32), res=5.0)
    lr = make_geotiff("l.tif", np.ones((3, 10, 10), np.float32), res=10.0)
    text = tmp_path / "notes.tif"
    text.write_text("not a raster")
    far = make_geotiff("far.tif", np.ones((3, 10, 10), np.float32), res=10.0, origin=(900_000.0, 4_100_000.0))
    other_crs = make_geotiff("crs.tif", np.ones((3, 10, 10), np.float32), res=10.0, crs="EPSG:32631")
    cases = [
        ((tmp_path / "missing.tif", lr), "missing.tif: no such file"),
        ((guide, text), "notes.tif: not a raster file"),
        ((guide, far), "far.tif: does not overlap the guide g.tif"),
        ((guide, other_crs), "crs.tif: CRS EPSG:32631 differs"),
        ((lr, guide), "l.tif: guide pixels .* are not finer"),
        ((tmp_path, lr), "is a folder"),
    ]
    for (g, l), message in cases:
        with pytest.raises(InputError, match=message):
            open_pair(g, l)


def test_raster_info_reads_sizes_and_bounds(make_geotiff):
    path = make_geotiff("l.tif", np.ones((3, 10, 12), np.int16), res=(10.0, 20.0), nodata=-1)
    info = RasterInfo.read(path)
    assert (info.width, info.height, info.count, info.dtype, info.nodata) == (12, 10, 3, "int16", -1)
    assert info.res == (10.0, 20.0)
    assert info.bounds == (ORIGIN[0], ORIGIN[1] - 200.0, ORIGIN[0] + 120.0, ORIGIN[1])
