"""Shared protocol pieces: metric rows against direct numpy formulas, means, the table, the front door."""

from __future__ import annotations

import numpy as np
import pytest

from fusion.errors import InputError
from fusion.protocols import PROTOCOLS, markdown_table, mean_rows, metric_row, protocol_module, run_protocol


def numpy_metrics(pred: np.ndarray, ref: np.ndarray, ratio: float, peak: float) -> dict[str, float]:
    """PSNR, SAM (degrees, mean over pixels) and ERGAS written out for ``(C, H, W)`` arrays."""
    mse = np.mean((pred - ref) ** 2)
    cos = (pred * ref).sum(0) / np.sqrt((pred**2).sum(0) * (ref**2).sum(0))
    band_mse = ((pred - ref) ** 2).mean(axis=(1, 2))
    band_mean = ref.mean(axis=(1, 2))
    return {
        "psnr": 10 * np.log10(peak**2 / mse),
        "sam": float(np.degrees(np.arccos(np.clip(cos, -1, 1))).mean()),
        "ergas": 100 / ratio * np.sqrt(np.mean(band_mse / band_mean**2)),
    }


@pytest.mark.parametrize("ratio", [4.0, 3.3])
def test_metric_row_matches_numpy(ratio):
    rng = np.random.default_rng(0)
    ref = rng.uniform(0.1, 1.0, (5, 12, 10))
    pred = ref + rng.normal(0, 0.05, ref.shape)
    row = metric_row(pred, ref, ratio)
    expected = numpy_metrics(pred, ref, ratio, 1.0)
    assert set(row) == {"psnr", "sam", "ergas"}
    for name, value in expected.items():
        assert row[name] == pytest.approx(value, rel=1e-10)
    # a batch of one and a (C, H, W) array give the same row; data_range=None uses the reference peak
    assert metric_row(pred[None], ref[None], ratio) == row
    peak = metric_row(pred, ref, ratio, data_range=None)["psnr"]
    assert peak == pytest.approx(numpy_metrics(pred, ref, ratio, ref.max())["psnr"], rel=1e-10)


def test_metric_row_q2n_and_batch_check():
    rng = np.random.default_rng(1)
    ref = rng.uniform(100, 2000, (4, 32, 32)).round()
    row = metric_row(ref, ref, 4.0, q_block=32)
    assert row["q2n"] == pytest.approx(1.0, abs=1e-12)  # identical images
    assert row["ergas"] == 0.0
    with pytest.raises(InputError):
        metric_row(np.stack([ref, ref]), np.stack([ref, ref]), 4.0)


def test_mean_rows_groups_by_method_and_ratio():
    rows = [
        {"method": "a", "scene": "s1", "ratio": 4.0, "psnr": 30.0, "sam": 3.0, "seen": True},
        {"method": "a", "scene": "s2", "ratio": 4.0, "psnr": 32.0, "sam": 5.0, "seen": False},
        {"method": "a", "scene": "s1", "ratio": 3.3, "psnr": 31.0, "sam": 2.0, "extra": 1.0},
        {"method": "b", "scene": "s1", "ratio": 4.0, "psnr": 20.0, "sam": 1.0, "extra": 7.0},
        {"method": "b", "scene": "s2", "ratio": 4.0, "psnr": 22.0, "sam": 3.0},
    ]
    means = mean_rows(rows)
    assert [(m["method"], m["ratio"]) for m in means] == [("a", 4.0), ("a", 3.3), ("b", 4.0)]
    assert means[0] == {"method": "a", "ratio": 4.0, "psnr": 31.0, "sam": 4.0, "scenes": 2}
    assert means[1] == {"method": "a", "ratio": 3.3, "psnr": 31.0, "sam": 2.0, "extra": 1.0, "scenes": 1}
    assert "extra" not in means[2]  # present in one row of the group only
    assert means[2]["psnr"] == 21.0


def test_markdown_table_renders_means():
    result = {
        "protocol": "p-x",
        "mean": [
            {"method": "a", "ratio": 4.0, "sam": 4.0, "psnr": 31.256, "q2n": 0.91234, "scenes": 2},
            {"method": "b", "ratio": 3.3, "sam": 1.5, "psnr": 21.0, "scenes": 2},
        ],
    }
    lines = markdown_table(result).splitlines()
    assert lines[0] == "| method | ratio | PSNR (dB) | SAM (°) | Q2n | scenes |"
    assert lines[1] == "|---|---|---|---|---|---|"
    assert lines[2] == "| a | 4 | 31.26 | 4.00 | 0.9123 | 2 |"
    assert lines[3] == "| b | 3.3 | 21.00 | 1.50 |  | 2 |"
    with pytest.raises(InputError):
        markdown_table({"protocol": "p-x", "mean": []})


def test_front_door_knows_the_protocols():
    assert PROTOCOLS == {"p-cave": "fusion.protocols.p_cave", "p-pan": "fusion.protocols.p_pan"}
    with pytest.raises(InputError, match="unknown protocol"):
        protocol_module("p-nope")
    with pytest.raises(InputError, match="unknown protocol"):
        run_protocol("p-nope", data_root=".")
