"""``fusion bench quality``: every contender x every scene x every ratio, in the ``reference`` convention.

Reduced resolution (scenes of :mod:`fusion.bench.datasets` with a reference): PSNR, SSIM, SAM, ERGAS,
Q2n, SCC of the fused image against the reference, computed by :func:`fusion.metrics.evaluate` (the
toolbox's 21-pixel border cut, Q2n's uint16 cast, PSNR/SSIM peak = the reference's maximum). Full
resolution (real pairs): D_lambda, D_S, QNR, HQNR of the fused image against its inputs.

:func:`run_quality` returns a JSON-able result and, apart from it, :class:`Quicklook` crops of one scene
per data set for the figures (:mod:`fusion.bench.figures`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from fusion.bench.datasets import (
    FULL_DATASETS,
    CubeScene,
    PairScene,
    default_data_root,
    full_scenes,
    reduced_scenes,
)
from fusion.bench.machine import describe_machine
from fusion.errors import InputError
from fusion.metrics import evaluate
from fusion.metrics.protocols import interpolated_ms

REDUCED_METRICS = ("PSNR", "SSIM", "SAM", "ERGAS", "Q2n", "SCC")
FULL_METRICS = ("D_lambda", "D_S", "QNR", "HQNR")
DEFAULT_RATIOS = (2.0, 2.5, 3.0, 3.3, 4.0, 6.0, 8.0)
CONVENTION = "reference"
Q2N_MAX_BANDS = 64
"""Q2n is skipped above this band count: its hypercomplex numbers have the next power of two of
components, and 181 AVIRIS bands (256 components) took 365 s for one 48 x 48 image on 2 CPU threads."""
QUICK = {"crop": 128, "ratios": (4.0,), "methods": ("exp", "gsa", "mtf-glp-hpm", "glp-hs")}
"""``--quick``: centre crops (``crop`` pixels of the reference grid: the cube, or a real pair's LR image),
and these ratios and methods unless given."""
QUICKLOOK_SIZE = 128


@dataclass
class Quicklook:
    """Centre crops ``(C, S, S)`` float32 of one reduced scene's reference and fused images at one ratio."""

    dataset: str
    scene: str
    ratio: float
    wavelengths_nm: Sequence[float] | None = None
    reference: np.ndarray | None = None
    fused: dict[str, np.ndarray] = field(default_factory=dict)


def _crop(x: torch.Tensor) -> np.ndarray:
    from fusion.bench.datasets import centre_crop

    return centre_crop(x[0], QUICKLOOK_SIZE).float().cpu().numpy()


def _metrics_for(bands: int) -> tuple[str, ...]:
    return REDUCED_METRICS if bands <= Q2N_MAX_BANDS else tuple(m for m in REDUCED_METRICS if m != "Q2n")


def _mean_ratio(out: torch.Tensor, lr: torch.Tensor) -> float:
    return (out.shape[-2] / lr.shape[-2] + out.shape[-1] / lr.shape[-1]) / 2


def _attempt(action, skipped: list, where: dict, name: str):
    """``action()``, or ``None`` when it fails (recorded in ``skipped``): a method that cannot take a
    pair, or an image too small for a metric, is a result of the benchmark, not the end of the run."""
    try:
        return action()
    except Exception as exc:
        skipped.append({**where, "method": name, "reason": f"{type(exc).__name__}: {exc}"[:300]})
        return None


def _score(contenders, lr, guide, scene, where, skipped, evaluate_one) -> list[dict]:
    """Fuse with each contender and score with ``evaluate_one(fused, name) -> Report``; one row each,
    with the fused image under the private key ``"_fused"``."""
    rows = []
    for contender in contenders:
        started = time.perf_counter()
        fused = _attempt(lambda c=contender: c.fuse(lr, guide, scene.sensor, scene.scale).double(),
                         skipped, where, contender.name)  # fmt: skip
        seconds = time.perf_counter() - started
        report = None if fused is None else _attempt(
            lambda c=contender, f=fused: evaluate_one(f, c.name), skipped, where, contender.name
        )  # fmt: skip
        if report is not None:
            rows.append({**where, "method": contender.name, "bands": lr.shape[1], "fuse_s": seconds,
                         **report.summary()[contender.name], "_fused": fused})  # fmt: skip
    return rows


def reduced_rows(scene, ratio, contenders, device, skipped, quicklook: Quicklook | None = None) -> list[dict]:
    """One row per contender for ``scene`` at ``ratio``: the reduced-resolution metrics and timings."""
    lr, guide, reference = (x.to(device) for x in scene.inputs(ratio))
    actual = _mean_ratio(reference, lr)
    where = {"dataset": scene.dataset, "scene": scene.name, "ratio": ratio, "actual_ratio": actual}
    metrics = _metrics_for(lr.shape[1])

    def evaluate_one(fused, name):
        return evaluate(
            fused, reference, ratio=actual, sensor=scene.sensor, convention=CONVENTION, metrics=metrics,
            method=name,
        )  # fmt: skip

    rows = _score(contenders, lr, guide, scene, where, skipped, evaluate_one)
    if quicklook is not None:
        quicklook.reference = _crop(reference)
        quicklook.fused = {row["method"]: _crop(row["_fused"]) for row in rows}
    return [{k: v for k, v in row.items() if k != "_fused"} for row in rows]


def full_rows(scene: PairScene, contenders, device, skipped) -> list[dict]:
    """One row per contender for the real pair ``scene``: D_lambda, D_S, QNR, HQNR and timings."""
    lr, guide = scene.lr.to(device), scene.guide.to(device)
    pan = (scene.pan if scene.pan is not None else scene.guide).to(device)
    ms_up = interpolated_ms(lr, tuple(guide.shape[-2:]))
    where = {"dataset": scene.dataset, "scene": scene.name, "ratio": float(scene.ratio)}

    def evaluate_one(fused, name):
        return evaluate(
            fused, lr=lr, guide=pan, ratio=scene.ratio, sensor=scene.sensor, convention=CONVENTION,
            metrics=FULL_METRICS, method=name, ms_up=ms_up,
        )  # fmt: skip

    rows = _score(contenders, lr, guide, scene, where, skipped, evaluate_one)
    return [{k: v for k, v in row.items() if k != "_fused"} for row in rows]


def figure_ratio(ratios: Sequence[float]) -> float:
    """The ratio whose images the figures show: 4 when benchmarked, else the middle one."""
    return 4.0 if 4.0 in ratios else sorted(ratios)[len(ratios) // 2]


def run_quality(
    contenders: Sequence,
    data_root: str | Path | None = None,
    datasets: Sequence[str] | None = None,
    ratios: Sequence[float] = DEFAULT_RATIOS,
    device: torch.device | str = "cpu",
    crop: int | None = None,
    full_resolution: bool = True,
    log: Callable[[str], None] = lambda message: None,
) -> tuple[dict, list[Quicklook]]:
    """Benchmark ``contenders`` (see :mod:`fusion.bench.contenders`) on every scene found.

    Args:
        data_root: folder with ``hsi/`` and ``pansharpening/`` (default :func:`default_data_root`).
        datasets: data set names to keep (``cave``, ``aviris``, ``houston``, ``wv2``, ``landsat8``).
        crop: centre crops of this many guide pixels (quick runs).
        full_resolution: also score the real pairs without reference.
    Returns:
        ``(result, quicklooks)``: ``result`` has ``machine``, ``convention``, ``ratios``, ``reduced`` and
        ``full`` rows (one per scene, ratio and contender, with every metric), ``skipped`` (contender,
        scene, reason) and ``seconds``; ``quicklooks`` one :class:`Quicklook` per reduced data set.
    """
    started = time.perf_counter()
    device = torch.device(device)
    root = Path(data_root) if data_root is not None else default_data_root()
    ratios = [float(r) for r in ratios]
    shown = figure_ratio(ratios)
    skipped: list[dict] = []
    reduced, quicklooks = [], {}
    scenes = reduced_scenes(root, datasets)
    if not scenes and not (full_resolution and set(datasets or FULL_DATASETS) & {"landsat8"}):
        raise InputError(f"{root}: no data set found (give --data-root or set FUSION_DATA)")
    for scene in scenes:
        scene = scene.crop(crop) if crop else scene
        for ratio in ratios:
            log(f"reduced {scene.dataset}/{scene.name} x{ratio:g}")
            look = None
            if ratio == shown and scene.dataset not in quicklooks:
                look = Quicklook(scene.dataset, scene.name, ratio, scene.wavelengths_nm)
                quicklooks[scene.dataset] = look
            reduced += reduced_rows(scene, ratio, contenders, device, skipped, look)
    full = []
    for scene in full_scenes(root, datasets) if full_resolution else []:
        scene = scene.crop(crop) if crop else scene
        log(f"full resolution {scene.dataset}/{scene.name} x{scene.ratio}")
        full += full_rows(scene, contenders, device, skipped)
    result = {
        "benchmark": "quality",
        "machine": describe_machine(device),
        "convention": CONVENTION,
        "data_root": str(root),
        "ratios": ratios,
        "crop": crop,
        "methods": [c.name for c in contenders],
        "reduced_metrics": list(REDUCED_METRICS),
        "full_metrics": list(FULL_METRICS),
        "reduced": reduced,
        "full": full,
        "skipped": skipped,
        "seconds": time.perf_counter() - started,
    }
    return result, list(quicklooks.values())


def mean_rows(rows: Sequence[dict], keys: Sequence[str], metrics: Sequence[str]) -> list[dict]:
    """Means over scenes: one row per distinct ``keys`` tuple (in order of appearance), with ``scenes``."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    out = []
    for key, group in groups.items():
        means = {m: float(np.mean([r[m] for r in group])) for m in metrics if all(m in r for r in group)}
        out.append({**dict(zip(keys, key, strict=True)), "scenes": len(group), **means})
    return out


def protocol_result(
    name: str, data_root, methods, checkpoints, ratios, device, progress: bool, **extra
) -> dict:
    """:func:`fusion.protocols.run_protocol` with the machine description added; ``extra`` goes to the
    protocol's ``run`` (e.g. P-PAN's ``fit``, ``fit_steps``)."""
    import inspect

    from fusion.protocols import protocol_module, run_protocol

    accepted = inspect.signature(protocol_module(name).run).parameters
    refused = [key for key in extra if key not in accepted]
    if refused:
        raise InputError(f"protocol {name} takes no {', '.join(refused)}")
    root = data_root if data_root is not None else default_data_root()
    result = run_protocol(
        name, data_root=str(root), methods=methods, checkpoints=tuple(checkpoints), ratios=ratios,
        device=device, progress=progress, **extra,
    )  # fmt: skip
    result.setdefault("machine", describe_machine(device))
    return result


__all__ = [
    "CONVENTION",
    "CubeScene",
    "DEFAULT_RATIOS",
    "FULL_METRICS",
    "PairScene",
    "QUICK",
    "Quicklook",
    "REDUCED_METRICS",
    "figure_ratio",
    "mean_rows",
    "protocol_result",
    "run_quality",
]
