#!/usr/bin/env python
"""Benchmark training throughput of a `fusion train` config: samples per second, data to update.

    python scripts/bench_train.py configs/train/liif_hsi_msi_cave.yaml --out bench_train.json \
        [--steps 50 --warmup 10] [--device cuda] [--set train.batch_size=32 ...]

Builds the run as `fusion train` does (same config, same overrides; no validation, no checkpoints) and
times it with :func:`fusion.bench.speed.training_throughput` (also run by ``fusion bench speed`` on a
synthetic cube): ``--steps`` full steps after ``--warmup`` untimed ones, the device synchronised around
each. Writes the median and 10th/90th percentile step times, samples/s (median), peak GPU memory, the
machine and the settings (batch, patch, amp, compile) to the JSON file.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fusion.bench.machine import describe_machine
from fusion.bench.speed import training_throughput
from fusion.config import load_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--out", required=True, type=Path, help="JSON file to write")
    parser.add_argument("--steps", type=int, default=50, help="timed steps")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first (compilation, caches)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()

    overrides = [*args.overrides, "val.data=null", "log.progress=false"]
    config = load_config(args.config, overrides)
    timing = training_throughput(config, args.device, args.steps, args.warmup)
    result = {
        "config": str(args.config),
        "overrides": args.overrides,
        "machine": describe_machine(timing["device"]),
        **timing,
    }
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
