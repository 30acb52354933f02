"""``fusion fuse`` end to end: real pairs with correct georeferencing, and every kind of bad input."""

from __future__ import annotations

import os

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.transform import from_origin

import fusion
from fusion.cli import cli
from fusion.engine import DEFAULT_METHOD
from fusion.engine.fit import DEFAULT_FIT_MODEL, DEFAULT_FIT_STEPS
from fusion.io import sample_pair
from fusion.registry import MODELS


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line_error(result, *fragments):
    """Non-zero exit and exactly one stderr line naming the problem."""
    assert result.exit_code != 0, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def fuse_sample(folder, name, tile):
    pan, ms = sample_pair()
    result = run("fuse", pan, ms, folder / name, "--method", "gsa", "--tile", tile, "--sensor", "landsat8")
    assert result.exit_code == 0, result.output
    return folder / name


def test_pamplona_sample_keeps_the_pan_grid(tmp_path):
    out = fuse_sample(tmp_path, "fused.tif", 256)
    with rasterio.open(sample_pair()[0]) as pan, rasterio.open(out) as fused:
        # the PAN's pixel centres all lie inside the (offset) MS footprint: the output is exactly the PAN grid
        assert (fused.crs, fused.transform, fused.shape) == (pan.crs, pan.transform, pan.shape)
        assert fused.count == 4 and fused.dtypes[0] == "float32"
        assert fused.descriptions == ("red", "green", "blue", "nir")
        assert [fused.tags(b)["wavelength_nm"] for b in (1, 2, 3, 4)] == ["654.6", "561.3", "482.6", "864.6"]
        assert fused.tags()["FUSION_METHOD"] == "gsa" and fused.tags()["FUSION_RATIO"] == "2"
        assert np.isfinite(fused.read()).all()


@pytest.mark.slow
def test_pamplona_sample_tiled_equals_untiled(tmp_path):
    with (
        rasterio.open(fuse_sample(tmp_path, "t.tif", 256)) as t,
        rasterio.open(fuse_sample(tmp_path, "u.tif", 0)) as u,
    ):
        tiled, untiled = t.read(), u.read()
    assert np.abs(tiled - untiled).max() <= 1e-5 * np.abs(untiled).max()


@pytest.fixture
def wv2_geotiffs(wv2_pair, make_geotiff):
    """The WorldView-2 sample as uint16 GeoTIFFs (UTM 33N, 0.5 m / 2 m), cropped to 256 x 256 PAN pixels."""
    pan, ms = (t[0].numpy().astype(np.uint16) for t in wv2_pair)
    origin = (400_000.0, 5_000_000.0)
    return (
        make_geotiff("wv2_pan.tif", pan[:, :256, :256], res=0.5, origin=origin, crs="EPSG:32633"),
        make_geotiff("wv2_ms.tif", ms[:, :64, :64], res=2.0, origin=origin, crs="EPSG:32633"),
    )


def test_wv2_sample_fuses_through_the_cli(wv2_geotiffs, tmp_path):
    pan, ms = wv2_geotiffs
    result = run("fuse", pan, ms, tmp_path / "fused.tif", "--sensor", "worldview2")
    assert result.exit_code == 0, result.output
    with rasterio.open(tmp_path / "fused.tif") as out, rasterio.open(ms) as src:
        assert out.crs.to_epsg() == 32633
        assert out.transform == from_origin(400_000.0, 5_000_000.0, 0.5, 0.5) and out.shape == (256, 256)
        assert out.dtypes[0] == "uint16" and out.tags()["FUSION_METHOD"] == DEFAULT_METHOD
        assert out.tags()["FUSION_RATIO"] == "4" and out.tags()["FUSION_SENSOR"] == "worldview2"
        fused, reference = out.read().astype(np.float64), src.read().astype(np.float64)
    # georeferenced correctly: each 4 x 4 block of the fused image averages to its MS pixel
    blocks = fused.reshape(8, 64, 4, 64, 4).mean(axis=(2, 4))
    for band, ref in zip(blocks, reference, strict=True):
        inner = (slice(4, -4), slice(4, -4))
        assert np.corrcoef(band[inner].ravel(), ref[inner].ravel())[0, 1] > 0.95


@pytest.fixture
def pair(make_geotiff):
    values = np.random.default_rng(0).random((2, 40, 40)).astype(np.float32)
    return (
        make_geotiff("pan.tif", values[0], res=5.0),
        make_geotiff("ms.tif", values[:, ::2, ::2].copy(), res=10.0),
    )


def bad_inputs(make_geotiff, tmp_path, pair):
    pan, ms = pair
    text = tmp_path / "notes.tif"
    text.write_text("not a raster")
    far = make_geotiff("far.tif", np.ones((2, 20, 20), np.float32), res=10.0, origin=(900_000.0, 4_100_000.0))
    utm31 = make_geotiff("utm31.tif", np.ones((2, 20, 20), np.float32), res=10.0, crs="EPSG:32631")
    one_band = make_geotiff("one.tif", np.ones((20, 20), np.float32), res=10.0)
    out = tmp_path / "out.tif"
    return [
        ((tmp_path / "missing.tif", ms, out), ["missing.tif", "no such file"]),
        ((pan, text, out), ["notes.tif", "not a raster file"]),
        ((pan, utm31, out), ["utm31.tif", "differs", "--reproject"]),
        ((pan, far, out), ["far.tif", "does not overlap"]),
        ((ms, pan, out), ["ms.tif", "not finer"]),
        ((pan, one_band, out, "--method", "pca"), ["one.tif", "pca", "at least 2"]),
        ((pan, ms, out, "--method", "glp-hs"), ["ms.tif", "glp-hs", "guide"]),
        ((pan, ms, out, "--method", "nope"), ["--method nope", "unknown model"]),
        ((pan, ms, out, "--sensor", "hubble"), ["--sensor hubble", "unknown sensor", "worldview2"]),
        ((pan, ms, tmp_path / "no" / "out.tif"), ["out.tif", "does not exist"]),
        ((pan, ms, out, "--co", "COMPRESS"), ["--co COMPRESS", "NAME=VALUE"]),
        ((pan, ms, out, "--dtype", "int8"), ["--dtype int8"]),
        ((pan, ms, out, "--wavelengths", "600"), ["--wavelengths", "1 wavelengths given for 2 bands"]),
    ]


def test_bad_inputs_fail_with_one_line_and_leave_nothing(make_geotiff, tmp_path, pair):
    for args, fragments in bad_inputs(make_geotiff, tmp_path, pair):
        before = sorted(os.listdir(tmp_path))
        one_line_error(
            run("fuse", *args, "--method", "exp") if "--method" not in args else run("fuse", *args),
            *fragments,
        )
        assert sorted(os.listdir(tmp_path)) == before, args


def test_existing_output_and_unwritable_folder(tmp_path, pair, monkeypatch):
    pan, ms = pair
    out = tmp_path / "out.tif"
    out.write_bytes(b"keep me")
    one_line_error(run("fuse", pan, ms, out, "-m", "exp"), "out.tif", "exists", "--overwrite")
    assert out.read_bytes() == b"keep me"
    assert run("fuse", pan, ms, out, "-m", "exp", "--overwrite").exit_code == 0
    assert out.read_bytes() != b"keep me"
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # root ignores permissions: simulate
    one_line_error(run("fuse", pan, ms, tmp_path / "new.tif", "-m", "exp"), "new.tif", "not writable")
    assert not (tmp_path / "new.tif").exists()


def test_failure_on_a_late_tile(make_geotiff, tmp_path, monkeypatch):
    values = np.random.default_rng(1).random((2, 200, 200)).astype(np.float32)
    pan = make_geotiff("pan.tif", values[0], res=5.0)
    ms = make_geotiff("ms.tif", values[:, ::2, ::2].copy(), res=10.0)
    exp = MODELS.get("exp")

    class FailsOnTileSix(exp):
        calls = 0

        def forward(self, *args, **kwargs):
            type(self).calls += 1
            if type(self).calls == 6:
                raise RuntimeError("out of memory (simulated)")
            return super().forward(*args, **kwargs)

    monkeypatch.setattr("fusion.engine.inference.create_model", lambda name, **kw: FailsOnTileSix(**kw))
    result = run("fuse", pan, ms, tmp_path / "out.tif", "-m", "exp", "--tile", 64)
    one_line_error(result, "out.tif", "tile 6/16", "out of memory (simulated)")
    assert sorted(os.listdir(tmp_path)) == ["ms.tif", "pan.tif"]


def test_reproject_and_cog_options(make_geotiff, tmp_path, pair):
    pan, _ = pair
    with rasterio.open(pan) as src:
        bounds = src.bounds
    # an MS over the same area in EPSG:4326 (rough but overlapping)
    from rasterio.warp import transform_bounds

    west, south, east, north = transform_bounds("EPSG:32630", "EPSG:4326", *bounds)
    lonlat = tmp_path / "lonlat.tif"
    transform = from_origin(west, north, (east - west) / 20, (north - south) / 20)
    profile = {"driver": "GTiff", "width": 20, "height": 20, "count": 2, "dtype": "float32"}
    with rasterio.open(lonlat, "w", crs="EPSG:4326", transform=transform, **profile) as dst:
        dst.write(np.ones((2, 20, 20), np.float32))
    one_line_error(run("fuse", pan, lonlat, tmp_path / "out.tif", "-m", "exp"), "lonlat.tif", "--reproject")
    result = run(
        "fuse", pan, lonlat, tmp_path / "out.tif", "-m", "exp", "--reproject", "--cog", "-t", "float64"
    )
    assert result.exit_code == 0, result.output
    with rasterio.open(tmp_path / "out.tif") as out:
        assert out.crs.to_epsg() == 32630 and out.dtypes[0] == "float64"
        assert out.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        values = out.read(masked=True)
    assert values.count() > 0 and np.allclose(values.compressed(), 1.0, atol=1e-6)


def test_default_method_is_registered():
    assert DEFAULT_METHOD in fusion.list_models()


def test_fit_trains_on_the_scene_then_fuses(tmp_path):
    """``--fit``: the model is trained on the sample reduced by its own ratio, then fuses it."""
    import torch

    from fusion.degrade import reduce_pair
    from fusion.engine.inference import fit_to_scene
    from fusion.io import open_pair, plan_tiles

    pan, ms = sample_pair()
    result = run("fuse", pan, ms, tmp_path / "fit.tif", "-m", "tiny-cnn", "--fit", "--fit-steps", "30",
                 "--sensor", "landsat8", "--device", "cpu")  # fmt: skip
    assert result.exit_code == 0, result.output
    with rasterio.open(tmp_path / "fit.tif") as out, rasterio.open(pan) as guide:
        assert out.transform == guide.transform and out.tags()["FUSION_METHOD"] == "tiny-cnn"
        assert np.isfinite(out.read()).all()
    # the fitted model undoes the scene's own reduction better than the untrained one (bilinear)
    with open_pair(pan, ms) as scene:
        data = scene.read_tile(plan_tiles(scene.shape, scene.ratio, None, 0)[0])
    guide_small, lr_small, reference = reduce_pair(data.guide, data.lr, sensor="landsat8")
    torch.manual_seed(0)
    fitted = fit_to_scene(pan, ms, "tiny-cnn", sensor="landsat8", steps=150, device="cpu", progress=False)
    untrained = fusion.create_model("tiny-cnn", lr_bands=4, guide_bands=1)
    with torch.no_grad():
        errors = [float((m(lr_small, guide_small) - reference).abs().mean()) for m in (untrained, fitted)]
    print(f"\nmean |error| at reduced resolution: untrained {errors[0]:.5f}, fitted {errors[1]:.5f}")
    assert errors[1] < 0.9 * errors[0], errors


@pytest.fixture
def small_pair(make_geotiff):
    """A 4-band 10 x 12 LR image and a 40 x 48 PAN on the same extent."""
    rng = np.random.default_rng(0)
    lr = (300 + 1500 * rng.random((4, 10, 12))).astype(np.float32)
    guide = (300 + 1500 * rng.random((1, 40, 48))).astype(np.float32)
    return make_geotiff("pan.tif", guide, res=10.0), make_geotiff("ms.tif", lr, res=40.0)


def test_fit_without_a_method_trains_the_default_fit_model(small_pair, tmp_path):
    guide, lr = small_pair
    result = run("fuse", guide, lr, tmp_path / "fit.tif", "--fit", "--fit-steps", 2, "--device", "cpu")
    assert result.exit_code == 0, result.output
    with rasterio.open(tmp_path / "fit.tif") as out:
        assert out.tags()["FUSION_METHOD"] == DEFAULT_FIT_MODEL == "prior-inr"
        assert np.isfinite(out.read()).all()


def test_fit_defaults_and_the_plain_default_method(small_pair, tmp_path, monkeypatch):
    """``--fit`` alone fits :data:`DEFAULT_FIT_MODEL` for :data:`DEFAULT_FIT_STEPS` steps; without
    ``--fit`` the default stays the classical :data:`DEFAULT_METHOD`."""
    import fusion.engine.inference as inference

    calls = []

    def recording_fit(guide, lr, method, steps, **options):
        calls.append((method, steps))
        return "gsa"  # fuse with a classical method instead of spending the fitting time

    monkeypatch.setattr(inference, "fit_to_scene", recording_fit)
    guide, lr = small_pair
    assert run("fuse", guide, lr, tmp_path / "fit.tif", "--fit", "--device", "cpu").exit_code == 0
    assert calls == [(DEFAULT_FIT_MODEL, DEFAULT_FIT_STEPS)]
    assert run("fuse", guide, lr, tmp_path / "plain.tif", "--device", "cpu").exit_code == 0
    with rasterio.open(tmp_path / "plain.tif") as out:
        assert out.tags()["FUSION_METHOD"] == DEFAULT_METHOD and len(calls) == 1


def test_fit_needs_a_trainable_method(tmp_path):
    pan, ms = sample_pair()
    result = run("fuse", pan, ms, tmp_path / "x.tif", "-m", "gsa", "--fit")
    one_line_error(result, "--fit", "gsa", "nothing to train")
    assert not (tmp_path / "x.tif").exists()
