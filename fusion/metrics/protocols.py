"""Evaluation protocols: a fused image against a reference or against its inputs, and method comparisons.

* :func:`evaluate` -- one fused image ``(B, C, H, W)``: full-reference metrics against ``reference``
  (Q2n, Q, SAM, ERGAS, SCC, PSNR, SSIM, RMSE, CC) and/or no-reference metrics against its inputs
  ``lr``/``guide`` (D_λ, D_S, QNR, D_λ^K, HQNR).
* :func:`evaluate_reduced` -- Wald's protocol: degrade the pair with :func:`fusion.degrade.reduce_pair`,
  fuse the reduced pair, compare with the original low-resolution image.
* :func:`evaluate_full` -- fuse the real pair and score it without reference.

Conventions (recorded in every report's ``meta``): ``reference`` reproduces the toolbox (the 21-pixel
border cut before full-reference metrics, Q2n's uint16 cast, the toolbox kernels and resampling for
D_S/D_λ^K; data must be digital numbers); ``float`` applies the same formulas without cut or cast.
At full resolution, images are cropped at the bottom/right to whole ``block_size`` blocks (the toolbox
refuses other sizes); the crop is recorded in ``meta["notes"]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from fusion.errors import InputError
from fusion.metrics import full_reference as fr
from fusion.metrics import no_reference as nr
from fusion.metrics._tensor import TOOLBOX_BORDER, as_batch, check_convention, cut_border
from fusion.metrics.q2n import q2n
from fusion.metrics.report import Report
from fusion.metrics.uiqi import q

REDUCED_METRICS = ("Q2n", "Q", "SAM", "ERGAS", "SCC", "PSNR", "SSIM", "RMSE", "CC")
FULL_METRICS = ("D_lambda", "D_S", "QNR", "D_lambda_K", "HQNR")


def _quadratic_mean(per_band: torch.Tensor) -> torch.Tensor:
    return per_band.pow(2).mean(dim=1).sqrt()


def _reduced_values(fused, reference, wanted, ratio, convention, block_size, data_range) -> dict:
    """``{name: ((B,), (B, C) or None)}`` for the full-reference metrics in ``wanted``."""
    out = {}
    if "Q2n" in wanted:
        out["Q2n"] = (q2n(fused, reference, block_size, convention=convention), None)
    if "Q" in wanted:
        per_band = q(fused, reference, block_size, per_band=True)
        out["Q"] = (per_band.mean(dim=1), per_band)
    if "SAM" in wanted:
        out["SAM"] = (fr.sam(fused, reference), None)
    if "ERGAS" in wanted and ratio is not None:
        per_band = fr.ergas(fused, reference, ratio, per_band=True)
        out["ERGAS"] = (_quadratic_mean(per_band), per_band)
    if "SCC" in wanted:
        out["SCC"] = (fr.scc(fused, reference), fr.scc(fused, reference, per_band=True))
    if "PSNR" in wanted:
        out["PSNR"] = (fr.psnr(fused, reference, data_range), fr.psnr(fused, reference, data_range, True))
    if "SSIM" in wanted:
        per_band = fr.ssim(fused, reference, data_range, per_band=True)
        out["SSIM"] = (per_band.mean(dim=1), per_band)
    if "RMSE" in wanted:
        per_band = fr.rmse(fused, reference, per_band=True)
        out["RMSE"] = (_quadratic_mean(per_band), per_band)
    if "CC" in wanted:
        per_band = fr.cc(fused, reference, per_band=True)
        out["CC"] = (per_band.mean(dim=1), per_band)
    return out


def _full_values(fused, ms_up, pan, wanted, ratio, sensor, convention, block_size) -> dict:
    """``{name: ((B,), (B, C) or None)}`` for the no-reference metrics in ``wanted``."""
    out = {}
    if wanted & {"D_lambda", "QNR"}:
        out["D_lambda"] = (nr.d_lambda(fused, ms_up, block_size), None)
    if wanted & {"D_S", "QNR", "HQNR"}:
        per_band = nr.d_s(fused, ms_up, pan, ratio, block_size, convention=convention, per_band=True)
        out["D_S"] = (per_band.mean(dim=1), per_band)
    if wanted & {"D_lambda_K", "HQNR"}:
        out["D_lambda_K"] = (nr.d_lambda_k(fused, ms_up, ratio, sensor, block_size, convention), None)
    if "QNR" in wanted:
        out["QNR"] = ((1 - out["D_lambda"][0]) * (1 - out["D_S"][0]), None)
    if "HQNR" in wanted:
        out["HQNR"] = ((1 - out["D_lambda_K"][0]) * (1 - out["D_S"][0]), None)
    return {name: value for name, value in out.items() if name in wanted}


def _scalar_ratio(ratio, what: str) -> float | None:
    if ratio is None:
        return None
    values = [float(r) for r in (ratio if isinstance(ratio, Sequence) else (ratio, ratio))]
    if len(values) != 2 or abs(values[0] - values[1]) > 1e-6 * values[0] or values[0] <= 1:
        raise InputError(f"{what} needs one ratio > 1 for both axes, got {ratio!r}")
    return values[0]


def _crop_to_blocks(images: Sequence[torch.Tensor], block_size: int, notes: list[str]) -> list[torch.Tensor]:
    h, w = images[0].shape[-2:]
    ch, cw = h - h % block_size, w - w % block_size
    if ch == 0 or cw == 0:
        raise InputError(
            f"full-resolution metrics need at least {block_size} x {block_size} pixels, got {h} x {w}"
        )
    if (ch, cw) != (h, w):
        notes.append(
            f"full-resolution metrics on the top-left {ch} x {cw} pixels (whole {block_size}-pixel blocks)"
        )
    return [x[..., :ch, :cw] for x in images]


def evaluate(
    fused,
    reference=None,
    *,
    lr=None,
    guide=None,
    ratio=None,
    sensor=None,
    convention: str = "reference",
    block_size: int = 32,
    data_range=None,
    metrics: Sequence[str] | None = None,
    method: str = "fused",
    ms_up=None,
) -> Report:
    """Score a fused image ``(B, C, H, W)`` against a reference and/or against its inputs.

    Args:
        fused: the fused image (tensor or array), in digital numbers for ``convention="reference"``.
        reference: ground truth of the same shape -> full-reference metrics.
        lr, guide: the inputs ``(B, C, h, w)`` and ``(B, 1, H, W)`` -> full-resolution metrics (the PAN
            guide is needed for D_S).
        ratio: PAN/MS scale factor; default ``H / h`` when ``lr`` is given. Without it ERGAS is skipped.
        sensor: sensor name for D_λ^K's MTF gains (default: generic 0.3).
        convention: ``"reference"`` or ``"float"`` (module docstring).
        block_size: Q/Q2n/QNR block side (32).
        data_range: peak value for PSNR/SSIM (default: the reference's maximum).
        metrics: names to compute (default: all that the given inputs allow).
        method: name of the row in the report.
        ms_up: ``lr`` already interpolated to the fused grid (default: :func:`fusion.degrade.upsample`
            with ``method="auto"``, the 23-tap interpolator for power-of-two ratios).
    """
    check_convention(convention)
    fused = as_batch(fused, "fused")
    if reference is None and (lr is None or guide is None):
        raise InputError("evaluate needs a reference image, or both lr and guide for no-reference metrics")
    wanted = set(metrics) if metrics is not None else set(REDUCED_METRICS + FULL_METRICS)
    unknown = wanted - set(REDUCED_METRICS + FULL_METRICS)
    if unknown:
        raise InputError(f"unknown metric(s) {sorted(unknown)}; choose from {REDUCED_METRICS + FULL_METRICS}")
    if lr is not None:
        lr = as_batch(lr, "lr").to(fused.device)
        if ratio is None:
            ratio = (fused.shape[-2] / lr.shape[-2], fused.shape[-1] / lr.shape[-1])
    ratio = _scalar_ratio(ratio, "evaluate")
    notes: list[str] = []
    values: dict = {}
    if reference is not None:
        reference = as_batch(reference, "reference").to(fused.device)
        if reference.shape != fused.shape:
            raise InputError(
                f"reference {tuple(reference.shape)} and fused {tuple(fused.shape)} differ in shape"
            )
        if ratio is None and "ERGAS" in wanted:
            notes.append("ERGAS skipped: no ratio given")
        pair = (fused, reference)
        if convention == "reference":
            pair = tuple(cut_border(x, TOOLBOX_BORDER) for x in pair)
        values.update(_reduced_values(*pair, wanted, ratio, convention, block_size, data_range))
    if lr is not None and guide is not None and wanted & set(FULL_METRICS):
        values.update(
            _full_resolution(fused, lr, guide, ms_up, wanted, ratio, sensor, convention, block_size, notes)
        )
    meta = {
        "protocol": "full-reference" if reference is not None else "no-reference",
        "convention": convention,
        "ratio": ratio,
        "sensor": getattr(sensor, "name", sensor),
        "block_size": block_size,
        "border": TOOLBOX_BORDER if convention == "reference" and reference is not None else 0,
        "data_range": "reference maximum" if data_range is None else data_range,
        "notes": notes,
    }
    return Report(_rows(method, values, fused.shape[0]), meta)


def _full_resolution(fused, lr, guide, ms_up, wanted, ratio, sensor, convention, block_size, notes) -> dict:
    guide = as_batch(guide, "guide").to(fused.device)
    if guide.shape[1] != 1 or guide.shape[-2:] != fused.shape[-2:] or guide.shape[0] != fused.shape[0]:
        raise InputError(
            f"no-reference metrics need a one-band guide (PAN) on the fused grid {tuple(fused.shape[-2:])}, "
            f"got {tuple(guide.shape)}"
        )
    if lr.shape[:2] != fused.shape[:2]:
        raise InputError(f"lr {tuple(lr.shape)} and fused {tuple(fused.shape)} differ in batch or bands")
    expected = tuple(round(n * ratio) for n in lr.shape[-2:])
    if expected != tuple(fused.shape[-2:]):
        raise InputError(
            f"fused {tuple(fused.shape[-2:])} is not lr {tuple(lr.shape[-2:])} times the ratio {ratio}"
        )
    ms_up = interpolated_ms(lr, tuple(fused.shape[-2:])) if ms_up is None else as_batch(ms_up, "ms_up")
    if ms_up.shape != fused.shape:
        raise InputError(f"ms_up {tuple(ms_up.shape)} and fused {tuple(fused.shape)} differ in shape")
    fused, ms_up, pan = _crop_to_blocks((fused, ms_up, guide), block_size, notes)
    return _full_values(fused, ms_up, pan, wanted, ratio, sensor, convention, block_size)


def interpolated_ms(lr: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The MS on the fused grid as the full-resolution metrics see it (the toolbox's ``I_MS``)."""
    from fusion.degrade import upsample

    return upsample(lr, size, method="auto")


def _rows(method: str, values: dict, batch: int) -> list[dict]:
    rows = []
    for sample in range(batch):
        row = {"method": method, "sample": sample}
        row.update({name: float(overall[sample]) for name, (overall, _) in values.items()})
        row["per_band"] = {
            name: [float(v) for v in per_band[sample]]
            for name, (_, per_band) in values.items()
            if per_band is not None
        }
        rows.append(row)
    return rows


# -- method comparisons --------------------------------------------------------------------------
Method = str | Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _method_name(method) -> str:
    if isinstance(method, str):
        return method
    spec = getattr(method, "spec", None)
    return (spec or {}).get("name") or getattr(method, "registered_name", None) or type(method).__name__


def _build(method: Method, sensor):
    """A callable ``(lr, guide) -> fused`` for a registered name (built with ``sensor`` when it takes one)."""
    if not isinstance(method, str):
        return method
    from fusion.models import create_model
    from fusion.models.base import takes_sensor
    from fusion.registry import MODELS

    try:
        cls = MODELS.get(method)
    except KeyError as exc:
        raise InputError(str(exc.args[0])) from None
    return create_model(method, **({"sensor": sensor} if takes_sensor(cls) and sensor is not None else {}))


def _as_methods(method_or_model) -> list[Method]:
    if isinstance(method_or_model, str) or not isinstance(method_or_model, Sequence):
        return [method_or_model]
    return list(method_or_model)


def _fuse(method: Method, sensor, lr: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    model = _build(method, sensor)
    with torch.no_grad():
        return model(lr, guide)


def _compare(method_or_model, sensor, lr, guide, score, reference_image=None) -> Report:
    """Fuse ``(lr, guide)`` with each method, score it with ``score(fused, name)``, merge the reports.

    ``reference_image``: a callable giving ``(name, image)`` when the report should keep its images.
    """
    report = None
    for method in _as_methods(method_or_model):
        fused = _fuse(method, sensor, lr, guide)
        result = score(fused, _method_name(method))
        if reference_image is not None:
            result.images[result.methods[0]] = fused
            result.reference_image = report.reference_image if report is not None else reference_image()
        report = result if report is None else report.merge(result)
    return report


def _as_input(x, name: str) -> torch.Tensor:
    """Model input: a ``(B, C, H, W)`` tensor in its own floating dtype (float32 for integer data)."""
    tensor = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    tensor = tensor if tensor.is_floating_point() else tensor.float()
    return as_batch(tensor, name).to(tensor.dtype)


def evaluate_reduced(
    method_or_model,
    guide,
    lr,
    ratio=None,
    sensor=None,
    convention: str = "reference",
    block_size: int = 32,
    data_range=None,
    metrics: Sequence[str] | None = None,
    keep_images: bool = False,
) -> Report:
    """Wald's reduced-resolution protocol for one or more methods.

    The pair ``guide (B, 1, H, W)``, ``lr (B, C, h, w)`` is reduced by ``ratio`` (default ``H / h``) with
    :func:`fusion.degrade.reduce_pair` (the sensor's MTF on ``lr``, MATLAB bicubic on the guide); each
    method fuses the reduced pair and is scored against the original ``lr`` with :func:`evaluate`.

    Args:
        method_or_model: a registered name, a model/callable ``(lr, guide) -> fused``, or a list of them.
        sensor: sensor name for the MTF gains (and for methods that take one).
        convention, block_size, data_range, metrics: as in :func:`evaluate`.
        keep_images: keep the fused images and the reference on the report (for HTML quicklooks).
    """
    from fusion.degrade import reduce_pair

    guide, lr = _as_input(guide, "guide"), _as_input(lr, "lr").to(guide.device)
    if ratio is None:
        ratio = (guide.shape[-2] / lr.shape[-2], guide.shape[-1] / lr.shape[-1])
    ratio = _scalar_ratio(ratio, "evaluate_reduced")
    guide_reduced, lr_reduced, reference = reduce_pair(guide, lr, ratio, sensor)

    def score(fused, name):
        return evaluate(
            fused, reference, ratio=ratio, sensor=sensor, convention=convention, block_size=block_size,
            data_range=data_range, metrics=metrics, method=name,
        )  # fmt: skip

    images = (lambda: ("reference (original MS)", reference)) if keep_images else None
    report = _compare(method_or_model, sensor, lr_reduced, guide_reduced, score, images)
    report.meta["protocol"] = "reduced resolution (Wald)"
    return report


def evaluate_full(
    method_or_model,
    guide,
    lr,
    ratio=None,
    sensor=None,
    convention: str = "reference",
    block_size: int = 32,
    metrics: Sequence[str] | None = None,
    keep_images: bool = False,
) -> Report:
    """Full-resolution protocol: fuse the real pair and report D_λ, D_S, QNR, D_λ^K and HQNR.

    Arguments as :func:`evaluate_reduced`; ``guide`` must be a PAN ``(B, 1, H, W)``. With
    ``keep_images`` the report keeps the fused images and, as reference, the interpolated MS.
    """
    guide, lr = _as_input(guide, "guide"), _as_input(lr, "lr").to(guide.device)
    ms_up = interpolated_ms(lr.double(), tuple(guide.shape[-2:]))  # once for all methods

    def score(fused, name):
        return evaluate(
            fused, lr=lr, guide=guide, ratio=ratio, sensor=sensor, convention=convention,
            block_size=block_size, metrics=metrics or FULL_METRICS, method=name, ms_up=ms_up,
        )  # fmt: skip

    images = (lambda: ("interpolated MS", ms_up)) if keep_images else None
    report = _compare(method_or_model, sensor, lr, guide, score, images)
    report.meta["protocol"] = "full resolution (no reference)"
    return report
