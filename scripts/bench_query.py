"""Throughput of fusion.nn.SpatialQuery with a LIIF-shaped decoder against the bare MLP of the same shape.

The decoder is LIIF's: 64 latent channels unfolded 3×3 (576) + offset (2) + cell (2) = 580 inputs,
4 hidden layers of 256, C outputs, ReLU, with the 4-neighbour local ensemble. The "bare MLP ceiling"
runs the same 580 → 256×4 → C MLP once per query on ready-made inputs (no gathering, no ensemble).
Also timed: the same query through the plain path (decoder called on concatenated inputs, 4 MLP
evaluations per query), to show what the factorised first layer saves.

    PYTHONPATH=$PWD python3 scripts/bench_query.py --out bench.json --device cuda --dtype bf16

Needs only torch (no timm/einops). Writes one JSON object to ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
from pathlib import Path

import torch

from fusion.bench.speed import mlp_flops_per_eval, time_call
from fusion.nn.coords import make_cell, make_coord
from fusion.nn.inr import SpatialQuery

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}


def chunked(fn, total: int, chunk: int):
    """Call ``fn(slice)`` over ``total`` items ``chunk`` at a time."""

    def run():
        for start in range(0, total, chunk):
            fn(slice(start, start + chunk))

    return run


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--out", required=True, type=Path, help="JSON file to write")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="bf16", choices=sorted(DTYPES))
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--latent-size", type=int, default=128, help="latent grid h = w")
    parser.add_argument("--ratio", type=float, default=4.0, help="output size = ratio × latent size")
    parser.add_argument("--bands", type=int, default=31, help="decoder outputs C")
    parser.add_argument("--chunk", type=int, default=1 << 19, help="queries per decoder call")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile'd query and MLP")
    parser.add_argument("--compile-mode", default="default", help="torch.compile mode, e.g. max-autotune")
    args = parser.parse_args()

    device = torch.device(args.device)
    dtype = DTYPES[args.dtype]
    torch.manual_seed(0)
    latent_dim, hidden = 64, [256, 256, 256, 256]
    size = (args.latent_size, args.latent_size)
    out_size = (round(size[0] * args.ratio), round(size[1] * args.ratio))
    total = out_size[0] * out_size[1]
    queries = args.batch * total

    spatial = SpatialQuery(latent_dim, args.bands, hidden).to(device).eval()
    # a decoder that is not an MLP instance takes the plain path (inputs concatenated per neighbour)
    plain = SpatialQuery(latent_dim, decoder=lambda x: spatial.decoder(x))
    mlp = spatial.decoder
    widths = [spatial.in_dim, *hidden, args.bands]
    latent = torch.randn(args.batch, latent_dim, *size, device=device)
    coord = make_coord(out_size, device=device).expand(args.batch, -1, -1)
    cell = make_cell(out_size, total, device=device).expand(args.batch, -1, -1)
    # ready-made decoder inputs, already in the compute dtype (no cast inside the timed calls)
    rows = torch.randn(args.batch * min(total, args.chunk), spatial.in_dim, device=device, dtype=dtype)
    rows_per_call = rows.shape[0]

    autocast = torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()

    def query_pass(module, query_fn):
        def run():
            state = module.prepare(latent)
            chunked(lambda s: query_fn(state, coord[:, s], cell[:, s]), total, args.chunk)()

        return run

    def mlp_pass(mlp_fn):
        calls = -(-queries // rows_per_call)
        return lambda: [mlp_fn(rows) for _ in range(calls)]

    mlp_queries = -(-queries // rows_per_call) * rows_per_call
    cases = {
        "spatial_query": (query_pass(spatial, spatial.query), queries),
        "spatial_query_plain": (query_pass(plain, plain.query), queries),
        "bare_mlp": (mlp_pass(mlp), mlp_queries),
    }
    if args.compile:
        compile_ = lambda fn: torch.compile(fn, mode=args.compile_mode)  # noqa: E731
        cases["spatial_query_compiled"] = (query_pass(spatial, compile_(spatial.query)), queries)
        cases["bare_mlp_compiled"] = (mlp_pass(compile_(mlp)), mlp_queries)

    results = {}
    with torch.inference_mode(), autocast:
        for name, (fn, count) in cases.items():
            try:
                seconds = time_call(fn, device, args.repeats, args.warmup)
            except Exception as error:  # a compile failure is a result worth recording, not a crash
                results[name] = {"error": f"{type(error).__name__}: {error}"[:500]}
                continue
            results[name] = {"seconds": seconds, "queries": count, "queries_per_s": count / seconds}
    per_eval = mlp_flops_per_eval(widths)
    for name in ("bare_mlp", "bare_mlp_compiled"):
        if "queries_per_s" in results.get(name, {}):
            results[name]["tflops"] = results[name]["queries_per_s"] * per_eval / 1e12

    def ratio(a: str, b: str):
        if "queries_per_s" in results.get(a, {}) and "queries_per_s" in results.get(b, {}):
            return results[a]["queries_per_s"] / results[b]["queries_per_s"]
        return None

    report = {
        "benchmark": "spatial query (LIIF-shaped decoder) vs bare MLP",
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "dtype": args.dtype,
        "compile_mode": args.compile_mode if args.compile else None,
        "decoder": {"widths": widths, "activation": "relu", "unfold": True, "cell": True, "ensemble": 4},
        "batch": args.batch,
        "latent_size": list(size),
        "out_size": list(out_size),
        "queries_per_pass": queries,
        "chunk": args.chunk,
        "mlp_flops_per_eval": per_eval,
        "results": results,
        "ratio_query_to_bare_mlp": ratio("spatial_query", "bare_mlp"),
        "ratio_compiled_query_to_compiled_bare_mlp": ratio("spatial_query_compiled", "bare_mlp_compiled"),
        "speedup_factorised_over_plain": ratio("spatial_query", "spatial_query_plain"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
