#!/usr/bin/env python
"""Benchmark training throughput of a `fusion train` config: samples per second, data to update.

    python scripts/bench_train.py configs/train/liif_hsi_msi_cave.yaml --out bench_train.json \
        [--steps 50 --warmup 10] [--device cuda] [--set train.batch_size=32 ...]

Builds the run as `fusion train` does (same config, same overrides; no validation, no checkpoints),
then times ``--steps`` full steps after ``--warmup`` untimed ones: batch loading, degradation on the
device, forward, backward, optimiser and EMA updates, with the device synchronised around each step.
Writes the median and 10th/90th percentile step times, samples/s (median), peak GPU memory, the
device name and the settings (batch, patch, amp, compile) to the JSON file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from bench_degrade import device_name, synchronize  # scripts/ is on the path when run as a script

from fusion import __version__
from fusion.config import load_config
from fusion.engine.trainer import Trainer, train_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--out", required=True, type=Path, help="JSON file to write")
    parser.add_argument("--steps", type=int, default=50, help="timed steps")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first (compilation, caches)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()

    total = args.warmup + args.steps
    overrides = [*args.overrides, f"schedule.steps={total}", "val.data=null", "log.progress=false"]
    config = load_config(args.config, overrides)
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(config, Path(folder) / "run", device=args.device)
        device, train = trainer.device, trainer.config["train"]
        batches = iter(trainer._loader())
        times, sample_count = [], None
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        for step in range(total):
            synchronize(device)
            start = time.perf_counter()
            lr, guide, gt = trainer.prepare(next(batches), step)
            train_step(
                trainer.model,
                trainer.loss_fn,
                trainer.optimizer,
                lr,
                guide,
                gt,
                train["grad_clip"],
                train["amp"],
            )
            trainer.scheduler.step()
            if trainer.ema is not None:
                trainer.ema.update(trainer.module)
            synchronize(device)
            if step >= args.warmup:
                times.append(time.perf_counter() - start)
            sample_count = gt.shape[0]
    median = statistics.median(times)
    deciles = statistics.quantiles(times, n=10) if len(times) > 1 else [median] * 9
    result = {
        "config": str(args.config),
        "overrides": args.overrides,
        "model": config["model"]["name"],
        "device": device_name(device),
        "torch": torch.__version__,
        "fusion": __version__,
        "batch_size": sample_count,
        "patch": trainer.config["data"]["args"].get("patch"),
        "amp_bf16": bool(train["amp"] and device.type == "cuda"),
        "compile": bool(train["compile"]),
        "parameters": sum(p.numel() for p in trainer.module.parameters()),
        "steps": args.steps,
        "step_ms_median": 1000 * median,
        "step_ms_p10": 1000 * deciles[0],
        "step_ms_p90": 1000 * deciles[-1],
        "samples_per_s": sample_count / median,
        "peak_memory_gb": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
    }
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
