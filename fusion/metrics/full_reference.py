"""Full-reference metrics on ``(B, C, H, W)`` images: RMSE, PSNR, CC, SAM, ERGAS, SSIM, SCC.

Definitions follow the reference toolbox (``SAM.m``, ``ERGAS.m``, ``SCC.m``) where it has the metric;
PSNR, SSIM, CC and RMSE follow the usual definitions (SSIM as Wang et al. 2004 / scikit-image with
Gaussian weights). Each function returns per-sample values ``(B,)`` and, with ``per_band=True`` where a
band-wise value exists, ``(B, C)``. Inputs may be tensors or numpy arrays; results are float64 tensors
on the inputs' device.
"""

from __future__ import annotations

import functools

import torch

from fusion.errors import InputError
from fusion.metrics._tensor import as_pair, check_min_size, strip_sums

_PIXELS = (-2, -1)


def _band_mse(pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return (pred - ref).pow(2).mean(dim=_PIXELS)


def rmse(pred, ref, per_band: bool = False) -> torch.Tensor:
    """Root-mean-square error over all pixels and bands ``(B,)``, or per band ``(B, C)``."""
    pred, ref = as_pair(pred, ref)
    mse = _band_mse(pred, ref)
    return (mse if per_band else mse.mean(dim=1)).sqrt()


def _data_range(ref: torch.Tensor, data_range) -> torch.Tensor:
    """``(B, 1)`` peak value: ``data_range`` if given (scalar or per sample), else the reference's maximum."""
    if data_range is None:
        return ref.amax(dim=(1, 2, 3))[:, None]
    value = torch.as_tensor(data_range, dtype=torch.float64, device=ref.device)
    return value.reshape(-1, 1).expand(ref.shape[0], 1)


def psnr(pred, ref, data_range=None, per_band: bool = False) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB: ``10 log10(R² / MSE)``.

    Args:
        pred, ref: ``(B, C, H, W)`` fused and reference images.
        data_range: peak value R (e.g. ``2**11 - 1`` for 11-bit DN, 1 for [0, 1] data), a scalar or one per
            sample; default: the reference's per-sample maximum.
        per_band: per-band PSNR ``(B, C)`` (each band's MSE) instead of the PSNR of the whole sample.
    """
    pred, ref = as_pair(pred, ref)
    peak = _data_range(ref, data_range)
    mse = _band_mse(pred, ref)
    mse = mse if per_band else mse.mean(dim=1, keepdim=True)
    value = 10 * torch.log10(peak.pow(2) / mse)
    return value if per_band else value[:, 0]


def cc(pred, ref, per_band: bool = False) -> torch.Tensor:
    """Pearson correlation coefficient per band ``(B, C)``; its band mean ``(B,)`` by default."""
    pred, ref = as_pair(pred, ref)
    p = pred - pred.mean(dim=_PIXELS, keepdim=True)
    r = ref - ref.mean(dim=_PIXELS, keepdim=True)
    corr = (p * r).sum(dim=_PIXELS) / (p.pow(2).sum(dim=_PIXELS) * r.pow(2).sum(dim=_PIXELS)).sqrt()
    return corr if per_band else corr.mean(dim=1)


def sam_map(pred, ref) -> torch.Tensor:
    """Per-pixel spectral angle in degrees ``(B, H, W)``; NaN where either spectrum has zero norm."""
    pred, ref = as_pair(pred, ref)
    dot = (pred * ref).sum(dim=1)
    norms = (pred.pow(2).sum(dim=1) * ref.pow(2).sum(dim=1)).sqrt()
    cosine = (dot / norms).clamp(-1, 1)  # = real(acos(.)) of SAM.m outside [-1, 1]
    return torch.rad2deg(torch.acos(cosine))


def sam(pred, ref) -> torch.Tensor:
    """Spectral angle mapper ``(B,)`` in degrees: mean angle over pixels whose norms are both non-zero.

    As ``SAM.m``: pixels where ``|ref|·|pred| = 0`` are excluded (not counted as 0°); a sample with no
    valid pixel gives NaN.
    """
    return sam_map(pred, ref).nanmean(dim=_PIXELS)


def ergas(pred, ref, ratio: float, per_band: bool = False) -> torch.Tensor:
    """ERGAS ``(100 / ratio) sqrt(mean_b MSE_b / mean(ref_b)²)``, ``(B,)`` (``ERGAS.m``).

    Args:
        pred, ref: ``(B, C, H, W)`` fused and reference images.
        ratio: PAN/MS scale factor (4 for a 4× pansharpening); ERGAS is proportional to ``1 / ratio``.
        per_band: the band terms ``(100 / ratio) RMSE_b / mean(ref_b)`` ``(B, C)``, whose quadratic mean is
            ERGAS.
    """
    pred, ref = as_pair(pred, ref)
    if not ratio > 0:
        raise InputError(f"ergas: ratio must be positive, got {ratio}")
    relative = _band_mse(pred, ref) / ref.mean(dim=_PIXELS).pow(2)
    if per_band:
        return 100 / ratio * relative.sqrt()
    return 100 / ratio * relative.mean(dim=1).sqrt()


def _gaussian_window(sigma: float, truncate: float = 3.5) -> torch.Tensor:
    """Normalised 1-D Gaussian taps of radius ``int(truncate * sigma + 0.5)`` (scikit-image's window)."""
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    window = torch.exp(-0.5 * (x / sigma) ** 2)
    return window / window.sum()


def _valid_gaussian_filter(maps: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """'valid' filtering of complex ``maps (..., rows, W)`` with the symmetric ``window ⊗ window``, by FFT.

    The window is centred on index 0 (wrapped), so its transform is real; the kernel's transform is the
    outer product of the 1-D transforms (it is separable).
    """
    r = window.numel() // 2
    spectra = []
    for n in maps.shape[-2:]:
        centred = torch.zeros(n, dtype=torch.float64, device=maps.device)
        centred[: r + 1] = window[r:].to(maps.device)
        centred[n - r :] = window[:r].to(maps.device)
        spectra.append(torch.fft.fft(centred).real)
    kernel = spectra[0][:, None] * spectra[1][None, :]
    filtered = torch.fft.ifft2(torch.fft.fft2(maps).mul_(kernel))  # circular; the valid part is exact
    return filtered[..., r : maps.shape[-2] - r, r : maps.shape[-1] - r]


def _ssim_sum(window, c1, c2, where, pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Sum of the SSIM map over the windows of strips ``(n, rows, W)``: ``(n, 1)``."""
    offset_p, offset_r = pred.mean(dim=_PIXELS, keepdim=True), ref.mean(dim=_PIXELS, keepdim=True)
    p, r = pred - offset_p, ref - offset_r  # offsets keep the variance terms well-conditioned
    # two complex maps carry the four local moments (real filtering keeps real and imaginary parts apart)
    moments = torch.stack([torch.complex(p, r), torch.complex(torch.addcmul(p * p, r, r), p * r)])
    first, second = _valid_gaussian_filter(moments, window)
    mp, mr, mpr = first.real, first.imag, second.imag
    var_sum = second.real - mp * mp - mr * mr
    cov = mpr - mp * mr
    mu_p, mu_r = mp + offset_p, mr + offset_r
    c1, c2 = c1[where[0], None, None], c2[where[0], None, None]
    numerator = (2 * mu_p * mu_r + c1) * (2 * cov + c2)
    denominator = (mu_p * mu_p + mu_r * mu_r + c1) * (var_sum + c2)
    return (numerator / denominator).sum(dim=_PIXELS)[:, None]


def ssim(
    pred,
    ref,
    data_range=None,
    per_band: bool = False,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004), per band, averaged over bands: ``(B,)`` or ``(B, C)``.

    Gaussian window (σ = 1.5, 11 × 11), population statistics, ``C1 = (k1 R)²``, ``C2 = (k2 R)²``, mean
    of the SSIM map over windows inside the image — scikit-image's ``structural_similarity`` with
    ``gaussian_weights=True, use_sample_covariance=False``. ``data_range`` as in :func:`psnr`.
    """
    pred, ref = as_pair(pred, ref)
    window = _gaussian_window(sigma)
    size = window.numel()
    check_min_size(pred, size, "ssim")
    peak = _data_range(ref, data_range).expand(-1, pred.shape[1]).reshape(-1)  # one per flattened slab
    c1, c2 = (k1 * peak) ** 2, (k2 * peak) ** 2
    windows = (pred.shape[-2] - size + 1) * (pred.shape[-1] - size + 1)
    per_band_ssim = (
        strip_sums(functools.partial(_ssim_sum, window, c1, c2), size, pred, ref)[..., 0] / windows
    )
    return per_band_ssim if per_band else per_band_ssim.mean(dim=1)


def _sobel_magnitude(x: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude of ``x (n, rows, W)`` on 'valid' 3 x 3 windows: ``(n, rows - 2, W - 2)``."""
    smooth_rows = x[:, :-2] + 2 * x[:, 1:-1] + x[:, 2:]  # [1 2 1]' down the rows
    smooth_cols = x[..., :-2] + 2 * x[..., 1:-1] + x[..., 2:]  # [1 2 1] along the columns
    grad_x = smooth_rows[..., :-2] - smooth_rows[..., 2:]
    grad_y = smooth_cols[:, :-2] - smooth_cols[:, 2:]
    return torch.hypot(grad_x, grad_y)


def _scc_sums(height: int, where, pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """``(n, 3)`` sums ``Σ∇F·∇G, Σ∇F², Σ∇G²`` of a strip, with SCC.m's geometry: the 1-pixel image border
    is dropped and the Sobel filter zero-pads the rest, i.e. the border ring acts as zeros."""
    rows = where[1]
    grads = []
    for x in (pred, ref):
        x = x.clone()
        x[..., 0] = x[..., -1] = 0
        if rows.start == 0:
            x[:, 0] = 0
        if rows.stop == height:
            x[:, -1] = 0
        grads.append(_sobel_magnitude(x))
    gp, gr = grads
    return torch.stack(
        [(gp * gr).sum(dim=_PIXELS), gp.pow(2).sum(dim=_PIXELS), gr.pow(2).sum(dim=_PIXELS)], -1
    )


def scc(pred, ref, per_band: bool = False) -> torch.Tensor:
    """Spatial correlation coefficient of ``SCC.m``: global, non-centred correlation of Sobel magnitudes.

    ``Σ ∇F·∇G / sqrt(Σ ∇F² Σ ∇G²)`` over all pixels and bands ``(B,)``; over each band with
    ``per_band=True`` ``(B, C)``. Not comparable with the Laplacian/local-window SCC of sewar/torchmetrics.
    """
    pred, ref = as_pair(pred, ref)
    check_min_size(pred, 3, "scc")
    sums = strip_sums(functools.partial(_scc_sums, pred.shape[-2]), 3, pred, ref)  # (B, C, 3)
    if not per_band:
        sums = sums.sum(dim=1)
    return sums[..., 0] / (sums[..., 1] * sums[..., 2]).sqrt()
