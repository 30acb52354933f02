#!/usr/bin/env python
"""Benchmark RandomDegradation: a (B, C, H, W) float batch, mixed per-sample ratios, MTF jitter,
noise, misregistration and a PAN made through a spectral response.

    python scripts/bench_degrade.py --out bench_degrade.json [--device cuda]
        [--batch 16 --bands 128 --size 256 --ratio 2 8]

Warms up, synchronises the device around every timed call and reports the median (and 10th/90th
percentiles) in milliseconds, with the device name, in the JSON file.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from fusion import __version__
from fusion.degrade import RandomDegradation


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU: {platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


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
    dtype = getattr(torch, args.dtype)
    gen = torch.Generator(device=device).manual_seed(0)
    gt = torch.rand(args.batch, args.bands, args.size, args.size, generator=gen, device=device, dtype=dtype)
    srf = torch.softmax(torch.randn(1, args.bands, generator=gen, device=device), dim=-1).to(dtype)
    module = RandomDegradation(
        ratio=tuple(args.ratio), gnyq_jitter=0.1, snr_db=(25, 45), guide_snr_db=(35, 50), shift=0.5, srf=srf
    )

    times = []
    with torch.no_grad():
        for i in range(args.warmup + args.repeats):
            synchronize(device)
            start = time.perf_counter()
            out = module(gt, generator=gen)
            synchronize(device)
            if i >= args.warmup:
                times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    result = {
        "benchmark": "RandomDegradation: mixed per-sample ratios, MTF jitter, noise, shift, PAN via SRF",
        "device": device_name(device),
        "torch": torch.__version__,
        "fusion": __version__,
        "input_shape": list(gt.shape),
        "dtype": args.dtype,
        "ratio_range": list(args.ratio),
        "lr_shape": list(out.lr.shape),
        "guide_shape": list(out.guide.shape),
        "repeats": args.repeats,
        "warmup": args.warmup,
        "median_ms": statistics.median(times),
        "p10_ms": times[len(times) // 10],
        "p90_ms": times[(9 * len(times)) // 10],
        "peak_memory_mb": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
