#!/usr/bin/env python
"""Benchmark RandomDegradation: a (B, C, H, W) float batch, mixed per-sample ratios, MTF jitter,
noise, misregistration and a PAN made through a spectral response.

    python scripts/bench_degrade.py --out bench_degrade.json [--device cuda]
        [--batch 16 --bands 128 --size 256 --ratio 2 8]

A thin wrapper over :func:`fusion.bench.speed.degradation_time` (also run by ``fusion bench speed``):
warms up, synchronises the device around every timed call and reports the median (and 10th/90th
percentiles) in milliseconds, with the device name, in the JSON file.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from fusion.bench.machine import describe_machine
from fusion.bench.speed import degradation_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="JSON file to write")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--bands", type=int, default=128)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--ratio", type=float, nargs=2, default=(2.0, 8.0), metavar=("LOW", "HIGH"))
    parser.add_argument("--dtype", choices=("float32", "float64", "bfloat16"), default="float32")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()

    device = torch.device(args.device)
    timing = degradation_time(
        args.batch, args.bands, args.size, tuple(args.ratio), device, getattr(torch, args.dtype),
        args.repeats, args.warmup,
    )  # fmt: skip
    result = {
        "benchmark": "RandomDegradation: mixed per-sample ratios, MTF jitter, noise, shift, PAN via SRF",
        "machine": describe_machine(device),
        **timing,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
