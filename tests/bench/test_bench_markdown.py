"""Generated Markdown blocks: replacement between markers, tables, best values, reference numbers."""

from __future__ import annotations

import pytest

from fusion.bench.markdown import (
    best_cells,
    markers,
    reference_table,
    replace_block,
    speed_block,
    table,
    update_blocks,
)
from fusion.errors import InputError

HAND_WRITTEN = "# Benchmarks\n\nIntro written by hand.\n\n## Later section\n\nMore hand-written text.\n"


def test_a_new_block_is_appended_and_the_text_before_it_kept():
    out = replace_block(HAND_WRITTEN, "quality-reduced", "| a |\n| --- |\n| 1 |")
    start, end = markers("quality-reduced")
    assert out.startswith(HAND_WRITTEN.rstrip())
    assert out.index(start) < out.index("| 1 |") < out.index(end)
    assert out.endswith(end + "\n")


def test_replacing_a_block_keeps_the_text_around_it_and_is_idempotent():
    start, end = markers("speed")
    text = f"before\n\n{start}\nold table\n{end}\n\nafter\n"
    once = replace_block(text, "speed", "new table")
    assert once == f"before\n\n{start}\nnew table\n{end}\n\nafter\n"
    assert replace_block(once, "speed", "new table") == once
    other = replace_block(once, "quality-full", "other")
    assert replace_block(other, "speed", "newer") == other.replace("new table", "newer")


def test_update_blocks_writes_only_its_blocks(tmp_path):
    path = tmp_path / "benchmarks.md"
    path.write_text(HAND_WRITTEN)
    update_blocks(path, {"a": "first A", "b": "first B"})
    update_blocks(path, {"a": "second A"})
    text = path.read_text()
    assert text.startswith(HAND_WRITTEN.rstrip())
    assert "second A" in text and "first A" not in text and "first B" in text
    assert text.count(markers("a")[0]) == 1 and text.count(markers("b")[1]) == 1


@pytest.mark.parametrize(
    "text",
    [
        "<!-- bench:x:start -->\nno end",
        "<!-- bench:x:end -->\n<!-- bench:x:start -->",
        "<!-- bench:x:start -->\n<!-- bench:x:end -->\n<!-- bench:x:start -->\n<!-- bench:x:end -->",
    ],
)
def test_broken_markers_are_refused(text):
    with pytest.raises(InputError, match="unpaired, out of order or repeated"):
        replace_block(text, "x", "content")


def test_table_formats_columns_and_bolds_named_cells():
    rows = [{"ratio": 4.0, "PSNR": 30.123, "SAM": 2.5, "Q2n": 0.91234}, {"ratio": 3.3, "PSNR": None}]
    out = table(["ratio", "PSNR", "SAM", "Q2n"], rows, bold={0: {"PSNR"}})
    lines = out.splitlines()
    assert lines[0] == "| ratio | PSNR | SAM | Q2n |"
    assert lines[2] == "| 4 | **30.12** | 2.500 | 0.9123 |"
    assert lines[3] == "| 3.3 | - | - | - |"


def test_best_cells_follow_each_metrics_direction():
    rows = [
        {"ratio": 4, "PSNR": 30.0, "SAM": 3.0, "QNR": 0.8},
        {"ratio": 4, "PSNR": 32.0, "SAM": 4.0, "QNR": 0.9},
        {"ratio": 2, "PSNR": 20.0, "SAM": 1.0, "QNR": 0.1},
        {"ratio": 2, "PSNR": 20.0, "SAM": 2.0, "QNR": 0.2},
    ]
    bold = best_cells(rows, "ratio", ["PSNR", "SAM", "QNR"])
    assert bold == {0: {"SAM"}, 1: {"PSNR", "QNR"}, 2: {"PSNR", "SAM"}, 3: {"PSNR", "QNR"}}


def test_reference_numbers_become_one_row_per_leaf_with_a_caption():
    numbers = {
        "source": "issue 9",
        "ratio": 4.0,
        "methods": {"a": {"psnr": 31.1}, "b": {"psnr": 39.5, "sam": 3.5}},
    }
    out = reference_table(numbers)
    assert out.splitlines()[0] == "source: issue 9; ratio: 4.0."
    assert "| methods / a | 31.10 | - |" in out
    assert "| methods / b | 39.50 | 3.500 |" in out


def fake_protocol_result(**kwargs) -> dict:
    return {
        "protocol": "p-pan", "convention": "reference", "ratios": [4.0], "rows": [],
        "mean": [{"method": "gsa", "ratio": 4.0, "sam": 3.25, "ergas": 2.5, "q2n": 0.9, "scenes": 1}],
        "meta": {"called_with": sorted(kwargs)},
    }  # fmt: skip


def test_protocol_runs_render_next_to_their_reference_numbers(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from fusion.cli import cli
    from fusion.protocols import p_pan

    monkeypatch.setattr(p_pan, "run", lambda **kwargs: fake_protocol_result(**kwargs))
    monkeypatch.setattr(p_pan, "REFERENCE_NUMBERS", {"source": "s", "ikonos": {"sfim": {"sam": 3.381}}})
    md = tmp_path / "b.md"
    out = CliRunner().invoke(cli, ["bench", "quality", "--protocol", "p-pan", "--markdown", str(md)])
    assert out.exit_code == 0, out.output
    text = md.read_text()
    assert markers("protocol-p-pan")[0] in text and "| gsa | 4 |" in text
    assert (
        "source: s." in text
        and "| ikonos / sfim | 3.381 |" in text
        and "metric convention: reference" in text
    )


def test_protocol_fit_options_reach_a_fitting_protocol_and_are_refused_by_others(monkeypatch):
    from click.testing import CliRunner

    import fusion.protocols.p_cave as p_cave
    from fusion.cli import cli

    calls = []

    def fitting(data_root, methods=None, checkpoints=(), ratios=None, device=None, progress=False,
                fit=None, fit_steps=None):  # fmt: skip
        calls.append((fit, fit_steps))
        return {"protocol": "p-cave", "ratios": [4.0], "rows": [], "mean": [], "meta": {}}

    def not_fitting(data_root, methods=None, checkpoints=(), ratios=None, device=None, progress=False):
        raise AssertionError("must be refused before running")

    args = ["bench", "quality", "--protocol", "p-cave", "--fit-model", "liif", "--fit-steps", "7"]
    monkeypatch.setattr(p_cave, "run", not_fitting)
    out = CliRunner().invoke(cli, args)
    assert out.exit_code == 1 and "protocol p-cave takes no fit, fit_steps" in out.output
    monkeypatch.setattr(p_cave, "run", fitting)
    CliRunner().invoke(cli, args)
    assert calls == [(["liif"], 7)]


def test_back_projection_reaches_p_cave_and_is_refused_elsewhere(monkeypatch):
    from click.testing import CliRunner

    import fusion.protocols.p_cave as p_cave
    from fusion.cli import cli

    calls = []

    def projecting(data_root, methods=None, checkpoints=(), ratios=None, device=None, progress=False,
                   back_projection=None):  # fmt: skip
        calls.append(back_projection)
        return {"protocol": "p-cave", "ratios": [4.0], "rows": [], "mean": [], "meta": {}}

    monkeypatch.setattr(p_cave, "run", projecting)
    CliRunner().invoke(cli, ["bench", "quality", "--protocol", "p-cave", "--back-projection", "5"])
    assert calls == [5]  # (the stub's empty result is not tabulated)
    out = CliRunner().invoke(cli, ["bench", "quality", "--back-projection", "5"])
    assert out.exit_code == 1 and "only with --protocol p-cave" in out.output
    out = CliRunner().invoke(cli, ["bench", "quality", "--protocol", "p-pan", "--back-projection", "5"])
    assert out.exit_code == 1 and "takes no back_projection" in out.output


def speed_result(compile: bool) -> dict:
    """A hand-made speed result with the keys of a real one (docs/results/h200_bench_speed_compiled.json)."""
    machine = {"gpu": "NVIDIA H200", "fusion": "0.1.0", "torch": "2.11", "date": "2026-11-21"}
    fuse = [
        {"model": "liif", "ratio": 4.0, "bands": 103, "dtype": "bf16", "compile": compile, "graph_breaks": 0},
        {"model": "hyper-inr", "ratio": 4.0, "bands": 103, "dtype": "bf16", "compile": compile,
         "graph_breaks": 20 if compile else None},
        {"model": "mtf-glp-hpm", "ratio": 4.0, "bands": 103, "dtype": "bf16", "compile": False,
         "graph_breaks": None},
        {"model": "qis", "ratio": 4.0, "bands": 103, "compile": compile, "error": "RuntimeError: no"},
    ]  # fmt: skip
    query = [{"model": "naive-pinr", "ratio": 4.0, "bands": 103, "compile": compile, "graph_breaks": 1}]
    training = [{"model": "tiny-cnn", "batch_size": 2, "compile": compile}]
    ceilings = {"values": {}, "source": None}
    result = {"machine": machine, "compile": compile, "ceilings": ceilings, "command": "fusion bench speed"}
    return {**result, "fuse": fuse, "query": query, "training": training, "targets": []}


def table_cells(block: str, title: str) -> list[dict[str, str]]:
    """The rows of the table under ``**title...**`` in ``block``, as ``{header: cell}``."""
    lines = block.split(f"**{title}")[1].split("\n\n")[1].splitlines()
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    return [
        dict(zip(head, (c.strip() for c in line.strip("|").split("|")), strict=True)) for line in lines[2:]
    ]


def test_a_compiled_speed_run_says_per_row_whether_it_compiled_and_its_graph_breaks():
    block = speed_block(speed_result(compile=True))
    fuse = table_cells(block, "Fusion of one tile")
    assert [(r["model"], r["compiled"]) for r in fuse] == [
        ("liif", "yes (0 graph breaks)"), ("hyper-inr", "yes (20 graph breaks)"), ("mtf-glp-hpm", "no")
    ]  # fmt: skip
    assert fuse[0]["ratio"] == "4" and fuse[0]["dtype"] == "bf16"
    (query,) = table_cells(block, "Query stage")
    assert (query["model"], query["compiled"]) == ("naive-pinr", "yes (1 graph break)")
    (training,) = table_cells(block, "Training")
    assert (training["model"], training["compiled"]) == ("tiny-cnn", "yes")
    assert "Not measured: qis RuntimeError: no" in block


def test_an_eager_speed_run_has_no_compiled_column():
    block = speed_block(speed_result(compile=False))
    for title in ("Fusion of one tile", "Query stage", "Training"):
        assert all("compiled" not in row for row in table_cells(block, title))
    fuse = table_cells(block, "Fusion of one tile")
    assert [r["model"] for r in fuse] == ["liif", "hyper-inr", "mtf-glp-hpm"]
