"""Consistency with the low-resolution input: iterative back-projection of a fused image.

A fused image ``x`` should, blurred with the sensor's MTF and decimated by the ratio, give back the
LR image it was made from. Most fusion methods do not enforce this, and an error in the low
frequencies of each band (a spectral bias, a misplaced edge) survives into the output. Iterative
back-projection (Irani & Peleg's scheme) removes it: the LR residual ``lr - D(x)`` is interpolated onto
the output grid and added, a few times,

    x_{k+1} = x_k + U(lr - D(x_k)),

with ``D`` = :func:`fusion.degrade.blur_decimate` (Gaussian MTF with gains ``gnyq``, samples at
``phase``) and ``U`` = Keys' bicubic :func:`fusion.degrade.upsample` at the same phase. It changes
only what ``D`` sees, i.e. the low frequencies of each band; the high-frequency detail stays the
model's. Every step is differentiable, so the wrapped model can be trained or fitted through it.

The operator must match how the LR image arose (its MTF and sample phase): ``create_model(name,
back_projection={"iterations": 10, "gnyq": 0.3, "phase": "centre"})``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from fusion.degrade import blur_decimate, get_sensor, upsample
from fusion.degrade.resample import check_phase
from fusion.errors import InputError
from fusion.models.base import FusionModel, Stats, WrappedModel, halo_pixels

DEFAULT_ITERATIONS = 10
"""Back-projection steps: the LR residual falls by 10-100x within about five on CAVE crops."""
CONTEXT_LR_PIXELS = 8
"""LR pixels of context a tile adds for back-projection (each step spreads the residual by the MTF
kernel and the interpolator; the correction decays within a few LR pixels)."""


def back_project(
    fused: torch.Tensor, lr: torch.Tensor, gnyq, phase: str = "centre", iterations: int = DEFAULT_ITERATIONS
) -> torch.Tensor:
    """``fused (B, C, H, W)`` corrected so that its blurred, decimated version approaches ``lr (B, C, h, w)``.

    ``gnyq``: MTF gain(s) at the LR Nyquist frequency (scalar or ``(C,)``); ``phase``: where the LR
    samples sit on the output grid (:mod:`fusion.degrade.resample`). Returns ``(B, C, H, W)``.
    """
    lr = lr.to(fused.dtype)
    for _ in range(iterations):
        residual = lr_residual(fused, lr, gnyq, phase)
        fused = fused + upsample(residual, tuple(fused.shape[-2:]), method="bicubic", phase=phase)
    return fused


def lr_residual(fused: torch.Tensor, lr: torch.Tensor, gnyq, phase: str = "centre") -> torch.Tensor:
    """``lr - D(fused)`` ``(B, C, h, w)``: how far ``fused`` is from explaining its LR input."""
    ratio = (fused.shape[-2] / lr.shape[-2], fused.shape[-1] / lr.shape[-1])
    return lr.to(fused.dtype) - blur_decimate(fused, gnyq, ratio, out_size=tuple(lr.shape[-2:]), phase=phase)


class BackProjected(WrappedModel):
    """``model``'s output passed through :func:`back_project` (see the module docstring).

    Args:
        iterations: back-projection steps. gnyq: the LR image's MTF gains (scalar or one per band);
            ``None`` takes ``sensor``'s gains for the band count (the generic 0.3 without a sensor).
        phase: the LR sample phase (``"centre"``: co-registered grids, pixel centres on block centres).

    Tiling: each step reaches a few LR pixels further, so the halo grows by
    :data:`CONTEXT_LR_PIXELS` and a tiled run approximates the untiled one (``exact_tiling`` False).
    """

    exact_tiling = False

    def __init__(
        self,
        model: FusionModel,
        iterations: int = DEFAULT_ITERATIONS,
        gnyq=None,
        sensor: str | None = None,
        phase: str = "centre",
    ):
        super().__init__(model)
        if int(iterations) < 1:
            raise InputError(f"back_projection: iterations must be at least 1, got {iterations}")
        self.iterations, self.phase = int(iterations), check_phase(phase)
        self.gnyq, self.sensor = gnyq, get_sensor(sensor)

    def halo(self, ratio: tuple[float, float]) -> int:
        return self.model.halo(ratio) + halo_pixels(ratio, CONTEXT_LR_PIXELS)

    def gains(self, bands: int):
        """The MTF gains of a ``bands``-band LR image."""
        return self.gnyq if self.gnyq is not None else self.sensor.gnyq_for(bands)

    def forward(
        self, lr: torch.Tensor, guide: torch.Tensor, out_size=None, stats: Stats | None = None
    ) -> torch.Tensor:
        """``lr (B, C, h, w)``, ``guide (B, G, H, W)`` -> ``(B, C, H, W)``."""
        out_size = self.check_inputs(lr, guide, out_size)
        extra = {} if stats is None else {"stats": stats}
        fused = self.model(lr, guide, out_size=out_size, **extra)
        with torch.autocast(lr.device.type, enabled=False):
            gains = self.gains(lr.shape[1])
            corrected = back_project(fused.float(), lr.float(), gains, self.phase, self.iterations)
        return corrected.to(fused.dtype)


def back_projection_args(spec: int | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """:class:`BackProjected`'s keyword arguments from a config value: an iteration count, a mapping
    (``iterations``, ``gnyq``, ``sensor``, ``phase``), or ``None``/``0`` for none."""
    if spec is None or spec is False or spec == 0:
        return None
    if isinstance(spec, int):  # True asks for the default count
        return {"iterations": DEFAULT_ITERATIONS if spec is True else spec}
    if not isinstance(spec, Mapping):
        raise InputError(f"back_projection: give an iteration count or a mapping, got {spec!r}")
    unknown = set(spec) - {"iterations", "gnyq", "sensor", "phase"}
    if unknown:
        raise InputError(f"back_projection: unknown key(s) {', '.join(sorted(unknown))}")
    return dict(spec)
