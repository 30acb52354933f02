"""Markdown tables of benchmark results, written between generated markers of a hand-written file.

A block is everything between ``<!-- bench:KEY:start -->`` and ``<!-- bench:KEY:end -->``. Rerunning a
benchmark replaces its own blocks and nothing else; a block the file does not have yet is appended at
its end. :func:`update_blocks` does this for a file, atomically.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from fusion.atomic import atomic_output
from fusion.bench.machine import heading
from fusion.errors import InputError
from fusion.metrics.report import IDEAL

DIGITS = {"psnr": 2, "sam": 3, "ergas": 3, "fuse_s": 2}
"""Decimals per column, by lower-case name (4 for the others)."""
LABELS = {
    "D_lambda": "D_λ", "fuse_s": "fuse s", "D_lambda_K": "D_λ^K", "voxels_per_s": "voxels/s",
    "peak_gpu_mb": "peak GPU MB", "tflops": "TFLOP/s", "tflops_to_gemm": "TFLOP/s ÷ GEMM ceiling",
    "write_to_copy_bandwidth": "output write ÷ copy ceiling", "decoder_widths": "decoder widths",
    "queries_per_s": "query stage queries/s", "bare_mlp_queries_per_s": "bare MLP queries/s",
    "query_to_mlp": "query ÷ bare MLP time", "bare_mlp_tflops_to_gemm": "bare MLP TFLOP/s ÷ GEMM ceiling",
    "bare_mlp_to_liif_ceiling": "bare MLP ÷ LIIF-MLP ceiling (200 / 250 M/s)", "batch_size": "batch",
    "amp_bf16": "bf16", "samples_per_s": "samples/s", "step_ms_median": "step ms",
    "peak_memory_gb": "peak GPU GB", "input_shape": "input", "median_ms": "median ms", "p90_ms": "p90 ms",
    "input_read_to_copy_bandwidth": "input read ÷ copy ceiling", "ceiling_to_time": "ceiling ÷ time",
    "seconds_fuse": "fuse s", "peak_rss_mb": "peak RSS MB", "within_target": "< 2 GB",
    "how_far": "value ÷ goal",
}  # fmt: skip


def markers(key: str) -> tuple[str, str]:
    """The start and end comments of block ``key``."""
    if not re.fullmatch(r"[\w.:-]+", key):
        raise InputError(f"block key {key!r}: use letters, digits, '.', ':', '-' or '_'")
    return f"<!-- bench:{key}:start -->", f"<!-- bench:{key}:end -->"


def replace_block(text: str, key: str, content: str) -> str:
    """``text`` with block ``key`` holding ``content`` (appended at the end when absent)."""
    start, end = markers(key)
    body = f"{start}\n{content.strip()}\n{end}"
    first, last = text.find(start), text.find(end)
    if first < 0 and last < 0:
        return f"{text.rstrip()}\n\n{body}\n" if text.strip() else f"{body}\n"
    if first < 0 or last < first or text.count(start) > 1 or text.count(end) > 1:
        raise InputError(f"markers of block {key!r} are unpaired, out of order or repeated")
    return text[:first] + body + text[last + len(end) :]


@contextlib.contextmanager
def shared_output(path: str | os.PathLike) -> Iterator[Path]:
    """:func:`fusion.atomic.atomic_output` (replacing ``path``) whose file gets the umask's permissions,
    not the private ones of a temporary file: tables and figures are meant to be read by others."""
    umask = os.umask(0)
    os.umask(umask)
    with atomic_output(path, overwrite=True) as tmp:
        yield tmp
        tmp.chmod(0o666 & ~umask)


def update_blocks(path: str | os.PathLike, blocks: Mapping[str, str]) -> Path:
    """Replace (or append) each ``{key: content}`` block in the Markdown file ``path``; create it if new."""
    path = Path(path)
    text = path.read_text() if path.exists() else ""
    for key, content in blocks.items():
        text = replace_block(text, key, content)
    with shared_output(path) as tmp:
        tmp.write_text(text)
    return path


def fmt(value, column: str) -> str:
    """A table cell: floats with the column's decimals, ``-`` for a missing value."""
    if value is None:
        return "-"
    if column == "ratio":
        return f"{value:g}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and column.lower() not in DIGITS and value and not 1e-3 <= abs(value) < 1e4:
        return f"{value:.3g}"
    if isinstance(value, float):
        return f"{value:.{DIGITS.get(column.lower(), 4)}f}"
    if isinstance(value, (list, tuple)):
        return " / ".join(fmt(v, column) for v in value)
    return str(value)


def table(columns: Sequence[str], rows: Sequence[Mapping], bold: Mapping[int, set[str]] | None = None) -> str:
    """A Markdown table of ``rows`` (dicts) over ``columns``; ``bold[i]`` names the cells of row ``i`` to
    set in bold."""
    bold = bold or {}
    head = "| " + " | ".join(LABELS.get(c, c) for c in columns) + " |"
    rule = "| " + " | ".join("---" for _ in columns) + " |"
    lines = [head, rule]
    for i, row in enumerate(rows):
        cells = [fmt(row.get(c), c) for c in columns]
        cells = [
            f"**{cell}**" if c in bold.get(i, ()) else cell for c, cell in zip(columns, cells, strict=True)
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def best_cells(rows: Sequence[Mapping], group: str, metrics: Sequence[str]) -> dict[int, set[str]]:
    """For each value of ``rows[i][group]``, the row indices holding the best value of each metric
    (highest where the ideal value is positive, lowest where it is 0)."""
    bold: dict[int, set[str]] = {}
    for key in dict.fromkeys(row[group] for row in rows):
        members = [i for i, row in enumerate(rows) if row[group] == key]
        for metric in metrics:
            present = [i for i in members if rows[i].get(metric) is not None]
            if len(present) < 2:
                continue
            sign = 1 if IDEAL.get(metric, 1) > 0 else -1
            best = max(sign * rows[i][metric] for i in present)
            for i in present:
                if sign * rows[i][metric] == best:
                    bold.setdefault(i, set()).add(metric)
    return bold


def quality_blocks(result: Mapping, descriptions: Mapping[str, str]) -> dict[str, str]:
    """``{"quality-reduced": ..., "quality-full": ...}``: the tables of a :func:`run_quality` result,
    means over each data set's scenes, best value per ratio (per data set at full resolution) in bold."""
    from fusion.bench.quality import mean_rows

    head = heading(result["machine"], result["convention"])
    command = f"Regenerate with `{result['command']}`." if result.get("command") else ""
    blocks = {}
    reduced = mean_rows(
        result["reduced"], ("dataset", "ratio", "method"), [*result["reduced_metrics"], "fuse_s"]
    )
    parts = [head, command, _skipped_note(result)]
    for dataset in dict.fromkeys(row["dataset"] for row in reduced):
        rows = sorted((r for r in reduced if r["dataset"] == dataset), key=lambda r: r["ratio"])
        scenes = sorted({r["scene"] for r in result["reduced"] if r["dataset"] == dataset})
        parts.append(f"**{dataset}** ({', '.join(scenes)}): {descriptions.get(dataset, '')}")
        columns = ["ratio", "method", *result["reduced_metrics"], "fuse_s"]
        parts.append(table(columns, rows, best_cells(rows, "ratio", result["reduced_metrics"])))
    blocks["quality-reduced"] = "\n\n".join(p for p in parts if p)
    if result["full"]:
        full = mean_rows(result["full"], ("dataset", "ratio", "method"), [*result["full_metrics"], "fuse_s"])
        parts = [head, command]
        for dataset in dict.fromkeys(row["dataset"] for row in full):
            parts.append(f"**{dataset}**: {descriptions.get(dataset + ':full', '')}")
        columns = ["dataset", "ratio", "method", *result["full_metrics"], "fuse_s"]
        parts.append(table(columns, full, best_cells(full, "dataset", result["full_metrics"])))
        blocks["quality-full"] = "\n\n".join(p for p in parts if p)
    return blocks


def _skipped_note(result: Mapping) -> str:
    if not result["skipped"]:
        return ""
    return (
        f"{len(result['skipped'])} (method, scene, ratio) combinations did not run (a guide kind, band "
        "count or size the method does not take); the JSON lists each with its reason."
    )


def reference_table(numbers: Mapping) -> str:
    """A protocol's ``REFERENCE_NUMBERS`` (nested mappings whose leaves are ``{metric: number}``) as a
    table with one row per leaf, named by its path; top-level scalars (source, ratio) as a caption."""
    rows, caption = [], []

    def walk(node: Mapping, path: tuple[str, ...]) -> None:
        if all(not isinstance(v, Mapping) for v in node.values()) and path:
            rows.append({"reference": " / ".join(path), **node})
            return
        for key, value in node.items():
            if isinstance(value, Mapping):
                walk(value, (*path, str(key)))
            elif not path:
                caption.append(f"{key}: {value}")

    walk(numbers, ())
    columns = ["reference", *dict.fromkeys(k for row in rows for k in row if k != "reference")]
    return "\n\n".join([*(["; ".join(caption) + "."] if caption else []), table(columns, rows)])


def protocol_block(result: Mapping, reference_numbers: Mapping | None) -> str:
    """A protocol's mean table (:func:`fusion.protocols.markdown_table`) under the machine heading, next
    to the protocol's published reference numbers when it has them."""
    from fusion.protocols import markdown_table

    head = heading(result["machine"], result.get("convention", "reference"))
    command = f"Regenerate with `{result['command']}`." if result.get("command") else ""
    parts = [head, command, markdown_table(result)]
    if reference_numbers:
        parts += ["Reference numbers of the protocol:", reference_table(reference_numbers)]
    return "\n\n".join(p for p in parts if p)


def speed_key(result: Mapping) -> str:
    """The block of a speed result: ``speed`` for a GPU run, ``speed-cpu`` for a CPU one (both kept)."""
    return "speed" if result["machine"].get("gpu") else "speed-cpu"


def compiled_cell(row: Mapping) -> str:
    """Whether a row of a compiled speed run was compiled: ``no`` (a model without INR queries), ``yes``
    or ``yes (N graph breaks)`` when the row counts them."""
    if not row.get("compile"):
        return "no"
    breaks = row.get("graph_breaks")
    if breaks is None:
        return "yes"
    return f"yes ({breaks} graph break{'' if breaks == 1 else 's'})"


def speed_block(result: Mapping) -> str:
    """The tables of a :func:`fusion.bench.speed.run_speed` result: fusion throughput, query stage
    against the bare MLP, training, degradation, attention, streaming, and the targets; GPU figures as
    ratios to the ceilings where the device has them (n/a otherwise). A compiled run's (``--compile``)
    fusion, query-stage and training tables say per row whether it was compiled (:func:`compiled_cell`)."""
    head = heading(result["machine"])
    command = f"Regenerate with `{result['command']}`." if result.get("command") else ""
    ceilings = result["ceilings"]
    note = (
        f"Ceilings from {ceilings['source']}: "
        + ", ".join(f"{k} {fmt(v, k)}" for k, v in ceilings["values"].items())
        if ceilings["values"]
        else "Ceiling ratios: n/a (ceilings are known for an H200 only)."
    )
    parts = [head, command, note]
    sections = [
        ("fuse", "Fusion of one tile in memory (output voxels/s = tile core pixels x bands / median forward)",
         ["model", "ratio", "bands", "tile", "halo", "dtype", "voxels_per_s", "peak_gpu_mb", "tflops",
          "tflops_to_gemm", "write_to_copy_bandwidth"]),
        ("query", "Query stage against the bare MLP of the decoder's shape (one evaluation per query)",
         ["model", "ratio", "bands", "decoder_widths", "queries", "queries_per_s", "bare_mlp_queries_per_s",
          "query_to_mlp", "bare_mlp_tflops_to_gemm", "bare_mlp_to_liif_ceiling"]),
        ("training", "Training on a synthetic 31-band cube (HSI-MSI, random ratio 2-8), whole steps",
         ["model", "batch_size", "patch", "amp_bf16", "samples_per_s", "step_ms_median", "peak_memory_gb"]),
    ]  # fmt: skip
    for key, title, columns in sections:
        rows = [r for r in result.get(key, []) if "error" not in r]
        if result.get("compile"):
            columns = [columns[0], "compiled", *columns[1:]]
            rows = [{**r, "compiled": compiled_cell(r)} for r in rows]
        if rows:
            parts += [f"**{title}**", table(columns, rows)]
    singles = [
        ("degradation", "RandomDegradation", ["input_shape", "dtype", "median_ms", "p90_ms", "peak_gpu_mb",
                                              "input_read_to_copy_bandwidth"]),
        ("window_attention", "WindowAttention (timm)", ["windows", "tokens", "dim", "dtype", "seconds",
                                                         "ceiling_to_time"]),
        ("streaming", "Streaming `fusion fuse` of a generated scene (child process)",
         ["pan", "ms", "method", "tile", "seconds_fuse", "peak_rss_mb", "within_target"]),
    ]  # fmt: skip
    for key, title, columns in singles:
        row = result.get(key)
        if row and "error" not in row:
            parts += [f"**{title}**", table(columns, [row])]
    parts += [
        "**Targets (issue 8)**",
        table(["target", "value", "goal", "met", "how_far", "note"], result["targets"]),
    ]
    errors = [r for key in ("fuse", "query", "training") for r in result.get(key, []) if "error" in r]
    errors += [
        result[k]
        for k in ("degradation", "window_attention", "streaming")
        if "error" in (result.get(k) or {})
    ]
    if errors:
        lines = dict.fromkeys(f"{r.get('model', '')} {r['error']}".strip() for r in errors)
        parts.append("Not measured: " + "; ".join(lines))
    return "\n\n".join(p for p in parts if p)
