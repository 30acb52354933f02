"""Classical methods against independent implementations: numpy/scipy transcriptions of the toolbox
formulas (``GS.m``, ``GSA.m``, ``BDSD_PC.m``, ``MTF_GLP_HPM.m``, hypersharpening), scipy solvers, hand-
computed filters, and invariants (Brovey's band ratios, HPM's spectral angles)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from classical_scenes import make_scene
from scipy import ndimage, optimize

from fusion.degrade import decimate, interp23, mtf_blur, upsample
from fusion.metrics import sam_map
from fusion.models import create_model
from fusion.models.classical import interpolate
from fusion.models.classical._common import box_lowpass, starlet_lowpass
from fusion.models.classical._linalg import nnls


def pixels(x: torch.Tensor) -> np.ndarray:
    """``(C, H * W)`` numpy array of the first sample."""
    return x[0].reshape(x.shape[1], -1).numpy()


def interpolated(lr, guide):
    return create_model("exp")(lr, guide)


def nearest_decimation(image: np.ndarray, n_out: tuple[int, int]) -> np.ndarray:
    """Pick pixel ``floor((k + 0.5) r)`` per axis (MATLAB ``imresize(., 1/r, 'nearest')``)."""
    rows = [int((k + 0.5) * image.shape[-2] / n_out[0]) for k in range(n_out[0])]
    cols = [int((k + 0.5) * image.shape[-1] / n_out[1]) for k in range(n_out[1])]
    return image[..., rows, :][..., cols]


def atrous_numpy(image: np.ndarray, levels: int) -> np.ndarray:
    """A trous approximation with scipy: B3 spline with holes, half-sample symmetric edges."""
    for level in range(levels):
        kernel = np.zeros(4 * 2**level + 1)
        kernel[:: 2**level] = np.array([1, 4, 6, 4, 1]) / 16
        for axis in (-2, -1):
            image = ndimage.correlate1d(image, kernel, axis=axis, mode="reflect")
    return image


# -- building blocks ---------------------------------------------------------------------------
def test_nnls_matches_scipy():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = rng.normal(size=(40, 6)) + rng.normal(size=(1, 6))
        y = rng.normal(size=40) * 3 + a[:, 0]
        expected, _ = optimize.nnls(a, y)
        got = nnls(torch.from_numpy(a.T @ a), torch.from_numpy(a.T @ y)).numpy()
        np.testing.assert_allclose(got, expected, atol=1e-9, rtol=1e-7)
        assert (got >= 0).all()


def test_box_lowpass_hand_computed():
    x = torch.arange(7.0, dtype=torch.float64)[None, None, None].expand(1, 1, 3, 7) ** 2
    ratio4 = box_lowpass(x, (4, 4))[0, 0, 1].numpy()  # taps [0.5, 1, 1, 1, 0.5] / 4
    padded = np.pad(np.arange(7.0) ** 2, 2, mode="edge")
    np.testing.assert_allclose(ratio4, np.convolve(padded, [0.125, 0.25, 0.25, 0.25, 0.125], "valid"))
    ratio25 = box_lowpass(x, (2.5, 2.5))[0, 0, 1].numpy()  # taps [0.75, 1, 0.75] / 2.5
    padded = np.pad(np.arange(7.0) ** 2, 1, mode="edge")
    np.testing.assert_allclose(ratio25, np.convolve(padded, [0.3, 0.4, 0.3], "valid"))


def test_starlet_matches_scipy():
    x = torch.rand(1, 2, 37, 29, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    got = starlet_lowpass(x, (4, 4)).numpy()
    np.testing.assert_allclose(got, atrous_numpy(x.numpy(), 2), rtol=1e-12)


def test_interpolation_is_the_23_tap_filter_inside_and_keeps_constants_at_edges():
    lr, _, _ = make_scene((24, 20), 4, bands=2, seed=9)
    up = interpolate(lr, (96, 80))
    reach = 12 * 4
    inner = (..., slice(reach, -reach), slice(reach, -reach))
    torch.testing.assert_close(up[inner], interp23(lr, 4)[inner], rtol=1e-12, atol=1e-9)
    flat = interpolate(torch.full((1, 1, 9, 7), 3.0, dtype=torch.float64), (36, 28))
    torch.testing.assert_close(flat, torch.full_like(flat, 3.0))
    torch.testing.assert_close(interpolate(lr, (60, 60)), upsample(lr, (60, 60), method="bicubic"))


# -- component substitution -----------------------------------------------------------------------
def test_brovey_keeps_band_ratios_and_its_intensity_is_the_matched_pan():
    lr, pan, _ = make_scene((20, 18), 4, bands=4, seed=10)
    fused, up = create_model("brovey")(lr, pan), interpolated(lr, pan)
    torch.testing.assert_close(fused[:, 1:] / fused[:, :1], up[:, 1:] / up[:, :1], rtol=1e-10, atol=0)
    intensity, p = pixels(up).mean(0), pixels(pan)[0]
    matched = (p - p.mean()) * intensity.std() / p.std() + intensity.mean()
    np.testing.assert_allclose(pixels(fused).mean(0), matched, rtol=1e-10)


def test_gs_matches_toolbox_formula():
    lr, pan, _ = make_scene((20, 18), 4, bands=4, seed=11)
    fused, up = pixels(create_model("gs")(lr, pan)), pixels(interpolated(lr, pan))
    p = pixels(pan)[0]
    up0 = up - up.mean(1, keepdims=True)
    i0 = up.mean(0) - up.mean()
    pan_eq = (p - p.mean()) * np.std(i0, ddof=1) / np.std(p, ddof=1) + i0.mean()
    g = np.array([np.cov(i0, band)[0, 1] / np.var(i0, ddof=1) for band in up0])
    expected = up0 + g[:, None] * (pan_eq - i0)
    expected = expected - expected.mean(1, keepdims=True) + up.mean(1, keepdims=True)
    np.testing.assert_allclose(fused, expected, rtol=1e-9)


def gsa_numpy(up: np.ndarray, lr: np.ndarray, guide: np.ndarray, ratio: int) -> np.ndarray:
    """``GSA.m`` on ``(C, H, W)`` / ``(C, h, w)`` / ``(H, W)`` arrays with the toolbox's steps."""
    bands = up.shape[0]
    up0 = (up - up.mean((1, 2), keepdims=True)).reshape(bands, -1)
    lr0 = (lr - lr.mean((1, 2), keepdims=True)).reshape(bands, -1)
    guide0 = guide - guide.mean()
    levels = int(np.ceil(np.log2(ratio)))
    reduced = nearest_decimation(atrous_numpy(guide0, levels), lr.shape[1:]).ravel()
    alpha, *_ = np.linalg.lstsq(np.vstack([lr0, np.ones(lr0.shape[1])]).T, reduced, rcond=None)
    intensity = alpha[:bands] @ up0 + alpha[bands]
    i0 = intensity - intensity.mean()
    g = np.array([np.cov(i0, band)[0, 1] / np.var(i0, ddof=1) for band in up0])
    fused = up0 + g[:, None] * (guide0.ravel() - i0)
    fused = fused - fused.mean(1, keepdims=True) + up.reshape(bands, -1).mean(1, keepdims=True)
    return fused.reshape(up.shape)


def test_gsa_matches_toolbox_formula():
    lr, pan, _ = make_scene((20, 18), 4, bands=5, seed=12)
    fused = create_model("gsa")(lr, pan)[0].numpy()
    expected = gsa_numpy(interpolated(lr, pan)[0].numpy(), lr[0].numpy(), pan[0, 0].numpy(), 4)
    np.testing.assert_allclose(fused, expected, rtol=1e-9)


def test_gsa_with_msi_guide_sharpens_each_group_with_its_best_correlated_band():
    """HSI-MSI GSA: band groups from correlations at low resolution (numpy corrcoef), each group
    equal to pansharpening GSA with its guide band as the PAN."""
    lr, msi, _ = make_scene((20, 18), 4, bands=9, guide_bands=3, seed=13)
    fused = create_model("gsa")(lr, msi)
    reduced = nearest_decimation(atrous_numpy(msi[0].numpy(), 2), lr.shape[-2:]).reshape(3, -1)
    corr = np.corrcoef(np.vstack([pixels(lr), reduced]))[9:, :9]
    best = corr.argmax(0)
    assert len(set(best)) > 1  # the test scene does split into several groups
    for band in range(3):
        group = np.flatnonzero(best == band).tolist()
        if group:
            alone = create_model("gsa")(lr[:, group], msi[:, band : band + 1])
            torch.testing.assert_close(fused[:, group], alone, rtol=1e-9, atol=1e-9)


def test_pca_matches_numpy_eigendecomposition():
    lr, pan, _ = make_scene((20, 18), 4, bands=4, seed=14)
    fused, up = pixels(create_model("pca")(lr, pan)), pixels(interpolated(lr, pan))
    p = pixels(pan)[0]
    values, vectors = np.linalg.eigh(np.cov(up))
    first = vectors[:, -1] * np.sign(np.cov(np.vstack([up, p]))[:4, 4] @ vectors[:, -1])
    component = first @ (up - up.mean(1, keepdims=True))
    matched = (p - p.mean()) * component.std() / p.std()
    np.testing.assert_allclose(fused, up + first[:, None] * (matched - component), rtol=1e-9)


def test_bdsd_pc_matches_scipy_bounded_least_squares():
    lr, pan, _ = make_scene((24, 20), 4, bands=4, seed=15)
    model = create_model("bdsd-pc", sensor="QuickBird")
    fused, up = pixels(model(lr, pan)), pixels(interpolated(lr, pan))
    blurred = pixels(mtf_blur(lr, model.lr_gains(4), 4))
    pan_lr = pixels(decimate(mtf_blur(pan, model.guide_gains(1), 4), 4, out_size=(24, 20)))[0]
    design = np.vstack([pan_lr, blurred]).T
    lower, upper = [0] + [-np.inf] * 4, [np.inf] + [0] * 4
    for k in range(4):
        target = pixels(lr)[k] - blurred[k]
        gamma = optimize.lsq_linear(design, target, bounds=(lower, upper), method="bvls", tol=1e-14).x
        expected = up[k] + gamma @ np.vstack([pixels(pan), up])
        np.testing.assert_allclose(fused[k], expected, rtol=1e-7)


# -- multiresolution analysis ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["mtf-glp-hpm", "sfim"])
def test_hpm_keeps_the_spectral_angles_of_the_interpolated_image(name):
    lr, pan, _ = make_scene((20, 18), 4, bands=6, seed=16)
    fused, up = create_model(name)(lr, pan), interpolated(lr, pan)
    assert float(sam_map(fused, up).max()) < 1e-5  # degrees
    additive = create_model("mtf-glp")(lr, pan)
    assert float(sam_map(additive, up).mean()) > 0.05


def test_mtf_glp_hpm_equalized_matches_toolbox_formula():
    """``MTF_GLP_HPM.m``: per-band PAN equalisation (spread of LPfilterGauss(P)), MTF low-pass,
    decimation, interpolation, modulation."""
    lr, pan, _ = make_scene((20, 18), 4, bands=3, seed=17)
    model = create_model("mtf-glp-hpm", sensor="IKONOS", equalize=True)
    fused, up = pixels(model(lr, pan)), pixels(interpolated(lr, pan))
    p = pixels(pan)[0]
    spread = np.std(pixels(mtf_blur(pan, 0.3, 4))[0], ddof=1)
    expected = []
    for k, gain in enumerate(model.lr_gains(3)):
        matched = (p - p.mean()) * np.std(up[k], ddof=1) / spread + up[k].mean()
        image = torch.from_numpy(matched.reshape(1, 1, 80, 72))
        low = interpolate(decimate(mtf_blur(image, gain, 4), 4, out_size=(20, 18)), (80, 72))
        expected.append(up[k] * matched / (pixels(low)[0] + np.finfo(float).eps))
    # The model filters the PAN once and maps the result; the 23-tap taps (12 digits) sum to 1 only
    # to ~1e-12, so filtering the offset differs at that level before the division amplifies it.
    np.testing.assert_allclose(fused, np.array(expected), rtol=1e-7)


def test_mra_methods_add_nothing_for_a_flat_pan():
    lr, _, _ = make_scene((12, 10), 4, bands=3, seed=18)
    flat = torch.full((1, 1, 48, 40), 500.0, dtype=torch.float64)
    up = interpolated(lr, flat)
    for name in ["hpf", "sfim", "mtf-glp", "mtf-glp-hpm", "awlp"]:
        # The 23-tap interpolator's 12-digit taps keep a constant only to ~1e-9 after two steps.
        torch.testing.assert_close(create_model(name)(lr, flat), up, rtol=1e-8, atol=0)


# -- HSI-MSI hypersharpening ----------------------------------------------------------------------
def test_sfim_hs_and_glp_hs_match_numpy_regressions():
    lr, msi, _ = make_scene((16, 14), 4, bands=6, guide_bands=3, seed=19)
    reduced = decimate(mtf_blur(msi, 0.3, 4), 4, out_size=(16, 14))
    design = np.vstack([pixels(reduced), np.ones(16 * 14)]).T
    hs = pixels(lr)
    guide_hr = np.vstack([pixels(msi), np.ones(64 * 56)])
    up = pixels(interpolated(lr, msi))
    guide_low = np.vstack([pixels(interpolate(reduced, (64, 56))), np.ones(64 * 56)])
    nonneg = np.array([optimize.nnls(design, band)[0] for band in hs])
    expected = up * (nonneg @ guide_hr) / (nonneg @ guide_low)
    np.testing.assert_allclose(pixels(create_model("sfim-hs")(lr, msi)), expected, rtol=1e-7)
    least, *_ = np.linalg.lstsq(design, hs.T, rcond=None)
    synthetic = least.T @ guide_hr
    glp = pixels(interpolate(decimate(mtf_blur(msi, 0.3, 4), 4, out_size=(16, 14)), (64, 56)))
    expected = up + synthetic - least.T @ np.vstack([glp, np.ones(64 * 56)])
    np.testing.assert_allclose(pixels(create_model("glp-hs")(lr, msi)), expected, rtol=1e-9)
