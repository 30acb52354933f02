"""D_λ, D_S and QNR against direct block loops, the toolbox invariants and the real WV2 pair."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from metric_loops import block_uiqi_direct
from sewar.full_ref import q2n as sewar_q2n

import fusion.metrics as M
from fusion.errors import InputError
from fusion.metrics import _tensor
from fusion.metrics._tensor import fft_filter
from fusion.metrics.no_reference import pan_lowpass


@pytest.fixture
def small_scene():
    """fused, ms_up (1, 3, 16, 24) and pan, pan_lp (1, 1, 16, 24), integer DN."""
    rng = np.random.default_rng(3)
    ms_up = rng.integers(100, 1500, size=(1, 3, 16, 24)).astype(np.float64)
    fused = np.clip(ms_up + rng.normal(0, 150, ms_up.shape), 0, None).round()
    pan = rng.integers(100, 2000, size=(1, 1, 16, 24)).astype(np.float64)
    pan_lp = np.clip(pan + rng.normal(0, 300, pan.shape), 0, None).round()
    return fused, ms_up, pan, pan_lp


def test_d_lambda_matches_direct_loop(small_scene):
    fused, ms_up, _, _ = small_scene
    pairs = [(0, 1), (0, 2), (1, 2)]
    deltas = [
        abs(block_uiqi_direct(fused[0, i], fused[0, j], 8) - block_uiqi_direct(ms_up[0, i], ms_up[0, j], 8))
        for i, j in pairs
    ]
    assert M.d_lambda(fused, ms_up, block_size=8).item() == pytest.approx(np.mean(deltas), abs=1e-12)
    want_p2 = np.sqrt(np.mean(np.square(deltas)))
    assert M.d_lambda(fused, ms_up, block_size=8, p=2).item() == pytest.approx(want_p2, abs=1e-12)


def test_d_s_matches_direct_loop(small_scene):
    fused, ms_up, pan, pan_lp = small_scene
    terms = [
        abs(block_uiqi_direct(fused[0, b], pan[0, 0], 8) - block_uiqi_direct(ms_up[0, b], pan_lp[0, 0], 8))
        for b in range(3)
    ]
    got = M.d_s(fused, ms_up, pan, 4, block_size=8, pan_lp=pan_lp)
    assert got.item() == pytest.approx(np.mean(terms), abs=1e-12)
    per_band = M.d_s(fused, ms_up, pan, 4, block_size=8, pan_lp=pan_lp, per_band=True)
    assert per_band[0].numpy() == pytest.approx(np.array(terms), abs=1e-12)


def test_qnr_combines_its_distortions(small_scene):
    fused, ms_up, pan, _ = small_scene
    dl = M.d_lambda(fused, ms_up, block_size=8)
    ds = M.d_s(fused, ms_up, pan, 4, block_size=8)
    got = M.qnr(fused, ms_up, pan, 4, block_size=8, alpha=2, beta=0.5)
    assert got.item() == pytest.approx(((1 - dl) ** 2 * (1 - ds) ** 0.5).item())


def test_d_lambda_is_zero_for_the_interpolated_ms(wv2_pair):
    pan, ms = wv2_pair
    from fusion.degrade.resample import interp23

    ms_up = interp23(ms[..., :32, :32], 4)
    pan = pan[..., :128, :128]
    assert M.d_lambda(ms_up, ms_up).item() == 0
    sharpened = ms_up + pan - pan_lowpass(pan, 4)
    assert M.d_lambda(sharpened, ms_up).item() > 0
    assert 0 < M.d_s(ms_up, ms_up, pan, 4).item() < 1  # the PAN detail is missing


def test_pan_lowpass_keeps_constants_and_needs_power_of_two_in_reference():
    pan = torch.full((1, 1, 48, 48), 700.0, dtype=torch.float64)
    assert pan_lowpass(pan, 4).allclose(pan)
    with pytest.raises(InputError, match="power-of-two"):
        pan_lowpass(pan, 3)
    assert pan_lowpass(pan, 3, convention="float").allclose(pan)


def test_full_resolution_shape_errors(small_scene):
    fused, ms_up, pan, _ = small_scene
    with pytest.raises(InputError, match="multiples of the block size"):
        M.d_lambda(fused[..., :15, :], ms_up[..., :15, :], block_size=8)
    with pytest.raises(InputError, match="at least 2 bands"):
        M.d_lambda(fused[:, :1], ms_up[:, :1], block_size=8)
    with pytest.raises(InputError, match="pan must be"):
        M.d_s(fused, ms_up, np.concatenate([pan, pan], axis=1), 4, block_size=8)


@pytest.mark.parametrize("convention,kernel", [("reference", "toolbox"), ("float", "gaussian")])
def test_d_lambda_k_is_one_minus_sewar_q2n_of_the_blurred_image(wv2_fused_like, convention, kernel):
    from fusion.degrade import mtf_blur

    fused, ms = (t[..., :96, :96] for t in wv2_fused_like)  # two images on one grid, sides multiple of 32
    gains = [0.35] * 7 + [0.27]  # WorldView-2 GNyq (REFERENCE-toolkits §3.1)
    blurred = mtf_blur(fused, gains, 4, method=kernel)
    if convention == "reference":
        blurred, ms_q = (torch.floor(t + 0.5).clamp(0, 65535) for t in (blurred, ms))
    else:
        ms_q = ms
    want = 1 - sewar_q2n(ms_q[0].permute(1, 2, 0).numpy(), blurred[0].permute(1, 2, 0).numpy())
    got = M.d_lambda_k(fused, ms, 4, sensor="WV2", convention=convention)
    assert got.item() == pytest.approx(want, abs=1e-10)
    assert M.d_lambda_k(fused, ms, 4, gnyq=gains, convention=convention).item() == got.item()


def test_hqnr_combines_khan_and_d_s(wv2_pair):
    from fusion.degrade.resample import interp23

    pan, ms = (t[..., :128, :128] for t in wv2_pair)
    ms_up = interp23(ms[..., :32, :32], 4)
    fused = ms_up + 0.5 * (pan - pan_lowpass(pan, 4))
    dk = M.d_lambda_k(fused, ms_up, 4, "WV2")
    ds = M.d_s(fused, ms_up, pan, 4)
    assert 0 < dk.item() < 1 and 0 < ds.item() < 1
    assert M.hqnr(fused, ms_up, pan, 4, "WV2").item() == pytest.approx(((1 - dk) * (1 - ds)).item())


def test_fft_filter_matches_replicate_padded_conv2d():
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(2, 3, 20, 27, generator=gen, dtype=torch.float64)
    kernels = torch.rand(3, 5, 7, generator=gen, dtype=torch.float64)  # asymmetric: checks orientation
    padded = torch.nn.functional.pad(x, (3, 3, 2, 2), mode="replicate")
    want = torch.nn.functional.conv2d(padded, kernels[:, None], groups=3)  # conv2d correlates, like imfilter
    assert fft_filter(x, kernels).allclose(want, atol=1e-12)


def test_block_row_chunks_match_whole_images(small_scene, wv2_fused_like, monkeypatch):
    fused, ms_up, pan, pan_lp = small_scene
    f, m = (t[..., :80, :80] for t in wv2_fused_like)
    whole = (
        M.d_s(fused, ms_up, pan, 4, 8, pan_lp=pan_lp),
        M.q2n(f, m, shift=16),
        M.d_lambda(fused, ms_up, 8),
    )
    monkeypatch.setattr(_tensor, "chunk_elements", lambda device: 100)  # one block row per chunk
    assert M.d_s(fused, ms_up, pan, 4, 8, pan_lp=pan_lp).allclose(whole[0], atol=1e-12)
    assert M.q2n(f, m, shift=16).allclose(whole[1], atol=1e-12)
    assert M.d_lambda(fused, ms_up, 8).allclose(whole[2], atol=1e-12)
