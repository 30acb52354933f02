"""Pure degradation operators on ``(B, C, H, W)`` tensors: MTF blur, fused blur + decimation with
per-sample geometry, noise at a given SNR.

Everything is differentiable with respect to the image and to the floating-point parameters
(gains, ratios, shifts, SNR), runs on the input's device and has no Python loop over samples or bands.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fusion.degrade.kernels import (
    Gains,
    Ratio,
    as_gains,
    gaussian_sigma,
    gaussian_taps,
    kernel_size,
    mtf_kernel,
    mtf_taps_1d,
    ratio_pair,
)
from fusion.degrade.resample import check_phase, fold_indices, lr_size, taps_matrix
from fusion.errors import InputError


def check_image(x: torch.Tensor, name: str = "image") -> None:
    if x.ndim != 4:
        raise InputError(f"{name} must be (B, C, H, W), got shape {tuple(x.shape)}")


def band_gains(gnyq: Gains, x: torch.Tensor) -> torch.Tensor:
    """GNyq broadcast to ``(B, C)`` for ``x (B, C, H, W)``: scalar, ``(C,)`` or ``(B, C)``."""
    gains = as_gains(gnyq, x)
    batch, bands = x.shape[:2]
    if gains.ndim == 1 and gains.numel() not in (1, bands):
        raise InputError(f"got {gains.numel()} MTF gains for an image with {bands} bands")
    try:
        return torch.broadcast_to(gains, (batch, bands))
    except RuntimeError:
        raise InputError(f"MTF gains of shape {tuple(gains.shape)} do not fit {batch} x {bands}") from None


def _grouped_conv(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Depthwise conv of ``x (B, C, H, W)`` with per-sample, per-band ``weight (B, C, ky, kx)``,
    replicate padding, as one grouped convolution over ``B * C`` groups."""
    batch, bands, height, width = x.shape
    ky, kx = weight.shape[-2:]
    padded = F.pad(
        x.reshape(1, batch * bands, height, width), (kx // 2, kx // 2, ky // 2, ky // 2), mode="replicate"
    )
    out = F.conv2d(padded, weight.reshape(batch * bands, 1, ky, kx), groups=batch * bands)
    return out.reshape(batch, bands, height, width)


def mtf_blur(x: torch.Tensor, gnyq: Gains, ratio: Ratio, method: str = "gaussian", size=None) -> torch.Tensor:
    """Blur ``x (B, C, H, W)`` with each band's MTF-matched kernel (``imfilter(..., 'replicate')``).

    ``gnyq``: scalar, ``(C,)`` or per-sample ``(B, C)``; ``ratio``: scalar or ``(ratio_y, ratio_x)``.
    The Gaussian kernel is applied as two 1-D grouped convolutions (identical to the 2-D one, since
    replicate padding is separable too); the toolbox kernel as one 2-D grouped convolution.
    """
    check_image(x)
    gains = band_gains(gnyq, x)
    flat = gains.reshape(-1)
    if method == "gaussian":
        ry, rx = ratio_pair(ratio)
        sizes = (None, None) if size is None else ((size, size) if isinstance(size, int) else size)
        taps_y = mtf_taps_1d(flat, ry, sizes[0]).reshape(*gains.shape, -1)
        taps_x = mtf_taps_1d(flat, rx, sizes[1]).reshape(*gains.shape, -1)
        return _grouped_conv(_grouped_conv(x, taps_y[..., :, None]), taps_x[..., None, :])
    kernels = mtf_kernel(flat, ratio, size=size, method=method)
    return _grouped_conv(x, kernels.reshape(*gains.shape, *kernels.shape[-2:]))


# -- fused blur + decimation with per-sample geometry -------------------------------------------
def per_sample(value, batch: int, like: torch.Tensor) -> torch.Tensor:
    """A per-axis parameter as a ``(B, 2)`` float tensor (``(y, x)`` per sample).

    Python numbers and tuples/lists are shared by the batch (a scalar, or a ``(y, x)`` pair); tensors
    are per sample: ``(B,)`` (same on both axes) or ``(B, 2)``; a 0-d tensor is shared.
    """
    dtype = like.dtype if like.is_floating_point() else torch.get_default_dtype()
    if not isinstance(value, torch.Tensor):
        pair = [float(v) for v in value] if isinstance(value, (tuple, list)) else [float(value)] * 2
        if len(pair) != 2:
            raise InputError(f"expected a number or a (y, x) pair, got {value!r}")
        return torch.tensor(pair, dtype=dtype, device=like.device).expand(batch, 2)
    t = value.to(dtype=dtype, device=like.device)
    if t.ndim == 0:
        t = t.expand(batch)
    if t.ndim == 1:
        t = t[:, None].expand(-1, 2)
    if tuple(t.shape) != (batch, 2):
        raise InputError(f"per-sample parameter of shape {tuple(value.shape)} does not fit batch {batch}")
    return t


def blur_decimate_taps(
    n_in: int,
    n_out: int,
    ratio: torch.Tensor,
    gains: torch.Tensor,
    shift: torch.Tensor,
    phase: str,
    support_ratio: float,
):
    """Taps of MTF blur followed by decimation along one axis, per sample and band.

    Args:
        ratio: ``(B,)`` ratio of each sample (HR pixels per LR pixel) along this axis.
        gains: ``(B, C)`` GNyq. shift: ``(B,)`` misregistration in LR pixels.
        support_ratio: the largest ratio in use; sets the common tap count.
    Returns ``idx (B, 1, n_out, T)`` and ``weights (B, C, n_out, T)``: sample ``k`` of sample ``b`` is
    the Gaussian (truncated at ``ceil(5 r_b)`` like :func:`mtf_kernel`) centred on HR position
    ``(k + 0.5) r_b - 0.5 + delta + shift_b r_b``, with ``delta`` the phase offset; ``phase="toolbox"``
    rounds that position to the nearest pixel (exactly blur-then-pick), ``"centre"`` keeps it fractional
    (the PSF evaluated at the exact centre). Samples beyond the edges see replicated edge pixels.
    """
    check_phase(phase)
    k = torch.arange(n_out, dtype=ratio.dtype, device=ratio.device)
    positions = (k + 0.5) * ratio[:, None] - 0.5 + shift[:, None] * ratio[:, None]
    if phase == "toolbox":  # the nearest pixel, ties going up: floor((k + 0.5) r) without shift
        positions = torch.floor(positions + 0.5)
    half_max = kernel_size(support_ratio) // 2
    count = 2 * half_max + 2
    start = torch.floor(positions.detach()) - half_max
    raw = start[..., None] + torch.arange(count, dtype=ratio.dtype, device=ratio.device)  # (B, n_out, T)
    offsets = (raw - positions[..., None])[:, None]  # (B, 1, n_out, T)
    half = torch.ceil(5 * ratio.detach() - 1e-9)[:, None, None, None]
    sigma = gaussian_sigma(gains, ratio[:, None])[..., None, None]  # (B, C, 1, 1)
    weights = gaussian_taps(sigma, offsets, half)
    weights = weights / weights.sum(-1, keepdim=True)
    return fold_indices(raw.long(), n_in, "replicate")[:, None], weights


def blur_decimate(
    x: torch.Tensor,
    gnyq: Gains,
    ratio,
    out_size=None,
    shift=0.0,
    phase: str = "toolbox",
    max_ratio: float | None = None,
) -> torch.Tensor:
    """MTF blur and decimation of ``x (B, C, H, W)`` in one step, each sample with its own geometry.

    Args:
        gnyq: scalar, ``(C,)`` or ``(B, C)``.
        ratio: scalar, ``(ratio_y, ratio_x)``, ``(B,)`` or ``(B, 2)``.
        out_size: LR size ``(h, w)`` shared by the batch; default ``round(H / r)`` (one ratio only).
            With ``out_size`` given, sample ``b`` covers HR ``[0, h r_b) x [0, w r_b)``.
        shift: misregistration in LR pixels, scalar, ``(B,)`` or ``(B, 2)`` (``(dy, dx)``).
        phase: where LR samples sit (see :mod:`fusion.degrade.resample`).
        max_ratio: largest ratio the tap count must cover (default: the largest in ``ratio``).
    Returns ``(B, C, h, w)``: ``A_y x A_x^T`` with dense per-sample, per-band operators (matrix
    products, fast on GPUs). Equals ``decimate(mtf_blur(x, g, r), r)`` for one integer ratio with the
    toolbox phase.
    """
    check_image(x)
    batch, _, height, width = x.shape
    ratios = per_sample(ratio, batch, x)
    shifts = per_sample(shift, batch, x)
    if out_size is None:
        first = ratios[0].detach().tolist()
        if not torch.allclose(ratios, ratios[:1].expand_as(ratios)):
            raise InputError("blur_decimate: give out_size when samples have different ratios")
        out_size = (lr_size(height, first[0]), lr_size(width, first[1]))
        effective = torch.tensor([height / out_size[0], width / out_size[1]], dtype=x.dtype, device=x.device)
        ratios = ratios * (effective / ratios.detach())  # the grid's ratio H / h, keeping gradients
    gains = band_gains(gnyq, x)
    support = max_ratio if max_ratio is not None else float(ratios.detach().max())
    matrices = []
    for axis, (n_in, n_out) in enumerate(zip((height, width), out_size, strict=True)):
        idx, weights = blur_decimate_taps(
            n_in, int(n_out), ratios[:, axis], gains, shifts[:, axis], phase, support
        )
        matrices.append(taps_matrix(idx.expand_as(weights), weights, n_in))
    return matrices[0] @ x @ matrices[1].transpose(-1, -2)


# -- noise --------------------------------------------------------------------------------------
def noise_sigma(x: torch.Tensor, snr_db) -> torch.Tensor:
    """Per-sample, per-band noise standard deviation ``(B, C, 1, 1)`` for an SNR in dB.

    SNR is ``10 log10(mean(x_c^2) / sigma_c^2)`` over each band's pixels. ``snr_db``: scalar,
    ``(C,)``, ``(B,)`` (one per sample) or ``(B, C)``.
    """
    batch, bands = x.shape[:2]
    snr = torch.as_tensor(snr_db, dtype=x.dtype, device=x.device)
    if snr.ndim == 1 and snr.numel() == batch and batch != bands:
        snr = snr[:, None]
    snr = torch.broadcast_to(snr, (batch, bands))
    power = x.pow(2).mean(dim=(-2, -1))
    return torch.sqrt(power / 10 ** (snr / 10))[..., None, None]


def add_noise(x: torch.Tensor, snr_db, noise: torch.Tensor | None = None, generator=None) -> torch.Tensor:
    """``x + sigma * n`` with ``sigma`` from :func:`noise_sigma` and ``n`` standard normal.

    Pass ``noise`` (same shape as ``x``) to replay a draw; otherwise it is drawn with ``generator``.
    """
    check_image(x)
    if noise is None:
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return x + noise_sigma(x, snr_db) * noise


# -- whole spatial + spectral degradation -------------------------------------------------------
def degrade(
    x: torch.Tensor,
    ratio,
    gnyq: Gains,
    out_size=None,
    shift=0.0,
    snr_db=None,
    noise: torch.Tensor | None = None,
    srf: torch.Tensor | None = None,
    guide: torch.Tensor | None = None,
    guide_snr_db=None,
    guide_noise: torch.Tensor | None = None,
    phase: str = "toolbox",
    max_ratio: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Degrade a reference ``x (B, C, H, W)`` into ``(lr, guide)``.

    ``lr = blur_decimate(x, gnyq, ratio, out_size, shift) (+ noise at snr_db)``; the guide is the
    given ``guide`` or, with ``srf (M, C)`` / ``(B, M, C)``, ``spectral_response(x, srf)``, plus noise
    at ``guide_snr_db``. ``noise``/``guide_noise`` are standard-normal draws shaped like the outputs
    (required when an SNR is given, so that a batch can be replayed exactly).
    """
    from fusion.degrade.spectral import spectral_response

    lr = blur_decimate(x, gnyq, ratio, out_size=out_size, shift=shift, phase=phase, max_ratio=max_ratio)
    if snr_db is not None:
        lr = add_noise(lr, snr_db, noise=noise)
    if guide is None and srf is not None:
        guide = spectral_response(x, srf)
    if guide is not None and guide_snr_db is not None:
        guide = add_noise(guide, guide_snr_db, noise=guide_noise)
    return lr, guide
