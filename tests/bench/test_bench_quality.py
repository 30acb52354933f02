"""`fusion bench quality` on a tiny synthetic data root: structure, numbers, tables, figures."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from fusion.bench.contenders import Classical, build_with_sensor, classical_methods, is_classical
from fusion.bench.datasets import default_data_root, reduced_scenes
from fusion.bench.figures import KINDS
from fusion.bench.markdown import markers
from fusion.cli import cli
from fusion.degrade import simulate
from fusion.metrics import cut_border, d_lambda, d_s, ergas, hqnr, psnr, q2n, sam, scc, ssim
from fusion.metrics.protocols import interpolated_ms
from fusion.models import create_model

pytestmark = pytest.mark.usefixtures("one_thread")

CUBE_SIZE, BANDS = 64, 31
WV2_MS, WV2_BANDS = 80, 8


def smooth_field(rng: np.random.Generator, size: int, channels: int, peak: float) -> np.ndarray:
    """``(size, size, channels)`` sums of random sinusoids, in ``[0.1, 0.9] * peak``, plus noise."""
    y, x = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    layers = [
        np.sin(x * rng.uniform(0.05, 0.4) + y * rng.uniform(0.05, 0.4) + rng.uniform(0, 6)) for _ in range(4)
    ]
    weights = rng.uniform(0.2, 1.0, (4, channels))
    field = np.einsum("khw,kc->hwc", np.stack(layers), weights)
    field = (field - field.min()) / (field.max() - field.min())
    return (0.1 + 0.8 * field + rng.normal(0, 0.01, field.shape)) * peak


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """``hsi/cave_tiny.npz`` (64 x 64 x 31 uint16, 400-700 nm) and ``pansharpening/wv2_tiny.npz``
    (PAN 320 x 320, MS 80 x 80 x 8, 11-bit)."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    (root / "hsi").mkdir()
    cube = smooth_field(rng, CUBE_SIZE, BANDS, 60000).astype(np.uint16)
    np.savez(root / "hsi" / "cave_tiny.npz", cube=cube, wavelengths_nm=np.linspace(400, 700, BANDS))
    (root / "pansharpening").mkdir()
    ms = smooth_field(rng, WV2_MS, WV2_BANDS, 2000).astype(np.uint16)
    pan_small = ms.mean(axis=-1)
    pan = np.kron(pan_small, np.ones((4, 4))) + rng.normal(0, 5, (4 * WV2_MS, 4 * WV2_MS))
    np.savez(root / "pansharpening" / "wv2_tiny.npz", pan=pan.astype(np.uint16), ms=ms)
    return root


@pytest.fixture(scope="module")
def bench_run(data_root, tmp_path_factory):
    """One quick CLI run writing JSON, Markdown (into a hand-written file) and figures."""
    out = tmp_path_factory.mktemp("out")
    (out / "benchmarks.md").write_text("# Benchmarks\n\nHand-written intro.\n")
    args = ["bench", "quality", "--quick", "--data-root", str(data_root), "--datasets", "cave,wv2",
            "--methods", "exp,gsa", "--out-json", str(out / "q.json"),
            "--markdown", str(out / "benchmarks.md"), "--figures", str(out / "figures")]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return out, json.loads((out / "q.json").read_text()), args


def test_classical_methods_are_those_without_trainable_parameters():
    methods = classical_methods()
    assert {"exp", "gsa", "mtf-glp-hpm", "glp-hs"} <= set(methods)
    assert not {"liif", "ss-inr", "tiny-cnn"} & set(methods)
    assert is_classical("brovey") and not is_classical("qis")


def test_build_with_sensor_passes_the_sensor_only_to_methods_that_take_one():
    assert build_with_sensor("mtf-glp-hpm", "wv2").sensor == "wv2"
    assert build_with_sensor("mtf-glp-hpm", None).sensor == create_model("mtf-glp-hpm").sensor
    bands = {"lr_bands": 4, "guide_bands": 1}
    assert type(build_with_sensor("qis", "wv2", **bands)) is type(create_model("qis", **bands))  # no sensor


def test_result_has_one_row_per_scene_method_and_ratio(bench_run):
    _, result, _ = bench_run
    assert result["convention"] == "reference" and result["ratios"] == [4.0]
    reduced = {(r["dataset"], r["scene"], r["method"], r["ratio"]) for r in result["reduced"]}
    assert reduced == {
        (d, s, m, 4.0) for d, s in (("cave", "cave_tiny"), ("wv2", "wv2_tiny")) for m in ("exp", "gsa")
    }
    full = {(r["dataset"], r["method"], r["ratio"]) for r in result["full"]}
    assert full == {("wv2", "exp", 4.0), ("wv2", "gsa", 4.0)}
    for row in result["reduced"]:
        assert (
            set(result["reduced_metrics"]) <= set(row)
            and np.isfinite([row[m] for m in result["reduced_metrics"]]).all()
        )
    for row in result["full"]:
        assert set(result["full_metrics"]) <= set(row)
    assert result["machine"]["fusion"] and result["machine"]["cpu"]


def test_reduced_numbers_equal_direct_metric_calls(bench_run, data_root):
    _, result, _ = bench_run
    row = next(r for r in result["reduced"] if (r["dataset"], r["method"]) == ("cave", "gsa"))
    with np.load(data_root / "hsi" / "cave_tiny.npz") as data:
        cube = torch.from_numpy(data["cube"].astype(np.float64)).permute(2, 0, 1)[None]
        wavelengths = data["wavelengths_nm"]
    lr, guide, gt = simulate(cube, "nikon_d700", 4.0, guide="msi", wavelengths_nm=wavelengths, phase="centre")
    fused = create_model("gsa", sensor="nikon_d700")(lr, guide).double()
    f, g = cut_border(fused, 21), cut_border(gt, 21)
    expected = {
        "PSNR": psnr(f, g), "SSIM": ssim(f, g).mean(), "SAM": sam(f, g), "ERGAS": ergas(f, g, 4.0),
        "Q2n": q2n(f, g, 32, convention="reference"), "SCC": scc(f, g),
    }  # fmt: skip
    for name, value in expected.items():
        assert row[name] == pytest.approx(float(value), rel=1e-9, abs=1e-12), name


def test_full_resolution_numbers_equal_direct_metric_calls(bench_run, data_root):
    _, result, _ = bench_run
    row = next(r for r in result["full"] if r["method"] == "exp")
    with np.load(data_root / "pansharpening" / "wv2_tiny.npz") as data:
        pan = torch.from_numpy(data["pan"].astype(np.float64))[None, None]
        ms = torch.from_numpy(data["ms"].astype(np.float64)).permute(2, 0, 1)[None]
    fused = create_model("exp", sensor="worldview2")(ms, pan).double()
    ms_up = interpolated_ms(ms, tuple(pan.shape[-2:]))
    dl, ds = d_lambda(fused, ms_up), d_s(fused, ms_up, pan, 4.0)
    assert row["D_lambda"] == pytest.approx(float(dl), rel=1e-9, abs=1e-12)
    assert row["D_S"] == pytest.approx(float(ds), rel=1e-9, abs=1e-12)
    assert row["QNR"] == pytest.approx(float((1 - dl) * (1 - ds)), rel=1e-9)
    assert row["HQNR"] == pytest.approx(float(hqnr(fused, ms_up, pan, 4.0, "worldview2")), rel=1e-9)


def test_markdown_blocks_hold_the_means_and_keep_the_hand_written_text(bench_run):
    out, result, _ = bench_run
    text = (out / "benchmarks.md").read_text()
    assert text.startswith("# Benchmarks\n\nHand-written intro.\n")
    for key in ("quality-reduced", "quality-full"):
        start, end = markers(key)
        assert text.count(start) == 1 and text.index(start) < text.index(end)
    row = next(r for r in result["reduced"] if (r["dataset"], r["method"]) == ("wv2", "gsa"))
    assert f"{row['PSNR']:.2f}" in text and f"{row['Q2n']:.4f}" in text
    assert "metric convention: reference" in text and result["machine"]["cpu"] in text
    assert "bench quality --data-root " in text and "--methods exp,gsa" in text and "--quick`" in text


def test_a_data_root_without_data_is_a_clear_error(tmp_path):
    out = CliRunner().invoke(cli, ["bench", "quality", "--data-root", str(tmp_path), "--datasets", "cave"])
    assert out.exit_code == 1 and "no data set found (give --data-root or set FUSION_DATA)" in out.output


def test_rerun_replaces_the_blocks_in_place(bench_run):
    out, _, args = bench_run
    before = (out / "benchmarks.md").read_text()
    assert CliRunner().invoke(cli, args).exit_code == 0
    after = (out / "benchmarks.md").read_text()
    assert after.count(markers("quality-reduced")[0]) == 1
    assert before.split(markers("quality-reduced")[0])[0] == after.split(markers("quality-reduced")[0])[0]


def test_figures_are_written_per_kind_and_data_set(bench_run):
    out, _, _ = bench_run
    pngs = sorted((out / "figures").glob("*.png"))
    assert sorted(p.name for p in pngs) == sorted(f"{k}_{d}.png" for k in KINDS for d in ("cave", "wv2"))
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000


def test_a_method_that_cannot_take_the_pair_is_skipped_with_its_reason(data_root):
    from fusion.bench.quality import run_quality

    result, _ = run_quality([Classical("glp-hs")], data_root, ["wv2"], [4.0], full_resolution=False)
    assert result["reduced"] == []
    assert result["skipped"][0]["method"] == "glp-hs" and "msi guide" in result["skipped"][0]["reason"]


def test_scenes_are_found_under_the_root_only_for_chosen_data_sets(data_root, monkeypatch):
    assert [s.dataset for s in reduced_scenes(data_root)] == ["cave", "wv2"]
    assert [s.dataset for s in reduced_scenes(data_root, ["wv2"])] == ["wv2"]
    monkeypatch.setenv("FUSION_DATA", str(data_root))
    assert default_data_root() == data_root


def test_figures_without_matplotlib_fail_with_a_clear_message(monkeypatch):
    import sys

    from fusion.bench.figures import pyplot
    from fusion.errors import InputError

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(InputError, match=r"pip install 'fusion\[bench\]'"):
        pyplot()
