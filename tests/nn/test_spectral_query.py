"""SpectralQuery: identity decoder = linear interpolation in wavelength (numpy.interp), checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fusion.errors import InputError
from fusion.nn import SpectralQuery, normalize_wavelengths


def irregular_wavelengths(batch: int = 0) -> torch.Tensor:
    nm = torch.tensor([430.0, 450.0, 500.0, 520.0, 600.0, 690.0, 720.0], dtype=torch.float64)
    if batch:
        nm = nm + torch.arange(batch, dtype=torch.float64)[:, None] * 7
    return normalize_wavelengths(nm)


def identity_query(code_dim: int, **options) -> SpectralQuery:
    return SpectralQuery(code_dim, decoder=lambda x: x[..., :code_dim], **options)


def test_identity_decoder_is_linear_interpolation_in_wavelength():
    torch.manual_seed(0)
    bands = irregular_wavelengths()
    codes = torch.randn(3, 7, 2, dtype=torch.float64)
    query = normalize_wavelengths(torch.linspace(400, 760, 41, dtype=torch.float64))  # also outside the bands
    out = identity_query(2)(codes, bands, query)
    assert out.shape == (3, 41, 2)
    for b in range(3):
        for c in range(2):
            ref = np.interp(query.numpy(), bands.numpy(), codes[b, :, c].numpy())
            assert np.abs(out[b, :, c].numpy() - ref).max() < 1e-12


def test_per_sample_wavelengths_and_queries():
    torch.manual_seed(1)
    bands = irregular_wavelengths(batch=2)
    codes = torch.randn(2, 7, 1, dtype=torch.float64)
    query = normalize_wavelengths(torch.tensor([[445.0, 610.0], [455.0, 700.0]], dtype=torch.float64))
    out = identity_query(1)(codes, bands, query)
    for b in range(2):
        ref = np.interp(query[b].numpy(), bands[b].numpy(), codes[b, :, 0].numpy())
        assert np.allclose(out[b, :, 0].numpy(), ref)


def test_without_ensemble_the_nearest_band_answers():
    codes = torch.arange(7.0, dtype=torch.float64).view(1, 7, 1)
    bands = irregular_wavelengths()
    query = normalize_wavelengths(torch.tensor([441.0, 439.0, 515.0, 700.0, 900.0], dtype=torch.float64))
    # nearest band: 441 -> 450 (index 1), 439 -> 430, 515 -> 520, 700 -> 690, 900 -> 720 (clamped)
    out = identity_query(1, ensemble=False)(codes, bands, query)
    assert out.flatten().tolist() == [1.0, 0.0, 3.0, 5.0, 6.0]


def test_single_band_returns_its_code():
    codes = torch.randn(2, 1, 3)
    out = identity_query(3)(codes, torch.tensor([0.1]), torch.tensor([-0.5, 0.3]))
    assert torch.allclose(out, codes.expand(2, 2, 3))


def test_decoder_sees_offsets_in_band_spacings_and_cond():
    seen = {}

    def record(x):
        seen["x"] = x
        return x[..., :1]

    bands = torch.tensor([0.0, 0.2, 0.4], dtype=torch.float64)
    query = SpectralQuery(1, cond_dim=2, decoder=record)
    cond = torch.tensor([[5.0, 6.0]], dtype=torch.float64)
    query(torch.zeros(1, 3, 1, dtype=torch.float64), bands, torch.tensor([0.25], dtype=torch.float64), cond)
    x = seen["x"][0, 0]  # (K = 2 neighbours, [code, offset, cond])
    assert x[:, 1].tolist() == pytest.approx([0.25, -0.75])  # (0.25 - 0.2) / 0.2 and (0.25 - 0.4) / 0.2
    assert x[:, 2:].tolist() == [[5.0, 6.0], [5.0, 6.0]]


def test_gradients_independence_and_gradcheck(grads_reach, independent):
    torch.manual_seed(2)
    query = SpectralQuery(
        3, 2, hidden=(8, 8), activations=["tanh", "gaussian"], encoding="sinusoidal", num_freqs=2, cond_dim=2
    ).double()
    bands = irregular_wavelengths()
    targets = torch.linspace(-0.9, -0.5, 5, dtype=torch.float64)
    codes = torch.randn(2, 7, 3, dtype=torch.float64, requires_grad=True)
    cond = torch.randn(2, 2, dtype=torch.float64)
    grads_reach(query, query(codes, bands, targets, cond))
    independent(lambda z, c: query(z, bands, targets, c), codes.detach(), cond)
    small = torch.randn(1, 7, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z: query(z, bands, targets, cond[:1]), (small,))


def test_shape_errors():
    query = SpectralQuery(2, 1, cond_dim=1)
    codes, bands, q, cond = torch.randn(2, 4, 2), torch.linspace(-1, 1, 4), torch.zeros(3), torch.zeros(2, 1)
    with pytest.raises(InputError, match=r"codes \(B, L, 2\)"):
        query(torch.randn(2, 4, 3), bands, q, cond)
    with pytest.raises(InputError, match="wavelengths"):
        query(codes, torch.linspace(-1, 1, 5), q, cond)
    with pytest.raises(InputError, match="strictly increasing"):
        query(codes, bands.flip(0), q, cond)
    with pytest.raises(InputError, match="query wavelengths"):
        query(codes, bands, torch.zeros(3, 3), cond)
    with pytest.raises(InputError, match="cond"):
        query(codes, bands, q)
