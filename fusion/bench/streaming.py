"""Streaming-fusion benchmark: peak memory and time of ``fusion fuse`` on a large generated scene.

:func:`run_streaming` writes (block by block, never whole in memory) a ``size x size`` uint16 PAN and a
``ms_size x ms_size x bands`` uint16 MS covering the same extent, runs ``fusion fuse`` on them in a child
process and reports its wall time and peak resident memory (the child's ``ru_maxrss``, taken from a bare
launcher process: see :data:`LAUNCHER`). Target: peak RSS below 2 GB for 20000 x 20000 + 5000 x 5000 x 4.
Needs GDAL (``fusion.io``), imported when run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fusion.bench.machine import describe_machine

ORIGIN = (500_000.0, 4_200_000.0)
PAN_RES = 0.5  # metres; the MS pixel is PAN_RES * size / ms_size
BLOCK_ROWS = 1024
TARGET_RSS_MB = 2048
LAUNCHER = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)
"""Runs ``fusion fuse`` and prints its peak RSS (kB). A child's ``ru_maxrss`` starts at its parent's
high-water mark (Linux keeps the old memory map's peak across fork/vfork and exec), so the fuse is
started from this bare interpreter, not from the benchmark process that may hold gigabytes."""


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


def run_streaming(
    size: int = 20000,
    ms_size: int | None = None,
    bands: int = 4,
    method: str | None = None,
    tile: int = 1024,
    device: str = "cpu",
    workdir: str | os.PathLike | None = None,
    keep: bool = False,
) -> dict:
    """Generate the pair (MS ``ms_size``, default ``size / 4``), fuse it in a child process, and return
    its wall time, output rate and peak RSS with the machine described."""
    from fusion.engine import DEFAULT_METHOD

    method = method or DEFAULT_METHOD
    ms_size = ms_size or size // 4
    folder = Path(tempfile.mkdtemp(prefix="bench_streaming_", dir=workdir))
    pan, ms, out = folder / "pan.tif", folder / "ms.tif", folder / "fused.tif"
    try:
        started = time.perf_counter()
        write_generated(pan, size, 1, PAN_RES, seed=0)
        write_generated(ms, ms_size, bands, PAN_RES * size / ms_size, seed=1)
        generated = time.perf_counter() - started
        command = [sys.executable, "-m", "fusion.cli", "-q", "fuse", str(pan), str(ms), str(out),
                   "--method", method, "--tile", str(tile), "--device", device]  # fmt: skip
        started = time.perf_counter()
        launched = subprocess.run(
            [sys.executable, "-c", LAUNCHER, *command], check=True, stdout=subprocess.PIPE, text=True
        )
        seconds = time.perf_counter() - started
        peak_mb = int(launched.stdout.split()[-1]) / 1024  # kilobytes on Linux
        return {
            "machine": describe_machine(device),
            "command": " ".join(command[1:]),
            "pan": [size, size],
            "ms": [ms_size, ms_size, bands],
            "method": method,
            "tile": tile,
            "seconds_generate_inputs": round(generated, 1),
            "seconds_fuse": round(seconds, 1),
            "output_megapixels_per_s": round(size**2 / seconds / 1e6, 3),
            "peak_rss_mb": round(peak_mb, 1),
            "target_rss_mb": TARGET_RSS_MB,
            "within_target": peak_mb < TARGET_RSS_MB,
            "input_bytes": pan.stat().st_size + ms.stat().st_size,
            "output_bytes": out.stat().st_size,
        }
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
