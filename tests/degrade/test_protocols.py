"""simulate (HSI cube -> lr, guide, gt) and reduce_pair (Wald protocol)."""

import numpy as np
import pytest
import torch

from fusion.degrade import blur_decimate, decimate, imresize, mtf_blur, reduce_pair, sensor_srf, simulate
from fusion.errors import InputError

F64 = torch.float64


def test_simulate_msi_guide_from_the_camera_response():
    wavelengths = np.arange(400.0, 701.0, 10.0)
    cube = torch.rand(31, 40, 40, dtype=F64)
    lr, guide, gt = simulate(cube, "Nikon D700", 4, guide="msi", wavelengths_nm=wavelengths)
    srf = sensor_srf("d700", wavelengths)
    np.testing.assert_allclose(guide[0], np.einsum("mc,chw->mhw", srf.numpy(), cube.numpy()), atol=1e-12)
    np.testing.assert_allclose(lr, blur_decimate(cube[None], 0.3, 4), atol=1e-13)
    assert torch.equal(gt[0], cube) and lr.shape == (1, 31, 10, 10)


def test_simulate_pan_with_noise_and_non_integer_ratio():
    wavelengths = np.linspace(400.0, 1000.0, 24)
    cube = torch.rand(2, 24, 33, 33, dtype=F64) + 0.5
    pair = simulate(
        cube,
        "wv2",
        3.3,
        guide="pan",
        snr=30,
        wavelengths_nm=wavelengths,
        generator=torch.Generator().manual_seed(0),
    )
    assert pair.guide.shape == (2, 1, 33, 33) and pair.lr.shape == (2, 24, 10, 10)
    assert pair.params["ratio"] == [3.3, 3.3] and pair.params["sensor"] == "WorldView-2"
    clean = blur_decimate(cube, 0.3, 3.3)
    snr = 10 * torch.log10(clean.pow(2).mean() / (pair.lr - clean).pow(2).mean())
    assert abs(float(snr) - 30) < 0.5


def test_simulate_needs_wavelengths():
    with pytest.raises(InputError, match="wavelengths"):
        simulate(torch.rand(5, 8, 8), "wv2", 2)


def test_reduce_pair_follows_the_toolbox():
    pan = torch.rand(2, 1, 64, 64, dtype=F64)
    ms = torch.rand(2, 4, 16, 16, dtype=F64)
    guide_r, lr_r, ref = reduce_pair(pan, ms, 4, "QuickBird")
    np.testing.assert_allclose(lr_r, decimate(mtf_blur(ms, [0.34, 0.32, 0.30, 0.22], 4), 4), atol=1e-13)
    np.testing.assert_allclose(guide_r, imresize(pan, scale=0.25), atol=1e-13)
    assert torch.equal(ref, ms)
    guide_m, _, _ = reduce_pair(pan, ms, None, "QuickBird", guide_mtf=True)
    np.testing.assert_allclose(guide_m, decimate(mtf_blur(pan, 0.15, 4), 4), atol=1e-13)


def test_reduce_pair_on_the_real_worldview2_pair(wv2_pair):
    pan, ms = wv2_pair
    guide_r, lr_r, ref = reduce_pair(pan, ms, sensor="WV2")
    assert guide_r.shape == (1, 1, 320, 320) and lr_r.shape == (1, 8, 80, 80) and ref is ms
    # means are kept (kernels sum to 1) and the reduced PAN still correlates with the MS mean
    np.testing.assert_allclose(lr_r.mean((-2, -1)), ms.mean((-2, -1)), rtol=0.02)
    corr = np.corrcoef(guide_r.flatten().numpy(), ms.mean(1).flatten().numpy())[0, 1]
    assert corr > 0.8
