"""Spectral-fidelity metrics that agree with the reference pansharpening toolbox.

Functional metrics take ``(B, C, H, W)`` tensors (or numpy arrays; 3-D inputs are one sample) and
return float64 per-sample tensors ``(B,)``, or per-band ``(B, C)`` with ``per_band=True`` where a
band-wise value exists. Metrics whose numerics depend on it take ``convention="reference"|"float"``
(see :data:`CONVENTIONS`).

Full reference: :func:`psnr`, :func:`ssim`, :func:`rmse`, :func:`cc`, :func:`sam`, :func:`ergas`,
:func:`q`, :func:`q2n`, :func:`scc`. Full resolution (no reference): :func:`d_lambda`, :func:`d_s`,
:func:`qnr`, :func:`d_lambda_k`, :func:`hqnr`.
"""

from fusion.metrics._tensor import CONVENTIONS, TOOLBOX_BORDER, cut_border
from fusion.metrics.full_reference import cc, ergas, psnr, rmse, sam, sam_map, scc, ssim
from fusion.metrics.no_reference import d_lambda, d_lambda_k, d_s, hqnr, qnr
from fusion.metrics.q2n import q2n, q2n_map
from fusion.metrics.uiqi import q

__all__ = [
    "CONVENTIONS",
    "TOOLBOX_BORDER",
    "cc",
    "cut_border",
    "d_lambda",
    "d_lambda_k",
    "d_s",
    "ergas",
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
