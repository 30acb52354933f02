"""Spectral response matrices, SRF estimation and PAN synthesis."""

import numpy as np
import pytest
import torch

from fusion.degrade import (
    estimate_srf,
    fit_pan_weights,
    sensor_responses,
    sensor_srf,
    spectral_response,
    srf_matrix,
    synthesize_pan,
)
from fusion.degrade.spectral import Response, gaussian_response
from fusion.errors import InputError

F64 = torch.float64


def test_srf_matrix_interpolates_at_band_centres_and_normalises():
    tri = Response("t", np.array([500.0, 550.0, 600.0]), np.array([0.0, 1.0, 0.0]), approximate=False)
    centres = [490.0, 525.0, 550.0, 575.0, 610.0]
    # hand-computed: 0 outside, 0.5 / 1 / 0.5 inside -> normalised by 2
    np.testing.assert_allclose(srf_matrix([tri], centres, min_coverage=0.0), [[0, 0.25, 0.5, 0.25, 0]])


def test_band_outside_the_hs_range_is_an_error():
    with pytest.raises(InputError, match="outside the HS bands"):
        sensor_srf("d700", np.arange(700.0, 1000.0, 10.0))


def test_gaussian_approximation_has_the_given_fwhm():
    response = gaussian_response("b", 600.0, 40.0)
    assert response.approximate
    at = np.interp([580.0, 600.0, 620.0], response.wavelengths_nm, response.values)
    np.testing.assert_allclose(at, [0.5, 1.0, 0.5], atol=1e-12)


def test_presets_use_tables_when_found_and_gaussians_otherwise(shared_data, monkeypatch):
    monkeypatch.setenv("FUSION_SRF_PATH", str(shared_data / "srf"))
    assert not any(r.approximate for r in sensor_responses("wv2"))
    assert all(r.approximate for r in sensor_responses("QuickBird"))
    pan = sensor_srf("wv3", np.arange(400.0, 1001.0, 10.0), which="pan")
    assert pan.shape == (1, 61) and abs(float(pan.sum()) - 1) < 1e-12 and float(pan[0, 0]) < 1e-3


def test_spectral_response_is_the_weighted_band_sum():
    x = torch.rand(2, 5, 4, 3, dtype=F64)
    srf = torch.rand(3, 5, dtype=F64)
    ref = np.einsum("mc,bchw->bmhw", srf.numpy(), x.numpy())
    np.testing.assert_allclose(spectral_response(x, srf), ref, atol=1e-13)
    per_sample = torch.stack([srf, 2 * srf])
    np.testing.assert_allclose(spectral_response(x, per_sample)[1], 2 * ref[1], atol=1e-13)


@pytest.mark.parametrize("nonneg", [True, False])
def test_estimate_srf_recovers_a_known_response(nonneg):
    gen = torch.Generator().manual_seed(0)
    hs = torch.rand(2, 12, 16, 16, generator=gen, dtype=F64)
    truth = torch.clamp(torch.randn(3, 12, generator=gen, dtype=F64), min=0)
    ms = spectral_response(hs, truth) + 1e-4 * torch.randn(2, 3, 16, 16, generator=gen, dtype=F64)
    estimate = estimate_srf(hs, ms, nonneg=nonneg, ridge=0.0)
    np.testing.assert_allclose(estimate, truth, atol=5e-3)
    if nonneg:
        assert (estimate >= 0).all()


def test_pan_regression_recovers_weights_and_intercept():
    gen = torch.Generator().manual_seed(1)
    ms = torch.rand(3, 4, 10, 10, generator=gen, dtype=F64)
    weights = torch.rand(3, 5, generator=gen, dtype=F64)  # 4 band weights + intercept, per sample
    pan = synthesize_pan(ms, weights)
    manual = (ms * weights[:, :4, None, None]).sum(1, keepdim=True) + weights[:, 4, None, None, None]
    np.testing.assert_allclose(pan, manual, atol=1e-13)
    np.testing.assert_allclose(fit_pan_weights(ms, pan), weights, atol=1e-8)
