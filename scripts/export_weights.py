"""Write each training run's last EMA weights alone, in float16, small enough to bring back from the GPU
machine and to evaluate or ship elsewhere (scripts/ship_checkpoint.py makes the shipped file).

    python scripts/export_weights.py OUTDIR RUN_DIR [RUN_DIR ...]

Writes OUTDIR/<run folder name>.pt from RUN_DIR/last.pt (the training state dropped) and prints the step.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch


def export(run_dir: Path, out: Path) -> int:
    """Save ``run_dir/last.pt`` without its training state, floating-point weights in float16."""
    payload = torch.load(run_dir / "last.pt", map_location="cpu", weights_only=False)
    payload.pop("train_state", None)
    weights = payload["state_dict"]
    payload["state_dict"] = {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}
    torch.save(payload, out / f"{run_dir.name}.pt")
    return int(payload["step"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("runs", type=Path, nargs="+")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for run in args.runs:
        if (run / "last.pt").is_file():
            print(f"{run.name}: step {export(run, args.out)}")
        else:
            print(f"{run.name}: no last.pt")


if __name__ == "__main__":
    main()
