"""Differentiable, batched degradation: sensor presets, MTF blur at any ratio, resampling, spectral
response, noise, and the protocols that make fusion pairs (simulation from HSI cubes, Wald's
reduced resolution).

Pure functions on ``(B, C, H, W)`` tensors; thin modules (:class:`Degradation`,
:class:`RandomDegradation`) around them. Depends on torch, numpy, scipy and PyYAML only.
"""

from fusion.degrade.functional import add_noise, blur_decimate, degrade, mtf_blur, noise_sigma
from fusion.degrade.kernels import gaussian_sigma, kernel_size, mtf_kernel
from fusion.degrade.modules import Degradation, Degraded, RandomDegradation, apply_params
from fusion.degrade.protocols import SimulatedPair, reduce_pair, simulate
from fusion.degrade.resample import (
    area_downsample,
    decimate,
    imresize,
    interp23,
    phase_offset,
    upsample,
)
from fusion.degrade.sensors import Sensor, get_sensor, gnyq_for, list_sensors, pan_gnyq
from fusion.degrade.spectral import (
    estimate_srf,
    fit_pan_weights,
    sensor_responses,
    sensor_srf,
    spectral_response,
    srf_matrix,
    synthesize_pan,
)

__all__ = [
    "Degradation",
    "Degraded",
    "RandomDegradation",
    "Sensor",
    "SimulatedPair",
    "add_noise",
    "apply_params",
    "area_downsample",
    "blur_decimate",
    "decimate",
    "degrade",
    "estimate_srf",
    "fit_pan_weights",
    "gaussian_sigma",
    "get_sensor",
    "gnyq_for",
    "imresize",
    "interp23",
    "kernel_size",
    "list_sensors",
    "mtf_blur",
    "mtf_kernel",
    "noise_sigma",
    "pan_gnyq",
    "phase_offset",
    "reduce_pair",
    "sensor_responses",
    "sensor_srf",
    "simulate",
    "spectral_response",
    "srf_matrix",
    "synthesize_pan",
    "upsample",
]
