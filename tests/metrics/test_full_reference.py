"""Full-reference metrics against scikit-image, numpy/scipy re-implementations, hand cases and invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import fusion.metrics as M
from fusion.errors import InputError
from fusion.metrics import _tensor


@pytest.fixture
def pair():
    """Two different (2, 3, 24, 20) DN-like images (batch of 2, 3 bands)."""
    gen = torch.Generator().manual_seed(0)
    ref = 200 + 1500 * torch.rand(2, 3, 24, 20, generator=gen, dtype=torch.float64)
    pred = ref * (0.9 + 0.2 * torch.rand(ref.shape, generator=gen, dtype=torch.float64))
    return pred + 30 * torch.randn(ref.shape, generator=gen, dtype=torch.float64), ref


def hwc(x: torch.Tensor, i: int = 0) -> np.ndarray:
    return x[i].permute(1, 2, 0).numpy()


def test_psnr_matches_skimage(pair):
    pred, ref = pair
    got = M.psnr(pred, ref, data_range=2047)
    for i in range(2):
        want = peak_signal_noise_ratio(hwc(ref, i), hwc(pred, i), data_range=2047)
        assert got[i].item() == pytest.approx(want)
    per_band = M.psnr(pred, ref, data_range=2047, per_band=True)
    want = peak_signal_noise_ratio(ref[1, 2].numpy(), pred[1, 2].numpy(), data_range=2047)
    assert per_band.shape == (2, 3) and per_band[1, 2].item() == pytest.approx(want)


def test_psnr_default_range_is_reference_max(pair):
    pred, ref = pair
    expected = M.psnr(pred[:1], ref[:1], data_range=ref[0].max().item())
    assert M.psnr(pred, ref)[0].item() == pytest.approx(expected.item())


def test_ssim_matches_skimage_gaussian(pair):
    pred, ref = pair
    got = M.ssim(pred, ref, data_range=2047)
    for i in range(2):
        want = structural_similarity(
            hwc(ref, i),
            hwc(pred, i),
            data_range=2047,
            channel_axis=2,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        assert got[i].item() == pytest.approx(want, abs=1e-10)
    assert M.ssim(pred, ref, data_range=2047, per_band=True).mean(1).allclose(got)


def test_rmse_and_cc_against_numpy(pair):
    pred, ref = pair
    p, r = pred.numpy(), ref.numpy()
    assert M.rmse(pred, ref).numpy() == pytest.approx(np.sqrt(((p - r) ** 2).mean(axis=(1, 2, 3))))
    corr = [[np.corrcoef(p[i, b].ravel(), r[i, b].ravel())[0, 1] for b in range(3)] for i in range(2)]
    assert M.cc(pred, ref, per_band=True).numpy() == pytest.approx(np.array(corr))
    assert M.cc(pred, ref).numpy() == pytest.approx(np.mean(corr, axis=1))


def test_sam_hand_case_excludes_zero_pixels():
    # Pixels (ref -> pred): (1,0)->(0,1) 90°, (1,1)->(1,0) 45°, (0,0)->(5,5) excluded, (3,4)->(6,8) 0°.
    ref = torch.tensor([[[1.0, 1.0], [0.0, 3.0]], [[0.0, 1.0], [0.0, 4.0]]])[None]
    pred = torch.tensor([[[0.0, 1.0], [5.0, 6.0]], [[1.0, 0.0], [5.0, 8.0]]])[None]
    assert M.sam(pred, ref).item() == pytest.approx((90 + 45 + 0) / 3)
    assert math.isnan(M.sam_map(pred, ref)[0, 1, 0].item())


def test_sam_invariant_to_per_pixel_scaling(pair):
    pred, ref = pair
    scale = 0.5 + torch.rand(2, 1, 24, 20, dtype=torch.float64)
    assert M.sam(pred * scale, ref).allclose(M.sam(pred, ref), atol=1e-10)


def test_ergas_hand_case_and_ratio():
    ref = torch.stack([torch.full((4, 4), 100.0), torch.full((4, 4), 200.0)])[None]
    pred = ref + torch.stack([torch.full((4, 4), 10.0), torch.full((4, 4), -40.0)])[None]
    # band terms: 10/100 = 0.1 and 40/200 = 0.2 -> (100/4) * sqrt((0.01 + 0.04) / 2)
    assert M.ergas(pred, ref, 4).item() == pytest.approx(25 * math.sqrt(0.025))
    assert M.ergas(pred, ref, 4, per_band=True)[0].tolist() == pytest.approx([2.5, 5.0])
    assert M.ergas(pred, ref, 2).item() == pytest.approx(2 * M.ergas(pred, ref, 4).item())


def test_identical_images_are_perfect(pair):
    _, ref = pair
    assert M.sam(ref, ref).abs().max() < 1e-5  # acos near 1 amplifies rounding to ~1e-6 degrees
    assert M.ergas(ref, ref, 4).abs().max() == 0
    ones = torch.ones(2, dtype=torch.float64)
    assert M.q(ref, ref, block_size=8).allclose(ones)
    assert M.scc(ref, ref).allclose(ones)
    assert M.ssim(ref, ref, data_range=2047).allclose(ones)
    assert M.psnr(ref, ref).isinf().all()


def test_scc_matches_scipy_sobel(pair):
    pred, ref = pair

    def magnitude(img):  # SCC.m: crop 1 pixel, imfilter (correlation, zero padding) with sobel and sobel'
        inner = img[1:-1, 1:-1]
        sobel = np.array([[1.0, 2, 1], [0, 0, 0], [-1, -2, -1]])
        gy = ndimage.correlate(inner, sobel, mode="constant")
        gx = ndimage.correlate(inner, sobel.T, mode="constant")
        return np.hypot(gx, gy)

    for i in range(2):
        gp = np.stack([magnitude(b) for b in pred[i].numpy()])
        gr = np.stack([magnitude(b) for b in ref[i].numpy()])
        want = (gp * gr).sum() / np.sqrt((gp**2).sum() * (gr**2).sum())
        assert M.scc(pred, ref)[i].item() == pytest.approx(want)
        band = (gp[1] * gr[1]).sum() / np.sqrt((gp[1] ** 2).sum() * (gr[1] ** 2).sum())
        assert M.scc(pred, ref, per_band=True)[i, 1].item() == pytest.approx(band)


def test_numpy_inputs_and_single_sample(pair):
    pred, ref = pair
    got = M.ergas(pred[0].numpy(), ref[0].numpy(), 4)
    assert got.shape == (1,) and got.item() == pytest.approx(M.ergas(pred, ref, 4)[0].item())


def test_batch_samples_are_independent(pair):
    pred, ref = pair
    for metric in (M.sam, M.scc, M.cc, M.rmse):
        assert metric(pred, ref)[1].item() == pytest.approx(metric(pred[1:], ref[1:]).item())


def test_bad_inputs_raise_input_error(pair):
    pred, ref = pair
    with pytest.raises(InputError, match="same shape"):
        M.sam(pred[:, :2], ref)
    with pytest.raises(InputError, match="NaN"):
        M.rmse(pred * float("nan"), ref)
    with pytest.raises(InputError, match="ratio"):
        M.ergas(pred, ref, 0)


def test_strip_processing_matches_whole_images(pair, monkeypatch):
    """Sliding-window metrics give the same numbers when the images are cut into many row strips."""
    pred, ref = pair
    whole = {
        "q": M.q(pred, ref, block_size=5),
        "ssim": M.ssim(pred, ref),
        "scc": M.scc(pred, ref, per_band=True),
    }
    monkeypatch.setattr(_tensor, "chunk_elements", lambda device: 150)  # 7-row strips of one band
    assert M.q(pred, ref, block_size=5).allclose(whole["q"], atol=1e-12)
    assert M.ssim(pred, ref).allclose(whole["ssim"], atol=1e-12)
    assert M.scc(pred, ref, per_band=True).allclose(whole["scc"], atol=1e-12)


def test_metric_module_binds_arguments(pair):
    pred, ref = pair
    module = M.Metric("ergas", ratio=2)
    assert module(pred, ref).allclose(M.ergas(pred, ref, 2)) and "ratio=2" in repr(module)
    with pytest.raises(InputError, match="unknown metric"):
        M.Metric("evaluate")
