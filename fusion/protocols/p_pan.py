"""Protocol P-PAN (issue 9): pansharpening at reduced resolution (Wald), at ratio 4 and at 3.3.

The test case of a real PAN/MS pair ``pan (1, 1, H, W)``, ``ms (1, C, h, w)`` of native ratio
``n = H / h`` (4 for the WorldView-2 sample) at the protocol ratio ``r`` (:func:`reduce_scene`):

* reference: the original MS ``(1, C, h, w)``;
* guide: the PAN reduced by ``n`` onto the MS grid, ``(1, 1, h, w)``;
* low-resolution input: the MS reduced by ``r``, ``(1, C, round(h / r), round(w / r))``.

Every reduction blurs with the sensor's MTF-matched Gaussian (the preset's PAN gain for the PAN, its
per-band gains for the MS; ``fusion/configs/sensors``) and samples at the centre of each low-resolution
pixel (``phase="centre"``: at ratio 4, sample ``k`` at input index ``4 k + 1.5``), so PAN and MS are
reduced with the same geometric centring.

Choices the issue leaves open, made here:

* ``r = 3.3`` keeps the reference and the guide of ``r = 4`` and only makes the LR input coarser
  (97 x 97 from 320 x 320): the fusion ratio is the non-integer one while the PAN stays the real PAN
  seen at the MS resolution. The LR grid covers the reference exactly, so the ratio applied is
  ``h / round(h / r)`` (320 / 97 = 3.299); blur, sample positions and ERGAS use it, rows keep the
  nominal ratio and ``meta["effective_ratios"]`` records the applied one.
* Metrics on the whole image, no border cut, no clipping (:func:`fusion.protocols.metric_row`):
  SAM in degrees, ERGAS at the effective ratio, Q2n on 32 x 32 distinct blocks (the toolbox's uint16
  convention: the data are DN) and PSNR with the sensor's full scale ``2^bits - 1`` as peak (2047 for
  the 11-bit WorldView-2 DN), not the reference's maximum, so that one bright pixel does not move it.
* Classical methods run with the sensor preset (MTF gains) and their own interpolator (at ratio 4 the
  toolbox's 23-tap one, which puts LR sample ``k`` at ``4 k + 2``, half a pixel from the protocol's
  ``4 k + 1.5``). Checkpoints get their inputs divided by their ``meta.data_scale`` (else the sensor's
  full scale) and outputs multiplied back.
* Scene-adaptive fitting (``fit``): each named INR model is fitted on the case's own LR input and
  guide with :func:`fusion.engine.fit.fit_scene` (which reduces them again by ``r``; the reference is
  never seen), then fuses the case; rows record the fitting time.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fusion.degrade import blur_decimate, get_sensor
from fusion.degrade.resample import lr_size
from fusion.engine import pick_device
from fusion.engine.checkpoint import file_hash, load_checkpoint
from fusion.errors import InputError
from fusion.protocols.common import beats, best_per_metric, mean_rows
from fusion.protocols.common import versus_best as common_versus_best
from fusion.protocols.methods import (
    Method,
    check_labels,
    checkpoint_label,
    classical_method,
    fitted_method,
    fresh_model,
    model_method,
    scored,
    split_fit_options,
)

PROTOCOL = "p-pan"
PHASE = "centre"
Q_BLOCK = 32
DEFAULT_RATIOS = (4.0, 3.3)
DEFAULT_METHODS = (
    "exp", "brovey", "gs", "gsa", "pca", "hpf", "sfim", "mtf-glp", "mtf-glp-hpm", "bdsd-pc", "awlp",
)  # fmt: skip
"""Every classical pansharpening method of the registry (``sfim-hs`` and ``glp-hs`` are HSI-MSI fusion)."""
METRICS = ("sam", "ergas", "psnr", "q2n")
HIGHER_IS_BETTER = {"sam": False, "ergas": False, "psnr": True, "q2n": True}


@dataclass(frozen=True)
class PairFile:
    """A real PAN/MS pair: ``.npz`` with ``pan (H, W)`` and ``ms (h, w, C)`` in DN, and its sensor."""

    name: str
    file: str
    sensor: str


SCENES = (PairFile("wv2", "wv2_pnn_sample.npz", "WV2"),)

REFERENCE_NUMBERS = {
    "source": "issue 9, protocol P-PAN: the best public Python classical implementations, measured by the "
    "issue's author at ratio 4; the IKONOS and GeoEye-1 pairs are held back (not in the developer data)",
    "ratio": 4.0,
    "ikonos": {"sfim": {"sam": 3.381, "ergas": 2.633, "q2n": 0.816}, "mtf-glp-hpm": {"q2n": 0.823}},
    "geoeye1": {"gsa": {"sam": 2.267, "ergas": 1.382, "q2n": 0.906}},
    "wv2": {"cnmf": {"sam": 7.453, "ergas": 5.513}, "mtf-glp-hpm": {"q2n": 0.830}},
}
"""Per sensor, the public methods' values (SAM in degrees, ERGAS, Q2n) that the issue names as the best."""


@dataclass(frozen=True)
class Case:
    """A test case: ``lr (1, C, h', w')``, ``guide (1, 1, h, w)``, ``reference (1, C, h, w)``, float64 DN."""

    scene: str
    sensor: str
    ratio: float
    lr: torch.Tensor
    guide: torch.Tensor
    reference: torch.Tensor

    @property
    def effective_ratio(self) -> float:
        return 0.5 * (
            self.reference.shape[-2] / self.lr.shape[-2] + self.reference.shape[-1] / self.lr.shape[-1]
        )


def reduce_scene(pan: torch.Tensor, ms: torch.Tensor, ratio: float, sensor, phase: str = PHASE):
    """``(lr, guide, reference)`` of the protocol at ``ratio`` (see the module docstring).

    ``pan (B, 1, H, W)`` and ``ms (B, C, h, w)`` cover the same extent; ``sensor``: preset of the MTF
    gains. Returns ``lr (B, C, round(h / r), round(w / r))``, ``guide (B, 1, h, w)``, ``reference = ms``.
    """
    sensor = get_sensor(sensor)
    size = tuple(ms.shape[-2:])
    small = (lr_size(size[0], ratio), lr_size(size[1], ratio))
    if min(small) < 2 or pan.shape[-2] < size[0] or pan.shape[-1] < size[1]:
        raise InputError(f"P-PAN: MS {size} with PAN {tuple(pan.shape[-2:])} cannot be reduced by {ratio}")
    native = (pan.shape[-2] / size[0], pan.shape[-1] / size[1])
    guide = blur_decimate(pan, sensor.pan_gain, native, out_size=size, phase=phase)
    effective = (size[0] / small[0], size[1] / small[1])
    lr = blur_decimate(ms, sensor.gnyq_for(ms.shape[1]), effective, out_size=small, phase=phase)
    return lr, guide, ms


def peak_value(sensor) -> float:
    """The PSNR peak: the sensor's full scale ``2^bits - 1`` (an :class:`InputError` without a bit depth)."""
    bits = get_sensor(sensor).bit_depth
    if bits is None:
        raise InputError(f"P-PAN: sensor {sensor!r} has no bit depth for the PSNR peak")
    return float(2**bits - 1)


# -- scenes -----------------------------------------------------------------------------------------
def pair_folder(data_root: str | os.PathLike) -> Path:
    """``data_root/pansharpening`` when it exists (the developer data folder), else ``data_root``."""
    root = Path(data_root)
    return root / "pansharpening" if (root / "pansharpening").is_dir() else root


def load_pair(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """``pan (1, 1, H, W)`` and ``ms (1, C, h, w)`` float64 DN from an ``.npz`` with ``pan`` and ``ms``."""
    if not path.is_file():
        raise InputError(f"P-PAN: no such pair file: {path}")
    with np.load(path) as data:
        if "pan" not in data or "ms" not in data:
            raise InputError(f"{path}: a P-PAN pair needs arrays 'pan' (H, W) and 'ms' (h, w, C)")
        pan, ms = data["pan"].astype(np.float64), data["ms"].astype(np.float64)
    if pan.ndim != 2 or ms.ndim != 3:
        raise InputError(f"{path}: pan must be (H, W) and ms (h, w, C), got {pan.shape} and {ms.shape}")
    return torch.from_numpy(pan)[None, None], torch.from_numpy(ms).permute(2, 0, 1)[None]


def make_cases(data_root, ratios: Sequence[float], scenes: Iterable[str] | None = None) -> list[Case]:
    """Every scene of :data:`SCENES` (or the named ones) at every ratio."""
    known = {pair.name: pair for pair in SCENES}
    names = list(known) if scenes is None else list(scenes)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise InputError(f"P-PAN: unknown scene(s) {', '.join(unknown)}; known: {', '.join(known)}")
    cases = []
    for name in names:
        pan, ms = load_pair(pair_folder(data_root) / known[name].file)
        for ratio in ratios:
            lr, guide, reference = reduce_scene(pan, ms, ratio, known[name].sensor)
            cases.append(Case(name, known[name].sensor, float(ratio), lr, guide, reference))
    return cases


# -- methods ----------------------------------------------------------------------------------------
def checkpoint_method(path, sensor: str, device: torch.device) -> Method:
    """A checkpoint fed values divided by its ``meta.data_scale`` (else the sensor's full scale)."""
    from fusion.engine.fit import Rescaled

    model, payload = load_checkpoint(path)
    scale = float((payload.get("meta") or {}).get("data_scale") or peak_value(sensor))
    name = payload["model"]["name"]
    return model_method(
        Rescaled(model, scale), f"{name} ({checkpoint_label(path)})", device, model=name, kind="checkpoint",
        checkpoint=str(path), sha256=file_hash(path), step=payload.get("step"), value_scale=scale,
    )  # fmt: skip


def fitted_case(name: str, case: Case, device: torch.device, steps: int, options: Mapping[str, Any]):
    """A fresh ``name`` fitted on ``case`` (:func:`fusion.protocols.methods.fitted_method`; a
    ``"model_args"`` entry of ``options`` goes to the model), and the fitting time in seconds."""
    model_args, fit_args = split_fit_options(options)
    model = fresh_model(name, case.lr.shape[1], case.guide.shape[1], case.sensor, **model_args)
    return fitted_method(
        model, f"{name} (fit)", case.lr, case.guide, case.effective_ratio, case.sensor, device, steps,
        fit_args, model=name, model_args=model_args,
    )  # fmt: skip


# -- the protocol -----------------------------------------------------------------------------------
def run(
    data_root,
    methods: Sequence[str] | None = None,
    checkpoints: Iterable = (),
    ratios: Sequence[float] | None = DEFAULT_RATIOS,
    device=None,
    progress: bool = False,
    fit: Sequence[str] | None = None,
    fit_steps: int | None = None,
    fit_options: Mapping[str, Any] | None = None,
    scenes: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Score classical ``methods`` (default :data:`DEFAULT_METHODS`), ``checkpoints`` and models fitted
    scene by scene (``fit``: registered INR names, ``fit_steps`` steps of :func:`fusion.engine.fit.fit_scene`
    with ``fit_options``; a ``"model_args"`` entry there goes to the model) on the pairs of ``data_root``
    (or ``data_root/pansharpening``) at each of ``ratios``.

    Returns the protocol result (see :mod:`fusion.protocols`): rows with ``sam``, ``ergas``, ``psnr``,
    ``q2n``, ``seconds`` (one forward pass) and, for fitted models, ``fit_seconds``.
    """
    from tqdm.auto import tqdm

    from fusion.engine.fit import DEFAULT_FIT_STEPS

    ratios = [float(r) for r in (DEFAULT_RATIOS if ratios is None else ratios)]
    device = pick_device(device)
    cases = make_cases(data_root, ratios, scenes)
    sensors = sorted({case.sensor for case in cases})
    named = [
        classical_method(n, device, sensor=sensors[0])
        for n in (DEFAULT_METHODS if methods is None else methods)
    ]
    to_run = check_labels(
        named + [checkpoint_method(p, sensors[0], device) for p in checkpoints], {c.scene for c in cases}
    )
    steps = int(fit_steps or DEFAULT_FIT_STEPS)
    jobs = [(method, case, None) for case in cases for method in to_run]
    jobs += [(None, case, name) for case in cases for name in (fit or ())]
    rows, warm, fitted = [], set(), []
    for method, case, fit_name in tqdm(jobs, desc=PROTOCOL, disable=not progress):
        extra = {}
        if fit_name is not None:
            method, extra["fit_seconds"] = fitted_case(fit_name, case, device, steps, fit_options or {})
            fitted.append({"label": method.label, "scene": case.scene, "ratio": case.ratio, **method.info})
        row = {"method": method.label, "scene": case.scene, "ratio": case.ratio}
        row.update(
            scored(
                method, case.lr, case.guide, case.reference, case.effective_ratio, device, warm,
                q_block=Q_BLOCK, data_range=peak_value(case.sensor),
            )
        )  # fmt: skip
        rows.append({**row, **extra})
    return {
        "protocol": PROTOCOL,
        "convention": "reference",
        "ratios": ratios,
        "rows": rows,
        "mean": mean_rows(rows),
        "meta": {
            "scenes": sorted({case.scene for case in cases}),
            "sensors": sensors,
            "phase": f"{PHASE}: LR sample k at input index (k + 0.5) r - 0.5 (4k + 1.5 at ratio 4), PAN "
            "and MS alike",
            "geometry": "reference = MS; guide = PAN reduced onto the MS grid; LR = MS reduced by the ratio",
            "effective_ratios": {f"{c.ratio:g}": c.effective_ratio for c in cases},
            "lr_size": {f"{c.ratio:g}": list(c.lr.shape[-2:]) for c in cases},
            "reference_size": list(cases[0].reference.shape[-2:]),
            "psnr_peak": {s: peak_value(s) for s in sensors},
            "metrics": "whole image, no border cut, no clipping; SAM degrees, ERGAS at the effective ratio, "
            f"Q2n on {Q_BLOCK} x {Q_BLOCK} blocks (uint16 convention), PSNR peak 2^bits - 1",
            "device": str(device),
            "threads": torch.get_num_threads(),
            "methods": [{"label": m.label, **m.info} for m in to_run],
            "fitted": fitted,
            "reference": REFERENCE_NUMBERS,
        },
    }


# -- reading a result -------------------------------------------------------------------------------
def public_best(sensor: str = "wv2") -> dict[str, tuple[str, float]]:
    """``{metric: (method, value)}``: the best public value of each metric for ``sensor`` in
    :data:`REFERENCE_NUMBERS`."""
    best: dict[str, tuple[str, float]] = {}
    for method, values in REFERENCE_NUMBERS[sensor].items():
        for metric, value in values.items():
            if metric not in best or beats(value, best[metric][1], HIGHER_IS_BETTER[metric]):
                best[metric] = (method, value)
    return best


def parity(result: Mapping[str, Any], sensor: str = "wv2", labels: Iterable[str] = DEFAULT_METHODS) -> dict:
    """Our classical methods against the issue's public best on ``sensor`` at ratio 4:
    ``{metric: {"public": (method, value), "ours_best": (label, value), "match_or_beat": [labels]}}``
    (``match_or_beat``: our methods within 0.5 % of the public value or better)."""
    ratio = REFERENCE_NUMBERS["ratio"]
    present = {row["method"]: row for row in result["mean"] if row["ratio"] == ratio}
    labels = [label for label in labels if label in present]
    ours = best_per_metric(result, ratio, labels, HIGHER_IS_BETTER)
    table = {}
    for metric, (public_method, public) in public_best(sensor).items():
        slack = public * (0.995 if HIGHER_IS_BETTER[metric] else 1.005)
        winners = [
            label for label in labels if not beats(slack, present[label][metric], HIGHER_IS_BETTER[metric])
        ]
        table[metric] = {
            "public": (public_method, public), "ours_best": ours[metric], "match_or_beat": winners
        }  # fmt: skip
    return table


def versus_best(result: Mapping[str, Any], label: str, others: Iterable[str] = DEFAULT_METHODS) -> dict:
    """:func:`fusion.protocols.common.versus_best` on P-PAN's metrics (the classical methods by default)."""
    return common_versus_best(result, label, others, HIGHER_IS_BETTER)
