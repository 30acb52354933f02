"""Evaluation reports: one row per (method, sample), the settings that produced them, and their outputs.

A :class:`Report` reads like a mapping from metric name to value (``report["Q2n"]``: a float for one
method, ``{method: float}`` for several, averaged over samples), keeps every per-sample and per-band
number in :attr:`Report.rows`, and records the metric convention and protocol in :attr:`Report.meta`.
It renders as a text table, JSON (``{"meta", "summary", "rows"}``) and CSV (one line per row, with the
convention and protocol repeated on each line so a CSV alone says how its numbers were made).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from fusion.atomic import atomic_output
from fusion.errors import InputError

IDEAL = {
    "Q2n": 1.0, "Q": 1.0, "SAM": 0.0, "ERGAS": 0.0, "SCC": 1.0, "PSNR": math.inf, "SSIM": 1.0,
    "RMSE": 0.0, "CC": 1.0, "D_lambda": 0.0, "D_S": 0.0, "QNR": 1.0, "D_lambda_K": 0.0, "HQNR": 1.0,
}  # fmt: skip
"""Best value of every metric a report can hold, in the order tables list them."""

_KEYS = ("method", "sample")


class Report(Mapping):
    """Metric values of one or more methods, with the settings that produced them.

    Args:
        rows: dicts with ``method`` (str), ``sample`` (int), one float per metric and optionally
            ``per_band`` (metric -> list of floats).
        meta: settings: ``convention``, ``protocol``, ``ratio``, ``sensor``, ``block_size``, ``border``...

    ``images`` (method -> fused image) and ``reference_image`` (``(name, image)``) are kept, not
    serialised, when a protocol is asked to (``keep_images=True``), for quicklooks
    (:func:`fusion.metrics.html.write_html`).
    """

    def __init__(self, rows: Sequence[dict], meta: dict):
        self.rows = [dict(row) for row in rows]
        self.meta = dict(meta)
        self.images: dict = {}
        self.reference_image: tuple | None = None

    # -- mapping over metric names --------------------------------------------------------------
    @property
    def metrics(self) -> list[str]:
        """Metric names present, in :data:`IDEAL` order (unknown names last)."""
        names = {key for row in self.rows for key in row if key not in (*_KEYS, "per_band")}
        order = list(IDEAL)
        return sorted(names, key=lambda n: (order.index(n) if n in order else len(order), n))

    @property
    def methods(self) -> list[str]:
        """Method names in first-appearance order."""
        return list(dict.fromkeys(row["method"] for row in self.rows))

    def summary(self) -> dict[str, dict[str, float]]:
        """``{method: {metric: mean over samples}}``."""
        out = {}
        for method in self.methods:
            rows = [row for row in self.rows if row["method"] == method]
            out[method] = {
                name: sum(row[name] for row in rows if name in row) / sum(name in row for row in rows)
                for name in self.metrics
                if any(name in row for row in rows)
            }
        return out

    def __getitem__(self, metric: str):
        if metric not in self.metrics:
            raise KeyError(metric)
        values = {method: values[metric] for method, values in self.summary().items() if metric in values}
        return next(iter(values.values())) if len(values) == 1 else values

    def __iter__(self) -> Iterator[str]:
        return iter(self.metrics)

    def __len__(self) -> int:
        return len(self.metrics)

    def __repr__(self) -> str:
        convention = self.meta.get("convention")
        return f"Report(methods={self.methods}, metrics={self.metrics}, convention={convention!r})"

    # -- combining ------------------------------------------------------------------------------
    def merge(self, other: Report) -> Report:
        """Rows of both reports under the settings they share; their conventions must agree."""
        if self.meta.get("convention") != other.meta.get("convention"):
            raise InputError(
                f"cannot merge reports made with conventions {self.meta.get('convention')!r} and "
                f"{other.meta.get('convention')!r}"
            )
        meta = {key: value for key, value in self.meta.items() if other.meta.get(key) == value}
        merged = Report(self.rows + other.rows, meta)
        merged.images = {**self.images, **other.images}
        merged.reference_image = self.reference_image or other.reference_image
        return merged

    # -- outputs --------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """``{"meta", "summary", "rows"}`` with JSON-safe values (inf/NaN as strings)."""
        return _json_safe({"meta": self.meta, "summary": self.summary(), "rows": self.rows})

    def to_json(self, path: str | os.PathLike | None = None, overwrite: bool = False) -> str:
        """The report as JSON text; also written atomically to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2) + "\n"
        if path is not None:
            _write_text(path, text, overwrite)
        return text

    def to_csv(self, path: str | os.PathLike | None = None, overwrite: bool = False) -> str:
        """One line per (method, sample): metrics, then ``convention`` and ``protocol`` columns."""
        buffer = io.StringIO()
        columns = [*_KEYS, *self.metrics, "convention", "protocol"]
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow(
                {**row, "convention": self.meta.get("convention"), "protocol": self.meta.get("protocol")}
            )
        text = buffer.getvalue()
        if path is not None:
            _write_text(path, text, overwrite)
        return text

    def table(self, digits: int = 4) -> str:
        """A plain-text table of the per-method means, headed by the settings that produced them."""
        names = self.metrics
        summary = self.summary()
        width = max([len("method"), *(len(m) for m in summary)])
        cells = {m: [_format(v.get(n), digits) for n in names] for m, v in summary.items()}
        widths = [max(len(n), *(len(c[i]) for c in cells.values())) for i, n in enumerate(names)]
        ideal = [_format(IDEAL.get(n), digits) if n in IDEAL else "" for n in names]
        lines = [
            self.describe(),
            _line("method", names, width, widths),
            _line("(ideal)", ideal, width, widths),
        ]
        lines += [_line(method, row, width, widths) for method, row in cells.items()]
        return "\n".join(lines)

    def describe(self) -> str:
        """One line naming the protocol and every setting recorded in :attr:`meta`."""
        settings = ", ".join(f"{k}={v}" for k, v in self.meta.items() if k not in ("protocol", "notes"))
        text = f"{self.meta.get('protocol', 'evaluation')}: {settings}"
        notes = self.meta.get("notes") or []
        return text + "".join(f"\nnote: {note}" for note in notes)

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> Report:
        """Read a report written by :meth:`to_json`."""
        try:
            data = json.loads(Path(path).read_text())
            rows = [{k: _from_json_value(k, v) for k, v in row.items()} for row in data["rows"]]
            return cls(rows, data["meta"])
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"{path}: not a fusion report ({exc})") from None


def _line(label: str, cells: Sequence[str], width: int, widths: Sequence[int]) -> str:
    return "  ".join([f"{label:<{width}}", *(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True))])


def _format(value, digits: int) -> str:
    if value is None:
        return "-"
    if math.isinf(value) or math.isnan(value):
        return str(value)
    return f"{value:.{digits}f}"


def _json_safe(value):
    """Replace non-finite floats (not valid JSON) by their string names, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _from_json_value(key: str, value):
    """Undo :func:`_json_safe` for a metric value ("inf" -> inf)."""
    return float(value) if isinstance(value, str) and key not in _KEYS else value


def _write_text(path: str | os.PathLike, text: str, overwrite: bool) -> None:
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_text(text)
