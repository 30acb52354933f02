#!/usr/bin/env python
"""Protocol P-PAN with scene-adaptive fitting: every classical method and INR models fitted on each case.

    python scripts/p_pan_fit.py OUT.json [--data ../shared/data] [--device cuda] \
        [--models prior-inr] [--steps N] [--ratios 4 3.3] [--seed 0] [--threads N]

Runs :func:`fusion.protocols.p_pan.run` (the WorldView-2 sample at each ratio) with ``fit=MODELS``
(:func:`fusion.engine.fit.fit_scene`, ``--steps`` steps, default ``DEFAULT_FIT_STEPS``) and writes to
OUT.json the result, its Markdown table, each fitted model against the best classical method per metric
and ratio (:func:`fusion.protocols.p_pan.versus_best`), the wall time and the machine.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from fusion.bench.machine import describe_machine
from fusion.engine.fit import DEFAULT_FIT_MODEL, DEFAULT_FIT_STEPS
from fusion.protocols import markdown_table, p_pan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="JSON file to write")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--models", nargs="+", default=[DEFAULT_FIT_MODEL], help="INR models to fit")
    parser.add_argument("--steps", type=int, default=DEFAULT_FIT_STEPS)
    parser.add_argument("--ratios", nargs="+", type=float, default=list(p_pan.DEFAULT_RATIOS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    result = p_pan.run(
        args.data, ratios=args.ratios, device=args.device, progress=True, fit=args.models,
        fit_steps=args.steps, fit_options={"seed": args.seed},
    )  # fmt: skip
    wall = time.perf_counter() - start
    verdicts = {f"{name} (fit)": p_pan.versus_best(result, f"{name} (fit)") for name in args.models}
    report = {
        "result": result,
        "table": markdown_table(result),
        "versus_best_classical": {k: {str(r): v for r, v in t.items()} for k, t in verdicts.items()},
        "wall_seconds": wall,
        "fit_seconds": {f"{r['method']} @ {r['ratio']:g}": r["fit_seconds"] for r in result["rows"]
                        if "fit_seconds" in r},
        "machine": describe_machine(result["meta"]["device"]),
        "settings": vars(args) | {"data": str(args.data), "out": str(args.out)},
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str))
    print(report["table"])
    for label, verdict in verdicts.items():
        print(f"{label}: beats the best classical method on every metric at every ratio: {verdict['every']}")
    print(f"wall {wall:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
