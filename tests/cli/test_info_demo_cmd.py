"""``fusion info`` and ``fusion demo``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from PIL import Image

from fusion.cli import cli
from fusion.cli.demo_cmd import stretch_limits, to_rgb8, true_colour_bands
from fusion.engine import DEFAULT_METHOD
from fusion.io import sample_pair


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_info_reports_each_file_and_the_pair():
    pan, ms = sample_pair()
    result = run("info", "--json", ms, pan)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    first, second = report["files"]
    assert first["size"] == [400, 310] and first["bands"] == 4 and first["crs"] == "EPSG:32630"
    assert first["wavelengths_nm"] == [654.6, 561.3, 482.6, 864.6]
    with rasterio.open(pan) as p, rasterio.open(ms) as m:
        assert second["resolution"] == pytest.approx(list(p.res))
        pair = report["pair"]
        # the finer file is taken as the guide whatever the order
        assert pair["guide"] == str(pan) and pair["lr"] == str(ms)
        assert pair["pixel_size_ratio"] == pytest.approx([m.res[1] / p.res[1], m.res[0] / p.res[0]])
    assert pair["fusion_ratio"] == ["2", "2"] and pair["overlap_pixels"] == [799, 620]
    # all of the PAN lies in the overlap; the MS extends a little beyond it
    assert pair["overlap_fraction"][0] == pytest.approx(1.0) and 0.99 < pair["overlap_fraction"][1] < 1.0
    text = run("info", pan, ms)
    assert text.exit_code == 0 and "band 4: nir, 864.6 nm" in text.stdout and "fused at 2 x 2" in text.stdout


def test_info_bad_file(tmp_path):
    result = run("info", tmp_path / "nope.tif")
    assert result.exit_code == 1 and result.stderr.strip().splitlines() == [
        f"Error: {tmp_path / 'nope.tif'}: no such file"
    ]


def test_quicklook_helpers():
    assert true_colour_bands([654.6, 561.3, 482.6, 864.6]) == [0, 1, 2]
    assert true_colour_bands([443, 482.6, 561.3, 654.6, 864.6]) == [3, 2, 1]
    assert true_colour_bands([None, None]) == [0, 1, 1]
    image = np.stack([np.linspace(0, 100, 101).reshape(1, 101)] * 3)
    low, high = stretch_limits(image, np.ones((1, 101), bool))
    np.testing.assert_allclose(low, 2.0) and np.testing.assert_allclose(high, 98.0)
    rgb = to_rgb8(image, low, high)
    assert rgb.shape == (1, 101, 3) and rgb[0, 2, 0] == 0 and rgb[0, 98, 0] == 255 and rgb[0, 50, 0] == 128


def test_demo_writes_what_it_says(tmp_path):
    result = run("demo", tmp_path / "demo")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    for path in summary["outputs"].values():
        assert str(path) in result.stdout
    assert summary["runs"]["fused"]["method"] == DEFAULT_METHOD
    with rasterio.open(summary["outputs"]["fused"]) as fused, rasterio.open(sample_pair()[0]) as pan:
        assert fused.transform == pan.transform and fused.count == 4
    picture = Image.open(summary["outputs"]["quicklook"])
    assert picture.size == (2 * 799 + 8, 620) and picture.mode == "RGB"
    # the stretch is the interpolated image's 2-98 % range in each of the true-colour bands
    with rasterio.open(summary["outputs"]["interpolated"]) as interpolated:
        bands = interpolated.read([b + 1 for b in summary["quicklook_stretch"]["bands"]])
    np.testing.assert_allclose(
        summary["quicklook_stretch"]["low"], np.percentile(bands, 2, axis=(1, 2)), rtol=1e-6
    )
    quality = {name: report["summary"][name] for name, report in summary["full_resolution_quality"].items()}
    assert quality["interpolated"]["D_lambda"] < 1e-4  # the interpolated MS keeps its own band relations
    for q in quality.values():
        assert q["QNR"] == pytest.approx((1 - q["D_lambda"]) * (1 - q["D_S"]), rel=1e-9)
        assert q["HQNR"] == pytest.approx((1 - q["D_lambda_K"]) * (1 - q["D_S"]), rel=1e-9)
        assert 0 < q["D_S"] < 0.5
    assert run("demo", tmp_path / "demo").exit_code == 0  # re-running replaces its own files
