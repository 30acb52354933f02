"""`fusion bench speed` on CPU at tiny sizes: throughput arithmetic, query stage, ceilings, targets."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from fusion.bench import speed
from fusion.bench.markdown import markers
from fusion.cli import cli

pytestmark = pytest.mark.usefixtures("one_thread")
CPU = torch.device("cpu")


def test_time_call_is_the_median_of_the_timed_calls(monkeypatch):
    ticks = iter([0.0, 1.0, 10.0, 13.0, 20.0, 22.0])  # durations 1, 3, 2 after one untimed warm-up call
    monkeypatch.setattr(speed.time, "perf_counter", lambda: next(ticks))
    calls = []
    assert speed.time_call(lambda: calls.append(1), CPU, repeats=3, warmup=1) == 2.0
    assert len(calls) == 4


def test_fuse_throughput_is_core_voxels_over_the_timed_seconds(monkeypatch):
    monkeypatch.setattr(speed, "time_call", lambda fn, device, repeats, warmup: (fn(), 0.25)[1])
    row = speed.fuse_throughput("exp", 4.0, 3, 16, CPU, repeats=1, warmup=0, flops=False)
    assert row["output_voxels"] == 16 * 16 * 3
    assert row["voxels_per_s"] == 16 * 16 * 3 / 0.25
    assert row["window"] >= 16 + 2 * row["halo"] and row["window"] % 4 == 0


def test_fuse_throughput_measures_a_positive_consistent_rate():
    row = speed.fuse_throughput("mtf-glp-hpm", 3.3, 4, 16, CPU, repeats=1, warmup=0)
    assert row["voxels_per_s"] > 0
    assert row["voxels_per_s"] == pytest.approx(row["output_voxels"] / row["seconds"])
    assert row["peak_gpu_mb"] is None
    assert row["tflops"] is None or row["tflops"] >= 0


def test_query_stage_counts_every_queried_coordinate():
    row = speed.query_stage("qis", 4.0, 3, 8, CPU, repeats=1, warmup=0)
    model = speed.build("qis", 3)
    _, guide, _ = speed.tile_inputs(model, 4.0, 3, 8, CPU)
    assert row["queries"] == guide.shape[-2] * guide.shape[-1]
    assert row["decoder_widths"] == speed.decoder_widths(model) and row["decoder_widths"][-1] >= 3
    assert row["query_to_mlp"] == pytest.approx(row["query_s"] / row["bare_mlp_s"])
    assert row["bare_mlp_tflops"] == pytest.approx(
        row["queries"] * speed.mlp_flops_per_eval(row["decoder_widths"]) / row["bare_mlp_s"] / 1e12
    )


def test_mlp_flops_count_two_per_weight():
    assert speed.mlp_flops_per_eval([580, 256, 31]) == 2 * (580 * 256 + 256 * 31)


def test_training_throughput_on_the_synthetic_cube():
    row = speed.synthetic_training("tiny-cnn", CPU, batch=2, patch=16, steps=2, warmup=0)
    assert row["batch_size"] == 2 and row["patch"] == 16 and row["samples_per_s"] > 0
    assert row["samples_per_s"] == pytest.approx(2 / (row["step_ms_median"] / 1000))


def fake_result(gpu: str | None) -> dict:
    """A result with round numbers: half the GEMM and copy ceilings, LIIF decoder at 225 M queries/s."""
    return {
        "machine": {"gpu": gpu},
        "fuse": [{"model": "m", "ratio": 4.0, "bands": 103, "voxels_per_s": 2e9, "tflops": 402.0,
                  "output_bytes_per_s": 2.1e12}],
        "query": [{"model": "m", "ratio": 4.0, "bands": 103, "decoder_widths": [580, 256, 256, 256, 256, 103],
                   "bare_mlp_queries_per_s": 225e6, "bare_mlp_tflops": 80.4, "query_to_mlp": 3.6}],
        "degradation": {"input_bytes": 4.2e9, "median_ms": 1.0, "input_shape": [16, 128, 256, 256]},
        "window_attention": {"seconds": 2.2e-3},
        "streaming": {"pan": [20000, 20000], "peak_rss_mb": 1024.0},
    }  # fmt: skip


def test_ceiling_ratios_on_an_h200():
    result = speed.add_ceilings(fake_result("NVIDIA H200"))
    assert result["ceilings"]["values"] == speed.CEILINGS
    assert result["fuse"][0]["tflops_to_gemm"] == pytest.approx(0.5)
    assert result["fuse"][0]["write_to_copy_bandwidth"] == pytest.approx(0.5)
    assert result["query"][0]["bare_mlp_tflops_to_gemm"] == pytest.approx(0.1)
    assert result["query"][0]["bare_mlp_to_liif_ceiling"] == pytest.approx([225 / 200, 225 / 250])
    assert result["degradation"]["input_read_to_copy_bandwidth"] == pytest.approx(1.0)
    assert result["window_attention"]["ceiling_to_time"] == pytest.approx(0.5)


@pytest.mark.parametrize("gpu", ["NVIDIA H100 80GB HBM3", None])
def test_no_ceiling_ratios_elsewhere(gpu):
    result = speed.add_ceilings(fake_result(gpu))
    assert result["ceilings"]["values"] is None
    assert (
        result["fuse"][0]["tflops_to_gemm"] is None and result["query"][0]["bare_mlp_to_liif_ceiling"] is None
    )
    assert result["window_attention"]["ceiling_to_time"] is None


def test_targets_say_met_or_not_and_how_far():
    targets = {
        t["target"].split()[0] + t["target"].split()[1]: t
        for t in speed.check_targets(fake_result(None), "m")
    }
    fuse, query = targets["mfuses"], targets["mquery"]
    assert (fuse["met"], fuse["how_far"]) == (True, 2.0)
    assert (query["met"], query["how_far"]) == (False, pytest.approx(1.2))
    stream, degradation = targets["streaming20000^2"], targets["RandomDegradationof"]
    assert (stream["met"], stream["how_far"]) == (True, 0.5)
    assert (degradation["met"], degradation["how_far"]) == (True, 0.05)


def test_speed_command_writes_json_and_its_markdown_block(tmp_path):
    md = tmp_path / "benchmarks.md"
    md.write_text("# Benchmarks\n\nhand-written\n")
    args = ["bench", "speed", "--models", "exp", "--ratios", "4", "--bands", "3", "--size", "16",
            "--repeats", "1", "--warmup", "0", "--default-model", "exp",
            "--skip", "training,degradation,streaming", "--out-json", str(tmp_path / "s.json"),
            "--markdown", str(md)]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    out = json.loads((tmp_path / "s.json").read_text())
    assert [(r["model"], r["ratio"], r["bands"]) for r in out["fuse"]] == [("exp", 4.0, 3)]
    assert out["fuse"][0]["voxels_per_s"] > 0 and out["query"] == [] and "degradation" not in out
    text = md.read_text()
    assert text.startswith("# Benchmarks\n\nhand-written\n") and markers("speed-cpu")[0] in text
    assert "n/a" in text and "exp fuses >= 1e9 output voxels/s" in text


def test_speed_command_refuses_unknown_parts_and_models():
    assert "--skip nothing" in CliRunner().invoke(cli, ["bench", "speed", "--skip", "nothing"]).output
    assert "not registered" in CliRunner().invoke(cli, ["bench", "speed", "--models", "nope"]).output


def test_the_streaming_launcher_reports_its_childs_peak_not_ours():
    import subprocess
    import sys

    import numpy as np

    from fusion.bench.streaming import LAUNCHER

    ballast = np.ones(300 * 2**20 // 8)  # 300 MB resident here; a direct child's ru_maxrss would include it
    child = [sys.executable, "-c", "x = bytearray(60 * 2**20)"]  # the child's own peak: about 70 MB
    out = subprocess.run([sys.executable, "-c", LAUNCHER, *child], check=True, capture_output=True, text=True)
    peak_mb = int(out.stdout.split()[-1]) / 1024
    assert 60 < peak_mb < 200 and ballast[-1] == 1


class FakeCompile:
    """``torch.compile`` stand-in: returns each function or module unchanged but counting its calls, and
    records what it was given and with which options."""

    def __init__(self):
        self.compiled, self.options, self.calls = [], [], []

    def __call__(self, fn, **options):
        self.compiled.append(fn)
        self.options.append(options)
        index = len(self.calls)
        self.calls.append(0)

        def count(*args, **kwargs):
            self.calls[index] += 1

        if isinstance(fn, torch.nn.Module):
            fn.register_forward_pre_hook(count)
            return fn

        def counted(*args, **kwargs):
            count()
            return fn(*args, **kwargs)

        return counted


@pytest.fixture
def fake_compile(monkeypatch):
    fake = FakeCompile()
    monkeypatch.setattr(torch, "compile", fake)
    return fake


def test_compiled_query_stage_compiles_the_query_and_the_bare_mlp_and_warms_both_up(fake_compile):
    eager = speed.query_stage("qis", 4.0, 3, 8, CPU, repeats=1, warmup=0)
    row = speed.query_stage("qis", 4.0, 3, 8, CPU, repeats=2, warmup=0, compile=True)
    (query, mlp) = fake_compile.compiled
    assert query.__name__ == "query" and type(query.__self__).__name__ == "QIS"
    assert [mlp.in_dim, *mlp.hidden, mlp.out_dim] == row["decoder_widths"] == eager["decoder_widths"]
    assert fake_compile.options == [speed.COMPILE_OPTIONS] * 2 and speed.COMPILE_OPTIONS["dynamic"] is False
    chunks = -(-row["queries"] // speed.build("qis", 3).default_chunk)
    assert fake_compile.calls == [(1 + 2) * chunks, 1 + 2]  # one warm-up call forced although warmup=0
    assert (row["compile"], eager["compile"], row["graph_breaks"], eager["graph_breaks"]) == (
        True,
        False,
        0,
        None,
    )
    assert row["queries"] == eager["queries"]
    assert 0 < row["query_s"] < float("inf") and 0 < row["bare_mlp_s"] < float("inf")
    assert row["query_to_mlp"] == pytest.approx(row["query_s"] / row["bare_mlp_s"])


def test_compiled_fuse_throughput_compiles_inr_queries_only(fake_compile):
    inr = speed.fuse_throughput("qis", 4.0, 3, 8, CPU, repeats=1, warmup=0, flops=False, compile=True)
    classical = speed.fuse_throughput("exp", 4.0, 3, 8, CPU, repeats=1, warmup=0, flops=False, compile=True)
    assert (inr["compile"], inr["graph_breaks"]) == (True, 0)
    assert (classical["compile"], classical["graph_breaks"]) == (False, None)
    assert len(fake_compile.compiled) == 1 and fake_compile.calls[0] == 2  # warm-up + timed forward
    assert inr["voxels_per_s"] == pytest.approx(inr["output_voxels"] / inr["seconds"])


def test_timing_inside_compiled_queries_restores_the_compiled_query(fake_compile):
    model = speed.build("ss-inr", 3)
    with speed.compiled_queries(model) as modules:
        compiled = [m.query for m in modules]
        assert [type(m).__name__ for m in modules] == ["SSINR", "LIIF"]
        with speed.timed_queries(model, CPU, {"seconds": 0.0, "queries": 0}):
            assert all(m.query is not q for m, q in zip(modules, compiled, strict=True))
        assert all(m.query is q for m, q in zip(modules, compiled, strict=True))
    assert all("query" not in m.__dict__ for m in modules)


def test_a_model_that_fails_to_compile_becomes_an_error_row(monkeypatch):
    def failing(fn, **options):
        def compiled(*args, **kwargs):
            raise RuntimeError("data-dependent control flow")

        return compiled

    monkeypatch.setattr(torch, "compile", failing)
    result = speed.run_speed(["qis", "exp"], CPU, ratios=(4.0,), bands=(3,), tile=8, dtype="fp32", repeats=1,
                             warmup=0, query=True, attention=False, compile=True)  # fmt: skip
    qis_fuse, exp_fuse = result["fuse"]
    assert {k: qis_fuse[k] for k in ("model", "ratio", "bands", "compile", "error")} == {
        "model": "qis", "ratio": 4.0, "bands": 3, "compile": True,
        "error": "RuntimeError: data-dependent control flow",
    }  # fmt: skip
    assert "voxels_per_s" not in qis_fuse
    assert result["query"][0]["error"] == qis_fuse["error"] and result["query"][0]["compile"] is True
    assert exp_fuse["compile"] is False and exp_fuse["voxels_per_s"] > 0 and result["compile"] is True


def test_compile_sets_the_trainers_compile(fake_compile):
    result = speed.run_speed([], CPU, train_models=["tiny-cnn"], query=False, attention=False, compile=True,
                             train={"batch": 2, "patch": 16, "steps": 1, "warmup": 1})  # fmt: skip
    (row,) = result["training"]
    assert row["compile"] is True and row["samples_per_s"] > 0
    (model,) = fake_compile.compiled
    assert isinstance(model, torch.nn.Module) and fake_compile.calls == [2]  # warm-up + timed step


def test_speed_command_compile_writes_its_own_block(tmp_path, fake_compile):
    md = tmp_path / "benchmarks.md"
    md.write_text(f"# Benchmarks\n\n{markers('speed-cpu')[0]}\neager numbers\n{markers('speed-cpu')[1]}\n")
    args = ["bench", "speed", "--models", "qis", "--ratios", "4", "--bands", "3", "--size", "8",
            "--repeats", "1", "--warmup", "0", "--default-model", "qis", "--compile",
            "--skip", "training,degradation,streaming", "--out-json", str(tmp_path / "s.json"),
            "--markdown", str(md)]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    out = json.loads((tmp_path / "s.json").read_text())
    assert out["compile"] is True and "--compile" in out["command"].split()
    assert [r["compile"] for r in out["fuse"] + out["query"]] == [True, True]
    assert out["query"][0]["query_to_mlp"] == pytest.approx(
        out["query"][0]["query_s"] / out["query"][0]["bare_mlp_s"]
    )
    text = md.read_text()
    assert "eager numbers" in text and markers("speed-cpu-compiled")[0] in text
    assert len(fake_compile.compiled) == 2 + 1  # fuse: qis query; query stage: qis query and bare MLP


@pytest.mark.slow
def test_compiled_query_stage_with_inductor_matches_eager():
    """Real ``torch.compile`` (inductor, C++ on CPU: about 20 s): the compiled queries give the eager
    output and the timings are finite."""
    model = speed.build("qis", 3)
    lr, guide, _ = speed.tile_inputs(model, 4.0, 3, 8, CPU)
    with torch.inference_mode():
        eager = model(lr, guide)
        with speed.compiled_queries(model) as modules:
            compiled = model(lr, guide)
    assert len(modules) == 1 and speed.graph_breaks() == 0
    torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-5)
    row = speed.query_stage("qis", 4.0, 3, 8, CPU, repeats=1, warmup=0, compile=True)
    assert row["compile"] is True and row["graph_breaks"] == 0
    assert 0 < row["query_s"] < float("inf") and 0 < row["bare_mlp_s"] < float("inf")
    assert row["queries"] == guide.shape[-2] * guide.shape[-1]
