#!/usr/bin/env python
"""Protocol P-CAVE with scene-adaptive fitting: classical methods, leave-one-out checkpoints, and models
fitted on each test case (fresh, or a leave-one-out checkpoint fine-tuned on the scene it left out).

    python scripts/p_cave_fit.py OUT.json [--data ../shared/data] [--device cuda] [--models prior-inr] \
        [--loo WEIGHTS_DIR] [--no-fit-loo] [--back-projection N] [--steps N] [--ratios 4 3.3] [--seed 0] \
        [--threads N]

``--loo DIR`` reads ``DIR/<model>_prior_train_<balloons|peppers>.pt`` (what ``scripts/gpu_train_p_cave.sh``
returns with ``PRIOR=glp-hs``): each is scored on the scene it did not see, as is, and fine-tuned there
(:func:`fusion.protocols.p_cave.run` with ``loo`` and ``fit_loo``; ``--no-fit-loo`` only scores them).
``--back-projection N`` also scores every method back-projected onto its LR input and fits through the
back-projection (``run(back_projection=N)``). Writes the result, its Markdown table,
each fitted label against the best classical method per metric and ratio and against the issue's QIS-GAN
numbers, the wall time and the machine.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from fusion.bench.machine import describe_machine
from fusion.engine.fit import DEFAULT_FIT_MODEL, DEFAULT_FIT_STEPS
from fusion.protocols import markdown_table, p_cave

TEST_SCENE = {"balloons": "cave_fake_and_real_peppers", "peppers": "cave_balloons"}
"""The scene a checkpoint trained on one scene is tested on."""


def loo_checkpoints(folder: Path) -> dict[str, dict[str, str]]:
    """``{test scene: {"<model> + prior": path}}`` for every ``*_prior_train_<scene>.pt`` in ``folder``."""
    loo: dict[str, dict[str, str]] = {}
    for path in sorted(folder.glob("*_prior_train_*.pt")):
        model, trained = path.stem.split("_prior_train_")
        loo.setdefault(TEST_SCENE[trained], {})[f"{model.replace('_', '-')} + glp-hs prior"] = str(path)
    if not loo:
        raise SystemExit(f"{folder}: no *_prior_train_<scene>.pt checkpoints")
    return loo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="JSON file to write")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--models", nargs="*", default=[DEFAULT_FIT_MODEL], help="INR models fitted afresh")
    parser.add_argument("--loo", type=Path, help="folder of leave-one-out checkpoints to score and fine-tune")
    parser.add_argument("--no-fit-loo", action="store_true", help="score the --loo checkpoints, fit none")
    parser.add_argument("--back-projection", type=int, default=None, help="back-projection steps")
    parser.add_argument("--steps", type=int, default=DEFAULT_FIT_STEPS)
    parser.add_argument("--ratios", nargs="+", type=float, default=list(p_cave.DEFAULT_RATIOS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    loo = loo_checkpoints(args.loo) if args.loo else None
    start = time.perf_counter()
    result = p_cave.run(
        args.data, ratios=args.ratios, device=args.device, progress=True, loo=loo, fit=args.models,
        fit_loo=None if args.no_fit_loo else loo, fit_steps=args.steps, fit_options={"seed": args.seed},
        back_projection=args.back_projection,
    )  # fmt: skip
    wall = time.perf_counter() - start
    learned = sorted({row["method"] for row in result["rows"]} - {p_cave.BICUBIC, *p_cave.DEFAULT_METHODS})
    if not learned:
        raise SystemExit("nothing learned to compare: give --models or --loo")
    report = {
        "result": result,
        "table": markdown_table(result),
        "versus_best_classical": {
            label: {str(k): v for k, v in p_cave.versus_best(result, label).items()} for label in learned
        },
        "versus_qis_gan": {label: p_cave.versus_reference(result, label) for label in learned},
        "wall_seconds": wall,
        "machine": describe_machine(result["meta"]["device"]),
        "settings": vars(args) | {"data": str(args.data), "out": str(args.out), "loo": str(args.loo)},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str))
    print(report["table"])
    for label, verdict in report["versus_best_classical"].items():
        print(f"{label}: beats the best classical method on every metric at every ratio: {verdict['every']}")


if __name__ == "__main__":
    main()
