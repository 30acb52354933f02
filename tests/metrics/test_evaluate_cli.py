"""``fusion evaluate`` on small GeoTIFFs cut from the real WV2 pair: numbers equal the library's."""

from __future__ import annotations

import json

import pytest
import torch
from affine import Affine
from click.testing import CliRunner

import fusion.metrics as M
from fusion.cli import cli
from fusion.degrade import upsample
from fusion.io import write_raster

CRS = "EPSG:32630"


@pytest.fixture
def wv2_files(tmp_path, wv2_pair):
    """GeoTIFFs: pan (128 px, 0.5 m), ms (32 px, 2 m), a fused image on the PAN grid, and a ground truth."""
    pan, ms = (t[..., :128, :128] if t.shape[1] == 1 else t[..., :32, :32] for t in wv2_pair)
    fused = upsample(ms, (128, 128), method="auto") + 0.5 * (pan - pan.mean())
    paths = {name: tmp_path / f"{name}.tif" for name in ("pan", "ms", "fused", "gt")}
    write_raster(paths["pan"], pan[0], crs=CRS, transform=Affine(0.5, 0, 5e5, 0, -0.5, 4e6), dtype="uint16")
    write_raster(paths["ms"], ms[0], crs=CRS, transform=Affine(2.0, 0, 5e5, 0, -2.0, 4e6), dtype="uint16")
    write_raster(
        paths["fused"], fused[0], crs=CRS, transform=Affine(0.5, 0, 5e5, 0, -0.5, 4e6), dtype="float64"
    )
    gt = fused + 20 * torch.sin(torch.arange(128, dtype=torch.float64))
    write_raster(paths["gt"], gt[0], dtype="float64")
    return paths, {"pan": pan, "ms": ms, "fused": fused, "gt": gt}


def invoke(*args):
    return CliRunner().invoke(cli, ["evaluate", *map(str, args)], catch_exceptions=False)


def test_full_reference_mode_matches_the_library(tmp_path, wv2_files):
    paths, arrays = wv2_files
    out = tmp_path / "r.json"
    result = invoke(
        "--reference", paths["gt"], paths["fused"], "--ratio", 4, "--json", out, "--csv", tmp_path / "r.csv"
    )
    assert result.exit_code == 0, result.output
    assert "convention=reference" in result.output and "fused" in result.output
    data = json.loads(out.read_text())
    want = M.evaluate(arrays["fused"], arrays["gt"], ratio=4)
    assert data["summary"]["fused"]["Q2n"] == pytest.approx(want["Q2n"])
    assert data["summary"]["fused"]["ERGAS"] == pytest.approx(want["ERGAS"])
    assert (tmp_path / "r.csv").read_text().splitlines()[1].endswith(",reference,full-reference")


def test_no_reference_mode_matches_the_library(tmp_path, wv2_files):
    paths, arrays = wv2_files
    out = tmp_path / "r.json"
    result = invoke(
        "--pan", paths["pan"], "--lr", paths["ms"], "--sensor", "WV2", paths["fused"], "--json", out
    )
    assert result.exit_code == 0, result.output
    got = json.loads(out.read_text())["summary"]["fused"]
    want = M.evaluate(arrays["fused"], lr=arrays["ms"], guide=arrays["pan"], sensor="WV2")
    for name in ("D_lambda", "D_S", "QNR", "HQNR"):
        assert got[name] == pytest.approx(want[name], abs=1e-9)


def test_method_comparison_writes_an_html_report(tmp_path, wv2_files):
    paths, _ = wv2_files
    html = tmp_path / "report.html"
    args = ["--protocol", "full", "--methods", "exp,brovey", "--sensor", "WV2", paths["pan"], paths["ms"]]
    result = invoke(*args, "--report", html)
    assert result.exit_code == 0, result.output
    assert "exp" in result.output and "brovey" in result.output and "HQNR" in result.output
    assert (tmp_path / "report_files" / "spectra.png").exists() and "brovey" in html.read_text()
    again = invoke(*args, "--report", html)
    assert again.exit_code == 1 and "exists" in again.output


def test_bad_invocations_are_one_line_errors(wv2_files):
    paths, _ = wv2_files
    both = invoke("--reference", paths["gt"], "--pan", paths["pan"], paths["fused"])
    assert both.exit_code == 1 and "choose one mode" in both.output
    wrong = invoke("--reference", paths["ms"], paths["fused"])
    assert wrong.exit_code == 1 and "differs from the reference" in wrong.output
