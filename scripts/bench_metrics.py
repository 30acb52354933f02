#!/usr/bin/env python
"""Time every metric of ``fusion.metrics`` on a (B, C, S, S) pair and write the results as JSON.

    python scripts/bench_metrics.py --out metrics_cpu.json                  # 8 x 2048 x 2048 on CPU
    python scripts/bench_metrics.py --out metrics_gpu.json --device cuda

Inputs are synthetic 11-bit DN images (a smooth random field plus texture; the fused image is the
reference perturbed per band and per pixel), float64 as the metrics compute. Each metric runs once to
warm up, then ``--repeat`` times; the JSON holds the median and all wall-clock times, the process CPU
times, the device, torch version, thread count and the machine's load average (wall-clock numbers on a
shared machine are noisy; CPU time divided by the thread count is a better estimate of an idle machine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import fusion.metrics as M
from fusion.degrade import upsample

TARGETS_S = {"cpu": {"q2n": 10.0, "default": 2.0}}  # issue 4: 2 CPU cores, 8 x 2048 x 2048


def synthetic_scene(bands: int, size: int, ratio: int, device: torch.device, seed: int = 0):
    """``(fused, reference, ms_up, pan, lr)`` float64 DN tensors with batch 1."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, bands, size // 32, size // 32, generator=gen, dtype=torch.float64)
    smooth = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    texture = torch.rand(1, 1, size, size, generator=gen, dtype=torch.float64)
    reference = (300 + 1200 * smooth + 200 * texture).clamp(0, 2047)
    gains = 0.9 + 0.2 * torch.rand(1, bands, 1, 1, generator=gen, dtype=torch.float64)
    fused = (reference * gains + 25 * torch.randn(reference.shape, generator=gen, dtype=torch.float64)).clamp(
        0, 2047
    )
    pan = reference.mean(dim=1, keepdim=True)
    lr = F.avg_pool2d(reference, ratio)
    ms_up = upsample(lr, (size, size), method="auto")
    return tuple(t.to(device) for t in (fused, reference, ms_up, pan, lr))


def metric_calls(fused, reference, ms_up, pan, ratio: int, sensor: str) -> dict:
    """Name -> zero-argument callable computing that metric."""
    return {
        "rmse": lambda: M.rmse(fused, reference),
        "psnr": lambda: M.psnr(fused, reference, data_range=2047),
        "cc": lambda: M.cc(fused, reference),
        "sam": lambda: M.sam(fused, reference),
        "ergas": lambda: M.ergas(fused, reference, ratio),
        "scc": lambda: M.scc(fused, reference),
        "q": lambda: M.q(fused, reference),
        "ssim": lambda: M.ssim(fused, reference, data_range=2047),
        "q2n": lambda: M.q2n(fused, reference),
        "d_lambda": lambda: M.d_lambda(fused, ms_up),
        "d_s": lambda: M.d_s(fused, ms_up, pan, ratio),
        "qnr": lambda: M.qnr(fused, ms_up, pan, ratio),
        "d_lambda_k": lambda: M.d_lambda_k(fused, ms_up, ratio, sensor),
        "hqnr": lambda: M.hqnr(fused, ms_up, pan, ratio, sensor),
    }


def timed(call, device: torch.device) -> tuple[float, float]:
    """Wall-clock and process CPU seconds of one call (CPU time exposes contention on a shared machine)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--bands", type=int, default=8)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--ratio", type=int, default=4)
    parser.add_argument("--sensor", default="WV2")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the issue's target: 2)")
    parser.add_argument("--metrics", help="comma-separated subset of the metric names")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    scene = synthetic_scene(args.bands, args.size, args.ratio, device)
    calls = metric_calls(*scene[:4], args.ratio, args.sensor)
    if args.metrics:
        calls = {name: calls[name] for name in args.metrics.split(",")}
    targets = TARGETS_S.get(device.type, {})
    results = {}
    for name, call in calls.items():
        timed(call, device)  # warm-up (kernels, caches, allocator)
        walls, cpus = zip(*(timed(call, device) for _ in range(args.repeat)), strict=True)
        median = statistics.median(walls)
        target = targets.get(name, targets.get("default"))
        results[name] = {"median_s": median, "times_s": walls, "cpu_s": cpus, "target_s": target}
        verdict = "" if target is None else ("  ok" if median < target else f"  over the {target:g} s target")
        print(
            f"{name:<11} {median:8.3f} s (process CPU {statistics.median(cpus):7.3f} s){verdict}", flush=True
        )
    info = {
        "shape": [1, args.bands, args.size, args.size],
        "ratio": args.ratio,
        "sensor": args.sensor,
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or "cpu",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_1_5_15": list(os.getloadavg()),
        "repeat": args.repeat,
        "results": results,
    }
    Path(args.out).write_text(json.dumps(info, indent=2) + "\n")


if __name__ == "__main__":
    main()
