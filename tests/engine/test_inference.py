"""fuse_raster: tiled == untiled for every method, georeferencing, two passes, masks, dtypes, failures."""

from __future__ import annotations

import os

import numpy as np
import pytest
import rasterio
from toy_models import Bilinear, FailOnCall, GuideCopy, HighPass, MeanShift, NeedsFiveBands

import fusion
from fusion.errors import FusionError, InputError, OutputError
from fusion.models.base import INRModel
from fusion.registry import MODELS

ORIGIN = (500_000.0, 4_100_000.0)

# (guide pixel size, LR pixel size, LR origin offset): ratio 2 on offset grids, and ratio 10/3
SCENES = {
    "ratio2-offset": (15.0, 30.0, (-6.7, 5.0)),
    "ratio10/3": (6.0, 20.0, (4.1, -7.3)),
}
GUIDE_SHAPE = (101, 131)  # odd sizes, three tiles of TILE each way
TILE = 48


def field(x, y, band=0):
    """A smooth, textured test image as a function of map coordinates."""
    u, v = (x - ORIGIN[0]) / 37.0, (ORIGIN[1] - y) / 23.0
    return 1000 + 300 * np.sin(u + 0.3 * band) * np.cos(0.7 * v) + 150 * np.sin(0.31 * u * v / 7 + band)


def grid_values(shape, res, origin, bands, fn=field):
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]] + 0.5
    x, y = origin[0] + cols * res, origin[1] - rows * res
    return np.stack([fn(x, y, b) for b in range(bands)]).astype(np.float32)


def make_pair(make_geotiff, scene, guide_bands=1, lr_bands=4, fn=field, guide_nodata=None):
    guide_res, lr_res, offset = SCENES[scene]
    lr_origin = (ORIGIN[0] + offset[0], ORIGIN[1] + offset[1])
    lr_shape = tuple(int(n * guide_res / lr_res) + 2 for n in GUIDE_SHAPE)
    guide = grid_values(GUIDE_SHAPE, guide_res, ORIGIN, guide_bands, fn)
    if guide_nodata is not None:
        guide[:, 10:14, 20:25] = guide_nodata
    lr = grid_values(lr_shape, lr_res, lr_origin, lr_bands, fn)
    return (
        make_geotiff("guide.tif", guide, res=guide_res, nodata=guide_nodata),
        make_geotiff("lr.tif", lr, res=lr_res, origin=lr_origin),
    )


def read(path):
    with rasterio.open(path) as src:
        return src.read(), src.profile, src.tags()


def assert_tiled_equals_untiled(tmp_path, guide, lr, method, **options):
    tiled = fusion.fuse(guide, lr, tmp_path / "tiled.tif", method, tile=TILE, progress=False, **options)
    untiled = fusion.fuse(guide, lr, tmp_path / "untiled.tif", method, tile=None, progress=False, **options)
    assert tiled["tiles"] >= 4 and untiled["tiles"] == 1  # fewer than 9 where a model aligns tiles coarser
    a, _, _ = read(tmp_path / "tiled.tif")
    b, _, _ = read(tmp_path / "untiled.tif")
    assert a.shape == b.shape
    scale = np.nanmax(np.abs(b))
    assert np.nanmax(np.abs(a.astype(np.float64) - b)) <= 1e-5 * scale, f"{method}: tiled != untiled"
    return a


def _bands_for(name):
    cls = MODELS.get(name)
    guide_bands = 1 if "pan" in cls.guide_kinds else 3
    return guide_bands, max(cls.min_lr_bands, 4 if guide_bands == 1 else 6)


def registered_methods():
    """Every registered name; INR models (minutes each on a CPU) run with the slow tests, and models
    that pool over their whole input (``exact_tiling = False``) cannot match and are skipped."""
    for name in fusion.list_models():
        cls = MODELS.get(name)
        marks = [pytest.mark.slow] if issubclass(cls, INRModel) else []
        if not cls.exact_tiling:
            marks.append(pytest.mark.skip(reason=f"{name} pools over its whole input (exact_tiling = False)"))
        yield pytest.param(name, marks=marks)


@pytest.mark.parametrize("scene", SCENES)
@pytest.mark.parametrize("method", registered_methods())
def test_every_registered_method_tiled_equals_untiled(make_geotiff, tmp_path, method, scene, request):
    if (method, scene) == ("qis", "ratio10/3"):  # known bug, open: found in the slow run of 2026-11-21
        known_bug = pytest.mark.xfail(strict=True, reason="qis tiled != untiled (3e-4) at ratio 10/3")
        request.applymarker(known_bug)
    guide_bands, lr_bands = _bands_for(method)
    guide, lr = make_pair(make_geotiff, scene, guide_bands, lr_bands)
    model = fusion.create_model(method, lr_bands=lr_bands, guide_bands=guide_bands)
    fused = assert_tiled_equals_untiled(tmp_path, guide, lr, model)
    assert np.isfinite(fused).all()


@pytest.mark.parametrize("scene", SCENES)
@pytest.mark.parametrize("model", [Bilinear, HighPass, MeanShift], ids=lambda m: m.__name__)
def test_toy_models_tiled_equals_untiled(make_geotiff, tmp_path, model, scene):
    guide, lr = make_pair(make_geotiff, scene, guide_nodata=-1.0)
    assert_tiled_equals_untiled(tmp_path, guide, lr, model())


def ramp(x, y, band=0):
    return (band + 1) * (0.5 * (x - ORIGIN[0]) - 0.25 * (ORIGIN[1] - y)) + 50.0


@pytest.mark.parametrize("scene", SCENES)
def test_output_is_georeferenced_on_the_guide_grid(make_geotiff, tmp_path, scene):
    """Bilinear upsampling of a linear ramp must give the ramp at every output pixel centre."""
    guide, lr = make_pair(make_geotiff, scene, lr_bands=2, fn=ramp)
    summary = fusion.fuse(guide, lr, tmp_path / "out.tif", Bilinear(), tile=TILE, progress=False)
    fused, profile, _ = read(tmp_path / "out.tif")
    with rasterio.open(guide) as src:
        assert profile["crs"] == src.crs
        # the output starts on a guide pixel and keeps the guide's pixel size
        col0, row0 = ~src.transform @ (profile["transform"].c, profile["transform"].f)
        assert (col0, row0) == pytest.approx((round(col0), round(row0)), abs=1e-6)
        assert (profile["transform"].a, profile["transform"].e) == (src.transform.a, src.transform.e)
    assert list(fused.shape[1:]) == summary["size"]
    rows, cols = np.mgrid[0 : fused.shape[1], 0 : fused.shape[2]] + 0.5
    x, y = profile["transform"] @ (cols, rows)
    inner = (slice(8, -8), slice(8, -8))
    for band in range(2):
        expected = ramp(x, y, band)[inner]
        np.testing.assert_allclose(fused[band][inner], expected, rtol=0, atol=1e-5 * np.abs(expected).max())


def test_guide_windows_are_copied_exactly(make_geotiff, tmp_path):
    guide, lr = make_pair(make_geotiff, "ratio10/3", lr_bands=3)
    fusion.fuse(guide, lr, tmp_path / "out.tif", GuideCopy(), tile=TILE, progress=False)
    fused, profile, _ = read(tmp_path / "out.tif")
    with rasterio.open(guide) as src:
        window = rasterio.windows.from_bounds(
            *rasterio.transform.array_bounds(*fused.shape[1:], profile["transform"]), src.transform
        )
        expected = src.read(1, window=window.round_offsets().round_lengths())
    for band in fused:
        np.testing.assert_array_equal(band, expected)


def test_two_pass_statistics_cover_the_whole_scene_and_skip_nodata(make_geotiff, tmp_path):
    guide, lr = make_pair(make_geotiff, "ratio2-offset", lr_bands=1, fn=ramp, guide_nodata=-1.0)
    summary = fusion.fuse(guide, lr, tmp_path / "out.tif", MeanShift(), tile=TILE, progress=False)
    assert summary["passes"] == 2
    fused, profile, _ = read(tmp_path / "out.tif")
    with rasterio.open(guide) as src:
        window = rasterio.windows.from_bounds(
            *rasterio.transform.array_bounds(*fused.shape[1:], profile["transform"]), src.transform
        )
        g = src.read(1, window=window.round_offsets().round_lengths()).astype(np.float64)
    valid = g != -1.0
    rows, cols = np.mgrid[0 : fused.shape[1], 0 : fused.shape[2]] + 0.5
    x, y = profile["transform"] @ (cols, rows)
    expected = ramp(x, y) + g - g[valid].mean()
    inner = (slice(8, -8), slice(8, -8))
    expected = expected[inner][valid[inner]]
    np.testing.assert_allclose(
        fused[0][inner][valid[inner]], expected, rtol=0, atol=1e-5 * np.abs(expected).max()
    )
    assert profile["nodata"] == -1.0
    np.testing.assert_array_equal(fused[0] == -1.0, ~valid)


def test_dtype_nodata_tags_and_band_metadata(make_geotiff, tmp_path):
    guide = make_geotiff("g.tif", np.full((40, 40), 100, np.uint16), res=10.0)
    lr_values = np.stack([np.full((20, 20), v, np.uint16) for v in (50, 300, 60000)])
    tags = [{"wavelength_nm": str(nm)} for nm in (490, 560, 665)]
    lr = make_geotiff(
        "l.tif", lr_values, res=20.0, nodata=0, band_tags=tags, descriptions=["blue", "green", "red"]
    )
    fusion.fuse(guide, lr, tmp_path / "a.tif", Bilinear(), progress=False)
    fused, profile, file_tags = read(tmp_path / "a.tif")
    assert profile["dtype"] == "uint16" and profile["nodata"] == 0 and profile["tiled"]
    assert profile["compress"] == "deflate"
    assert [int(band.mean()) for band in fused] == [50, 300, 60000]
    assert file_tags["FUSION_METHOD"] == "Bilinear" and file_tags["FUSION_RATIO"] == "2"
    assert file_tags["FUSION_VERSION"] == fusion.__version__
    with rasterio.open(tmp_path / "a.tif") as src:
        assert src.descriptions == ("blue", "green", "red")
        assert [src.tags(b)["wavelength_nm"] for b in (1, 2, 3)] == ["490", "560", "665"]
    fusion.fuse(guide, lr, tmp_path / "b.tif", Bilinear(), dtype="uint8", co=["COMPRESS=LZW"], progress=False)
    fused, profile, _ = read(tmp_path / "b.tif")
    assert profile["dtype"] == "uint8" and profile["compress"] == "lzw"
    assert [int(band.max()) for band in fused] == [50, 255, 255]  # clipped to the uint8 range


def test_cog_output(make_geotiff, tmp_path):
    guide, lr = make_pair(make_geotiff, "ratio2-offset", lr_bands=2)
    fusion.fuse(guide, lr, tmp_path / "out.tif", Bilinear(), cog=True, tile=TILE, progress=False)
    with rasterio.open(tmp_path / "out.tif") as src:
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert src.tags()["FUSION_METHOD"] == "Bilinear"
    assert sorted(os.listdir(tmp_path)) == ["guide.tif", "lr.tif", "out.tif"]


def test_failure_on_a_late_tile_leaves_nothing(make_geotiff, tmp_path):
    guide, lr = make_pair(make_geotiff, "ratio2-offset")
    with pytest.raises(FusionError, match=r"out.tif: fusion failed on tile 7/\d+ \(rows .*simulated failure"):
        fusion.fuse(guide, lr, tmp_path / "out.tif", FailOnCall(fail_at=7), tile=TILE, progress=False)
    assert sorted(os.listdir(tmp_path)) == ["guide.tif", "lr.tif"]


def test_refusals_happen_before_any_output(make_geotiff, tmp_path):
    guide, lr = make_pair(make_geotiff, "ratio2-offset")
    with pytest.raises(
        InputError, match=r"lr.tif \(4 bands\) with guide guide.tif \(1 bands\): .*at least 5"
    ):
        fusion.fuse(guide, lr, tmp_path / "out.tif", NeedsFiveBands(), progress=False)
    with pytest.raises(InputError, match="--method no-such-method: unknown model"):
        fusion.fuse(guide, lr, tmp_path / "out.tif", "no-such-method", progress=False)
    with pytest.raises(InputError, match="output would replace its own input"):
        fusion.fuse(guide, lr, lr, Bilinear(), overwrite=True, progress=False)
    assert sorted(os.listdir(tmp_path)) == ["guide.tif", "lr.tif"]
    (tmp_path / "out.tif").write_bytes(b"old")
    with pytest.raises(OutputError, match="out.tif: output exists"):
        fusion.fuse(guide, lr, tmp_path / "out.tif", Bilinear(), progress=False)
    assert (tmp_path / "out.tif").read_bytes() == b"old"
    fusion.fuse(guide, lr, tmp_path / "out.tif", Bilinear(), overwrite=True, progress=False)
    assert read(tmp_path / "out.tif")[0].shape[0] == 4


def test_checkpoint_file_as_method(make_geotiff, tmp_path):
    from fusion.engine.checkpoint import file_hash, save_checkpoint

    guide, lr = make_pair(make_geotiff, "ratio2-offset", fn=ramp)
    model = fusion.create_model("tiny-cnn", lr_bands=4, guide_bands=1)
    checkpoint = save_checkpoint(model, tmp_path / "m.pt")
    fusion.fuse(guide, lr, tmp_path / "out.tif", checkpoint, tile=TILE, progress=False)
    fused, profile, tags = read(tmp_path / "out.tif")
    assert tags["FUSION_METHOD"] == "tiny-cnn" and tags["FUSION_CHECKPOINT"] == file_hash(checkpoint)
    # an untrained tiny-cnn is bilinear upsampling: exact on the ramp away from the edges
    rows, cols = np.mgrid[0 : fused.shape[1], 0 : fused.shape[2]] + 0.5
    x, y = profile["transform"] @ (cols, rows)
    expected = ramp(x, y)[8:-8, 8:-8]
    np.testing.assert_allclose(fused[0][8:-8, 8:-8], expected, rtol=0, atol=1e-5 * np.abs(expected).max())
