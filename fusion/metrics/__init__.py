"""Spectral-fidelity metrics that agree with the reference pansharpening toolbox.

Functional metrics take ``(B, C, H, W)`` tensors (or numpy arrays; 3-D inputs are one sample) and
return float64 per-sample tensors ``(B,)``, or per-band ``(B, C)`` with ``per_band=True`` where a
band-wise value exists. Metrics whose numerics depend on it take ``convention="reference"|"float"``
(see :data:`CONVENTIONS`).

Full reference: :func:`psnr`, :func:`ssim`, :func:`rmse`, :func:`cc`, :func:`sam`, :func:`ergas`,
:func:`q`, :func:`q2n`, :func:`scc`. Full resolution (no reference): :func:`d_lambda`, :func:`d_s`,
:func:`qnr`, :func:`d_lambda_k`, :func:`hqnr`. :class:`Metric` wraps any of them as an ``nn.Module``.

Protocols (:mod:`fusion.metrics.protocols`): :func:`evaluate` (a fused image against a reference and/or
its inputs), :func:`evaluate_reduced` (Wald), :func:`evaluate_full`; they return a :class:`Report`
(mapping metric -> value; text table, JSON, CSV; HTML with quicklooks in :mod:`fusion.metrics.html`).
"""

from fusion.metrics._tensor import CONVENTIONS, TOOLBOX_BORDER, cut_border
from fusion.metrics.full_reference import cc, ergas, psnr, rmse, sam, sam_map, scc, ssim
from fusion.metrics.module import Metric
from fusion.metrics.no_reference import d_lambda, d_lambda_k, d_s, hqnr, qnr
from fusion.metrics.protocols import FULL_METRICS, REDUCED_METRICS, evaluate, evaluate_full, evaluate_reduced
from fusion.metrics.q2n import q2n, q2n_map
from fusion.metrics.report import Report
from fusion.metrics.uiqi import q

__all__ = [
    "FULL_METRICS",
    "Metric",
    "REDUCED_METRICS",
    "Report",
    "CONVENTIONS",
    "TOOLBOX_BORDER",
    "cc",
    "cut_border",
    "d_lambda",
    "d_lambda_k",
    "d_s",
    "ergas",
    "evaluate",
    "evaluate_full",
    "evaluate_reduced",
    "hqnr",
    "psnr",
    "q",
    "q2n",
    "q2n_map",
    "qnr",
    "rmse",
    "sam",
    "sam_map",
    "scc",
    "ssim",
]
