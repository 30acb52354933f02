"""Write or update the "Trained checkpoint" section of a model card from an evaluation JSON.

    python scripts/model_card.py liif-cave-eval.json --model liif --out docs/models/liif.md

The section lies between ``<!-- trained:start -->`` and ``<!-- trained:end -->``; the rest of the card
is kept as it is. A card without the markers gets the section appended; a missing card is created
with a ``# NAME`` title. Running the script twice on the same JSON changes nothing.

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
    return (
        f"{projection['iterations']} steps of x <- x + U(lr - D(x)) onto the LR input "
        f"(`fusion.models.consistency.BackProjected`), applied by `fusion fuse` and `load_checkpoint`; D: "
        f"Gaussian MTF with gain {projection.get('gnyq', 'of the sensor')} at the LR Nyquist, LR samples "
        f"{PHASES.get(phase, phase)}. An LR image made otherwise (another MTF or phase) biases it"
    )


def _twins(source) -> str:
    """The ``metrics_source`` row: which checkpoints the metrics come from."""
    if not source:
        return "this checkpoint"
    twins = "; ".join(
        f"`{c['file']}` (trained on {', '.join(c['training_files'] or ['?'])}, {c['step']} steps"
        + (f" of {c['steps_planned']}" if c.get("steps_planned") else "")
        + (f", {c['time_limit_s']} s limit" if c.get("time_limit_s") else "")
        + f") scored on {c['tested_on']}"
        for c in source.get("checkpoints", [])
    )
    return f"{twins or 'n/a'}: rows `{source['label']}` of `{source['result']}`, mean over the scenes"


def _verdict(reference) -> str:
    """A sentence on whether the metrics beat the reference numbers, per ratio."""
    if not reference:
        return ""
    values = " / ".join(f"{reference['values'][key]:g}" for key, _ in COLUMNS)
    parts = []
    for ratio, verdict in reference["beats"].items():
        met = [header for key, header in COLUMNS if verdict[key]]
        text = "all three" if verdict["every"] else (", ".join(met) or "none")
        against = "" if float(ratio) == reference["ratio"] else f" (its x{reference['ratio']:g} numbers)"
        parts.append(f"x{ratio}{against}: beats it on {text}")
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


def section(evaluation: dict, model: str) -> str:
    """The Markdown section (markers included) for ``evaluation`` (see the module docstring)."""
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
        ("back-projection", _back_projection(evaluation.get("back_projection"))),
        ("protocol", _value(evaluation.get("protocol"))),
        ("validation scenes", _scenes(evaluation.get("scenes"))),
        ("validation checkpoints", _twins(evaluation.get("metrics_source"))),
    ]
    ablation = evaluation.get("ablation") or {}
    columns = [header for _, header in COLUMNS]
    columns += [f"{ablation['label']}: {header}" for _, header in COLUMNS] if ablation else []
    lines = [
        START,
        "## Trained checkpoint",
        "",
        f"`fusion fuse --method {model}` uses this checkpoint when the scene's band layout fits it "
        "(scripts/model_card.py writes this section from the evaluation JSON).",
        "",
        "| | |",
        "| --- | --- |",
        *(f"| {name} | {text} |" for name, text in facts),
        "",
        "| ratio | " + " | ".join(columns) + " |",
        "| ---: |" + " ---: |" * len(columns),
    ]
    for ratio, values in evaluation["metrics"].items():
        cells = _cells(values) + (_cells(ablation["metrics"].get(ratio, {})) if ablation else [])
        lines.append(f"| {ratio} | " + " | ".join(cells) + " |")
    notes = [_versus_ablation(evaluation["metrics"], ablation) if ablation else ""]
    notes.append(_verdict(evaluation.get("reference")))
    lines += [line for note in notes if note for line in ("", note)]
    lines.append(END)
    return "\n".join(lines)


def _cells(values: dict) -> list[str]:
    return ["n/a" if values.get(key) is None else f"{float(values[key]):.2f}" for key, _ in COLUMNS]


def update_card(text: str | None, new_section: str, model: str) -> str:
    """``text`` (a card, or ``None`` for none yet) with its trained section replaced by ``new_section``."""
    if text is None:
        return f"# {model}\n\n{new_section}\n"
    start, end = text.find(START), text.find(END)
    if start >= 0 and end > start:
        return text[:start] + new_section + text[end + len(END) :]
    if (start >= 0) != (end >= 0) or start > end:
        raise ValueError(f"the card has a broken {START} ... {END} pair")
    return text.rstrip("\n") + "\n\n" + new_section + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("evaluation", type=Path, help="EVAL.json (see the docstring)")
    parser.add_argument("--model", required=True, help="registered model name, e.g. liif")
    parser.add_argument("--out", type=Path, required=True, help="the card, e.g. docs/models/liif.md")
    args = parser.parse_args(argv)
    evaluation = json.loads(args.evaluation.read_text())
    if "metrics" not in evaluation:
        raise SystemExit(f"model_card: {args.evaluation} has no 'metrics'")
    missing = [r for r in CARD_RATIOS if r not in evaluation["metrics"]]
    if missing:
        print(f"model_card: {args.evaluation} has no metrics at ratio {', '.join(missing)}", file=sys.stderr)
    old = args.out.read_text() if args.out.is_file() else None
    try:
        new = update_card(old, section(evaluation, args.model), args.model)
    except ValueError as exc:
        raise SystemExit(f"model_card: {args.out}: {exc}") from None
    if new != old:
        args.out.write_text(new)
    print(f"{args.out}: trained checkpoint section {'updated' if new != old else 'unchanged'}")


if __name__ == "__main__":
    main()
