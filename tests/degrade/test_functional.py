"""Fused blur + decimation, noise, and the Degradation / RandomDegradation modules."""

import numpy as np
import pytest
import torch

from fusion.degrade import (
    Degradation,
    RandomDegradation,
    apply_params,
    blur_decimate,
    decimate,
    degrade,
    mtf_blur,
    noise_sigma,
)

F64 = torch.float64


@pytest.mark.parametrize("ratio", [2, 3, 4, (2, 3)])
def test_blur_decimate_equals_blur_then_decimate(ratio):
    x = torch.rand(2, 3, 24, 24, dtype=F64)
    gains = torch.tensor([[0.3, 0.2, 0.11], [0.35, 0.25, 0.15]], dtype=F64)
    ref = decimate(mtf_blur(x, gains, ratio), ratio)
    np.testing.assert_allclose(blur_decimate(x, gains, ratio), ref, atol=1e-13)


def test_blur_decimate_centre_phase_is_the_psf_at_the_exact_centre():
    """Odd ratio: the centre is a pixel, so both phases agree with blur-then-pick."""
    x = torch.rand(1, 2, 27, 27, dtype=F64)
    np.testing.assert_allclose(
        blur_decimate(x, [0.3, 0.2], 3, phase="centre"), decimate(mtf_blur(x, [0.3, 0.2], 3), 3), atol=1e-13
    )


def test_mixed_integer_ratios_equal_a_loop_over_the_conv_path():
    """Per-sample ratios 2, 3, 4 with one LR size: each sample equals the conv path, cropped."""
    x = torch.rand(3, 2, 36, 36, dtype=F64)
    gains = torch.tensor([[0.3, 0.2], [0.25, 0.35], [0.11, 0.4]], dtype=F64)
    ratios = torch.tensor([2.0, 3.0, 4.0], dtype=F64)
    out = blur_decimate(x, gains, ratios, out_size=(9, 9))
    for b in range(3):
        r = int(ratios[b])
        ref = decimate(mtf_blur(x[b : b + 1], gains[b], r), r)[..., :9, :9]
        np.testing.assert_allclose(out[b : b + 1], ref, atol=1e-13)


def test_shift_of_one_lr_pixel_moves_the_samples():
    x = torch.rand(1, 1, 40, 40, dtype=F64)
    base = blur_decimate(x, 0.3, 4)
    moved = blur_decimate(x, 0.3, 4, shift=(1.0, -1.0))
    np.testing.assert_allclose(moved[..., 2:-2, 2:-2], base[..., 3:-1, 1:-3], atol=1e-13)


def test_noise_reaches_the_requested_snr():
    x = torch.rand(2, 3, 128, 128, dtype=F64) + 1.0
    snr = torch.tensor([[20.0, 30.0, 40.0], [25.0, 35.0, 45.0]], dtype=F64)
    gen = torch.Generator().manual_seed(0)
    noisy = degrade(x, 2, 0.3, snr_db=snr, noise=torch.randn(2, 3, 64, 64, generator=gen, dtype=F64))[0]
    clean = degrade(x, 2, 0.3)[0]
    measured = 10 * torch.log10(clean.pow(2).mean((-2, -1)) / (noisy - clean).pow(2).mean((-2, -1)))
    np.testing.assert_allclose(measured, snr, atol=0.3)
    np.testing.assert_allclose(noise_sigma(clean, 20.0)[..., 0, 0] ** 2 * 100, clean.pow(2).mean((-2, -1)))


def test_random_degradation_equals_a_loop_over_samples():
    gt = torch.rand(5, 4, 48, 48, dtype=F64)
    module = RandomDegradation(
        ratio=(2.0, 6.0),
        gnyq=[0.3, 0.25, 0.2, 0.35],
        gnyq_jitter=0.2,
        shift=0.4,
        srf=torch.rand(2, 4, dtype=F64),
        anisotropic=True,
    )
    out = module(gt, generator=torch.Generator().manual_seed(3))
    h, w = out.params["lr_size"].tolist()
    assert (h, w) == (8, 8) and out.lr.shape == (5, 4, 8, 8) and out.guide.shape == (5, 2, 48, 48)
    assert len(set(out.params["ratio"][:, 0].tolist())) == 5  # mixed ratios in one batch
    assert (out.params["extent"] <= 48).all()
    for b in range(5):
        one = {k: (v[b : b + 1] if v.ndim and k not in ("lr_size",) else v) for k, v in out.params.items()}
        single = apply_params(gt[b : b + 1], one, srf=module.srf, max_ratio=6.0)
        np.testing.assert_allclose(out.lr[b : b + 1], single.lr, atol=1e-13)
        np.testing.assert_allclose(out.guide[b : b + 1], single.guide, atol=1e-13)


def test_random_degradation_replays_and_seeds():
    gt = torch.rand(3, 2, 32, 32, dtype=F64)
    module = RandomDegradation(
        "qb", ratio=(2, 4), snr_db=(20, 30), guide_snr_db=(30, 40), srf=torch.rand(1, 2)
    )
    first = module(gt, generator=torch.Generator().manual_seed(7))
    again = module(gt, generator=torch.Generator().manual_seed(7))
    replay = module(gt, params=first.params)
    other = module(gt, generator=torch.Generator().manual_seed(8))
    for a, b in ((first, again), (first, replay)):
        assert torch.equal(a.lr, b.lr) and torch.equal(a.guide, b.guide)
    assert not torch.equal(first.lr, other.lr)
    assert first.params["gnyq"].shape == (3, 2) and first.params["snr_db"].shape == (3,)


def test_per_batch_ratio_covers_the_whole_image():
    gt = torch.rand(2, 3, 30, 30, dtype=F64)
    out = RandomDegradation(ratio=(2.5, 3.5), per_sample=False)(
        gt, generator=torch.Generator().manual_seed(0)
    )
    h, w = out.params["lr_size"].tolist()
    np.testing.assert_allclose(out.params["ratio"], [[30 / h, 30 / w]] * 2)
    np.testing.assert_allclose(out.params["extent"], 30.0)


def test_degradation_module_matches_functional():
    gt = torch.rand(2, 8, 32, 32, dtype=F64)
    out = Degradation("wv2", ratio=4)(gt)
    ref = blur_decimate(gt, [0.35] * 7 + [0.27], 4)
    np.testing.assert_allclose(out.lr, ref, atol=1e-13)
    assert out.guide is None


def test_gradcheck_through_the_whole_degradation():
    x = torch.rand(2, 2, 10, 10, dtype=F64, requires_grad=True)
    gains = torch.tensor([[0.3, 0.2], [0.25, 0.35]], dtype=F64, requires_grad=True)
    ratio = torch.tensor([2.3, 3.1], dtype=F64, requires_grad=True)
    shift = torch.tensor([[0.1, -0.2], [0.3, 0.05]], dtype=F64, requires_grad=True)
    srf = torch.rand(1, 2, dtype=F64, requires_grad=True)
    noise = torch.randn(2, 2, 3, 3, dtype=F64)

    def run(x, gains, ratio, shift, srf):
        lr, guide = degrade(
            x, ratio, gains, out_size=(3, 3), shift=shift, snr_db=30.0, noise=noise, srf=srf, phase="centre"
        )
        return lr, guide

    assert torch.autograd.gradcheck(run, (x, gains, ratio, shift, srf), fast_mode=True)
