"""Resampling: decimation phase, area averaging, MATLAB-compatible imresize, 23-tap and general upsampling."""

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from fusion.degrade import area_downsample, decimate, imresize, interp23, upsample
from fusion.degrade.resample import BOUNDARIES


@pytest.mark.parametrize("ratio", [3, 4])
def test_bright_pixel_lands_where_the_phase_says(ratio):
    """LR pixel (1, 2) is sampled at HR floor((k + 0.5) r): (4, 7) at ratio 3, (6, 10) at ratio 4."""
    hr = torch.zeros(1, 1, 5 * ratio, 5 * ratio, dtype=torch.float64)
    y, x = int((1 + 0.5) * ratio), int((2 + 0.5) * ratio)
    hr[0, 0, y, x] = 1.0
    lr = decimate(hr, ratio)
    assert lr.shape[-2:] == (5, 5)
    assert lr.nonzero().tolist() == [[0, 0, 1, 2]] and lr[0, 0, 1, 2] == 1.0
    # the centre phase samples (k + 0.5) r - 0.5: exact at odd ratios, the mean of two pixels at even ones
    centre = decimate(hr, ratio, phase="centre")
    assert centre[0, 0, 1, 2] == (1.0 if ratio % 2 else 0.25)


def test_decimate_non_integer_ratio_follows_the_grid():
    hr = torch.arange(10.0, dtype=torch.float64).reshape(1, 1, 1, 10).expand(1, 1, 4, 10)
    lr = decimate(hr, (1.0001, 2.5), phase="centre")
    np.testing.assert_allclose(lr[0, 0, 0], [0.75, 3.25, 5.75, 8.25])  # (k + 0.5) 2.5 - 0.5
    np.testing.assert_allclose(decimate(hr, (1.0001, 2.5))[0, 0, 0], [1, 3, 6, 8])  # floor((k + .5) 2.5)


def test_area_downsample_averages_footprints():
    hr = torch.rand(2, 3, 12, 15, dtype=torch.float64)
    ref = hr.reshape(2, 3, 4, 3, 5, 3).mean(dim=(3, 5))
    np.testing.assert_allclose(area_downsample(hr, 3), ref, atol=1e-12)
    ramp = torch.arange(5.0, dtype=torch.float64).reshape(1, 1, 1, 5).expand(1, 1, 2, 5)
    # ratio 2.5: pixel 0 covers [0, 2.5) -> (0 + 1 + 0.5 * 2) / 2.5
    np.testing.assert_allclose(area_downsample(ramp, (1.0001, 2.5))[0, 0, 0], [0.8, 3.2])


@pytest.mark.parametrize("out_size", [(7, 9), (13, 5), (40, 44), (33, 21)])
def test_imresize_matches_pillow_bicubic_in_the_interior(out_size):
    """Pillow's float bicubic (a = -0.5, antialiased support) is the independent reference; the two
    differ only at the borders (MATLAB mirrors, Pillow renormalises)."""
    rng = np.random.default_rng(0)
    img = rng.random((26, 22)).astype(np.float32)
    ref = np.asarray(Image.fromarray(img, mode="F").resize(out_size[::-1], Image.BICUBIC))
    out = imresize(torch.from_numpy(img.astype(np.float64))[None, None], out_size=out_size)[0, 0].numpy()
    by, bx = max(3, 2 * 26 // out_size[0] + 2), max(3, 2 * 22 // out_size[1] + 2)
    np.testing.assert_allclose(out[by:-by, bx:-bx], ref[by:-by, bx:-bx], atol=2e-5)


def test_imresize_scale_gives_matlab_size_and_keeps_constants():
    x = torch.full((1, 1, 10, 11), 2.0, dtype=torch.float64)
    out = imresize(x, scale=1 / 4)
    assert out.shape[-2:] == (3, 3)  # ceil(10 / 4), ceil(11 / 4)
    np.testing.assert_allclose(out, 2.0, atol=1e-12)


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("ratio", [2, 4, 8])
def test_interp23_keeps_samples_and_phase(ratio, boundary):
    lr = torch.rand(1, 2, 8, 6, dtype=torch.float64)
    hr = interp23(lr, ratio, boundary)
    assert hr.shape[-2:] == (8 * ratio, 6 * ratio)
    offset = ratio // 2  # LR pixel k lands on HR pixel r k + r / 2
    np.testing.assert_allclose(hr[..., offset::ratio, offset::ratio], lr, atol=1e-12)
    np.testing.assert_allclose(decimate(hr, ratio), lr, atol=1e-12)


def test_interp23_is_exact_on_band_limited_signals():
    n = 32
    k = torch.arange(n, dtype=torch.float64)
    lr = torch.cos(2 * np.pi * 3 * (4 * k + 2) / (4 * n))[None, None, None].expand(1, 1, 2, n)
    hr = interp23(lr, 4)
    truth = torch.cos(2 * np.pi * 3 * torch.arange(4 * n, dtype=torch.float64) / (4 * n))
    np.testing.assert_allclose(hr[0, 0, 0], truth, atol=2e-3)


# the toolbox's CDF23 coefficients, independent of the module's copy: offsets 0, 1, ..., 11
TOOLBOX_CDF23 = 2 * np.array([0.5, 0.305334091185, 0, -0.072698593239, 0, 0.021809577942, 0,
                              -0.005192756653, 0, 0.000807762146, 0, -0.000060081482])
NUMPY_PAD_MODES = {"symmetric": "symmetric", "replicate": "edge", "circular": "wrap"}


def interp23_numpy(lr: np.ndarray, ratios, boundary: str, pad: int = 16) -> np.ndarray:
    """The toolbox's ``interp23tap`` (zero insertion at 2:2:end, then 1:2:end, circular 23-tap filtering)
    run with scipy on the low-resolution image padded by numpy in ``boundary`` mode, then cropped."""
    taps = np.concatenate([TOOLBOX_CDF23[:0:-1], TOOLBOX_CDF23])
    img = np.pad(lr, [(0, 0)] * (lr.ndim - 2) + [(pad, pad)] * 2, mode=NUMPY_PAD_MODES[boundary])
    for axis, r in zip((-2, -1), ratios, strict=True):
        for step in range(int(np.log2(r))):
            shape = list(img.shape)
            shape[axis] *= 2
            up = np.zeros(shape)
            index = [slice(None)] * img.ndim
            index[axis] = slice(1 if step == 0 else 0, None, 2)
            up[tuple(index)] = img
            img = ndimage.correlate1d(up, taps, axis=axis, mode="wrap")
    ry, rx = ratios
    return img[..., pad * ry : (pad + lr.shape[-2]) * ry, pad * rx : (pad + lr.shape[-1]) * rx]


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("ratios", [(2, 2), (4, 4), (8, 8), (2, 8), (8, 4)])
def test_interp23_is_the_toolbox_filter_on_the_extended_image(ratios, boundary):
    """Every boundary mode is the toolbox's interpolation of the low-resolution image extended in that
    mode (circular: the toolbox itself, whose wrap of the zero-inserted image is a wrap at low resolution)."""
    lr = torch.rand(1, 2, 9, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    got = interp23(lr, ratios, boundary).numpy()
    np.testing.assert_allclose(got, interp23_numpy(lr.numpy(), ratios, boundary), rtol=0, atol=1e-12)


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("ratios", [(2, 2), (4, 4), (8, 8), (2, 8), (8, 4)])
def test_interp23_keeps_constants_up_to_the_edges(ratios, boundary):
    """A constant image extends to the same constant in every mode, so the result is the toolbox's
    (circular) everywhere, edges included; that is the constant itself up to the truncation of the
    published coefficients: each dyadic step's odd taps sum to ``1 - deficit`` (deficit 4e-10)."""
    flat = torch.full((1, 2, 5, 7), 3.7, dtype=torch.float64)
    out = interp23(flat, ratios, boundary)
    assert out.shape[-2:] == (5 * ratios[0], 7 * ratios[1])
    np.testing.assert_allclose(out, interp23(flat, ratios, "circular"), rtol=1e-15, atol=0)
    deficit = 1 - 2 * TOOLBOX_CDF23[1::2].sum()
    steps = np.log2(ratios).sum()
    np.testing.assert_allclose(out, 3.7, rtol=1.5 * steps * deficit, atol=0)


@pytest.mark.parametrize("method, ratio", [("auto", 4), ("auto", 8), ("bicubic", 3)])
def test_upsample_border_depends_only_on_nearby_pixels(method, ratio):
    """The default boundary does not wrap: changing the right half of the image leaves the output's
    left border unchanged (the tiling contract); the toolbox's circular wrap does not."""
    lr = torch.rand(1, 1, 6, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    changed = lr.clone()
    changed[..., 16:] += 1.0
    size = (6 * ratio, 32 * ratio)
    border = (..., slice(0, 2 * ratio))
    torch.testing.assert_close(upsample(changed, size, method)[border], upsample(lr, size, method)[border],
                               rtol=0, atol=0)
    wrapped = [upsample(x, size, method, boundary="circular")[border] for x in (changed, lr)]
    assert (wrapped[0] - wrapped[1]).abs().max() > 1e-3


@pytest.mark.parametrize("ratio", [2, 3, 4, 6, 8])
def test_decimate_after_upsample_is_identity_at_integer_ratios(ratio):
    lr = torch.rand(2, 3, 9, 7, dtype=torch.float64)
    hr = upsample(lr, (9 * ratio, 7 * ratio))
    np.testing.assert_allclose(decimate(hr, ratio), lr, atol=1e-12)


@pytest.mark.parametrize("ratio", [2.5, 3.3, (2.0, 3.0)])
def test_general_upsample_any_ratio(ratio):
    ry, rx = (ratio, ratio) if not isinstance(ratio, tuple) else ratio
    h, w = 10, 10
    out_size = (round(h * ry), round(w * rx))
    lr = torch.full((1, 1, h, w), 1.5, dtype=torch.float64)
    np.testing.assert_allclose(upsample(lr, out_size), 1.5, atol=1e-12)
    # a linear ramp sampled at LR centres is reproduced at HR centres (cubic reproduces linears)
    k = torch.arange(w, dtype=torch.float64)
    ramp = ((k + 0.5) * (out_size[1] / w) - 0.5)[None, None, None].expand(1, 1, h, w)
    hr = upsample(ramp, out_size, phase="centre")
    m = int(np.ceil(2.5 * rx)) + 1  # away from the mirrored edges
    np.testing.assert_allclose(
        hr[0, 0, 0, m:-m], torch.arange(out_size[1], dtype=torch.float64)[m:-m], atol=1e-9
    )
    back = decimate(hr, (out_size[0] / h, out_size[1] / w), phase="centre")
    np.testing.assert_allclose(back[..., 2:-2], ramp[..., 2:-2], atol=1e-9)
