"""``fusion bench speed``: throughput, memory and time against the targets of issue 8 and the GPU ceilings.

* :func:`fuse_throughput` -- output voxels (pixel x band) per second of a model's forward on one tile as
  ``fusion fuse`` runs it (the tile's core plus the model's halo in memory, no disk I/O; warm-up, device
  synchronised, median of repeats), with peak GPU memory and, where torch can count them, TFLOP/s.
* :func:`query_stage` -- an INR model's query stage (forward minus encode) against the bare MLP of its
  decoder's shape run once per output pixel on ready-made inputs (the "MLP ceiling").
* ``compile=True`` (``fusion bench speed --compile``) times both with every INR model's ``query`` and the
  bare MLP ``torch.compile``d (:func:`compiled_queries`); the warm-up calls absorb the compilation.
* :func:`training_throughput` -- samples per second of whole training steps (:class:`Trainer`), on a
  synthetic cube (:func:`synthetic_training_config`) or any config.
* :func:`degradation_time` -- ``RandomDegradation`` of a ``(B, C, H, W)`` batch.
* :func:`window_attention_time` -- the WindowAttention micro-benchmark of GPU.md (needs timm).
* The streaming run's peak RSS is :func:`fusion.bench.streaming.run_streaming` (needs GDAL).

GPU figures are shown as ratios to :data:`CEILINGS`, measured on an H200 (GPU.md); other devices get none.
Nothing here imports :mod:`fusion.io`, so it runs on a machine without GDAL.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from fusion.errors import InputError

CEILINGS = {
    "dense_gemm_tflops": 804.0,
    "query_mlp_queries_per_s": (200e6, 250e6),
    "d2d_copy_bytes_per_s": 4.2e12,
    "window_attention_s": 1.1e-3,
}
"""Ceilings of an NVIDIA H200 (bf16 autocast), from ``../shared/design/GPU.md``: dense 8192^3 GEMM
TFLOP/s; a LIIF-shaped query MLP (580 -> 256 x 4 -> C) in queries/s; device-to-device copy bytes/s;
timm WindowAttention over 4096 windows x 64 tokens x 64 dims in seconds."""
CEILING_SOURCE = "../shared/design/GPU.md (NVIDIA H200, bf16 autocast)"
CEILING_DEVICES = ("H200",)
"""Device names the ceilings apply to; an H100's are unknown (shown as n/a)."""
LIIF_DECODER = (580, 256, 256, 256, 256)
"""Input and hidden widths of the decoder the query-MLP ceiling was measured for (any output width)."""
TARGETS = {
    "fuse_voxels_per_s": 1e9,
    "query_to_mlp": 3.0,
    "stream_rss_mb": 2048.0,
    "degradation_ms": 20.0,
}
"""Issue 8 (GPU machine, bf16): the default INR model fuses >= 1e9 output voxels/s at x4 with C = 103;
each INR model's query stage within 3x of the MLP ceiling for its decoder's shape; streaming a
20000 x 20000 scene under 2 GB peak RSS on CPU; RandomDegradation of 16 x 128 x 256 x 256 under 20 ms."""
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}
COMPILE_OPTIONS = {"dynamic": False}
"""``torch.compile`` options of the compiled query stages and bare MLPs: the default mode (no CUDA graphs,
whose reused output buffers a caller keeping a chunk's values would see overwritten; no autotuning, whose
minutes would dwarf a benchmark) with static shapes -- a forward queries chunks of one size plus one
ragged last chunk, two specialised graphs that one warm-up forward compiles."""


# -- timing ---------------------------------------------------------------------------------------
def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device, repeats: int = 5, warmup: int = 2) -> float:
    """Median wall time of ``fn()`` in seconds, the device synchronised around each call."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def autocast(device: torch.device, dtype: str):
    """bf16/fp16 autocast on ``device``, or nothing for ``"fp32"``."""
    if dtype not in DTYPES:
        raise InputError(f"--dtype {dtype}: use one of {', '.join(DTYPES)}")
    return torch.autocast(device.type, dtype=DTYPES[dtype]) if DTYPES[dtype] else contextlib.nullcontext()


@contextlib.contextmanager
def peak_memory(device: torch.device, out: dict) -> object:
    """Record the peak GPU memory (MB) allocated inside the block in ``out["peak_gpu_mb"]``."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    yield
    out["peak_gpu_mb"] = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def count_flops(fn: Callable[[], object]) -> int | None:
    """FLOPs torch counts for one ``fn()`` (matrix products and convolutions), ``None`` if it cannot."""
    try:
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as counter:
            fn()
        return int(counter.get_total_flops())
    except Exception:  # the counter does not know every operator; a missing figure is fine
        return None


# -- ceilings -------------------------------------------------------------------------------------
def ceilings_for(device_name: str | None) -> dict | None:
    """:data:`CEILINGS` when ``device_name`` is a GPU they were measured on, else ``None``."""
    if device_name and any(name in device_name for name in CEILING_DEVICES):
        return CEILINGS
    return None


def ceiling_ratio(value: float | None, ceiling: float | None) -> float | None:
    """``value / ceiling``, or ``None`` when either is unknown."""
    return None if value is None or not ceiling else value / ceiling


def mlp_flops_per_eval(widths: Sequence[int]) -> int:
    """Multiply-add FLOPs of one MLP evaluation (2 per weight)."""
    return sum(2 * a * b for a, b in zip(widths[:-1], widths[1:], strict=False))


# -- models -------------------------------------------------------------------------------------
def build(name: str, bands: int, guide_bands: int = 1):
    """Model ``name`` for ``bands`` LR bands and ``guide_bands`` guide bands (random weights)."""
    from fusion.models import create_model

    torch.manual_seed(0)
    return create_model(name, lr_bands=bands, guide_bands=guide_bands).eval()


def tile_inputs(model, ratio: float, bands: int, tile: int, device: torch.device, guide_bands: int = 1):
    """A tile as ``fusion fuse`` feeds it: ``tile`` output pixels plus the model's halo on each side,
    on a whole number of LR pixels. Returns ``lr (1, C, h, h)``, ``guide (1, G, H, H)``, ``halo``."""
    halo = model.halo((ratio, ratio))
    lr_size = math.ceil((tile + 2 * halo) / ratio)
    window = round(lr_size * ratio)
    generator = torch.Generator(device="cpu").manual_seed(0)
    lr = torch.rand(1, bands, lr_size, lr_size, generator=generator).to(device)
    guide = torch.rand(1, guide_bands, window, window, generator=generator).to(device)
    return lr, guide, halo


def fuse_throughput(
    name: str,
    ratio: float,
    bands: int,
    tile: int,
    device: torch.device,
    dtype: str = "fp32",
    repeats: int = 5,
    warmup: int = 2,
    flops: bool = True,
    compile: bool = False,
) -> dict:
    """Output voxels per second of ``name`` fusing one tile of ``tile x tile`` output pixels and
    ``bands`` bands at ``ratio`` (the tile's core voxels over the median forward time); ``compile``:
    with its INR queries compiled (:func:`compiled_queries`; ``row["compile"]`` says whether it had any).
    FLOPs are counted on the eager model."""
    model = build(name, bands).to(device)
    lr, guide, halo = tile_inputs(model, ratio, bands, tile, device)
    out_size = tuple(guide.shape[-2:])

    def forward():
        with torch.inference_mode(), autocast(device, dtype):
            return model(lr, guide, out_size)

    row: dict = {"model": name, "ratio": ratio, "bands": bands, "tile": tile, "halo": halo,
                 "window": out_size[0], "dtype": dtype}  # fmt: skip
    with compiled_queries(model, compile) as compiled, peak_memory(device, row):
        seconds = time_call(forward, device, repeats, max(warmup, int(compile)))
    row["compile"] = bool(compiled)
    row["graph_breaks"] = graph_breaks() if compiled else None
    row["seconds"] = seconds
    row["output_voxels"] = tile * tile * bands
    row["voxels_per_s"] = row["output_voxels"] / seconds
    total = count_flops(forward) if flops else None
    row["tflops"] = None if total is None else total / seconds / 1e12
    row["output_bytes_per_s"] = row["voxels_per_s"] * torch.finfo(torch.float32).bits / 8
    return row


def decoder_widths(model) -> list[int] | None:
    """Widths ``[in, hidden..., out]`` of the model's largest MLP (:class:`fusion.nn.mlp.MLP`, or a
    hypernetwork's :class:`fusion.nn.hyper.HyperMLP`) by FLOPs per evaluation: the decoder its query
    stage evaluates; ``None`` without one."""
    from fusion.nn.hyper import HyperMLP
    from fusion.nn.mlp import MLP

    widths = [[m.in_dim, *m.hidden, m.out_dim] for m in model.modules() if isinstance(m, MLP)]
    widths += [list(m.widths) for m in model.modules() if isinstance(m, HyperMLP)]
    return max(widths, key=mlp_flops_per_eval) if widths else None


def bare_mlp_time(
    widths: Sequence[int], queries: int, chunk: int, device, dtype, repeats, warmup, compile: bool = False
) -> float:
    """Median time of a bare MLP of ``widths`` (ReLU) evaluated once per query on ready-made inputs,
    ``chunk`` rows per call; ``compile``: ``torch.compile``d with :data:`COMPILE_OPTIONS`, compiled by
    the warm-up (at least one call)."""
    from fusion.nn.mlp import MLP

    mlp = MLP(widths[0], widths[-1], widths[1:-1]).to(device).eval()
    if compile:
        mlp, warmup = torch.compile(mlp, **COMPILE_OPTIONS), max(warmup, 1)
    rows = torch.randn(min(queries, chunk), widths[0], device=device)
    calls = -(-queries // rows.shape[0])

    def run():
        with torch.inference_mode(), autocast(device, dtype):
            for _ in range(calls):
                mlp(rows)

    return time_call(run, device, repeats, warmup)


@contextlib.contextmanager
def replaced_queries(model, wrap: Callable[[Callable], Callable]):
    """Shadow the ``query`` of every INR model in ``model``'s tree by ``wrap(query)`` (an instance
    attribute) inside the block, and restore what was there before on exit; yields those modules."""
    from fusion.models.base import INRModel

    modules = [m for m in model.modules() if isinstance(m, INRModel)]
    shadowed = [m.__dict__.get("query") for m in modules]
    for module in modules:
        module.query = wrap(module.query)
    try:
        yield modules
    finally:
        for module, previous in zip(modules, shadowed, strict=True):
            if previous is None:
                del module.query
            else:
                module.query = previous


@contextlib.contextmanager
def compiled_queries(model, compile: bool = True):
    """Inside the block, the ``query`` of every INR model in ``model``'s tree is ``torch.compile``d with
    :data:`COMPILE_OPTIONS` (compiled at its first calls); yields those modules, none when ``compile`` is
    false. Dynamo's caches and its graph-break count (:func:`graph_breaks`) are reset first, so earlier
    models' graphs do not count against its recompilation limit (past which it would silently run
    eagerly)."""
    if not compile:
        yield []
        return
    from torch._dynamo.utils import counters

    torch.compiler.reset()
    counters["graph_break"].clear()
    with replaced_queries(model, lambda query: torch.compile(query, **COMPILE_OPTIONS)) as modules:
        yield modules


def graph_breaks() -> int:
    """Graph breaks dynamo met since :func:`compiled_queries` began (0: each compiled query is one graph;
    more: it runs in pieces with Python between them, e.g. where it reads a tensor's value)."""
    from torch._dynamo.utils import counters

    return sum(counters["graph_break"].values())


@contextlib.contextmanager
def timed_queries(model, device: torch.device, record: dict):
    """Add to ``record["seconds"]`` the time spent in the ``query`` of every INR model in ``model``'s
    tree (outermost calls only, the device synchronised around each) and to ``record["queries"]`` the
    coordinates queried."""
    depth = [0]

    def timed(original):
        def query(state, coord, cell):
            if depth[0]:
                return original(state, coord, cell)
            depth[0] += 1
            synchronize(device)
            start = time.perf_counter()
            try:
                return original(state, coord, cell)
            finally:
                synchronize(device)
                record["seconds"] += time.perf_counter() - start
                record["queries"] += coord.shape[0] * coord.shape[1]
                depth[0] -= 1

        return query

    with replaced_queries(model, timed):
        yield record


def query_stage(
    name: str, ratio: float, bands: int, tile: int, device: torch.device, dtype: str = "fp32",
    repeats: int = 5, warmup: int = 2, compile: bool = False,
) -> dict:  # fmt: skip
    """An INR model's query stage on one tile -- the time inside the ``query`` of every INR model in
    its network (:func:`timed_queries`), median over ``repeats`` forwards -- against the bare MLP of
    its decoder's shape (its largest MLP) evaluated once per queried coordinate on ready-made inputs:
    ``query_to_mlp`` (target <= 3). ``compile``: both compiled (:func:`compiled_queries`, the bare MLP
    alike), each compiled by at least one untimed warm-up call."""
    model = build(name, bands).to(device)
    widths = decoder_widths(model)
    if widths is None:
        raise InputError(f"{name}: has no MLP decoder to compare with")
    lr, guide, _ = tile_inputs(model, ratio, bands, tile, device)

    def forward():
        with torch.inference_mode(), autocast(device, dtype):
            model(lr, guide)

    warmup = max(warmup, int(compile))
    runs = []
    with compiled_queries(model, compile):
        for _ in range(warmup):
            forward()
        for _ in range(repeats):
            with timed_queries(model, device, {"seconds": 0.0, "queries": 0}) as record:
                forward()
            runs.append(record)
        breaks = graph_breaks() if compile else None
    query = statistics.median(r["seconds"] for r in runs)
    queries = runs[0]["queries"]
    if not queries:
        raise InputError(f"{name}: its forward queried no coordinates")
    chunk = getattr(model, "default_chunk", 1 << 16)
    bare = bare_mlp_time(widths, queries, chunk, device, dtype, repeats, warmup, compile)
    return {
        "model": name, "ratio": ratio, "bands": bands, "tile": tile, "dtype": dtype, "compile": compile,
        "graph_breaks": breaks, "queries": queries,
        "decoder_widths": widths, "query_s": query, "queries_per_s": queries / query, "bare_mlp_s": bare,
        "bare_mlp_queries_per_s": queries / bare,
        "bare_mlp_tflops": queries * mlp_flops_per_eval(widths) / bare / 1e12, "query_to_mlp": query / bare,
    }  # fmt: skip


# -- training -----------------------------------------------------------------------------------
def write_synthetic_cube(folder: Path, bands: int = 31, size: int = 256, seed: int = 0) -> Path:
    """A smooth random ``(size, size, bands)`` float32 cube over 400-700 nm (``cube``, ``wavelengths_nm``)
    saved as ``synthetic.npz`` in ``folder``: training data that needs no files from elsewhere."""
    rng = np.random.default_rng(seed)
    y, x = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size), indexing="ij")
    spectra = rng.uniform(0.1, 0.9, (4, bands))
    weights = np.stack([np.sin(2 * np.pi * (k + 1) * (x + y * k / 3)) ** 2 for k in range(4)], axis=-1)
    cube = weights @ spectra / 4 + rng.normal(0, 0.01, (size, size, bands))
    path = Path(folder) / "synthetic.npz"
    np.savez(path, cube=cube.astype(np.float32), wavelengths_nm=np.linspace(400, 700, bands))
    return path


def synthetic_training_config(
    model: str, root: Path, batch: int, patch: int, steps: int, compile: bool = False
) -> dict:
    """A training config of ``model`` on the synthetic cube in ``root`` (HSI-MSI: RGB guide through the
    Nikon D700 response, random ratio in [2, 8], as the CAVE task), no validation, no progress bar;
    ``compile``: the trainer's ``train.compile`` (the whole model ``torch.compile``d, default options)."""
    return {
        "model": {"name": model, "args": {}},
        "data": {"name": "hsi-cubes", "root": str(root),
                 "args": {"files": "*.npz", "patch": patch, "samples_per_image": 1 << 16}},
        "degrade": {"ratio": [2.0, 8.0], "guide": {"sensor": "nikon_d700", "bands": "ms"}},
        "loss": {"name": "l1"},
        "schedule": {"steps": steps},
        "train": {"batch_size": batch, "checkpoint_every": 1 << 30, "compile": compile},
        "log": {"progress": False},
    }  # fmt: skip


def synthetic_training(
    model: str, device, batch: int = 16, patch: int = 64, steps: int = 20, warmup: int = 5,
    compile: bool = False,
) -> dict:  # fmt: skip
    """:func:`training_throughput` of ``model`` on a synthetic cube written to a temporary folder."""
    with tempfile.TemporaryDirectory() as folder:
        write_synthetic_cube(Path(folder))
        config = synthetic_training_config(model, Path(folder), batch, patch, steps, compile)
        return training_throughput(config, device, steps, warmup)


def training_throughput(config: Mapping, device=None, steps: int = 20, warmup: int = 5) -> dict:
    """Samples per second of ``steps`` whole training steps after ``warmup`` untimed ones: batch loading,
    degradation on the device, forward, backward, optimiser and EMA updates, the device synchronised
    around each step. ``config`` is a training config (``schedule.steps`` is set to the steps run)."""
    from fusion.engine.trainer import Trainer, train_step

    config = {**config, "schedule": {**config.get("schedule", {}), "steps": warmup + steps}}
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(config, Path(folder) / "run", device=device)
        device, train = trainer.device, trainer.config["train"]
        batches = iter(trainer._loader())
        times, batch = [], None
        out: dict = {}
        with peak_memory(device, out):
            for step in range(warmup + steps):
                synchronize(device)
                start = time.perf_counter()
                lr, guide, gt = trainer.prepare(next(batches), step)
                train_step(trainer.model, trainer.loss_fn, trainer.optimizer, lr, guide, gt,
                           train["grad_clip"], train["amp"])  # fmt: skip
                trainer.scheduler.step()
                if trainer.ema is not None:
                    trainer.ema.update(trainer.module)
                synchronize(device)
                if step >= warmup:
                    times.append(time.perf_counter() - start)
                batch = gt.shape[0]
    median = statistics.median(times)
    deciles = statistics.quantiles(times, n=10) if len(times) > 1 else [median] * 9
    return {
        "model": trainer.config["model"]["name"],
        "device": str(device),
        "batch_size": batch,
        "patch": trainer.config["data"]["args"].get("patch"),
        "amp_bf16": bool(train["amp"] and device.type == "cuda"),
        "compile": bool(train["compile"]),
        "parameters": sum(p.numel() for p in trainer.module.parameters()),
        "steps": steps,
        "step_ms_median": 1000 * median,
        "step_ms_p10": 1000 * deciles[0],
        "step_ms_p90": 1000 * deciles[-1],
        "samples_per_s": batch / median,
        "peak_memory_gb": None if out["peak_gpu_mb"] is None else out["peak_gpu_mb"] / 1024,
    }


# -- degradation and attention ------------------------------------------------------------------
def degradation_time(
    batch: int = 16, bands: int = 128, size: int = 256, ratio=(2.0, 8.0), device=None, dtype=torch.float32,
    repeats: int = 50, warmup: int = 10,
) -> dict:  # fmt: skip
    """Median and 10th/90th percentile ms of ``RandomDegradation`` on a ``(batch, bands, size, size)``
    batch: per-sample ratios in ``ratio``, GNyq jitter 10 %, LR noise 25-45 dB, guide noise 35-50 dB,
    misregistration up to 0.5 LR pixel, a PAN through a random spectral response."""
    from fusion.degrade import RandomDegradation

    device = torch.device(device or "cpu")
    gen = torch.Generator(device=device).manual_seed(0)
    gt = torch.rand(batch, bands, size, size, generator=gen, device=device, dtype=dtype)
    srf = torch.softmax(torch.randn(1, bands, generator=gen, device=device), dim=-1).to(dtype)
    module = RandomDegradation(
        ratio=tuple(ratio), gnyq_jitter=0.1, snr_db=(25, 45), guide_snr_db=(35, 50), shift=0.5, srf=srf
    )
    times, out, row = [], None, {}
    with torch.no_grad(), peak_memory(device, row):
        for i in range(warmup + repeats):
            synchronize(device)
            start = time.perf_counter()
            out = module(gt, generator=gen)
            synchronize(device)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return {
        "input_shape": list(gt.shape), "dtype": str(dtype).removeprefix("torch."), "ratio_range": list(ratio),
        "lr_shape": list(out.lr.shape), "guide_shape": list(out.guide.shape), "repeats": repeats,
        "warmup": warmup, "median_ms": statistics.median(times), "p10_ms": times[len(times) // 10],
        "p90_ms": times[(9 * len(times)) // 10], "input_bytes": gt.numel() * gt.element_size(), **row,
    }  # fmt: skip


def window_attention_time(
    device: torch.device, dtype: str = "bf16", windows: int = 4096, tokens: int = 64, dim: int = 64,
    repeats: int = 20, warmup: int = 5,
) -> dict:  # fmt: skip
    """Median seconds of timm's WindowAttention over ``windows x tokens x dim`` (GPU.md's shape); the
    window is square, ``sqrt(tokens)`` on a side, with 2 heads."""
    from timm.models.swin_transformer import WindowAttention

    side = math.isqrt(tokens)
    module = WindowAttention(dim, num_heads=2, window_size=(side, side)).to(device).eval()
    x = torch.randn(windows, tokens, dim, device=device)

    def run():
        with torch.inference_mode(), autocast(device, dtype):
            module(x)

    return {"windows": windows, "tokens": tokens, "dim": dim, "dtype": dtype,
            "seconds": time_call(run, device, repeats, warmup)}  # fmt: skip


# -- the whole benchmark ------------------------------------------------------------------------
def attempt(where: dict, action: Callable[..., dict], *args, **kwargs) -> dict:
    """``action(*args, **kwargs)``; a failure (a model that needs timm, too little memory) becomes the row
    ``where`` with an ``error``."""
    try:
        return action(*args, **kwargs)
    except Exception as exc:
        return {**where, "error": f"{type(exc).__name__}: {exc}"[:300]}


def add_ceilings(result: dict) -> dict:
    """Ratios of the GPU figures to :data:`CEILINGS` (when the device is one they were measured on)."""
    ceilings = ceilings_for(result["machine"].get("gpu"))
    result["ceilings"] = {"values": ceilings, "source": CEILING_SOURCE if ceilings else None}
    gemm = (ceilings or {}).get("dense_gemm_tflops")
    copy = (ceilings or {}).get("d2d_copy_bytes_per_s")
    for row in result["fuse"]:
        row["tflops_to_gemm"] = ceiling_ratio(row.get("tflops"), gemm)
        row["write_to_copy_bandwidth"] = ceiling_ratio(row.get("output_bytes_per_s"), copy)
    low_high = (ceilings or {}).get("query_mlp_queries_per_s")
    for row in result["query"]:
        row["bare_mlp_tflops_to_gemm"] = ceiling_ratio(row.get("bare_mlp_tflops"), gemm)
        liif = tuple(row.get("decoder_widths", ())[:-1]) == LIIF_DECODER
        row["bare_mlp_to_liif_ceiling"] = (
            [ceiling_ratio(row["bare_mlp_queries_per_s"], c) for c in low_high] if liif and low_high else None
        )
    degradation = result.get("degradation") or {}
    if "median_ms" in degradation:
        bandwidth = degradation["input_bytes"] / (degradation["median_ms"] / 1e3)
        degradation["input_read_to_copy_bandwidth"] = ceiling_ratio(bandwidth, copy)
    attention = result.get("window_attention") or {}
    if "seconds" in attention:
        ceiling_s = (ceilings or {}).get("window_attention_s")
        attention["ceiling_to_time"] = ceiling_ratio(ceiling_s, attention["seconds"]) if ceiling_s else None
    return result


def check_targets(result: dict, default_model: str) -> list[dict]:
    """Each target of :data:`TARGETS` with the measured value, whether it is met and ``how_far``
    (value / goal: >= 1 meets a "more than" target, <= 1 a "less than" one)."""
    targets = []

    def add(what: str, value, goal: float, more_is_better: bool, note: str = "") -> None:
        met = None if value is None else (value >= goal if more_is_better else value <= goal)
        how_far = None if value is None else value / goal
        targets.append({"target": what, "value": value, "goal": goal, "met": met, "how_far": how_far,
                        "note": note})  # fmt: skip

    wanted = (default_model, 4.0, 103)
    fuse = [
        r["voxels_per_s"] for r in result["fuse"]
        if (r.get("model"), r.get("ratio"), r.get("bands")) == wanted and "voxels_per_s" in r
    ]  # fmt: skip
    add(f"{default_model} fuses >= 1e9 output voxels/s at x4, C = 103", fuse[0] if fuse else None,
        TARGETS["fuse_voxels_per_s"], True, "GPU bf16 target; other devices for reference")  # fmt: skip
    for row in result["query"]:
        if "query_to_mlp" in row:
            shape = f"x{row['ratio']:g}, C = {row['bands']}"
            what = f"{row['model']} query stage within 3x of its bare MLP ({shape})"
            add(what, row["query_to_mlp"], TARGETS["query_to_mlp"], False)
    stream = result.get("streaming") or {}
    add("streaming 20000^2 peak RSS < 2 GB (CPU)", stream.get("peak_rss_mb"), TARGETS["stream_rss_mb"], False,
        f"PAN {stream['pan'][0]}^2" if "pan" in stream else "not run")  # fmt: skip
    degradation = result.get("degradation") or {}
    add("RandomDegradation of 16 x 128 x 256 x 256 < 20 ms", degradation.get("median_ms"),
        TARGETS["degradation_ms"], False, f"input {degradation.get('input_shape')}")  # fmt: skip
    return targets


def is_inr(name: str) -> bool:
    """Whether registered model ``name`` has encode/query stages (an INR model)."""
    from fusion.models.base import INRModel
    from fusion.registry import MODELS

    return issubclass(MODELS.get(name), INRModel)


def run_speed(
    models: Sequence[str],
    device: torch.device,
    ratios: Sequence[float] = (4.0, 3.3),
    bands: Sequence[int] = (8, 103),
    tile: int = 1024,
    dtype: str = "bf16",
    repeats: int = 5,
    warmup: int = 2,
    train_models: Sequence[str] = (),
    train: Mapping | None = None,
    degradation: Mapping | None = None,
    query: bool = True,
    attention: bool = True,
    stream_size: int = 0,
    default_model: str | None = None,
    compile: bool = False,
    log: Callable[[str], None] = lambda message: None,
) -> dict:
    """Every part of the speed benchmark; a part that fails is recorded with its error, not raised.

    Args:
        models: registered names timed by :func:`fuse_throughput` at each ratio and band count (and, for
            INR models, :func:`query_stage` at the first ratio and the largest band count).
        train_models: models whose training samples/s are measured on the synthetic cube, with
            ``train`` = ``{"batch", "patch", "steps", "warmup"}``.
        degradation: keyword arguments of :func:`degradation_time` (``None``: skipped).
        query: time the query stage of the INR models.
        attention: time the WindowAttention of GPU.md (CUDA only; needs timm).
        stream_size: PAN size of the streaming run (0: skipped; needs GDAL).
        default_model: the model of the 1e9 voxels/s target.
        compile: ``torch.compile`` the INR queries and bare MLPs of the fusion and query-stage parts
            (:func:`compiled_queries`) and the trained models (``train.compile``); each row and the
            result record it as ``compile``. A model that fails to compile gets a row with the error.
    """
    from fusion.bench.machine import describe_machine

    result: dict = {"benchmark": "speed", "machine": describe_machine(device), "dtype": dtype, "tile": tile,
                    "compile": compile, "fuse": [], "query": [], "training": []}  # fmt: skip
    timing = (tile, device, dtype, repeats, warmup)
    for name in models:
        for ratio in ratios:
            for c in bands:
                log(f"fuse {name} x{ratio:g} C={c}" + (" (compiled)" if compile else ""))
                where = {"model": name, "ratio": ratio, "bands": c, "compile": compile}
                result["fuse"].append(
                    attempt(where, fuse_throughput, name, ratio, c, *timing, compile=compile)
                )
        if query and is_inr(name):
            log(f"query stage {name}" + (" (compiled)" if compile else ""))
            where = {"model": name, "ratio": ratios[0], "bands": max(bands), "compile": compile}
            result["query"].append(
                attempt(where, query_stage, name, ratios[0], max(bands), *timing, compile=compile)
            )
    train = {"batch": 16, "patch": 64, "steps": 20, "warmup": 5, **(train or {}), "compile": compile}
    for name in train_models:
        log(f"training {name}")
        where = {"model": name, "compile": compile}
        result["training"].append(attempt(where, synthetic_training, name, device, **train))
    if degradation is not None:
        log("RandomDegradation")
        result["degradation"] = attempt({}, degradation_time, device=device, **degradation)
    if attention and device.type == "cuda":
        log("WindowAttention")
        result["window_attention"] = attempt({}, window_attention_time, device, dtype)
    if stream_size:
        from fusion.bench.streaming import run_streaming

        log(f"streaming {stream_size}^2")
        result["streaming"] = attempt({"pan": [stream_size, stream_size]}, run_streaming, stream_size)
    add_ceilings(result)
    result["targets"] = check_targets(result, default_model or (models[0] if models else ""))
    return result
