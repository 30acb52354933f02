"""Full-resolution (no-reference) quality: D_λ, D_S, QNR, Khan's D_λ^K and HQNR, as in the toolbox.

All compare the fused image ``(B, C, H, W)`` with its inputs at the PAN scale: ``ms_up``, the MS
interpolated onto the PAN grid (the toolbox's ``I_MS``/``msexp``), and ``pan (B, 1, H, W)``. UIQI is taken
on distinct ``block_size``² blocks (``blockproc``), so H and W must be multiples of the block size.

* ``D_λ = (mean_{i<j} |Q(F_i, F_j) - Q(MS_i, MS_j)|^p)^(1/p)`` (``D_lambda.m``, toolbox option).
* ``D_S = (mean_b |Q(F_b, P) - Q(MS_b, P~)|^q)^(1/q)`` with ``P~`` the PAN reduced to the MS scale and
  interpolated back (``D_s.m``, toolbox option). ``reference``: MATLAB bicubic-antialiased ``imresize``
  and the 23-tap interpolator (power-of-two ratios only). ``float``: the same for power-of-two ratios,
  Keys bicubic interpolation otherwise (any ratio).
* ``QNR = (1 - D_λ)^α (1 - D_S)^β``.
* ``D_λ^K = 1 - Q2n(MS, MTF(F))`` with the sensor's MTF-matched filter and no decimation
  (``D_lambda_K.m``); ``HQNR = (1 - D_λ^K)(1 - D_S)``. ``reference`` uses the toolbox's ``genMTF``
  kernel and Q2n's uint16 cast; ``float`` the accurate Gaussian kernel and no cast.
"""

from __future__ import annotations

import torch

from fusion.errors import InputError
from fusion.metrics._tensor import as_batch, as_pair, check_block_multiple, check_convention, fft_filter
from fusion.metrics.q2n import q2n
from fusion.metrics.uiqi import block_q_matrix


def _check_full_resolution(fused, ms_up, block_size: int, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    fused, ms_up = as_pair(fused, ms_up, ("fused", "ms_up"))
    check_block_multiple(fused, block_size, what)
    return fused, ms_up


def _mean_power(values: torch.Tensor, exponent: float, dim) -> torch.Tensor:
    return values.abs().pow(exponent).mean(dim=dim).pow(1 / exponent)


def d_lambda(fused, ms_up, block_size: int = 32, p: float = 1) -> torch.Tensor:
    """Spectral distortion D_λ of QNR ``(B,)``: change of inter-band UIQI from the interpolated MS.

    Args:
        fused: ``(B, C, H, W)``, C >= 2; ms_up: the MS interpolated to the same grid.
        block_size: distinct-block side S (32); H, W must be multiples of it.
        p: exponent of the band-pair mean.
    """
    fused, ms_up = _check_full_resolution(fused, ms_up, block_size, "d_lambda")
    bands = fused.shape[1]
    if bands < 2:
        raise InputError(f"d_lambda needs at least 2 bands, got {bands}")
    delta = block_q_matrix(fused, fused, block_size) - block_q_matrix(ms_up, ms_up, block_size)
    upper = torch.triu_indices(bands, bands, offset=1, device=fused.device)
    return _mean_power(delta[:, upper[0], upper[1]], p, dim=1)


def pan_lowpass(pan: torch.Tensor, ratio: float, convention: str = "reference") -> torch.Tensor:
    """``P~``: the PAN ``(B, 1, H, W)`` reduced to the MS scale and interpolated back (``D_s.m``)."""
    from fusion.degrade.resample import imresize, interp23, is_power_of_two, upsample

    check_convention(convention)
    size = tuple(pan.shape[-2:])
    if is_power_of_two(ratio):
        return interp23(imresize(pan, scale=1 / ratio), ratio)[..., : size[0], : size[1]]
    if convention == "reference":
        raise InputError(
            f"the reference convention's D_S uses the toolbox's 23-tap interpolator, which needs a "
            f"power-of-two ratio, got {ratio}; use convention='float'"
        )
    low = imresize(pan, out_size=(max(1, round(size[0] / ratio)), max(1, round(size[1] / ratio))))
    return upsample(low, size, method="bicubic")


def d_s(
    fused,
    ms_up,
    pan,
    ratio: float,
    block_size: int = 32,
    q: float = 1,
    convention: str = "reference",
    per_band: bool = False,
    pan_lp=None,
) -> torch.Tensor:
    """Spatial distortion D_S of QNR ``(B,)``, or the band terms ``|ΔQ_b|`` ``(B, C)`` with ``per_band``.

    Args:
        fused, ms_up: ``(B, C, H, W)`` fused image and MS interpolated to the PAN grid.
        pan: ``(B, 1, H, W)`` panchromatic image.
        ratio: PAN/MS scale factor.
        block_size, q: block side and exponent of the band mean.
        convention: how ``P~`` is made (module docstring).
        pan_lp: a precomputed ``P~`` ``(B, 1, H, W)`` (:func:`pan_lowpass`); made from ``pan`` if omitted.
    """
    fused, ms_up = _check_full_resolution(fused, ms_up, block_size, "d_s")
    pan = as_batch(pan, "pan").to(fused.device)
    if pan.shape[1] != 1 or pan.shape[0] != fused.shape[0] or pan.shape[-2:] != fused.shape[-2:]:
        raise InputError(
            f"pan must be (B, 1, H, W) matching fused {tuple(fused.shape)}, got {tuple(pan.shape)}"
        )
    q_high = block_q_matrix(fused, pan, block_size)[..., 0]
    pan_lp = pan_lowpass(pan, ratio, convention) if pan_lp is None else as_batch(pan_lp, "pan_lp")
    if pan_lp.shape != pan.shape:
        raise InputError(f"pan_lp {tuple(pan_lp.shape)} must have the shape of pan {tuple(pan.shape)}")
    q_low = block_q_matrix(ms_up, pan_lp.to(pan.device), block_size)[..., 0]
    delta = q_high - q_low
    return delta.abs() if per_band else _mean_power(delta, q, dim=1)


def qnr(
    fused,
    ms_up,
    pan,
    ratio: float,
    block_size: int = 32,
    p: float = 1,
    q: float = 1,
    alpha: float = 1,
    beta: float = 1,
    convention: str = "reference",
) -> torch.Tensor:
    """Quality with no reference ``(1 - D_λ)^α (1 - D_S)^β`` ``(B,)``; arguments as :func:`d_s`."""
    spectral = d_lambda(fused, ms_up, block_size, p)
    spatial = d_s(fused, ms_up, pan, ratio, block_size, q, convention)
    return (1 - spectral).pow(alpha) * (1 - spatial).pow(beta)


def d_lambda_k(
    fused,
    ms_up,
    ratio: float,
    sensor=None,
    block_size: int = 32,
    convention: str = "reference",
    gnyq=None,
) -> torch.Tensor:
    """Khan's spectral distortion ``1 - Q2n(MS, MTF(F))`` ``(B,)`` (``D_lambda_K.m``, no decimation).

    Args:
        fused, ms_up: ``(B, C, H, W)`` fused image and MS interpolated to the PAN grid (the Q2n reference).
        ratio: PAN/MS scale factor, which sets the MTF filter's cut-off.
        sensor: sensor name or :class:`fusion.degrade.Sensor` giving the per-band GNyq (unknown or
            ``None``: the generic 0.3); ``gnyq`` overrides it (scalar or one per band).
        block_size: Q2n block side (32); H, W must be multiples of it, as in the toolbox.
        convention: ``reference``: the toolbox's ``genMTF`` kernel and Q2n's uint16 cast (DN data);
            ``float``: the accurate Gaussian MTF kernel, no cast.
    """
    from fusion.degrade import gnyq_for, mtf_kernel

    check_convention(convention)
    fused, ms_up = _check_full_resolution(fused, ms_up, block_size, "d_lambda_k")
    bands = fused.shape[1]
    gains = torch.as_tensor(gnyq if gnyq is not None else gnyq_for(sensor, bands), dtype=torch.float64)
    if gains.numel() not in (1, bands):
        raise InputError(f"d_lambda_k: got {gains.numel()} MTF gains for {bands} bands")
    kernels = mtf_kernel(
        gains.expand(bands), ratio, method="toolbox" if convention == "reference" else "gaussian"
    )
    return 1 - q2n(fft_filter(fused, kernels), ms_up, block_size, convention=convention)


def hqnr(
    fused,
    ms_up,
    pan,
    ratio: float,
    sensor=None,
    block_size: int = 32,
    q: float = 1,
    convention: str = "reference",
    gnyq=None,
) -> torch.Tensor:
    """Hybrid QNR ``(1 - D_λ^K)(1 - D_S)`` ``(B,)`` (``HQNR.m``); arguments as :func:`d_lambda_k` and
    :func:`d_s`."""
    spectral = d_lambda_k(fused, ms_up, ratio, sensor, block_size, convention, gnyq)
    spatial = d_s(fused, ms_up, pan, ratio, block_size, q, convention)
    return (1 - spectral) * (1 - spatial)
