#!/usr/bin/env python
"""Streaming-fusion benchmark: peak memory and time of ``fusion fuse`` on a large generated scene.

A thin wrapper over :func:`fusion.bench.streaming.run_streaming` (also run by ``fusion bench speed
--stream-size N``). Target: peak RSS below 2 GB for 20000 x 20000 + 5000 x 5000 x 4.

    python scripts/bench_streaming.py bench.json                       # CPU, full size (takes long)
    python scripts/bench_streaming.py bench.json --device cuda         # GPU
    python scripts/bench_streaming.py small.json --size 4000 --ms-size 1000
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fusion.bench.streaming import run_streaming


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
    result = run_streaming(
        args.size, args.ms_size, args.bands, args.method, args.tile, args.device, args.workdir, args.keep
    )
    args.out_json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
