"""MTF kernels: measured frequency response at the LR Nyquist equals GNyq for every preset and ratio."""

from fractions import Fraction

import numpy as np
import pytest
import torch

from fusion.degrade import get_sensor, list_sensors, mtf_blur, mtf_kernel
from fusion.degrade.functional import _grouped_conv

RATIOS = [2, 2.5, 3, 3.3, 4, 6, 8]


def measured_response(kernel: np.ndarray, ratio_y: float, ratio_x: float) -> tuple[np.ndarray, np.ndarray]:
    """|2-D DTFT| of kernels (C, ky, kx) at (0.5 / ratio_y, 0) and (0, 0.5 / ratio_x) cycles/pixel.

    On an axis of the frequency plane the 2-D transform is the 1-D FFT of the kernel summed over the
    other axis; zero-padding makes the frequency fall exactly on a bin."""
    out = []
    for axis, ratio in ((1, ratio_y), (2, ratio_x)):
        freq = Fraction(1, 2) / Fraction(str(ratio))
        length = freq.denominator * int(np.ceil(512 / freq.denominator))
        profile = kernel.sum(axis=3 - axis)
        out.append(np.abs(np.fft.fft(profile, n=length, axis=-1))[:, int(freq * length)])
    return out[0], out[1]


def preset_gains() -> list[tuple[str, float]]:
    cases = set()
    for key in list_sensors():
        sensor = get_sensor(key)
        cases.update((key, g) for g in sensor.gnyq)
        cases.add((key, sensor.pan_gain))
        cases.add((key, sensor.default_gnyq))
    return sorted(cases)


@pytest.mark.parametrize("ratio", RATIOS)
def test_response_at_nyquist_matches_gnyq_for_every_preset(ratio):
    cases = preset_gains()
    gains = np.array([g for _, g in cases])
    kernel = mtf_kernel(gains, ratio, like=torch.zeros((), dtype=torch.float64)).numpy()
    response_y, response_x = measured_response(kernel, ratio, ratio)
    bad = [case for case, r in zip(cases, response_y, strict=True) if abs(r - case[1]) >= 0.01]
    assert np.abs(response_y - gains).max() < 0.01, bad
    assert np.abs(response_x - gains).max() < 0.01
    np.testing.assert_allclose(kernel.sum(axis=(1, 2)), 1.0, atol=1e-12)


def test_kernel_size_grows_with_ratio_and_is_41_at_4():
    sizes = [mtf_kernel([0.3], r).shape[-1] for r in RATIOS]
    assert sizes == sorted(sizes) and sizes[RATIOS.index(4)] == 41
    assert all(s % 2 == 1 for s in sizes)


def test_per_axis_ratio_matches_each_axis():
    kernel = mtf_kernel([0.25, 0.35], (2.0, 3.3), like=torch.zeros((), dtype=torch.float64)).numpy()
    response_y, response_x = measured_response(kernel, 2.0, 3.3)
    np.testing.assert_allclose(response_y, [0.25, 0.35], atol=0.01)
    np.testing.assert_allclose(response_x, [0.25, 0.35], atol=0.01)


def test_toolbox_kernel_reproduces_the_toolbox_bias():
    """genMTF's N - 1 (instead of N) puts its true gain near GNyq ** (N / (N - 1)) ** 2 (below GNyq)."""
    gains = np.array([0.11, 0.3, 0.4])
    kernel = mtf_kernel(gains, 4, method="toolbox", like=torch.zeros((), dtype=torch.float64)).numpy()
    assert kernel.shape == (3, 41, 41)
    np.testing.assert_allclose(kernel.sum(axis=(1, 2)), 1.0, atol=1e-12)
    np.testing.assert_allclose(kernel, kernel[:, ::-1, ::-1], atol=1e-15)  # centred, symmetric
    response, _ = measured_response(kernel, 4, 4)
    np.testing.assert_allclose(response, gains ** ((41 / 40) ** 2), atol=0.005)


def test_separable_blur_equals_one_2d_grouped_conv():
    x = torch.rand(2, 3, 20, 17, dtype=torch.float64)
    gains = torch.tensor([[0.3, 0.2, 0.11], [0.25, 0.35, 0.3]], dtype=torch.float64)
    kernels = torch.stack([mtf_kernel(g, 2.5, like=x) for g in gains])
    np.testing.assert_allclose(mtf_blur(x, gains, 2.5), _grouped_conv(x, kernels), atol=1e-13)


def test_blur_matches_scipy_nearest_correlate():
    """Independent reference: scipy.ndimage.correlate with mode='nearest' (= imfilter 'replicate')."""
    from scipy import ndimage

    x = torch.rand(1, 2, 30, 30, dtype=torch.float64)
    gains = [0.3, 0.15]
    for method in ("gaussian", "toolbox"):
        kernels = mtf_kernel(gains, 3.3, method=method, like=x).numpy()
        out = mtf_blur(x, gains, 3.3, method=method).numpy()
        for band in range(2):
            ref = ndimage.correlate(x[0, band].numpy(), kernels[band], mode="nearest")
            np.testing.assert_allclose(out[0, band], ref, atol=1e-12)


def test_blur_preserves_constants_and_is_differentiable_in_gain():
    x = torch.full((1, 2, 12, 12), 3.0, dtype=torch.float64)
    gains = torch.tensor([0.3, 0.2], dtype=torch.float64, requires_grad=True)
    np.testing.assert_allclose(mtf_blur(x, gains, 3).detach(), 3.0, atol=1e-12)
    img = torch.rand(1, 2, 6, 5, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda g: mtf_blur(img, g, 2.5), (gains,), fast_mode=True)
