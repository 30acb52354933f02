"""Write or update the "Trained checkpoint" section of a model card from an evaluation JSON.

    python scripts/model_card.py liif-cave-eval.json --model liif --out docs/models/liif.md
    python scripts/model_card.py liif-wv2-eval.json --model liif --out docs/models/liif.md \\
        --section wv2 --title "Trained checkpoint: WorldView-2 MS + PAN"

The section lies between ``<!-- trained:start -->`` and ``<!-- trained:end -->`` (a further one,
``--section NAME``, between ``<!-- trained:NAME:start -->`` and ``<!-- trained:NAME:end -->``); the
rest of the card is kept as it is. A card without the markers gets the section appended; a missing
card is created with a ``# NAME`` title. Running the script twice on the same JSON changes nothing.

EVAL.json (``scripts/eval_checkpoint.py`` writes every part but ``train.seconds`` / ``train.gpu``
unless given; any string may be edited by hand)::

    {
      "model": "liif",                                      # registered name
      "checkpoint": {"file": "fusion/weights/liif-cave.pt", "bytes": 3312345, "sha256": "<hex>"},
      "train": {"data": "CAVE balloons + fake_and_real_peppers, values / 65535",
                "split": "train: columns 0-383, validation: columns 384-511",
                "config": "configs/train/liif_hsi_msi_cave.yaml",
                "steps": 5000, "seconds": 468.0, "gpu": "NVIDIA H200"},
      "protocol": "P-CAVE: 256 x 256 centre crops, ... ",   # how the metrics were measured
      "scenes": [{"name": "cave_balloons", "trained_on": false}],
      "metrics": {"2": {"psnr": 45.1, "sam": 2.3, "ergas": 1.1},    # per ratio: mean over the scenes
                  "3": {...}, "4": {...}, "3.3": {...}, "6": {...}, "8": {...}}
    }

Only ``metrics`` is required; a missing entry shows as "n/a". The metric rows keep the JSON's order.
Optional parts (``scripts/eval_checkpoint.py --from-result``): ``back_projection`` (the shipped spec's
``{"iterations", "gnyq", "phase"}``), ``metrics_source`` (the checkpoints and result the metrics come
from, when not from this checkpoint), ``ablation`` (``{"label", "metrics"}``: columns beside the
metrics) and ``reference`` (``{"label", "values", "beats": {ratio: {metric: bool, "every": bool}}}``).
From ``scripts/eval_checkpoint.py --from-holdout``: ``prior`` (the spec's), ``baselines`` (a list of
``{"label", "metrics", "methods"}``: further columns, each value with the method that reached it) and
``verdicts`` (``{ratio: {"beats classical": {metric: bool, ...}, "beats classical + bp": {...}}}``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

START, END = "<!-- trained:start -->", "<!-- trained:end -->"
#: Ratios a card reports (issue 7); the script warns when the JSON lacks one.
CARD_RATIOS = ("2", "3", "4", "3.3", "6", "8")
COLUMNS = (("psnr", "PSNR (dB)"), ("sam", "SAM (°)"), ("ergas", "ERGAS"))


def _value(value, suffix: str = "") -> str:
    return "n/a" if value is None or value == "" else f"{value}{suffix}"


def _duration(seconds) -> str:
    if seconds is None:
        return "n/a"
    seconds = float(seconds)
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _checkpoint(info) -> str:
    if not info:
        return "n/a"
    if isinstance(info, str):
        return f"`{info}`"
    notes = []
    if info.get("bytes") is not None:
        notes.append(f"{info['bytes'] / 1e6:.2f} MB")
    if info.get("sha256"):
        notes.append(f"SHA-256 `{info['sha256'][:12]}`")
    return f"`{info.get('file', '?')}`" + (f" ({', '.join(notes)})" if notes else "")


def _scenes(scenes) -> str:
    if not scenes:
        return "n/a"
    seen = {True: "seen in training", False: "held out", None: "training use unknown"}
    return ", ".join(f"{s['name']} ({seen[s.get('trained_on')]})" for s in scenes)


PHASES = {
    "centre": "centred: the sample of LR pixel k sits at the centre of the guide pixels it covers, "
    "(k + 0.5) r - 0.5 (4k + 1.5 at x4), the package's grid convention and P-CAVE's",
    "toolbox": "the toolbox's: LR pixel k is sampled at guide pixel k r + r / 2 at even integer ratios "
    "(4k + 2 at x4), half a pixel from the centre",
}
"""What each back-projection phase assumes of the LR image (:mod:`fusion.degrade.resample`)."""


def _back_projection(projection) -> str:
    if not projection:
        return "none"
    phase = projection.get("phase", "centre")
    if projection.get("gnyq") is not None:
        gain = f"gain {projection['gnyq']}"
    elif projection.get("sensor"):
        gain = f"the {projection['sensor']} preset's per-band gains"
    else:
        gain = "the sensor's gain"
    return (
        f"{projection['iterations']} steps of x <- x + U(lr - D(x)) onto the LR input "
        f"(`fusion.models.consistency.BackProjected`), applied by `fusion fuse` and `load_checkpoint`; D: "
        f"Gaussian MTF with {gain} at the LR Nyquist, LR samples "
        f"{PHASES.get(phase, phase)}. An LR image made otherwise (another MTF or phase) biases it"
    )


def _prior(prior) -> str:
    """The classical method the model corrects (a spec's ``prior``: a name or ``{"name", ...}``)."""
    if not prior:
        return "none"
    spec = {"name": prior} if isinstance(prior, str) else prior
    options = ", ".join(f"{key} {value}" for key, value in spec.items() if key != "name")
    return (
        f"`{spec['name']}`" + (f" ({options})" if options else "") + ": the model learns a correction of "
        "this classical method's result (`fusion.models.prior`)"
    )


def _twins(source) -> str:
    """The ``metrics_source`` row: which checkpoints the metrics come from."""
    if not source:
        return "this checkpoint"
    rows = f"rows `{source['label']}` of `{source['result']}`"
    if "checkpoints" not in source:
        return rows
    twins = "; ".join(
        f"`{c['file']}` (trained on {', '.join(c['training_files'] or ['?'])}, {c['step']} steps"
        + (f" of {c['steps_planned']}" if c.get("steps_planned") else "")
        + (f", {c['time_limit_s']} s limit" if c.get("time_limit_s") else "")
        + f") scored on {c['tested_on']}"
        for c in source.get("checkpoints", [])
    )
    return f"{twins or 'n/a'}: {rows}, mean over the scenes"


def _beaten(verdict: dict) -> str:
    """``{"psnr": bool, "sam": bool, "ergas": bool, ...}`` -> "all three" / the metrics won / "none"."""
    met = [header for key, header in COLUMNS if verdict[key]]
    return "all three" if len(met) == len(COLUMNS) else (", ".join(met) or "none")


BEATEN = {
    "beats classical": "the best classical method",
    "beats classical + bp": "the best back-projected one",
}
"""How a holdout verdict's keys (:func:`fusion.bench.holdout.verdicts`) read in a card."""


def _holdout_verdicts(verdicts) -> str:
    """A sentence per ratio: which metrics beat the best classical method (and the best back-projected)."""
    if not verdicts:
        return ""
    parts = [
        f"x{ratio}: " + "; ".join(f"beats {BEATEN.get(key, key)} on {_beaten(won)}" for key, won in v.items())
        for ratio, v in verdicts.items()
    ]
    return (
        f"Verdict (`fusion bench holdout`, each metric against the best method for it): {'; '.join(parts)}."
    )


def _verdict(reference) -> str:
    """A sentence on whether the metrics beat the reference numbers, per ratio."""
    if not reference:
        return ""
    values = " / ".join(f"{reference['values'][key]:g}" for key, _ in COLUMNS)
    parts = []
    for ratio, verdict in reference["beats"].items():
        against = "" if float(ratio) == reference["ratio"] else f" (its x{reference['ratio']:g} numbers)"
        parts.append(f"x{ratio}{against}: beats it on {_beaten(verdict)}")
    return (
        f"Against the issue's {reference['label']} numbers ({values}, measured at x{reference['ratio']:g} on "
        f"three other CAVE scenes, so a guide rather than a like-for-like comparison): {'; '.join(parts)}."
    )


def _versus_ablation(metrics: dict, ablation: dict) -> str:
    """A sentence: at which ratios ``metrics`` beat the ablation on every metric, at which not."""
    higher = {"psnr": True, "sam": False, "ergas": False}
    better, other = [], []
    for ratio, values in metrics.items():
        theirs = ablation["metrics"].get(ratio)
        if not theirs:
            continue
        wins = all((values[k] > theirs[k]) if up else (values[k] < theirs[k]) for k, up in higher.items())
        (better if wins else other).append(f"x{ratio}")
    parts = [
        f"better on all three metrics at {', '.join(better)}" if better else "",
        f"level or worse on at least one at {', '.join(other)}" if other else "",
    ]
    return f"Beside {ablation['label']}: " + "; ".join(p for p in parts if p) + "."


def markers(name: str | None = None) -> tuple[str, str]:
    """The start and end markers of the generated section ``name`` (``None``: the first one)."""
    return (START, END) if not name else (f"<!-- trained:{name}:start -->", f"<!-- trained:{name}:end -->")


def section(evaluation: dict, model: str, name: str | None = None, title: str = "Trained checkpoint") -> str:
    """The Markdown section ``name`` (markers included, headed ``title``) for ``evaluation`` (see the
    module docstring)."""
    train = evaluation.get("train") or {}
    facts = [
        ("checkpoint", _checkpoint(evaluation.get("checkpoint"))),
        ("data", _value(train.get("data"))),
        ("split", _value(train.get("split"))),
        ("config", _value(train.get("config") and f"`{train['config']}`")),
        ("steps", _value(train.get("steps"))),
        ("training ratios", _value(train.get("ratios"))),
        ("training time", _duration(train.get("seconds"))),
        ("GPU", _value(train.get("gpu"))),
        *([("prior", _prior(evaluation["prior"]))] if "prior" in evaluation else []),
        ("back-projection", _back_projection(evaluation.get("back_projection"))),
        ("protocol", _value(evaluation.get("protocol"))),
        ("validation scenes", _scenes(evaluation.get("scenes"))),
        ("validation checkpoints", _twins(evaluation.get("metrics_source"))),
    ]
    ablation = evaluation.get("ablation")
    baselines = ([ablation] if ablation else []) + list(evaluation.get("baselines") or [])
    columns = [header for _, header in COLUMNS]
    columns += [f"{b['label']}: {header}" for b in baselines for _, header in COLUMNS]
    start, end = markers(name)
    lines = [
        start,
        f"## {title}",
        "",
        f"`fusion fuse --method {model}` uses this checkpoint when the scene's band layout fits it "
        "(scripts/model_card.py writes this section from the evaluation JSON).",
        "",
        "| | |",
        "| --- | --- |",
        *(f"| {fact} | {text} |" for fact, text in facts),
        "",
        "| ratio | " + " | ".join(columns) + " |",
        "| ---: |" + " ---: |" * len(columns),
    ]
    for ratio, values in evaluation["metrics"].items():
        cells = _cells(values)
        for b in baselines:
            cells += _cells(b["metrics"].get(ratio, {}), (b.get("methods") or {}).get(ratio, {}))
        lines.append(f"| {ratio} | " + " | ".join(cells) + " |")
    notes = [_versus_ablation(evaluation["metrics"], b) for b in baselines]
    notes += [_holdout_verdicts(evaluation.get("verdicts")), _verdict(evaluation.get("reference"))]
    lines += [line for note in notes if note for line in ("", note)]
    lines.append(end)
    return "\n".join(lines)


def _cells(values: dict, methods: dict | None = None) -> list[str]:
    """One cell per metric: the value, and the method that reached it where ``methods`` names one."""
    methods = methods or {}
    return [
        "n/a"
        if values.get(key) is None
        else f"{float(values[key]):.2f}" + (f" ({methods[key]})" if key in methods else "")
        for key, _ in COLUMNS
    ]


def update_card(text: str | None, new_section: str, model: str, name: str | None = None) -> str:
    """``text`` (a card, or ``None`` for none yet) with its trained section ``name`` replaced by
    ``new_section``."""
    if text is None:
        return f"# {model}\n\n{new_section}\n"
    start_marker, end_marker = markers(name)
    start, end = text.find(start_marker), text.find(end_marker)
    if start >= 0 and end > start:
        return text[:start] + new_section + text[end + len(end_marker) :]
    if (start >= 0) != (end >= 0) or start > end:
        raise ValueError(f"the card has a broken {start_marker} ... {end_marker} pair")
    return text.rstrip("\n") + "\n\n" + new_section + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("evaluation", type=Path, help="EVAL.json (see the docstring)")
    parser.add_argument("--model", required=True, help="registered model name, e.g. liif")
    parser.add_argument("--out", type=Path, required=True, help="the card, e.g. docs/models/liif.md")
    parser.add_argument(
        "--section", help="name of a further generated section, e.g. wv2 [default: the first]"
    )
    parser.add_argument("--title", default="Trained checkpoint", help="the section's heading")
    args = parser.parse_args(argv)
    evaluation = json.loads(args.evaluation.read_text())
    if "metrics" not in evaluation:
        raise SystemExit(f"model_card: {args.evaluation} has no 'metrics'")
    missing = [r for r in CARD_RATIOS if r not in evaluation["metrics"]]
    if missing:
        print(f"model_card: {args.evaluation} has no metrics at ratio {', '.join(missing)}", file=sys.stderr)
    old = args.out.read_text() if args.out.is_file() else None
    try:
        new = update_card(
            old, section(evaluation, args.model, args.section, args.title), args.model, args.section
        )
    except ValueError as exc:
        raise SystemExit(f"model_card: {args.out}: {exc}") from None
    if new != old:
        args.out.write_text(new)
    print(f"{args.out}: section {args.title!r} {'updated' if new != old else 'unchanged'}")


if __name__ == "__main__":
    main()
