"""Component-substitution (CS) methods: Brovey, GS, GSA, PCA, BDSD-PC (Vivone et al., TGRS 2015 and
GRSM 2021; the reference toolbox's definitions). GSA also does HSI-MSI fusion.

All parameters come from whole-scene moments (see :mod:`fusion.models.classical._common`): on the
output grid (``hr``: interpolated image ``up`` and guide) and, for the regressions that the toolbox
runs at reduced resolution, on the low-resolution grid (``lr``).
"""

from __future__ import annotations

import torch

from fusion.degrade import mtf_blur
from fusion.models.base import Stats
from fusion.models.classical._common import (
    EPS,
    ClassicalMethod,
    Pair,
    as_map,
    hr_valid,
    interpolation_reach,
    lr_valid,
    mean_cov,
    mean_var,
    moments,
    mtf_reach,
    reduce_guide,
    spread_ratio,
    starlet_reach,
    valid_count,
)
from fusion.models.classical._linalg import nnls, solve_spd
from fusion.registry import MODELS


def guide_scene_moments(pair: Pair, core, mask) -> Stats:
    """Moments of ``[up (C), guide (G)]`` on the output grid."""
    return moments(torch.cat([pair.up, pair.guide], 1), hr_valid(pair, core, mask), "hr")


@MODELS.register("brovey")
class Brovey(ClassicalMethod):
    """Brovey transform: ``up_k * P / I``, ``I = mean_k(up_k)``, the PAN matched to the intensity.

    The PAN is matched to the mean and standard deviation of ``I`` over the scene (toolbox
    ``Brovey.m``). Fused bands keep the ratios of the interpolated bands; their mean is the matched PAN.
    """

    def statistics(self, pair, core, mask):
        features = torch.cat([pair.up.mean(1, keepdim=True), pair.guide], 1)
        return moments(features, hr_valid(pair, core, mask), "hr", full=False)

    def fuse(self, pair, stats):
        mean, var = mean_var(stats, "hr")
        gain = spread_ratio(var[:, :1], var[:, 1:], mean[:, 1:])
        offset = mean[:, :1] - gain * mean[:, 1:]
        pan = as_map(gain, pair.up) * pair.guide + as_map(offset, pair.up)
        return pair.up * pan / (pair.up.mean(1, keepdim=True) + EPS)


@MODELS.register("gs")
class GramSchmidt(ClassicalMethod):
    """Gram-Schmidt (Laben and Brower 2000), mode "average" as in toolbox ``GS.m``.

    Intensity ``I = mean_k(up_k)``, PAN matched to its mean and spread, details ``P - I`` injected
    with gains ``cov(I, up_k) / var(I)``.
    """

    def statistics(self, pair, core, mask):
        return guide_scene_moments(pair, core, mask)

    def fuse(self, pair, stats):
        bands = pair.up.shape[1]
        mean, cov = mean_cov(stats, "hr")
        cov_iu = cov[:, :bands, :bands].mean(-1)  # cov(I, up_k)
        var_i = cov_iu.mean(-1, keepdim=True)
        gains = cov_iu / var_i
        spread = spread_ratio(var_i, cov[:, bands, bands, None], mean[:, bands:])
        pan = as_map(spread, pair.up) * (pair.guide - as_map(mean[:, bands:], pair.up))
        intensity = (pair.up - as_map(mean[:, :bands], pair.up)).mean(1, keepdim=True)
        return pair.up + as_map(gains, pair.up) * (pan - intensity)


@MODELS.register("pca")
class PrincipalComponents(ClassicalMethod):
    """PCA substitution: the first principal component of ``up`` is replaced by the matched PAN.

    Components of the scene covariance; the PAN is matched to the first one's mean and spread, whose
    sign is chosen to correlate positively with the PAN (eigenvector signs are otherwise arbitrary).
    """

    min_lr_bands = 2

    def statistics(self, pair, core, mask):
        return guide_scene_moments(pair, core, mask)

    def fuse(self, pair, stats):
        bands = pair.up.shape[1]
        mean, cov = mean_cov(stats, "hr")
        values, vectors = torch.linalg.eigh(cov[:, :bands, :bands])
        first, variance = vectors[..., -1], values[..., -1:]
        sign = torch.where((first * cov[:, :bands, bands]).sum(-1, keepdim=True) < 0, -1.0, 1.0)
        first = first * sign
        centred = pair.up - as_map(mean[:, :bands], pair.up)
        component = torch.einsum("bc,bchw->bhw", first.to(pair.up.dtype), centred)[:, None]
        spread = spread_ratio(variance.clamp_min(0), cov[:, bands, bands, None], mean[:, bands:])
        pan = as_map(spread, pair.up) * (pair.guide - as_map(mean[:, bands:], pair.up))
        return pair.up + as_map(first, pair.up) * (pan - component)


@MODELS.register("gsa")
class GramSchmidtAdaptive(ClassicalMethod):
    """GSA (Aiazzi et al. 2007; toolbox ``GSA.m``): Gram-Schmidt with a regressed intensity.

    The intensity is a linear combination of the interpolated bands whose weights come from a
    regression, at low resolution, of the guide on the low-resolution bands with an intercept; the
    guide is reduced as by the toolbox's ``LPfilterPlusDec`` (a trous low-pass, ``ceil(log2 r)``
    levels, then decimation). Details ``(P - mean P) - (I - mean I)`` are injected with gains
    ``cov(I, up_k) / var(I)``.

    With an MSI guide (``G > 1``, HSI-MSI fusion as in Yokoya et al.'s toolbox), every low-resolution
    band is assigned to the guide band it correlates with best at low resolution; each guide band
    then sharpens its group of bands by GSA. With one guide band this is plain GSA.
    """

    guide_kinds = ("pan", "msi")

    def reach(self, ratio):
        return max(interpolation_reach(ratio), starlet_reach(ratio) + max(ratio))

    def statistics(self, pair, core, mask):
        reduced = reduce_guide(pair)
        lr_moments = moments(torch.cat([pair.lr, reduced], 1), lr_valid(pair, core, mask), "lr")
        return {**guide_scene_moments(pair, core, mask), **lr_moments}

    def fuse(self, pair, stats):
        bands = pair.up.shape[1]
        mean_hr, cov_hr = mean_cov(stats, "hr")
        _, cov_lr = mean_cov(stats, "lr")
        groups = assign_bands(cov_lr, bands)  # (B, G, C) one-hot
        cov_ll = cov_lr[:, None, :bands, :bands]
        system = cov_ll * groups[..., :, None] * groups[..., None, :] + torch.diag_embed(1 - groups)
        weights = solve_spd(system, groups * cov_lr[:, bands:, :bands])  # (B, G, C)
        cov_uu = cov_hr[:, :bands, :bands]
        cov_iu = weights @ cov_uu  # (B, G, C): cov(I_g, up_k)
        var_i = (cov_iu * weights).sum(-1).clamp_min(EPS)  # (B, G)
        gains = ((cov_iu / var_i[..., None]) * groups).sum(1)  # (B, C), gain from the band's own group
        centred = pair.up - as_map(mean_hr[:, :bands], pair.up)
        intensity = torch.einsum("bgc,bchw->bghw", weights.to(pair.up.dtype), centred)
        details = pair.guide - as_map(mean_hr[:, bands:], pair.up) - intensity  # (B, G, H, W)
        own = torch.einsum("bgc,bghw->bchw", groups.to(pair.up.dtype), details)
        return pair.up + as_map(gains, pair.up) * own


def assign_bands(cov_lr: torch.Tensor, bands: int) -> torch.Tensor:
    """One-hot ``(B, G, C)``: each of the ``C`` low-resolution bands goes to the guide band (of ``G``)
    with the highest correlation coefficient, from the low-resolution covariance ``(B, C+G, C+G)``."""
    std = cov_lr.diagonal(dim1=-2, dim2=-1).clamp_min(EPS).sqrt()
    corr = cov_lr[:, bands:, :bands] / (std[:, bands:, None] * std[:, None, :bands])
    best = corr.argmax(1)  # (B, C)
    return torch.nn.functional.one_hot(best, corr.shape[1]).transpose(1, 2).to(cov_lr.dtype)


@MODELS.register("bdsd-pc")
class BdsdPc(ClassicalMethod):
    """BDSD-PC (Vivone 2019; toolbox ``BDSD_PC.m``): band-dependent spatial detail, constrained.

    ``up_k + g_k P - sum_j w_kj up_j`` with the physical constraints ``g_k >= 0`` and ``w_kj >= 0``.

    The coefficients are fitted at reduced resolution, band by band, by constrained least squares:
    ``lr_k - MTF(lr)_k ~ g_k P_lr - sum_j w_kj MTF(lr)_j``, where ``MTF(lr)`` blurs the
    low-resolution image with the sensor's MTF at the ratio (on its own grid) and ``P_lr`` is the PAN
    blurred with the PAN's MTF and decimated. The toolbox takes ``imresize(up, 1 / ratio)`` for the
    low-resolution image; here it is the input itself. The fit needs only the Gram sums of
    ``[P_lr, MTF(lr), lr]``, so it is additive over tiles; one global fit (no local blocks).
    """

    def reach(self, ratio):
        return max(interpolation_reach(ratio), (mtf_reach(ratio) + 1) * max(ratio))

    def statistics(self, pair, core, mask):
        blurred = mtf_blur(pair.lr, self.lr_gains(pair.lr.shape[1]), pair.ratio)
        pan = reduce_guide(pair, self.guide_gains(1))
        return moments(torch.cat([pan, blurred, pair.lr], 1), lr_valid(pair, core, mask), "lr")

    def fuse(self, pair, stats):
        coeffs = self.once_per_scene(stats, bdsd_coefficients)  # (B, C, 1 + C): [g_k, -w_k]
        detail = torch.einsum("bkj,bjhw->bkhw", coeffs[..., 1:].to(pair.up.dtype), pair.up)
        return pair.up + as_map(coeffs[..., 0], pair.up) * pair.guide + detail


def bdsd_coefficients(stats) -> torch.Tensor:
    """BDSD-PC's constrained fit ``(B, C, 1 + C)`` (``[g_k, -w_k]`` per band) from the LR Gram sums."""
    valid_count(stats, "lr")
    cross = stats["lr_cross"]
    bands = (cross.shape[-1] - 1) // 2
    # Columns [P_lr, -MTF(lr)]: all coefficients of the substituted problem are >= 0.
    signs = torch.cat([cross.new_ones(1), -cross.new_ones(bands)])
    design = cross[:, : bands + 1, : bands + 1] * signs[:, None] * signs[None, :]
    target = cross[:, : bands + 1, bands + 1 :] - cross[:, : bands + 1, 1 : bands + 1]  # (B, 1+C, C)
    coeffs = nnls(design[:, None].expand(-1, bands, -1, -1), (target * signs[:, None]).transpose(1, 2))
    return coeffs * signs
