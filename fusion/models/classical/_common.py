"""Machinery shared by the classical methods: the two-pass template, interpolation, low-pass filters of
the guide, additive scene statistics and the toolbox's PAN equalisation.

Scene statistics are raw sums in float64 -- pixel count ``n``, ``sum z`` and ``sum z z^T`` (or only
``sum z^2``) of per-pixel feature vectors ``z`` -- over the valid pixels of a core region. Features on
the output grid use prefix ``hr``; features sampled on the low-resolution grid use ``lr``, and a
low-resolution pixel belongs to the core containing the guide pixel under its centre (see
:func:`lr_valid`), so every low-resolution pixel is counted by exactly one tile.
"""

from __future__ import annotations

import functools
import math

import torch

from fusion.degrade import decimate, gnyq_for, interp23, kernel_size, mtf_blur, pan_gnyq, upsample
from fusion.degrade.resample import (
    apply_taps,
    box_overlap,
    fold_indices,
    is_power_of_two,
    kernel_taps,
    resample_axes,
)
from fusion.errors import InputError
from fusion.models.base import FusionModel, Stats

INTERP23_REACH = 11
"""Low-resolution pixels the 23-tap interpolator sees on each side: step ``s`` filters 11 taps of a
grid ``2^s`` times finer, ``sum_s 11 / 2^s < 11`` (measured: 8.25 at ratio 4, 9.6 at ratio 8)."""
BICUBIC_REACH = 2
EQUALIZATION_GNYQ = 0.3
"""Gain of the toolbox's ``LPfilterGauss``, the low-pass whose spread scales the PAN in equalisation."""
EPS = float(torch.finfo(torch.float64).eps)
"""MATLAB's ``eps``, added to denominators as the toolbox does."""

Core = tuple[slice, slice] | None


class Pair:
    """One checked input pair: ``lr (B, C, h, w)``, ``guide (B, G, H, W)``, ``ratio = (H / h, W / w)``,
    and, computed on first use, the interpolated low-resolution image ``up (B, C, H, W)``."""

    def __init__(self, lr: torch.Tensor, guide: torch.Tensor):
        self.lr, self.guide = lr, guide
        self.out_size = tuple(guide.shape[-2:])
        self.lr_size = tuple(lr.shape[-2:])
        self.ratio = (self.out_size[0] / self.lr_size[0], self.out_size[1] / self.lr_size[1])

    @functools.cached_property
    def up(self) -> torch.Tensor:
        return interpolate(self.lr, self.out_size)


# -- interpolation and low-pass filters ----------------------------------------------------------
def interpolate(x: torch.Tensor, out_size: tuple[int, int]) -> torch.Tensor:
    """The methods' interpolated image ``(B, C, H, W)`` of ``x (B, C, h, w)`` (the toolbox's EXP).

    Power-of-two ratios use the toolbox's 23-tap interpolator, other ratios Keys' bicubic. Instead of
    the toolbox's wrap around the edges, the 23-tap filter sees the low-resolution image extended by
    replication (bicubic: mirrored), so an image's border depends only on nearby pixels (as tiling needs).
    """
    ry, rx = out_size[0] / x.shape[-2], out_size[1] / x.shape[-1]
    if not (is_power_of_two(ry) and is_power_of_two(rx)):
        return upsample(x, out_size, method="bicubic")
    return interp23(x, (ry, rx), boundary="replicate")


def interpolation_reach(ratio: tuple[float, float]) -> float:
    """Guide pixels :func:`interpolate` looks at on each side of an output pixel."""
    power_of_two = all(is_power_of_two(r) for r in ratio)
    return ((INTERP23_REACH if power_of_two else BICUBIC_REACH) + 1) * max(ratio)


def mtf_reach(ratio: tuple[float, float]) -> float:
    """Guide pixels an MTF blur at ``ratio`` looks at on each side (its kernel radius)."""
    return float(max(kernel_size(r) // 2 for r in ratio))


def box_lowpass(x: torch.Tensor, ratio: tuple[float, float]) -> torch.Tensor:
    """Mean over a box of width ``ratio`` pixels per axis (edge pixels weighted by their overlap),
    centred on each pixel, replicate edges: ``fspecial('average', ratio)`` for any ratio, unshifted."""

    def taps(n: int, width: float):
        centres = torch.arange(n, dtype=x.dtype, device=x.device)
        return kernel_taps(centres, n, box_overlap(width), width + 1.0, "replicate")

    return resample_axes(x, taps(x.shape[-2], ratio[0]), taps(x.shape[-1], ratio[1]))


B3_SPLINE = (1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16)


def starlet_levels(ratio: float) -> int:
    """Decomposition levels of AWLP's a trous transform: ``ceil(log2(ratio))``."""
    return max(1, math.ceil(math.log2(ratio) - 1e-9))


def starlet_lowpass(x: torch.Tensor, ratio: tuple[float, float]) -> torch.Tensor:
    """Approximation of the a trous (starlet) transform: cubic B-spline ``[1 4 6 4 1] / 16`` with
    ``2^l - 1`` holes at level ``l``, ``ceil(log2 r)`` levels per axis, symmetric edges."""
    taps = torch.tensor(B3_SPLINE, dtype=x.dtype, device=x.device)
    for dim, r in zip((-2, -1), ratio, strict=True):
        n = x.shape[dim]
        for level in range(starlet_levels(r)):
            offsets = torch.arange(-2, 3, device=x.device) * 2**level
            idx = fold_indices(torch.arange(n, device=x.device)[:, None] + offsets, n, "symmetric")
            x = apply_taps(x, idx, taps.expand(n, -1), dim)
    return x


def starlet_reach(ratio: tuple[float, float]) -> float:
    return float(max(2 * (2 ** starlet_levels(r) - 1) for r in ratio))


def reduce_guide(pair: Pair, gains=None) -> torch.Tensor:
    """The guide seen at low resolution ``(B, G, h, w)``: MTF blur with ``gains`` (the starlet
    low-pass of the toolbox's ``LPfilterPlusDec`` when ``None``), then decimation."""
    if gains is None:
        blurred = starlet_lowpass(pair.guide, pair.ratio)
    else:
        blurred = mtf_blur(pair.guide, gains, pair.ratio)
    return decimate(blurred, pair.ratio, out_size=pair.lr_size)


def glp_lowpass(image: torch.Tensor, gains, pair: Pair) -> torch.Tensor:
    """Generalized-Laplacian-pyramid low-pass: MTF blur (one gain per band of ``image``), decimation
    to the low-resolution grid and the methods' interpolation back to the output grid."""
    blurred = mtf_blur(image, gains, pair.ratio)
    return interpolate(decimate(blurred, pair.ratio, out_size=pair.lr_size), pair.out_size)


def glp_reach(ratio: tuple[float, float]) -> float:
    return mtf_reach(ratio) + max(ratio) + interpolation_reach(ratio)


def gain_groups(gains: tuple[float, ...]) -> list[tuple[float, list[int]]]:
    """Distinct MTF gains and the bands sharing each, so a filter runs once per distinct gain."""
    return [(g, [k for k, other in enumerate(gains) if other == g]) for g in sorted(set(gains))]


# -- additive statistics ---------------------------------------------------------------------------
def _bounds(core: Core, size: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    if core is None:
        return (0, size[0]), (0, size[1])
    return tuple(s.indices(n)[:2] for s, n in zip(core, size, strict=True))


def hr_valid(pair: Pair, core: Core, mask: torch.Tensor | None) -> torch.Tensor:
    """``(B, H * W)`` bool: output pixels inside ``core`` and valid in ``mask (B, 1, H, W)``."""
    (y0, y1), (x0, x1) = _bounds(core, pair.out_size)
    valid = torch.zeros(pair.out_size, dtype=torch.bool, device=pair.guide.device)
    valid[y0:y1, x0:x1] = True
    valid = valid.expand(pair.guide.shape[0], -1, -1)
    if mask is not None:
        valid = valid & mask[:, 0].to(torch.bool)
    return valid.reshape(valid.shape[0], -1)


def centre_pixels(n_lr: int, n_out: int, device) -> torch.Tensor:
    """Guide pixel under each low-resolution pixel's centre, ``floor((k + 0.5) n_out / n_lr)``, in
    integer arithmetic so that tiles aligned on low-resolution pixels agree with the whole scene."""
    k = torch.arange(n_lr, device=device)
    return ((2 * k + 1) * n_out) // (2 * n_lr)


def lr_valid(pair: Pair, core: Core, mask: torch.Tensor | None) -> torch.Tensor:
    """``(B, h * w)`` bool: low-resolution pixels whose centre lies in ``core`` on a valid guide pixel."""
    (y0, y1), (x0, x1) = _bounds(core, pair.out_size)
    rows = centre_pixels(pair.lr_size[0], pair.out_size[0], pair.guide.device)
    cols = centre_pixels(pair.lr_size[1], pair.out_size[1], pair.guide.device)
    valid = ((rows >= y0) & (rows < y1))[:, None] & ((cols >= x0) & (cols < x1))[None, :]
    valid = valid.expand(pair.guide.shape[0], -1, -1)
    if mask is not None:
        valid = valid & mask[:, 0].to(torch.bool)[:, rows][:, :, cols]
    return valid.reshape(valid.shape[0], -1)


def moments(features: torch.Tensor, valid: torch.Tensor, prefix: str, full: bool = True) -> Stats:
    """Additive sums of ``features (B, D, H, W)`` over pixels where ``valid (B, H * W)``.

    Returns ``{prefix_n: (B,), prefix_sum: (B, D)}`` and ``prefix_cross: (B, D, D)`` (``full``) or
    ``prefix_sq: (B, D)``, all float64. Invalid pixels are zeroed, so NaN there does not propagate.
    """
    z = features.reshape(*features.shape[:2], -1).double()
    z = torch.where(valid[:, None], z, torch.zeros((), dtype=z.dtype, device=z.device))
    stats = {f"{prefix}_n": valid.sum(-1).double(), f"{prefix}_sum": z.sum(-1)}
    if full:
        stats[f"{prefix}_cross"] = z @ z.transpose(1, 2)
    else:
        stats[f"{prefix}_sq"] = (z * z).sum(-1)
    return stats


def valid_count(stats: Stats, prefix: str) -> torch.Tensor:
    """Pixel counts ``(B,)`` of ``prefix`` statistics; raises :class:`InputError` if one is zero."""
    n = stats[f"{prefix}_n"]
    if (n <= 0).any():
        raise InputError("scene statistics cover no valid pixel: the whole scene is masked as nodata")
    return n


def mean_cov(stats: Stats, prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``(B, D)`` and population covariance ``(B, D, D)`` from :func:`moments` with ``full``."""
    n = valid_count(stats, prefix)
    mean = stats[f"{prefix}_sum"] / n[:, None]
    return mean, stats[f"{prefix}_cross"] / n[:, None, None] - mean[:, :, None] * mean[:, None, :]


def mean_var(stats: Stats, prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and population variance ``(B, D)`` from :func:`moments` (either kind)."""
    n = valid_count(stats, prefix)
    mean = stats[f"{prefix}_sum"] / n[:, None]
    key = f"{prefix}_sq"
    sq = stats[key] if key in stats else stats[f"{prefix}_cross"].diagonal(dim1=-2, dim2=-1)
    return mean, (sq / n[:, None] - mean**2).clamp_min(0)


def spread_ratio(variance: torch.Tensor, reference_variance: torch.Tensor, reference_mean: torch.Tensor):
    """``sqrt(variance / reference_variance)``, the gain matching a reference image's spread to another's;
    0 where the reference is flat (standard deviation below ``1e-7`` of its mean, the resolution of
    variances from raw float64 sums), so a constant image injects nothing instead of noise."""
    flat = reference_variance <= (1e-7 * reference_mean) ** 2 + torch.finfo(reference_variance.dtype).tiny
    ratio = variance / torch.where(flat, torch.ones_like(reference_variance), reference_variance)
    return torch.where(flat, torch.zeros_like(ratio), ratio.sqrt())


def as_map(coefficients: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``(B, C)`` coefficients as ``(B, C, 1, 1)`` in ``like``'s dtype, to broadcast over pixels."""
    return coefficients.to(like.dtype)[..., None, None]


# -- the two-pass template -------------------------------------------------------------------------
def full_precision(like: torch.Tensor):
    """Autocast switched off on ``like``'s device: the methods' regressions and filters run in the
    inputs' own precision, also inside a bf16-autocast training step."""
    return torch.autocast(like.device.type, enabled=False)


def widened(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32 when it is in a half-precision type, else unchanged (float64 stays)."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


class ClassicalMethod(FusionModel):
    """Base of the classical methods (no training; ``forward`` only).

    Subclasses implement :meth:`fuse` and, when their parameters come from the whole scene,
    :meth:`statistics`. ``forward(lr, guide, out_size, stats)`` uses ``stats`` when given (summed
    :meth:`scene_statistics` of all tiles), else computes them on the whole input.

    Args:
        sensor: sensor of the low-resolution image (name for :func:`fusion.degrade.get_sensor`):
            per-band MTF gains at Nyquist for MTF-based steps, and the PAN's gain for a one-band guide.
            ``None`` uses the generic gains (0.3, PAN 0.15).
        guide_sensor: sensor of a multi-band guide (HSI-MSI fusion); ``None`` uses generic gains.
        lr_bands, guide_bands: optional band counts the inputs must have.
    """

    guide_kinds = ("pan",)

    def __init__(self, sensor=None, guide_sensor=None, lr_bands=None, guide_bands=None):
        super().__init__(lr_bands=lr_bands, guide_bands=guide_bands)
        self.sensor = sensor
        self.guide_sensor = guide_sensor

    def check_ratio(self, ratio: tuple[float, float]) -> None:
        if min(ratio) <= 1:
            name = getattr(self, "registered_name", type(self).__name__)
            raise InputError(f"{name}: the guide must be finer than the low-resolution image on both axes, "
                             f"got ratio {ratio[0]:g} x {ratio[1]:g}")

    def lr_gains(self, bands: int) -> tuple[float, ...]:
        return gnyq_for(self.sensor, bands)

    def guide_gains(self, bands: int) -> tuple[float, ...]:
        return (pan_gnyq(self.sensor),) if bands == 1 else gnyq_for(self.guide_sensor, bands)

    def reach(self, ratio: tuple[float, float]) -> float:
        """Guide pixels of context on each side that :meth:`fuse` and :meth:`statistics` need."""
        return interpolation_reach(ratio)

    def halo(self, ratio) -> int:
        ratio = (ratio, ratio) if isinstance(ratio, (int, float)) else tuple(ratio)
        return int(math.ceil(self.reach(ratio))) + 1

    def pair(self, lr: torch.Tensor, guide: torch.Tensor, out_size=None) -> Pair:
        self.check_inputs(lr, guide, out_size)
        return Pair(lr, guide)

    def forward(self, lr, guide, out_size=None, stats: Stats | None = None) -> torch.Tensor:
        with full_precision(lr):
            pair = self.pair(widened(lr), widened(guide), out_size)
            if stats is None:
                stats = self.statistics(pair, None, None)
            else:
                stats = {key: value.double() for key, value in stats.items()}
            return self.fuse(pair, stats)

    def scene_statistics(self, lr, guide, out_size=None, core=None, mask=None) -> Stats | None:
        with full_precision(lr):
            return self.statistics(self.pair(widened(lr), widened(guide), out_size), core, mask)

    def once_per_scene(self, stats: Stats, derive):
        """``derive(stats)``, remembered while the statistics stay equal (every tile of a scene
        gets the same summed statistics, so an expensive fit runs once per scene)."""
        memo = self.__dict__.get("_scene_memo")
        same = memo is not None and memo[0].keys() == stats.keys() and all(
            memo[0][key].device == value.device and torch.equal(memo[0][key], value)
            for key, value in stats.items()
        )
        if same:
            return memo[1]
        value = derive(stats)
        self.__dict__["_scene_memo"] = ({key: v.clone() for key, v in stats.items()}, value)
        return value

    def statistics(self, pair: Pair, core: Core, mask: torch.Tensor | None) -> Stats | None:
        """Additive statistics over ``core``; ``None`` for methods without scene parameters."""
        return None

    def fuse(self, pair: Pair, stats: Stats | None) -> torch.Tensor:
        raise NotImplementedError


def equalization_statistics(pair: Pair, core: Core, mask: torch.Tensor | None) -> Stats:
    """Sums for the toolbox's PAN equalisation: features ``[up (C), guide, LPfilterGauss(guide)]``."""
    lowpass = mtf_blur(pair.guide, EQUALIZATION_GNYQ, pair.ratio)
    features = torch.cat([pair.up, pair.guide, lowpass], 1)
    return moments(features, hr_valid(pair, core, mask), "hr", full=False)


def equalization(stats: Stats, bands: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Gain and offset ``(B, C)`` mapping the PAN onto each band: ``P_k = a_k P + b_k`` with
    ``a_k = std(up_k) / std(LP(P))`` and mean ``mean(up_k)`` (the toolbox's intersensor matching)."""
    mean, var = mean_var(stats, "hr")
    gain = spread_ratio(var[:, :bands], var[:, bands + 1 : bands + 2], mean[:, bands + 1 : bands + 2])
    return gain, mean[:, :bands] - gain * mean[:, bands : bands + 1]
