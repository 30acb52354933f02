"""Protocols: simulate a fusion pair from an HSI cube, and Wald's reduced-resolution pair.

``reduce_pair`` follows the reference toolbox (``resize_images``): the LR image is MTF-filtered with
its sensor's gains and decimated (``phase="toolbox"``: start index ``ratio / 2``); the PAN is shrunk
with MATLAB's antialiased bicubic ``imresize``. ``guide_mtf=True`` is Ciotola's variant (Z-PNN /
hyperspectral toolbox ``apply_mtf_to_pan``): the guide is MTF-filtered with the PAN gain too and
decimated the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from fusion.degrade.functional import add_noise, blur_decimate, check_image
from fusion.degrade.kernels import ratio_pair
from fusion.degrade.resample import check_phase, imresize, lr_size
from fusion.degrade.sensors import Sensor, get_sensor
from fusion.degrade.spectral import sensor_responses, spectral_response, srf_matrix
from fusion.errors import InputError


@dataclass
class SimulatedPair:
    """``lr (B, C, h, w)``, ``guide (B, G, H, W)``, ``gt (B, C, H, W)`` and every parameter used.

    Unpacks as ``lr, guide, gt = simulate(...)``.
    """

    lr: torch.Tensor
    guide: torch.Tensor
    gt: torch.Tensor
    params: dict = field(default_factory=dict)

    def __iter__(self):
        return iter((self.lr, self.guide, self.gt))


def _batched(x: torch.Tensor, name: str) -> torch.Tensor:
    if x.ndim == 3:
        x = x[None]
    check_image(x, name)
    return x


def simulate(
    cube: torch.Tensor,
    sensor: str | Sensor,
    ratio,
    guide: str = "pan",
    snr=None,
    wavelengths_nm=None,
    guide_snr=None,
    lr_gnyq=None,
    phase: str = "toolbox",
    generator: torch.Generator | None = None,
) -> SimulatedPair:
    """Simulate ``(lr, guide, gt)`` from an HSI cube ``(B, C, H, W)`` or ``(C, H, W)``.

    The guide is the sensor's PAN (``guide="pan"``) or MS bands (``"msi"``) integrated from the cube
    with the sensor's spectral responses at ``wavelengths_nm`` (one per cube band, required), at full
    resolution. The LR image is the cube blurred with MTF gains ``lr_gnyq`` (default: the sensor's
    when its band count matches the cube's, else the generic 0.3) and decimated by ``ratio`` (scalar
    or ``(y, x)``; LR size ``round(H / ratio)``). ``snr`` / ``guide_snr`` add Gaussian noise (dB).
    ``gt`` is the cube itself.
    """
    gt = _batched(torch.as_tensor(cube), "cube")
    if not gt.is_floating_point():
        gt = gt.double()
    if wavelengths_nm is None:
        raise InputError("simulate needs the cube's band centre wavelengths (wavelengths_nm)")
    if len(torch.as_tensor(wavelengths_nm).reshape(-1)) != gt.shape[1]:
        raise InputError(f"got {len(wavelengths_nm)} wavelengths for a cube with {gt.shape[1]} bands")
    if guide not in ("pan", "msi"):
        raise InputError(f"guide must be 'pan' or 'msi', got {guide!r}")
    sensor = get_sensor(sensor)
    responses = sensor_responses(sensor, "pan" if guide == "pan" else "ms")
    srf = srf_matrix(responses, wavelengths_nm, like=gt)
    ry, rx = ratio_pair(ratio)
    gains = lr_gnyq if lr_gnyq is not None else sensor.gnyq_for(gt.shape[1])
    lr = blur_decimate(gt, gains, (ry, rx), phase=check_phase(phase))
    guide_img = spectral_response(gt, srf)
    if snr is not None:
        lr = add_noise(lr, snr, generator=generator)
    if guide_snr is not None:
        guide_img = add_noise(guide_img, guide_snr, generator=generator)
    params = {
        "sensor": sensor.name,
        "ratio": [gt.shape[-2] / lr.shape[-2], gt.shape[-1] / lr.shape[-1]],
        "requested_ratio": [ry, rx],
        "guide": guide,
        "lr_gnyq": [float(g) for g in torch.as_tensor(gains).reshape(-1).tolist()],
        "phase": phase,
        "snr_db": snr,
        "guide_snr_db": guide_snr,
        "srf": srf.tolist(),
        "srf_bands": [r.name for r in responses],
        "srf_approximate": any(r.approximate for r in responses),
        "wavelengths_nm": [float(w) for w in torch.as_tensor(wavelengths_nm).reshape(-1).tolist()],
    }
    return SimulatedPair(lr, guide_img, gt, params)


def reduce_pair(
    guide: torch.Tensor,
    lr: torch.Tensor,
    ratio=None,
    sensor: str | Sensor | None = None,
    guide_mtf: bool = False,
    lr_gnyq=None,
    guide_gnyq=None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Wald's reduced-resolution pair: ``(guide_reduced, lr_reduced, reference)``.

    ``guide (B, G, H, W)`` and ``lr (B, C, h, w)`` cover the same extent; ``ratio`` defaults to
    ``H / h`` (per axis). The reference is ``lr`` itself. ``lr_reduced`` is ``lr`` MTF-filtered with
    ``lr_gnyq`` (default: the sensor's gains for ``C`` bands) and decimated to ``round(h / ratio)``
    with the toolbox phase; ``guide_reduced`` is ``guide`` resized to ``lr``'s size with MATLAB
    bicubic ``imresize`` (toolbox), or, with ``guide_mtf=True`` (Ciotola), MTF-filtered with
    ``guide_gnyq`` (default: the sensor's PAN gain) and decimated.
    """
    guide, lr = _batched(guide, "guide"), _batched(lr, "lr")
    if guide.shape[0] != lr.shape[0]:
        raise InputError(f"guide and lr batch sizes differ: {guide.shape[0]} and {lr.shape[0]}")
    if ratio is None:
        ratio = (guide.shape[-2] / lr.shape[-2], guide.shape[-1] / lr.shape[-1])
    ry, rx = ratio_pair(ratio)
    sensor = get_sensor(sensor)
    small = (lr_size(lr.shape[-2], ry), lr_size(lr.shape[-1], rx))
    if min(small) < 2:
        raise InputError(f"lr of size {tuple(lr.shape[-2:])} is too small to reduce by {ratio}")
    gains = lr_gnyq if lr_gnyq is not None else sensor.gnyq_for(lr.shape[1])
    lr_ratio = (lr.shape[-2] / small[0], lr.shape[-1] / small[1])  # the reduced grid's exact ratio
    lr_reduced = blur_decimate(lr, gains, lr_ratio, out_size=small, phase="toolbox")
    if guide_mtf:
        pan_gain = guide_gnyq if guide_gnyq is not None else sensor.pan_gain
        guide_ratio = (guide.shape[-2] / lr.shape[-2], guide.shape[-1] / lr.shape[-1])
        guide_reduced = blur_decimate(
            guide, pan_gain, guide_ratio, out_size=tuple(lr.shape[-2:]), phase="toolbox"
        )
    else:
        guide_reduced = imresize(guide, out_size=tuple(lr.shape[-2:]))
    return guide_reduced, lr_reduced, lr
