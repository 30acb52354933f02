"""Interpolation and multiresolution-analysis (MRA) pansharpening: EXP, HPF, SFIM, MTF-GLP,
MTF-GLP-HPM, AWLP (Vivone et al., TGRS 2015 and GRSM 2021; the reference toolbox's definitions).

MRA methods add the PAN's high frequencies to the interpolated image ``up``. The PAN is first matched
to each band, ``P_k = a_k P + b_k`` (mean of ``up_k``, spread ``std(up_k) / std(LPfilterGauss(P))``,
whole-scene statistics), and a low-pass ``L_k`` of ``P_k`` defines the details:

* additive injection: ``up_k + P_k - L_k`` (HPF, MTF-GLP);
* high-pass modulation: ``up_k * P_k / L_k`` (SFIM, MTF-GLP-HPM);
* AWLP: ``up_k + (P_k - L_k) * up_k / mean_j(up_j)``.

Every low-pass here is linear and keeps constants, so ``L_k = a_k L(P) + b_k`` and the low-pass runs on
the PAN once per distinct filter, not once per band.
"""

from __future__ import annotations

import torch

from fusion.models.base import Stats
from fusion.models.classical._common import (
    EPS,
    ClassicalMethod,
    Pair,
    as_map,
    box_lowpass,
    equalization,
    equalization_statistics,
    gain_groups,
    glp_lowpass,
    glp_reach,
    interpolation_reach,
    starlet_lowpass,
    starlet_reach,
)
from fusion.registry import MODELS


@MODELS.register("exp")
class Expanded(ClassicalMethod):
    """EXP: the low-resolution image interpolated onto the guide grid, the guide unused.

    The toolbox's 23-tap polynomial interpolator for power-of-two ratios, Keys' bicubic otherwise
    (any, also non-integer, ratio); the reference every method is compared against.
    """

    guide_kinds = ("pan", "msi")

    def fuse(self, pair: Pair, stats: Stats | None) -> torch.Tensor:
        return pair.up


class MultiResolution(ClassicalMethod):
    """Equalised PAN, a low-pass of it, and an injection rule (see the module docstring)."""

    def lowpass(self, pan: torch.Tensor, pair: Pair) -> torch.Tensor:
        """Low-pass of the PAN ``(B, 1, H, W)``: ``(B, 1, H, W)`` or one per band ``(B, C, H, W)``."""
        raise NotImplementedError

    def lowpass_reach(self, ratio: tuple[float, float]) -> float:
        raise NotImplementedError

    def inject(self, up: torch.Tensor, pan: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        """Fused ``(B, C, H, W)`` from ``up``, the equalised PAN ``P_k`` and its low-pass ``L_k``."""
        return up + pan - low

    def reach(self, ratio: tuple[float, float]) -> float:
        return max(interpolation_reach(ratio), self.lowpass_reach(ratio))

    def statistics(self, pair: Pair, core, mask) -> Stats:
        return equalization_statistics(pair, core, mask)

    def fuse(self, pair: Pair, stats: Stats | None) -> torch.Tensor:
        low = self.lowpass(pair.guide, pair)
        if stats is None:
            return self.inject(pair.up, pair.guide, low)
        gain, offset = equalization(stats, pair.lr.shape[1])
        gain, offset = as_map(gain, pair.up), as_map(offset, pair.up)
        return self.inject(pair.up, gain * pair.guide + offset, gain * low + offset)


class HighPassModulation(MultiResolution):
    """High-pass modulation ``up_k * P / L`` (Liu 2000; Aiazzi et al. 2003), unequalised by default.

    The ratio ``P / L`` does not depend on the PAN's gain, so equalisation only adds the offset
    ``b_k``, which can bring ``a_k L + b_k`` to zero and the result to extreme values (on the
    WorldView-2 sample at reduced resolution, the toolbox equalisation gives pixels of -57671 for
    SFIM and -6790 for MTF-GLP-HPM). Without it every band gets the same modulation wherever the
    low-pass is the same for all bands, so each pixel keeps the spectral angle of ``up``, and the
    method needs no scene statistics. ``equalize=True`` applies the toolbox's per-band equalisation.
    """

    def __init__(self, sensor=None, guide_sensor=None, lr_bands=None, guide_bands=None, equalize=False):
        super().__init__(sensor=sensor, guide_sensor=guide_sensor, lr_bands=lr_bands, guide_bands=guide_bands)
        self.equalize = equalize

    def statistics(self, pair, core, mask):
        return super().statistics(pair, core, mask) if self.equalize else None

    def inject(self, up, pan, low):
        return up * pan / (low + EPS)


@MODELS.register("hpf")
class HighPassFilter(MultiResolution):
    """HPF (Chavez et al. 1991): additive details from a box low-pass of width ``ratio``.

    A box of exactly ``ratio`` pixels per axis (fractional edge weights, centred) generalises
    ``fspecial('average', ratio)`` to any ratio without its half-pixel shift at even ratios.
    """

    def lowpass(self, pan, pair):
        return box_lowpass(pan, pair.ratio)

    def lowpass_reach(self, ratio):
        return max(ratio) / 2 + 1


@MODELS.register("sfim")
class SmoothingFilterModulation(HighPassModulation, HighPassFilter):
    """SFIM (Liu 2000): ``up * P / box(P)``, HPF's box low-pass with high-pass modulation.

    See :class:`HighPassModulation` for ``equalize``.
    """


@MODELS.register("mtf-glp")
class MtfGlp(MultiResolution):
    """MTF-GLP (Aiazzi et al. 2006): additive details from an MTF-matched generalized Laplacian pyramid.

    The low-pass is each band's MTF-matched Gaussian (sensor GNyq), decimation and re-interpolation.
    """

    def lowpass(self, pan, pair):
        low = pan.new_empty(pan.shape[0], pair.lr.shape[1], *pan.shape[-2:])
        for gain, bands in gain_groups(self.lr_gains(pair.lr.shape[1])):
            low[:, bands] = glp_lowpass(pan, gain, pair)
        return low

    def lowpass_reach(self, ratio):
        return glp_reach(ratio)


@MODELS.register("mtf-glp-hpm")
class MtfGlpHpm(HighPassModulation, MtfGlp):
    """MTF-GLP-HPM (Aiazzi et al. 2003): the MTF-GLP low-pass with high-pass modulation.

    ``up_k * P / L_k`` (see :class:`HighPassModulation` for ``equalize``). Bands sharing
    an MTF gain get the same modulation, so with one gain for all bands each fused pixel keeps the
    spectral angle of ``up``."""


@MODELS.register("awlp")
class Awlp(MultiResolution):
    """AWLP (Otazu et al. 2005): a trous wavelet details injected in proportion to each band's share.

    ``up_k + (P_k - L_k) * up_k / mean_j(up_j)`` with the equalised PAN ``P_k``.

    The low-pass is the starlet approximation after ``ceil(log2 ratio)`` levels (B3 spline). The
    toolbox scales the PAN by the spread of a bicubic down/up-sampled PAN; here, as for the other
    MRA methods, by that of ``LPfilterGauss(P)``.
    """

    def lowpass(self, pan, pair):
        return starlet_lowpass(pan, pair.ratio)

    def lowpass_reach(self, ratio):
        return starlet_reach(ratio)

    def inject(self, up, pan, low):
        return up + (pan - low) * up / (up.mean(1, keepdim=True) + EPS)
