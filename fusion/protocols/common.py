"""Pieces shared by the quality protocols: one row of metrics, means over scenes, a Markdown table.

A protocol's result (see :mod:`fusion.protocols`) holds ``rows``, one per method, scene and ratio, each
a dict with ``method``, ``scene``, ``ratio`` and metric values; :func:`mean_rows` averages every
numeric entry of the rows of one method at one ratio; :func:`markdown_table` renders those means.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

from fusion.errors import InputError
from fusion.metrics import ergas, psnr, q2n, sam

METRIC_ORDER = ("psnr", "sam", "ergas", "q2n", "seconds")
"""Columns of :func:`markdown_table` in this order (others follow in the order the rows give them)."""
HEADERS = {"psnr": "PSNR (dB)", "sam": "SAM (°)", "ergas": "ERGAS", "q2n": "Q2n", "seconds": "time (s)"}
DECIMALS = {"q2n": 4, "seconds": 4}
"""Decimals shown per column; 2 for the others."""
GROUP_KEYS = ("method", "ratio")
BP_SUFFIX = " + bp"
"""Label suffix of a method whose output is back-projected onto its LR input (the ablation rows)."""


def metric_row(
    pred,
    ref,
    ratio: float,
    q_block: int | None = None,
    data_range: float | None = 1.0,
    convention: str = "reference",
) -> dict[str, float]:
    """PSNR, SAM and ERGAS (and Q2n with ``q_block``) of one fused image against its reference.

    Args:
        pred, ref: ``(1, C, H, W)`` or ``(C, H, W)`` tensors or arrays; scored as given (no clipping,
            no border cut), in float64.
        ratio: the ERGAS ratio (reference grid over the low-resolution grid).
        q_block: Q2n block size (e.g. 32), or ``None`` for no Q2n.
        data_range: PSNR peak (1 for data in [0, 1], ``2**bits - 1`` for DN); ``None``: the reference's
            maximum.
        convention: Q2n's convention (``"reference"`` casts to uint16 like ``q2n.m``: data must be DN).
    Returns ``{"psnr": dB, "sam": degrees, "ergas": ..., ["q2n": ...]}`` as Python floats.
    """
    pred, ref = (torch.as_tensor(x).double() for x in (pred, ref))
    pred, ref = (x[None] if x.ndim == 3 else x for x in (pred, ref))
    if pred.ndim != 4 or pred.shape[0] != 1:
        raise InputError(f"metric_row scores one image (1, C, H, W), got shape {tuple(pred.shape)}")
    row = {
        "psnr": float(psnr(pred, ref, data_range=data_range)[0]),
        "sam": float(sam(pred, ref)[0]),
        "ergas": float(ergas(pred, ref, ratio)[0]),
    }
    if q_block is not None:
        row["q2n"] = float(q2n(pred, ref, q_block, convention=convention)[0])
    return row


def is_number(value: Any) -> bool:
    """True for ints and floats, not for booleans."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def mean_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Means over scenes: one dict per ``(method, ratio)`` in order of first appearance, with the
    mean of every numeric entry (booleans excepted) present in all rows of that group, and
    ``scenes``, how many rows were averaged."""
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row[key] for key in GROUP_KEYS), []).append(row)
    means = []
    for key, members in groups.items():
        names = [
            name
            for name, value in members[0].items()
            if name not in GROUP_KEYS and is_number(value) and all(is_number(m.get(name)) for m in members)
        ]
        mean = dict(zip(GROUP_KEYS, key, strict=True))
        mean.update({name: sum(float(m[name]) for m in members) / len(members) for name in names})
        mean["scenes"] = len(members)
        means.append(mean)
    return means


def _cell(name: str, value: Any) -> str:
    if not is_number(value):
        return "" if value is None else str(value)
    return f"{value:.{DECIMALS.get(name, 2)}f}"


def markdown_table(result: Mapping[str, Any]) -> str:
    """The ``mean`` rows of a protocol result as a Markdown table (method, ratio, metric columns)."""
    means = list(result.get("mean") or [])
    if not means:
        raise InputError(f"protocol result {result.get('protocol', '')!r} has no mean rows to tabulate")
    seen = [name for row in means for name in row if name not in (*GROUP_KEYS, "scenes")]
    columns = [name for name in METRIC_ORDER if name in seen]
    columns += [name for name in dict.fromkeys(seen) if name not in columns]
    header = ["method", "ratio", *(HEADERS.get(name, name) for name in columns), "scenes"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    for row in means:
        cells = [str(row["method"]), f"{row['ratio']:g}", *(_cell(n, row.get(n)) for n in columns)]
        lines.append("| " + " | ".join([*cells, str(row.get("scenes", ""))]) + " |")
    return "\n".join(lines)


# -- comparisons ----------------------------------------------------------------------------------
def beats(value: float, other: float, higher_is_better: bool) -> bool:
    """Whether ``value`` is strictly better than ``other``."""
    return value > other if higher_is_better else value < other


def best_per_metric(
    result: Mapping[str, Any], ratio: float, labels: Iterable[str], higher_is_better: Mapping[str, bool]
) -> dict[str, tuple[str, float]]:
    """``{metric: (label, value)}``: the best of ``labels`` among ``result``'s mean rows at ``ratio``,
    for each metric of ``higher_is_better`` (``{metric: whether higher is better}``)."""
    labels = set(labels)
    rows = [row for row in result["mean"] if row["ratio"] == ratio and row["method"] in labels]
    if not rows:
        raise InputError(
            f"{result.get('protocol', 'protocol')}: no mean rows of {sorted(labels)} at ratio {ratio:g}"
        )
    best = {}
    for metric, higher in higher_is_better.items():
        row = (max if higher else min)(rows, key=lambda r: r[metric])
        best[metric] = (row["method"], row[metric])
    return best


def versus_best(
    result: Mapping[str, Any], label: str, others: Iterable[str], higher_is_better: Mapping[str, bool]
) -> dict:
    """Per ratio, ``label`` against the best of ``others`` on each metric of ``higher_is_better``:
    ``{ratio: {metric: {"value", "best": (method, value), "beats": bool}}, "every": bool}`` with
    ``every`` true when ``label`` beats the best on every metric at every ratio."""
    others = list(others)
    table, every = {}, True
    for ratio in result["ratios"]:
        mine = next((r for r in result["mean"] if r["method"] == label and r["ratio"] == ratio), None)
        if mine is None:
            raise InputError(
                f"{result.get('protocol', 'protocol')}: no mean row of {label!r} at ratio {ratio:g}"
            )
        best = best_per_metric(result, ratio, others, higher_is_better)
        table[ratio] = {
            m: {"value": mine[m], "best": best[m], "beats": beats(mine[m], best[m][1], higher)}
            for m, higher in higher_is_better.items()
        }
        every = every and all(entry["beats"] for entry in table[ratio].values())
    return {**table, "every": every}
