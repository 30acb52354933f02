"""Differentiable, batched degradation: sensor presets, MTF blur at any ratio, resampling, spectral
response, noise, and the Wald reduced-resolution protocol.

Pure functions on ``(B, C, H, W)`` tensors; thin modules (:class:`Degradation`,
:class:`RandomDegradation`) around them. Depends on torch, numpy and PyYAML only.
"""

from fusion.degrade.functional import add_noise, blur_decimate, mtf_blur, noise_sigma
from fusion.degrade.kernels import gaussian_sigma, kernel_size, mtf_kernel
from fusion.degrade.resample import (
    area_downsample,
    decimate,
    imresize,
    interp23,
    phase_offset,
    upsample,
)
from fusion.degrade.sensors import Sensor, get_sensor, gnyq_for, list_sensors, pan_gnyq

__all__ = [
    "Sensor",
    "add_noise",
    "area_downsample",
    "blur_decimate",
    "decimate",
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
    "upsample",
]
