"""Thin modules around :func:`fusion.degrade.functional.degrade`: fixed parameters
(:class:`Degradation`) and per-sample random parameters (:class:`RandomDegradation`).

Both return a :class:`Degraded` ``(lr, guide, gt, params)``; ``params`` is a dict of tensors with a
batch dimension, enough to replay the batch exactly (``module(gt, params=params)``) or to log it.

Geometry with mixed ratios: a batch has one LR size ``(h, w)``. With ``per_sample=True``
:class:`RandomDegradation` fixes ``h = floor(H / r_max)`` from the top of its ratio range, so LR
sample ``b`` covers the top-left ``extent_b = (h r_b, w r_b)`` HR pixels of ``gt`` and of the guide
(``params["extent"]``); with ``per_sample=False`` one ratio per batch covers the whole ``gt``
(``h = round(H / r)``, the ratio recorded being ``H / h``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from fusion.degrade.functional import band_gains, degrade, per_sample
from fusion.degrade.resample import check_phase, lr_size
from fusion.degrade.sensors import Sensor, get_sensor
from fusion.errors import InputError

Params = dict[str, torch.Tensor]


class Degraded(NamedTuple):
    """``lr (B, C, h, w)``, ``guide (B, G, H, W)`` or ``None``, ``gt`` (the input), ``params``."""

    lr: torch.Tensor
    guide: torch.Tensor | None
    gt: torch.Tensor
    params: Params


def _noise_like(shape, seed: torch.Tensor, like: torch.Tensor, stream: int) -> torch.Tensor:
    """Standard-normal noise from a recorded seed (``stream`` separates LR and guide draws)."""
    generator = torch.Generator(device=like.device)
    generator.manual_seed(int(seed) * 2 + stream)
    return torch.randn(shape, generator=generator, dtype=like.dtype, device=like.device)


def apply_params(
    gt: torch.Tensor,
    params: Params,
    guide: torch.Tensor | None = None,
    srf: torch.Tensor | None = None,
    phase: str = "toolbox",
    max_ratio: float | None = None,
) -> Degraded:
    """Degrade ``gt`` with recorded ``params`` (keys: ``ratio``, ``gnyq``, ``lr_size``, optional
    ``shift``, ``snr_db``, ``guide_snr_db``, ``noise_seed``)."""
    out_size = tuple(int(v) for v in params["lr_size"].tolist())
    seed = params.get("noise_seed")
    snr, guide_snr = params.get("snr_db"), params.get("guide_snr_db")
    noise = _noise_like((*gt.shape[:2], *out_size), seed, gt, 0) if snr is not None else None
    guide_bands = guide.shape[1] if guide is not None else (srf.shape[-2] if srf is not None else 0)
    guide_noise = (
        _noise_like((gt.shape[0], guide_bands, *gt.shape[-2:]), seed, gt, 1)
        if guide_snr is not None and guide_bands
        else None
    )
    lr, guide = degrade(
        gt,
        params["ratio"],
        params["gnyq"],
        out_size=out_size,
        shift=params.get("shift", 0.0),
        snr_db=snr,
        noise=noise,
        srf=srf,
        guide=guide,
        guide_snr_db=guide_snr,
        guide_noise=guide_noise,
        phase=phase,
        max_ratio=max_ratio,
    )
    return Degraded(lr, guide, gt, params)


class Degradation(nn.Module):
    """Fixed degradation: sensor MTF at ``ratio``, optional SRF guide synthesis, shift and noise.

    Args:
        sensor: preset name or :class:`Sensor` (GNyq via ``gnyq_for`` the input's band count).
        ratio: scalar or ``(ratio_y, ratio_x)``; the LR size is ``round(H / ratio)``.
        gnyq: explicit gains (scalar or ``(C,)``), overriding the sensor's.
        srf: ``(M, C)`` response making the guide from ``gt`` when none is passed.
        snr_db / guide_snr_db: noise levels (``None``: noiseless). shift: ``(dy, dx)`` in LR pixels.
        phase: LR sampling phase (see :mod:`fusion.degrade.resample`).
        seed: seed of the noise draw (the same draw on every call, so outputs are reproducible).
    """

    def __init__(
        self,
        sensor: str | Sensor | None = None,
        ratio=4.0,
        gnyq=None,
        srf=None,
        snr_db=None,
        guide_snr_db=None,
        shift=0.0,
        phase: str = "toolbox",
        seed: int = 0,
    ):
        super().__init__()
        self.sensor = get_sensor(sensor)
        self.ratio, self.gnyq, self.shift, self.phase = ratio, gnyq, shift, check_phase(phase)
        self.snr_db, self.guide_snr_db, self.seed = snr_db, guide_snr_db, seed
        self.register_buffer("srf", None if srf is None else torch.as_tensor(srf), persistent=False)

    def params_for(self, gt: torch.Tensor) -> Params:
        batch, bands, height, width = gt.shape
        ratio = per_sample(self.ratio, batch, gt)
        size = (lr_size(height, float(ratio[0, 0])), lr_size(width, float(ratio[0, 1])))
        gains = self.gnyq if self.gnyq is not None else self.sensor.gnyq_for(bands)
        params = {
            "ratio": torch.tensor(
                [height / size[0], width / size[1]], dtype=ratio.dtype, device=gt.device
            ).expand(batch, 2),
            "gnyq": band_gains(gains, gt),
            "shift": per_sample(self.shift, batch, gt),
            "lr_size": torch.tensor(size),
            "noise_seed": torch.tensor(self.seed),
        }
        for key, value in (("snr_db", self.snr_db), ("guide_snr_db", self.guide_snr_db)):
            if value is not None:
                params[key] = torch.as_tensor(value, dtype=gt.dtype, device=gt.device).expand(batch)
        return params

    def forward(self, gt: torch.Tensor, guide: torch.Tensor | None = None) -> Degraded:
        return apply_params(gt, self.params_for(gt), guide=guide, srf=self.srf, phase=self.phase)


def _uniform(low: float, high: float, shape, generator, like: torch.Tensor) -> torch.Tensor:
    device = generator.device if generator is not None else like.device
    draw = torch.rand(shape, generator=generator, device=device, dtype=like.dtype)
    return (low + (high - low) * draw).to(like.device)


def _range(value, name: str) -> tuple[float, float]:
    low, high = (value, value) if isinstance(value, (int, float)) else map(float, value)
    if low > high:
        raise InputError(f"{name}: range ({low}, {high}) is empty")
    return float(low), float(high)


class RandomDegradation(nn.Module):
    """Degradation with parameters sampled per sample (or per batch) on the data's device.

    Args:
        sensor: preset for the base GNyq (``gnyq_for`` the band count) -- or give ``gnyq``.
        ratio: ``(low, high)`` of a uniform ratio, e.g. ``(2, 8)``; ``anisotropic`` draws y and x apart.
        per_sample: different ratios within a batch (fixed LR size, see the module docstring) or one.
        gnyq_jitter: relative uniform jitter of each band's gain, ``g (1 + U(-j, j))``.
        snr_db / guide_snr_db: ``(low, high)`` uniform SNR in dB, or ``None`` for no noise.
        shift: largest misregistration in LR pixels (uniform in ``[-shift, shift]`` per axis).
        srf: ``(M, C)`` response making the guide from ``gt`` when none is passed.
    """

    def __init__(
        self,
        sensor: str | Sensor | None = None,
        ratio=(2.0, 8.0),
        gnyq=None,
        gnyq_jitter: float = 0.1,
        snr_db=None,
        guide_snr_db=None,
        shift: float = 0.0,
        srf=None,
        per_sample: bool = True,
        anisotropic: bool = False,
        phase: str = "toolbox",
    ):
        super().__init__()
        self.sensor = get_sensor(sensor)
        self.ratio_range = _range(ratio, "ratio")
        if self.ratio_range[0] <= 1:
            raise InputError(f"ratio range must lie above 1, got {ratio!r}")
        self.gnyq, self.gnyq_jitter, self.shift = gnyq, float(gnyq_jitter), float(shift)
        self.snr_range = None if snr_db is None else _range(snr_db, "snr_db")
        self.guide_snr_range = None if guide_snr_db is None else _range(guide_snr_db, "guide_snr_db")
        self.per_sample, self.anisotropic, self.phase = per_sample, anisotropic, check_phase(phase)
        self.register_buffer("srf", None if srf is None else torch.as_tensor(srf), persistent=False)

    def lr_size(self, height: int, width: int, ratio: torch.Tensor) -> tuple[int, int]:
        if self.per_sample:
            top = self.ratio_range[1]
            return max(1, math.floor(height / top + 1e-9)), max(1, math.floor(width / top + 1e-9))
        return lr_size(height, float(ratio[0, 0])), lr_size(width, float(ratio[0, 1]))

    def sample(self, gt: torch.Tensor, generator: torch.Generator | None = None) -> Params:
        """Draw parameters for ``gt (B, C, H, W)`` (on its device and dtype)."""
        batch, bands, height, width = gt.shape
        draws = batch if self.per_sample else 1
        ratio = _uniform(*self.ratio_range, (draws, 2 if self.anisotropic else 1), generator, gt)
        ratio = ratio.expand(batch, 2)
        size = self.lr_size(height, width, ratio)
        if not self.per_sample:  # the grid's ratio for a batch-wide LR size
            ratio = torch.tensor([height / size[0], width / size[1]], dtype=gt.dtype, device=gt.device)
            ratio = ratio.expand(batch, 2)
        base = band_gains(self.gnyq if self.gnyq is not None else self.sensor.gnyq_for(bands), gt)
        jitter = _uniform(-self.gnyq_jitter, self.gnyq_jitter, (batch, bands), generator, gt)
        params = {
            "ratio": ratio.contiguous(),
            "gnyq": (base * (1 + jitter)).clamp(0.01, 0.99),
            "shift": _uniform(-self.shift, self.shift, (batch, 2), generator, gt),
            "lr_size": torch.tensor(size),
            "extent": ratio * torch.tensor(size, dtype=gt.dtype, device=gt.device),
        }
        for key, rng in (("snr_db", self.snr_range), ("guide_snr_db", self.guide_snr_range)):
            if rng is not None:
                params[key] = _uniform(*rng, (batch,), generator, gt)
        device = generator.device if generator is not None else gt.device
        params["noise_seed"] = torch.randint(0, 2**62, (), generator=generator, device=device).cpu()
        return params

    def forward(
        self,
        gt: torch.Tensor,
        guide: torch.Tensor | None = None,
        params: Params | None = None,
        generator: torch.Generator | None = None,
    ) -> Degraded:
        """Degrade ``gt``; pass ``params`` (from a previous output) to replay a batch exactly."""
        if gt.ndim != 4:
            raise InputError(f"gt must be (B, C, H, W), got shape {tuple(gt.shape)}")
        params = self.sample(gt, generator) if params is None else params
        return apply_params(
            gt, params, guide=guide, srf=self.srf, phase=self.phase, max_ratio=self.ratio_range[1]
        )
