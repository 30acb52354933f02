"""HSI-MSI fusion by hypersharpening (Selva et al., JSTARS 2015): SFIM-HS and GLP-HS as in Yokoya,
Grohnfeldt and Chanussot's HSI-MSI fusion toolbox (GRSM 2017).

Each low-resolution (hyperspectral) band ``k`` gets its own synthetic guide ``S_k = sum_i x_ki M_i +
x_k0``, a linear combination of the guide's (multispectral) bands fitted at low resolution: the band
regressed on the guide reduced to its grid (MTF blur with the guide's gains, decimation) plus an
intercept. SFIM-HS fits non-negative coefficients (the toolbox's default mode 3) and modulates,
``up_k * S_k / S_k,low``, with ``S_k,low`` the same combination of the interpolated reduced guide
(the toolbox upsamples by pixel replication; here with the methods' interpolator). GLP-HS fits
unconstrained coefficients (mode 2) and adds ``S_k - GLP_k(S_k)`` with the MTF-GLP low-pass at band
``k``'s gain. The regression needs only Gram sums over low-resolution pixels, so it is tile-additive.
"""

from __future__ import annotations

import torch

from fusion.models.classical._common import (
    EPS,
    ClassicalMethod,
    Pair,
    gain_groups,
    glp_lowpass,
    glp_reach,
    interpolate,
    interpolation_reach,
    lr_valid,
    moments,
    mtf_reach,
    reduce_guide,
    valid_count,
)
from fusion.models.classical._linalg import nnls, solve_spd
from fusion.registry import MODELS


def regression_system(stats, guide_bands: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Normal equations of every band on ``[reduced guide, 1]``: Gram ``(B, G+1, G+1)`` and
    right-hand sides ``(B, C, G+1)``, from the ``lr`` moments of ``[reduced guide (G), lr (C)]``."""
    n, total, cross = valid_count(stats, "lr"), stats["lr_sum"], stats["lr_cross"]
    g = guide_bands
    top = torch.cat([cross[:, :g, :g], total[:, :g, None]], -1)
    bottom = torch.cat([total[:, None, :g], n[:, None, None]], -1)
    rhs = torch.cat([cross[:, :g, g:], total[:, None, g:]], 1).transpose(1, 2)
    return torch.cat([top, bottom], 1), rhs


def synthesize(coeffs: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` synthetic guides from coefficients ``(B, C, G+1)`` and ``guide (B, G, H, W)``."""
    coeffs = coeffs.to(guide.dtype)
    return torch.einsum("bcg,bghw->bchw", coeffs[..., :-1], guide) + coeffs[..., -1, None, None]


class Hypersharpening(ClassicalMethod):
    """Per-band synthetic guides fitted at low resolution (see the module docstring)."""

    guide_kinds = ("msi",)

    def reach(self, ratio):
        return max(interpolation_reach(ratio), mtf_reach(ratio) + max(ratio))

    def statistics(self, pair: Pair, core, mask):
        reduced = reduce_guide(pair, self.guide_gains(pair.guide.shape[1]))
        return moments(torch.cat([reduced, pair.lr], 1), lr_valid(pair, core, mask), "lr")


@MODELS.register("sfim-hs")
class SfimHs(Hypersharpening):
    """SFIM-HS: ``up_k * S_k / S_k,low`` with non-negative regression coefficients."""

    def fuse(self, pair, stats):
        def fit(stats):
            gram, rhs = regression_system(stats, pair.guide.shape[1])
            return nnls(gram[:, None].expand(-1, rhs.shape[1], -1, -1), rhs)

        coeffs = self.once_per_scene(stats, fit)
        reduced = reduce_guide(pair, self.guide_gains(pair.guide.shape[1]))
        low = synthesize(coeffs, interpolate(reduced, pair.out_size))
        return pair.up * synthesize(coeffs, pair.guide) / (low + EPS)


@MODELS.register("glp-hs")
class GlpHs(Hypersharpening):
    """GLP-HS: ``up_k + S_k - GLP_k(S_k)`` with least-squares regression coefficients."""

    def reach(self, ratio):
        return max(super().reach(ratio), glp_reach(ratio))

    def fuse(self, pair, stats):
        guide_bands = pair.guide.shape[1]
        gram, rhs = regression_system(stats, guide_bands)
        coeffs = solve_spd(gram[:, None], rhs)
        synthetic = synthesize(coeffs, pair.guide)
        low = torch.empty_like(synthetic)
        for gain, bands in gain_groups(self.lr_gains(pair.lr.shape[1])):
            low[:, bands] = synthesize(coeffs[:, bands], glp_lowpass(pair.guide, gain, pair))
        return pair.up + synthetic - low
