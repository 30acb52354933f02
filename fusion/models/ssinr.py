"""``ss-inr``: spatial–spectral implicit neural representation network for HSI–MSI fusion.

Wang, Cheng, Liu, Song, Wang, Feng, "SS-INR: Spatial-Spectral Implicit Neural Representation Network
for Hyperspectral and Multispectral Image Fusion", IEEE TGRS 61, 2023 (seed 000 §2;
``REFERENCE-papers.md`` §1). Two processes:

* **Forward fusion (FF)**: a spatial INR (encoder + LIIF-style local query) upsamples the LR-HSI
  ``L (B, C, h, w)`` to the guide grid; with the guide ``M (B, G, H, W)`` a convolution gives ``F1``.
* **Back-projection fusion (BPF)**: the degradations are error-correcting priors.
  Spatially, ``r1 = L - blur_decimate(F1)`` (the sensor's MTF blur and decimation at the input ratio,
  :func:`fusion.degrade.blur_decimate`, differentiable) is upsampled by the *same* spatial INR → ``R1``.
  Spectrally, ``r2 = M - SRF · F1`` (:func:`fusion.degrade.spectral_response`) is lifted from the guide
  bands to all ``C`` bands by a spectral INR (:class:`fusion.nn.SpectralQuery` from the guide bands'
  spectral centres to the HS bands') → ``R2``.
* Output: ``S = F1 + R1 + R2`` refined by residual convolutions, ``S + body(S)``.

The last layer of every branch starts at zero, so the untrained model is bilinear upsampling plus one
iterative back-projection step.

The SRF is the one given (``srf``), or the guide sensor's response at the HS band wavelengths, or,
when neither is known, estimated by ridge regression of the guide (degraded to the HS grid) on the HS
bands: per input pair, or over a whole scene in tiled fusion (:meth:`SSINR.scene_statistics`). Any
ratio (per axis, non-integer), size, batch and band count; ``G = 1`` (PAN) works too. See
``docs/models/ss-inr.md`` for the differences from the public code.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from einops import rearrange
from torch import nn

from fusion.degrade import blur_decimate, gnyq_for, sensor_srf, spectral_response
from fusion.errors import InputError
from fusion.models.base import INRModel, Stats
from fusion.models.liif import LIIF
from fusion.models.pinr import band_coordinates, band_wavelengths, conv3, require_finer_guide, zero_output
from fusion.nn import SpectralQuery
from fusion.nn.activations import ActivationSpec
from fusion.nn.coords import sample_at
from fusion.registry import MODELS

#: Guide-band spectral centres closer than this (normalised units) are pulled apart so they increase.
MIN_CENTRE_GAP = 1e-4


class SpectralLift(nn.Module):
    """Spectral INR: a residual on the guide bands ``(B, G, H, W)`` → ``(B, C, H, W)`` on the HS bands.

    Each guide band's code at a pixel comes from a small convolution (shared by the bands) over that
    band's residual and the band itself; a :class:`fusion.nn.SpectralQuery` then decodes the HS bands
    from the codes at the guide bands' spectral centres (2-neighbour ensemble along the band axis).
    """

    def __init__(self, width, hidden, activations, offset_freqs):
        super().__init__()
        self.encoder = nn.Sequential(conv3(2, width), nn.ReLU(inplace=True), conv3(width, width))
        encoding = "sinusoidal" if offset_freqs else "none"
        self.query = SpectralQuery(width, 1, hidden, activations, encoding=encoding, num_freqs=offset_freqs)

    def forward(
        self,
        residual: torch.Tensor,
        guide: torch.Tensor,
        centres: torch.Tensor,
        targets: torch.Tensor,
        chunk: int,
    ) -> torch.Tensor:
        """``residual, guide (B, G, H, W)``; guide-band ``centres (B, G)``; HS band ``targets (C,)``."""
        batch, bands, height, width = residual.shape
        pixels = height * width
        features = self.encoder(torch.stack([residual, guide], dim=2).flatten(0, 1))  # (B * G, D, H, W)
        codes = rearrange(features, "(b g) d y x -> (b y x) g d", b=batch)
        order = centres.argsort(dim=-1)
        ramp = MIN_CENTRE_GAP * torch.arange(bands, device=centres.device, dtype=centres.dtype)
        increasing = torch.cummax(centres.gather(1, order) - ramp, dim=-1).values + ramp
        order = order.repeat_interleave(pixels, dim=0)
        codes = codes.gather(1, order[..., None].expand(-1, -1, codes.shape[-1]))
        wavelengths = increasing.repeat_interleave(pixels, dim=0)
        values = torch.cat(
            [
                self.query(codes[start : start + chunk], wavelengths[start : start + chunk], targets)
                for start in range(0, codes.shape[0], chunk)
            ]
        )  # (B * H * W, C, 1)
        return rearrange(values, "(b y x) c 1 -> b c y x", b=batch, y=height)


def regression_sums(lr: torch.Tensor, guide_lr: torch.Tensor, weight: torch.Tensor | None = None) -> Stats:
    """Additive sums of the SRF regression over the pixels of ``lr (B, C, h, w)`` and ``guide_lr (B, G,
    h, w)`` (``weight (B, 1, h, w)`` selects them): ``gram (B, C, C)`` and ``cross (B, C, G)``, float64."""
    a, b = lr.flatten(2).double(), guide_lr.flatten(2).double()
    weighted = a if weight is None else a * weight.flatten(2).double()
    return {"gram": weighted @ a.transpose(1, 2), "cross": weighted @ b.transpose(1, 2)}


def response_from_sums(sums: Stats, ridge: float) -> torch.Tensor:
    """Ridge-regression SRF ``(B, G, C)`` (float64) from :func:`regression_sums`.

    The ridge is ``ridge`` times the mean diagonal of the Gram matrix, plus a floor, so an all-zero tile
    gives a zero response instead of failing.
    """
    gram, cross = sums["gram"].double(), sums["cross"].double()
    load = ridge * gram.diagonal(dim1=-2, dim2=-1).mean(-1) + torch.finfo(torch.float32).tiny
    eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
    return torch.linalg.solve(gram + load[:, None, None] * eye, cross).transpose(1, 2)


def estimate_response(lr: torch.Tensor, guide_lr: torch.Tensor, ridge: float) -> torch.Tensor:
    """Per-sample ridge-regression SRF ``(B, G, C)`` with ``guide_lr ≈ SRF · lr`` over all pixels."""
    return response_from_sums(regression_sums(lr, guide_lr), ridge).to(lr.dtype)


def core_pixels(
    lr_size: Sequence[int], out_size: Sequence[int], core, mask, device=None
) -> torch.Tensor | None:
    """``(B or 1, 1, h, w)`` weights (0/1) of the low-resolution pixels whose centre's nearest output pixel
    lies in ``core`` (slices of the output grid) and is valid in ``mask (B, 1, H, W)``; ``None``: all.

    Exact integer arithmetic, so tiles aligned on the low-resolution grid partition its pixels.
    """
    if core is None and mask is None:
        return None
    nearest = [
        (2 * torch.arange(n, device=device) + 1) * size // (2 * n)
        for n, size in zip(lr_size, out_size, strict=True)
    ]
    keep = torch.ones(*lr_size, dtype=torch.bool, device=device)
    if core is not None:
        rows, cols = [(i >= part.start) & (i < part.stop) for i, part in zip(nearest, core, strict=True)]
        keep = rows[:, None] & cols[None, :]
    if mask is not None:
        return keep & mask.to(device)[:, :, nearest[0]][..., nearest[1]].bool()
    return keep[None, None]


def spectral_centres(srf: torch.Tensor, band_coords: torch.Tensor) -> torch.Tensor:
    """Spectral centre of each guide band: the response-weighted mean HS band coordinate.

    ``srf (B, G, C)`` (negative weights of an estimated response count as 0), ``band_coords (C,)`` →
    ``(B, G)``, in float32 (the spectral query needs them strictly increasing).
    """
    weights = srf.float().clamp(min=0)
    return (weights @ band_coords.float()) / weights.sum(-1).clamp(min=torch.finfo(torch.float32).tiny)


@MODELS.register("ss-inr")
class SSINR(INRModel):
    """SS-INR: forward fusion plus spatial and spectral back-projection fusion (see the module docstring).

    Args:
        lr_bands, guide_bands: band counts ``C`` and ``G`` (``G = 1``: PAN, ``G > 1``: MSI).
        width, resblocks: the spatial INR encoder's channels and residual blocks.
        spatial_hidden, spatial_activations, spatial_freqs: the spatial query MLP (widths; one activation
            spec or a MIRE sequence, one per hidden layer) and the sinusoidal frequencies of the
            relative coordinate (0: raw offset, as LIIF).
        spectral_width, spectral_hidden, spectral_activations, offset_freqs: the spectral INR's code
            width, MLP and offset encoding.
        fuse_width: channels of the final residual convolutions.
        sensor: preset of the HS/MS sensor: per-band MTF gains of the spatial degradation (generic 0.3
            when unknown or when its band count differs), its band centres when ``wavelengths`` is not
            given, and for ``G = 1`` its PAN response.
        guide_sensor: preset of a multi-band guide, whose MS responses give the SRF.
        srf: the spectral response ``(G, C)`` (nested lists), overriding the sensors.
        wavelengths: centre wavelengths (nm) of the HS bands, needed to build an SRF from a sensor.
        phase: where the degraded samples sit (:mod:`fusion.degrade.resample`).
        ridge: relative ridge of the SRF estimated from the inputs when none is known.
    """

    def __init__(
        self,
        lr_bands: int,
        guide_bands: int,
        *,
        width: int = 64,
        resblocks: int = 4,
        spatial_hidden: Sequence[int] = (256, 256, 256),
        spatial_activations: ActivationSpec | Sequence[ActivationSpec] = "relu",
        spatial_freqs: int = 0,
        spectral_width: int = 32,
        spectral_hidden: Sequence[int] = (64, 64),
        spectral_activations: ActivationSpec | Sequence[ActivationSpec] = "relu",
        offset_freqs: int = 2,
        fuse_width: int = 64,
        sensor: str | None = None,
        guide_sensor: str | None = None,
        srf: Sequence[Sequence[float]] | None = None,
        wavelengths: Sequence[float] | None = None,
        phase: str = "toolbox",
        ridge: float = 1e-3,
    ):
        super().__init__(lr_bands=lr_bands, guide_bands=guide_bands)
        if min(lr_bands, guide_bands, width, spectral_width, fuse_width) < 1 or resblocks < 0:
            raise InputError(
                f"ss-inr: band counts and widths must be positive, got lr_bands {lr_bands}, guide_bands "
                f"{guide_bands}, width {width}, spectral_width {spectral_width}, fuse_width {fuse_width}"
            )
        self.phase, self.ridge = phase, float(ridge)
        self.spatial_inr = LIIF(
            lr_bands, width=width, blocks=resblocks, hidden=spatial_hidden, activations=spatial_activations,
            encoding="sinusoidal" if spatial_freqs else "none", num_freqs=spatial_freqs,
        )  # fmt: skip
        self.forward_conv = conv3(lr_bands + guide_bands, lr_bands)
        self.spectral_inr = SpectralLift(spectral_width, spectral_hidden, spectral_activations, offset_freqs)
        self.body = nn.Sequential(
            conv3(lr_bands, fuse_width), nn.ReLU(inplace=True), conv3(fuse_width, fuse_width),
            nn.ReLU(inplace=True), conv3(fuse_width, lr_bands),
        )  # fmt: skip
        # Every branch adds to what comes before it and starts at zero, so the untrained model is one
        # iterative back-projection step on bilinear upsampling (training starts from a sound answer).
        for layer in (
            self.spatial_inr.spatial.decoder.linears[-1], self.forward_conv,
            self.spectral_inr.query.decoder.linears[-1], self.body[-1],
        ):  # fmt: skip
            zero_output(layer)
        wavelengths = band_wavelengths(wavelengths, sensor, lr_bands)
        self.register_buffer("band_coords", band_coordinates(wavelengths, lr_bands), persistent=False)
        gains = torch.tensor(gnyq_for(sensor, lr_bands))
        self.register_buffer("lr_gains", gains, persistent=False)
        self.guide_gnyq = float(gains.mean())  # the guide is brought to the HS grid as the HS was
        self.register_buffer(
            "srf", self.fixed_response(srf, sensor, guide_sensor, wavelengths), persistent=False
        )
        # LR pixels of context: INR on L, F1's conv, the blur's support (5 r), INR on r1, the spectral
        # encoder and the final convolutions (HR pixels, at most one LR pixel each). An estimated SRF
        # comes from the whole input.
        self.receptive_field = float(2 * self.spatial_inr.receptive_field + 5 + 1 + 6)
        self.default_chunk = max(256, (1 << 20) // lr_bands)

    def fixed_response(self, srf, sensor, guide_sensor, wavelengths) -> torch.Tensor | None:
        """The SRF ``(G, C)`` given or built from a sensor preset, or ``None`` (estimate from the inputs)."""
        shape = (self.guide_bands, self.lr_bands)
        if srf is not None:
            response = torch.as_tensor(srf, dtype=torch.float32)
        else:
            preset = sensor if self.guide_bands == 1 else guide_sensor
            if preset is None or wavelengths is None:
                return None
            response = sensor_srf(preset, wavelengths, which="pan" if self.guide_bands == 1 else "ms").float()
        if tuple(response.shape) != shape:
            raise InputError(
                f"ss-inr: the SRF must be {shape} (guide x HS bands), got {tuple(response.shape)}"
            )
        return response

    @classmethod
    def tiny_args(cls) -> dict:
        """Small widths for fast tests (seconds on a CPU)."""
        return {
            "width": 8, "resblocks": 1, "spatial_hidden": (16,), "spectral_width": 4, "spectral_hidden": (8,),
            "offset_freqs": 1, "fuse_width": 8,
        }  # fmt: skip

    def check_ratio(self, ratio: tuple[float, float]) -> None:
        require_finer_guide(self, ratio)

    # -- degradations -------------------------------------------------------------------------------
    def spatial_degradation(self, x: torch.Tensor, lr_size: Sequence[int], gnyq) -> torch.Tensor:
        """MTF blur + decimation of ``x (B, K, H, W)`` onto the ``lr_size`` grid (the input ratio)."""
        ratio = (x.shape[-2] / lr_size[0], x.shape[-1] / lr_size[1])
        return blur_decimate(x, gnyq, ratio, out_size=tuple(lr_size), phase=self.phase)

    def response(self, lr: torch.Tensor, guide: torch.Tensor, stats: Stats | None = None) -> torch.Tensor:
        """The SRF ``(B, G, C)``: fixed, or estimated from the regression sums ``stats`` (a whole scene's,
        see :meth:`scene_statistics`) or from this pair (guide degraded to the HS grid)."""
        if self.srf is not None:
            return self.srf.to(lr.dtype).expand(lr.shape[0], -1, -1)
        if stats is None:
            stats = self.regression_statistics(lr, guide)
        return response_from_sums(stats, self.ridge).to(lr.dtype)

    def regression_statistics(self, lr, guide, weight: torch.Tensor | None = None) -> Stats:
        guide_lr = self.spatial_degradation(guide.to(lr.dtype), lr.shape[-2:], self.guide_gnyq)
        return regression_sums(lr, guide_lr, weight)

    def scene_statistics(self, lr, guide, out_size=None, core=None, mask=None) -> Stats | None:
        """Sums of the SRF regression over the low-resolution pixels of ``core``; ``None`` with a fixed SRF.

        Summed over the tiles of a scene and passed to :meth:`forward` as ``stats``, they give every tile
        the SRF of the whole scene, so tiled fusion equals untiled fusion.
        """
        if self.srf is not None:
            return None
        out_size = self.check_inputs(lr, guide, out_size)
        weight = core_pixels(lr.shape[-2:], out_size, core, mask, device=lr.device)
        return self.regression_statistics(lr, guide, weight)

    def back_projection_residuals(
        self, fused: torch.Tensor, lr: torch.Tensor, guide: torch.Tensor, srf: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """What ``F1`` fails to explain: ``r1 = L - blur_decimate(F1)`` ``(B, C, h, w)`` and
        ``r2 = M - SRF · F1`` ``(B, G, H, W)`` (the paper's residuals with the sign that corrects ``F1``)."""
        r1 = lr - self.spatial_degradation(fused, lr.shape[-2:], self.lr_gains.to(fused.dtype))
        r2 = guide.to(fused.dtype) - spectral_response(fused, srf)
        return r1, r2

    # -- fusion -------------------------------------------------------------------------------------
    def fuse(
        self, lr: torch.Tensor, guide: torch.Tensor, chunk: int, stats: Stats | None = None
    ) -> torch.Tensor:
        """Fused ``(B, C, H, W)`` on the guide grid from ``lr (B, C, h, w)`` and ``guide (B, G, H, W)``."""
        out_size = tuple(guide.shape[-2:])
        guide = guide.to(lr.dtype)
        upsampled = self.spatial_inr(lr, None, out_size, chunk)
        fused = upsampled + self.forward_conv(torch.cat([upsampled, guide], dim=1))  # F1
        srf = self.response(lr, guide, stats)
        r1, r2 = self.back_projection_residuals(fused, lr, guide, srf)
        spatial = self.spatial_inr(r1, None, out_size, chunk)  # R1: the same spatial INR
        centres = spectral_centres(srf, self.band_coords)
        spectral = self.spectral_inr(r2, guide, centres, self.band_coords, chunk)  # R2
        corrected = fused + spatial + spectral
        return corrected + self.body(corrected)

    def forward(self, lr, guide, out_size=None, chunk: int | None = None, stats: Stats | None = None):
        """``lr (B, C, h, w)``, ``guide (B, G, H, W)`` → ``(B, C, H, W)``; ``chunk`` bounds INR queries;
        ``stats``: summed :meth:`scene_statistics` of a whole scene (tiled fusion)."""
        self.check_inputs(lr, guide, out_size)
        chunk = int(chunk or self.default_chunk)
        if chunk < 1:
            raise InputError(f"ss-inr: chunk must be a positive query count, got {chunk}")
        return self.fuse(lr, guide, chunk, stats)

    def encode(self, lr: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        """The fused image on the guide grid: back-projection and the final convolutions need all of it."""
        self.check_inputs(lr, guide)
        return self.fuse(lr, guide, self.default_chunk)

    def query(self, state: torch.Tensor, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """``(B, N, C)`` read from the fused image at ``coord`` (bilinear between its pixel centres)."""
        return sample_at(state, coord)


__all__ = [
    "SSINR",
    "core_pixels",
    "estimate_response",
    "regression_sums",
    "response_from_sums",
    "spectral_centres",
]
