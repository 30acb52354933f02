"""Trained checkpoints against the classical methods on a training config's held-out data.

The cases are the config's ``test.data`` (a region that neither training nor the choice of the best
step saw) or, without one, the ``val.data`` that ``fusion train`` validates on, degraded by the
config's own ``degrade`` section at fixed ratios (the sensor's MTF without jitter or noise, the
configured sample phase, the guide synthesised with the same spectral response). Unlike validation
during training, everything runs in float32 without autocast, and every classical method that accepts
the band layout is scored on the same inputs, so the verdict "beats the best classical method" is one
table away::

    result = run_holdout(load_config("configs/train/tasks/ms_pan_wv2.yaml"), ["runs/qis/last.pt"])

Values are the config's scaled data (``[0, 1]``); PSNR has peak 1, SAM is in degrees, ERGAS uses each
case's exact ratio (:func:`fusion.engine.trainer.evaluate`). ``back_projection=N`` adds a ``+ bp`` row
for every classical method (:class:`fusion.models.consistency.BackProjected` with the config's sensor
and phase): the ablation that shows how much of a back-projected model's lead the projection alone gives.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fusion.bench.contenders import build_with_sensor, classical_methods
from fusion.config import merge
from fusion.errors import InputError
from fusion.models import FusionModel
from fusion.models.consistency import BackProjected
from fusion.protocols.common import BP_SUFFIX, beats, best_per_metric

DEFAULT_RATIOS = (4.0, 3.3)
METRICS = ("psnr", "sam", "ergas")
HIGHER_IS_BETTER = {"psnr": True, "sam": False, "ergas": False}
ANY_MODEL = {"model": {"name": "exp"}}
"""Completes a task config (``configs/train/tasks``), which names no model: the cases do not depend on it."""


@dataclass(frozen=True)
class Case:
    """One held-out image at one ratio: ``lr (1, C, h, w)``, ``guide (1, G, H, W)``, ``gt (1, C, H, W)``."""

    index: int
    ratio: float
    lr: torch.Tensor
    guide: torch.Tensor
    gt: torch.Tensor


def held_out_split(config: Mapping[str, Any]) -> str:
    """``"test"`` when a resolved ``config`` has test data (validation then may have picked the
    checkpoint), else ``"val"``."""
    return "test" if config["test"]["data"] is not None else "val"


def holdout_cases(config: Mapping[str, Any], ratios: Sequence[float], device) -> list[Case]:
    """The test images of ``config`` (a training config; its validation images when it has no
    ``test.data``) degraded at each of ``ratios`` as validation degrades them."""
    from fusion.data import build_dataset
    from fusion.engine.trainer import (
        fixed_degradations,
        guide_response,
        resolve_train_config,
        validation_dataset,
    )

    config = resolve_train_config(merge(ANY_MODEL, config))
    train_set = build_dataset(config["data"])
    split = held_out_split(config)
    held_out = validation_dataset(config, train_set, split)
    if held_out is None or len(held_out) == 0:
        raise InputError("the config has no held-out data (test.data or val.data) to score")
    degradations = fixed_degradations(config, guide_response(config, train_set), ratios, device)
    cases = []
    for index in range(len(held_out)):
        sample = {k: v.unsqueeze(0).to(device, torch.float32) for k, v in held_out[index].items()}
        if "lr" in sample:
            raise InputError(f"the {split} data bring their own LR input; held-out ratios need references")
        for ratio, degradation in zip(ratios, degradations.values(), strict=True):
            lr, guide = degradation(sample["gt"], guide=sample.get("guide"))[:2]
            cases.append(Case(index, float(ratio), lr.float(), guide.float(), sample["gt"]))
    return cases


@torch.no_grad()
def score(model: FusionModel, cases: Iterable[Case]) -> dict[float, dict[str, float]]:
    """``{ratio: {metric: mean over the images}}`` of ``model`` (float32, no autocast)."""
    from fusion.engine.trainer import evaluate

    sums: dict[float, dict[str, float]] = {}
    counts: dict[float, int] = {}
    for case in cases:
        fused = model(case.lr, case.guide, out_size=tuple(case.gt.shape[-2:])).float()
        values = evaluate(fused, case.gt, case.lr)
        totals = sums.setdefault(case.ratio, dict.fromkeys(METRICS, 0.0))
        for name in METRICS:
            totals[name] += float(values[name].sum())
        counts[case.ratio] = counts.get(case.ratio, 0) + 1
    return {ratio: {k: v / counts[ratio] for k, v in totals.items()} for ratio, totals in sums.items()}


def classical_contenders(
    sensor: str | None, bands: int, guide_bands: int, device, back_projection: Mapping[str, Any] | None
) -> dict[str, FusionModel]:
    """Every registered classical method that builds for this band layout (with ``sensor``), and its
    back-projected twin when ``back_projection`` (BackProjected's arguments) is given."""
    models: dict[str, FusionModel] = {}
    for name in classical_methods():
        try:
            model = build_with_sensor(name, sensor, lr_bands=bands, guide_bands=guide_bands)
        except (InputError, TypeError, ValueError):
            continue
        models[name] = model.to(device).eval()
        if back_projection:
            models[name + BP_SUFFIX] = BackProjected(model, **back_projection).to(device).eval()
    return models


def checkpoint_contenders(paths: Iterable[str | Path], device) -> dict[str, FusionModel]:
    """``{"<model> [<run folder>/<file>]": model}`` for each checkpoint path."""
    from fusion.engine.checkpoint import load_checkpoint

    models = {}
    for path in map(Path, paths):
        model, payload = load_checkpoint(path)
        models[f"{payload['model']['name']} [{path.parent.name}/{path.name}]"] = model.to(device).eval()
    return models


def has_projected_classical(rows: Sequence[Mapping[str, Any]]) -> bool:
    """Whether ``rows`` hold back-projected classical methods (``run_holdout(back_projection=N)``)."""
    return any(r["kind"] == "classical" and r["method"].endswith(BP_SUFFIX) for r in rows)


def best_classical(rows: Sequence[Mapping[str, Any]], ratio: float, suffix: str = "") -> dict[str, dict]:
    """``{metric: {"method", "value"}}``: the best classical row at ``ratio`` per metric, among the
    plain classical rows (``suffix=""``) or their back-projected twins (``suffix=BP_SUFFIX``)."""
    labels = {
        r["method"]
        for r in rows
        if r["kind"] == "classical" and r["method"].endswith(BP_SUFFIX) == bool(suffix)
    }
    best = best_per_metric({"protocol": "holdout", "mean": rows}, ratio, labels, HIGHER_IS_BETTER)
    return {name: {"method": method, "value": value} for name, (method, value) in best.items()}


def verdicts(rows: Sequence[Mapping[str, Any]], ratios: Sequence[float]) -> list[dict[str, Any]]:
    """For every checkpoint and ratio: does it beat the best classical method (and, when scored, the
    best back-projected one) on each metric?"""
    out = []
    for ratio in ratios:
        references = {"classical": best_classical(rows, ratio)}
        if has_projected_classical(rows):
            references["classical + bp"] = best_classical(rows, ratio, BP_SUFFIX)
        for row in (r for r in rows if r["kind"] == "checkpoint" and r["ratio"] == ratio):
            verdict = {"method": row["method"], "ratio": ratio}
            for label, best in references.items():
                won = {
                    name: beats(row[name], best[name]["value"], HIGHER_IS_BETTER[name]) for name in METRICS
                }
                verdict[f"beats {label}"] = {**won, "all": all(won.values())}
            out.append(verdict)
    return out


def run_holdout(
    config: Mapping[str, Any],
    checkpoints: Iterable[str | Path] = (),
    ratios: Sequence[float] = DEFAULT_RATIOS,
    device=None,
    back_projection: int | None = None,
    classical: bool = True,
) -> dict[str, Any]:
    """Score the task's classical methods and ``checkpoints`` on ``config``'s held-out cases.

    Returns ``{"ratios", "device", "rows": [{"method", "kind", "ratio", "psnr", "sam", "ergas",
    "seconds"}], "skipped": [{"method", "reason"}], "verdicts": [...], "cases": N}`` (JSON-able).
    A classical method that refuses the band layout is skipped; a checkpoint that does is an error.
    """
    from fusion.engine import pick_device
    from fusion.engine.trainer import resolve_train_config

    device = pick_device(device)
    config = resolve_train_config(merge(ANY_MODEL, config))
    ratios = [float(r) for r in ratios]
    cases = holdout_cases(config, ratios, device)
    bands, guide_bands = cases[0].lr.shape[1], cases[0].guide.shape[1]
    sensor, phase = config["degrade"]["sensor"], config["degrade"]["phase"]
    projection = None
    if back_projection:
        projection = {"iterations": int(back_projection), "sensor": sensor, "phase": phase}
    contenders: list[tuple[str, str, FusionModel]] = []
    if classical:
        found = classical_contenders(sensor, bands, guide_bands, device, projection)
        contenders += [("classical", name, model) for name, model in found.items()]
    trained = checkpoint_contenders(checkpoints, device)
    contenders += [("checkpoint", name, model) for name, model in trained.items()]
    rows, skipped = [], []
    for kind, name, model in contenders:
        started = time.perf_counter()
        try:
            scores = score(model, cases)
        except InputError as exc:  # a classical method for another guide (e.g. HS methods, PAN guide)
            if kind != "classical":
                raise
            skipped.append({"method": name, "reason": str(exc)})
            continue
        seconds = time.perf_counter() - started
        rows += [{"method": name, "kind": kind, "ratio": r, **scores[r], "seconds": seconds} for r in ratios]
    return {
        "ratios": ratios,
        "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
        "split": held_out_split(config),
        "cases": len(cases) // len(ratios),
        "rows": rows,
        "skipped": skipped,
        "verdicts": verdicts(rows, ratios) if classical else [],
    }


def _cell(value: float, metric: str) -> str:
    return f"{value:.2f}" if metric == "psnr" else f"{value:.3f}"


def markdown_table(
    result: Mapping[str, Any], ratios: Sequence[float] | None = None, compact: bool = False
) -> str:
    """One row per method: PSNR / SAM / ERGAS at each of ``ratios`` (default: all scored); the best
    classical value per column in bold. ``compact``: the classical methods collapse into one row of the
    best value per column (and one for their back-projected twins), each with the method's name."""
    ratios = [float(r) for r in ratios or result["ratios"]]
    header = ["method"] + [f"×{r:g} {m.upper()}" for r in ratios for m in METRICS]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    has_classical = any(row["kind"] == "classical" for row in result["rows"])
    best = {r: best_classical(result["rows"], r) for r in ratios} if has_classical else {}
    if compact and has_classical:
        suffixes = ("", BP_SUFFIX) if has_projected_classical(result["rows"]) else ("",)
        for suffix in suffixes:
            picks = {r: best_classical(result["rows"], r, suffix) for r in ratios}
            cells = [f"best classical{suffix} (method)"]
            cells += [
                f"{_cell(picks[r][m]['value'], m)} ({picks[r][m]['method']})" for r in ratios for m in METRICS
            ]
            lines.append("| " + " | ".join(cells) + " |")
    kinds = ("checkpoint",) if compact else ("classical", "checkpoint")
    methods = list(dict.fromkeys(row["method"] for row in result["rows"] if row["kind"] in kinds))
    for method in methods:
        cells = [method]
        for r in ratios:
            row = next(x for x in result["rows"] if x["method"] == method and x["ratio"] == r)
            for m in METRICS:
                bold = r in best and best[r][m]["method"] == method
                cells.append(f"**{_cell(row[m], m)}**" if bold else _cell(row[m], m))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
