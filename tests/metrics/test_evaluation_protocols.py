"""evaluate / evaluate_reduced / evaluate_full against the functional metrics, invariants and reports."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

import fusion.metrics as M
from fusion.degrade import reduce_pair, upsample
from fusion.errors import InputError
from fusion.metrics.html import colour_map, rgb_bands, write_html


@pytest.fixture
def wv2_small(wv2_pair):
    """pan (1, 1, 256, 256), ms (1, 8, 64, 64) crops of the real WV2 pair (DN)."""
    pan, ms = wv2_pair
    return pan[..., :256, :256], ms[..., :64, :64]


def test_full_reference_evaluation_is_the_functional_metrics_on_the_cut_images(wv2_fused_like):
    fused, ms = (t[..., :100, :90] for t in wv2_fused_like)
    report = M.evaluate(fused, ms, ratio=4)
    cut_f, cut_r = M.cut_border(fused), M.cut_border(ms)
    assert cut_f.shape[-2:] == (100 - 41, 90 - 41)
    assert report["Q2n"] == pytest.approx(M.q2n(cut_f, cut_r).item())
    assert report["SAM"] == pytest.approx(M.sam(cut_f, cut_r).item())
    assert report["ERGAS"] == pytest.approx(M.ergas(cut_f, cut_r, 4).item())
    assert report["PSNR"] == pytest.approx(M.psnr(cut_f, cut_r).item())
    assert report.meta["convention"] == "reference" and report.meta["border"] == 21
    floats = M.evaluate(fused, ms, ratio=4, convention="float", metrics=["Q2n", "SCC"])
    assert floats.metrics == ["Q2n", "SCC"] and floats.meta["border"] == 0
    assert floats["SCC"] == pytest.approx(M.scc(fused, ms).item())
    assert len(report.rows[0]["per_band"]["Q"]) == 8


def test_identical_images_score_perfectly(wv2_fused_like):
    _, ms = (t[..., :96, :96] for t in wv2_fused_like)
    report = M.evaluate(ms, ms, ratio=4)
    assert report["Q2n"] == pytest.approx(1) and report["Q"] == pytest.approx(1)
    assert report["ERGAS"] == 0 and report["SAM"] < 1e-5 and math.isinf(report["PSNR"])


def test_no_reference_evaluation_crops_to_blocks_and_combines(wv2_small):
    pan, ms = (t[..., : t.shape[-2] - t.shape[-2] // 64, :] for t in wv2_small)  # 252 x 256, 63 x 64
    ms_up = upsample(ms, (252, 256), method="auto")
    fused = ms_up + 0.8 * (pan - M.no_reference.pan_lowpass(pan, 4))
    report = M.evaluate(fused, lr=ms, guide=pan, ratio=4, sensor="WV2")
    assert any("224 x 256" in note for note in report.meta["notes"])
    crop = (slice(None), slice(None), slice(0, 224))
    assert report["D_lambda"] == pytest.approx(M.d_lambda(fused[crop], ms_up[crop]).item())
    assert report["D_S"] == pytest.approx(M.d_s(fused[crop], ms_up[crop], pan[crop], 4).item())
    assert report["QNR"] == pytest.approx((1 - report["D_lambda"]) * (1 - report["D_S"]))
    assert report["HQNR"] == pytest.approx((1 - report["D_lambda_K"]) * (1 - report["D_S"]))


def test_evaluate_reduced_fuses_the_wald_pair_and_scores_against_the_original(wv2_small):
    pan, ms = (t[..., :160, :160] if t.shape[1] == 1 else t[..., :40, :40] for t in wv2_small)
    seen = {}

    def interpolate(lr, guide):
        seen["shapes"] = (tuple(lr.shape), tuple(guide.shape))
        return upsample(lr, tuple(guide.shape[-2:]), method="auto")

    report = M.evaluate_reduced([interpolate, "exp"], pan, ms, sensor="WV2", convention="float")
    assert seen["shapes"] == ((1, 8, 10, 10), (1, 1, 40, 40))
    guide_r, lr_r, reference = reduce_pair(pan, ms, 4, "WV2")
    want = M.evaluate(upsample(lr_r, (40, 40), method="auto"), reference, ratio=4, convention="float")
    assert report.methods == ["function", "exp"]
    assert report.summary()["function"]["Q2n"] == pytest.approx(want["Q2n"])
    assert report.summary()["function"]["ERGAS"] == pytest.approx(want["ERGAS"])
    assert report.meta["protocol"].startswith("reduced") and report.meta["convention"] == "float"


def test_evaluate_full_gives_zero_d_lambda_for_the_interpolated_ms(wv2_small):
    pan, ms = wv2_small
    report = M.evaluate_full(
        lambda lr, guide: upsample(lr, guide.shape[-2:], method="auto"), pan, ms, sensor="WV2"
    )
    assert report["D_lambda"] == 0
    assert set(report) == set(M.FULL_METRICS)


def test_unknown_method_and_metric_raise_input_error(wv2_small):
    pan, ms = wv2_small
    with pytest.raises(InputError, match="no-such"):
        M.evaluate_full("no-such-method", pan, ms)
    with pytest.raises(InputError, match="unknown metric"):
        M.evaluate(ms, ms, metrics=["Q9"])


def test_report_round_trips_and_records_the_convention(tmp_path):
    rows = [
        {"method": "a", "sample": 0, "SAM": 2.0, "PSNR": float("inf"), "per_band": {}},
        {"method": "a", "sample": 1, "SAM": 4.0, "PSNR": 30.0, "per_band": {}},
        {"method": "b", "sample": 0, "SAM": 1.0, "PSNR": 40.0, "per_band": {}},
    ]
    report = M.Report(rows, {"protocol": "full-reference", "convention": "float"})
    assert report["SAM"] == {"a": 3.0, "b": 1.0} and list(report) == ["SAM", "PSNR"]
    report.to_json(tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["meta"]["convention"] == "float" and data["rows"][0]["PSNR"] == "inf"
    again = M.Report.from_json(tmp_path / "r.json")
    assert again.rows == report.rows and again.meta == report.meta
    lines = report.to_csv().splitlines()
    assert lines[0] == "method,sample,SAM,PSNR,convention,protocol"
    assert lines[3] == "b,0,1.0,40.0,float,full-reference"
    table = report.table()
    assert "convention=float" in table and "3.0000" in table
    with pytest.raises(InputError, match="conventions"):
        report.merge(M.Report(rows, {"convention": "reference"}))


def test_html_report_writes_quicklooks(tmp_path, wv2_fused_like):
    fused, ms = (t[..., :64, :64] for t in wv2_fused_like)
    report = M.evaluate(fused, ms, ratio=4, convention="float", metrics=["SAM"])
    path = write_html(report, tmp_path / "r.html", {"fused": fused}, reference=ms, rgb=(4, 2, 1))
    files = sorted(p.name for p in (tmp_path / "r_files").iterdir())
    assert files == ["error_0.png", "rgb_0.png", "rgb_1.png", "spectra.png"]
    assert Image.open(tmp_path / "r_files" / "rgb_1.png").size == (64, 64)
    page = path.read_text()
    assert "r_files/error_0.png" in page and "SAM" in page


def test_quicklook_helpers():
    assert rgb_bands(8, [425, 480, 545, 605, 660, 725, 833, 950]) == (4, 2, 1)
    assert rgb_bands(4) == (2, 1, 0)
    picture = np.asarray(colour_map(np.array([[0.0, 2.0, 5.0]]), vmax=2.0))
    assert picture[0, 0].tolist() == [68, 1, 84] and picture[0, 1].tolist() == picture[0, 2].tolist() == [
        253,
        231,
        37,
    ]


def test_reference_convention_rejects_unit_range_data():
    x = torch.rand(1, 3, 64, 64, dtype=torch.float64)
    with pytest.raises(InputError, match="--convention float"):
        M.evaluate(x, x, ratio=4)
