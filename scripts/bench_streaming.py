#!/usr/bin/env python
"""Streaming-fusion benchmark: peak memory and time of ``fusion fuse`` on a large generated scene.

Generates (on disk, block by block, never whole in memory) a ``SIZE x SIZE`` uint16 PAN and a
``MS_SIZE x MS_SIZE x BANDS`` uint16 MS covering the same extent, runs ``fusion fuse`` on them in a
child process, and writes to OUT_JSON its wall time and peak resident memory (the child's
``ru_maxrss``), with the machine described. Target: peak RSS below 2 GB for 20000 x 20000 + 5000 x 5000 x 4.

    python scripts/bench_streaming.py bench.json                       # CPU, full size (takes long)
    python scripts/bench_streaming.py bench.json --device cuda         # GPU
    python scripts/bench_streaming.py small.json --size 4000 --ms-size 1000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ORIGIN = (500_000.0, 4_200_000.0)
PAN_RES = 0.5  # metres; the MS pixel is PAN_RES * SIZE / MS_SIZE
BLOCK_ROWS = 1024
TARGET_RSS_MB = 2048


def field(x: np.ndarray, y: np.ndarray, band: int) -> np.ndarray:
    """A textured scene as a function of map coordinates (metres), roughly 0-2000 like 11-bit DN."""
    u, v = (x - ORIGIN[0]) / 13.0, (ORIGIN[1] - y) / 9.0
    return (
        900
        + 400 * np.sin(u + 0.4 * band) * np.cos(0.8 * v)
        + 250 * np.sin(0.05 * u * np.cos(0.03 * v) + band)
    )


def write_generated(path: Path, size: int, bands: int, res: float, seed: int) -> None:
    """Write a ``bands x size x size`` uint16 GeoTIFF of :func:`field` plus noise, block by block."""
    from affine import Affine

    from fusion.io import RasterWriter, output_profile

    rng = np.random.default_rng(seed)
    transform = Affine(res, 0.0, ORIGIN[0], 0.0, -res, ORIGIN[1])
    profile = output_profile(
        size, size, bands, "uint16", crs="EPSG:32630", transform=transform, co=["ZLEVEL=1"]
    )
    cols = ORIGIN[0] + (np.arange(size) + 0.5) * res
    with RasterWriter(path, profile, overwrite=True) as out:
        for top in range(0, size, BLOCK_ROWS):
            rows = np.arange(top, min(size, top + BLOCK_ROWS))
            y = (ORIGIN[1] - (rows + 0.5) * res)[:, None]
            block = np.stack([field(cols[None, :], y, b) for b in range(bands)])
            block += rng.normal(0, 20, block.shape)
            out.write(
                np.clip(block, 0, 65535).astype(np.uint16), (int(rows[0]), int(rows[-1]) + 1), (0, size)
            )


def machine() -> dict:
    """CPU model, core count, memory and (when used) GPU name."""
    model = platform.processor()
    if Path("/proc/cpuinfo").exists():
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]  # fmt: skip
        model = names[0] if names else model
    memory = (
        os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30 if hasattr(os, "sysconf") else None
    )
    return {"cpu": model, "cores": os.cpu_count(), "memory_gib": round(memory, 1) if memory else None,
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_json", type=Path)
    parser.add_argument("--size", type=int, default=20000, help="PAN size in pixels (square)")
    parser.add_argument("--ms-size", type=int, default=5000, help="MS size in pixels (square)")
    parser.add_argument("--bands", type=int, default=4)
    parser.add_argument("--method", default=None, help="fusion method [default: fusion fuse's default]")
    parser.add_argument("--tile", type=int, default=1024)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--workdir", type=Path, help="where to put the generated files [default: a temp folder]"
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated inputs and the output")
    args = parser.parse_args()

    import torch

    import fusion
    from fusion.engine import DEFAULT_METHOD

    method = args.method or DEFAULT_METHOD
    workdir = Path(tempfile.mkdtemp(prefix="bench_streaming_", dir=args.workdir))
    pan, ms, out = workdir / "pan.tif", workdir / "ms.tif", workdir / "fused.tif"
    try:
        started = time.perf_counter()
        write_generated(pan, args.size, 1, PAN_RES, seed=0)
        write_generated(ms, args.ms_size, args.bands, PAN_RES * args.size / args.ms_size, seed=1)
        generated = time.perf_counter() - started

        command = [sys.executable, "-m", "fusion.cli", "-q", "fuse", str(pan), str(ms), str(out),
                   "--method", method, "--tile", str(args.tile), "--device", args.device]  # fmt: skip
        started = time.perf_counter()
        subprocess.run(command, check=True)
        seconds = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # kilobytes on Linux
        result = {
            "machine": machine(),
            "device": args.device,
            "gpu": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else None,
            "versions": {
                "fusion": fusion.__version__,
                "torch": torch.__version__,
                "python": platform.python_version(),
            },
            "command": " ".join(command[1:]),
            "pan": [args.size, args.size],
            "ms": [args.ms_size, args.ms_size, args.bands],
            "method": method,
            "tile": args.tile,
            "seconds_generate_inputs": round(generated, 1),
            "seconds_fuse": round(seconds, 1),
            "output_megapixels_per_s": round(args.size**2 / seconds / 1e6, 3),
            "peak_rss_mb": round(peak_mb, 1),
            "target_rss_mb": TARGET_RSS_MB,
            "within_target": peak_mb < TARGET_RSS_MB,
            "input_bytes": pan.stat().st_size + ms.stat().st_size,
            "output_bytes": out.stat().st_size,
        }
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    args.out_json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
