"""ss-inr: back-projection through fusion.degrade, the SRF (given, from a sensor, estimated), the spectral
INR's band bookkeeping, and the wiring of forward and back-projection fusion."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from zoo import perturb

from fusion.degrade import blur_decimate, decimate, gnyq_for, mtf_blur, sensor_srf, spectral_response
from fusion.errors import InputError
from fusion.models import create_model
from fusion.models.base import INRModel
from fusion.models.ssinr import SSINR, SpectralLift, core_pixels, estimate_response, spectral_centres

pytestmark = pytest.mark.usefixtures("one_thread")

CAVE_NM = tuple(400.0 + 10 * k for k in range(31))


def tiny(bands: int, guide_bands: int, trained: bool = False, **options) -> SSINR:
    """A small model; ``trained``: every parameter perturbed, as after training (no zero layers)."""
    model = create_model(
        "ss-inr", lr_bands=bands, guide_bands=guide_bands, **{**SSINR.tiny_args(), **options}
    )
    if trained:
        perturb(model, scale=0.1)
    return model


def random_srf(guide_bands: int, bands: int, seed: int = 0) -> torch.Tensor:
    srf = torch.rand(guide_bands, bands, generator=torch.Generator().manual_seed(seed))
    return srf / srf.sum(-1, keepdim=True)


@pytest.mark.parametrize("ratio", [4, 3, (3, 4), 2.5])
def test_back_projection_residuals_vanish_when_f1_explains_both_inputs(ratio):
    torch.manual_seed(0)
    bands, guide_bands, out_size = 5, 2, (20, 24)
    ry, rx = (ratio, ratio) if not isinstance(ratio, tuple) else ratio
    lr_size = (round(out_size[0] / ry), round(out_size[1] / rx))
    srf = random_srf(guide_bands, bands)
    model = tiny(bands, guide_bands, srf=srf.tolist(), sensor="worldview2")  # 5 bands: generic gains 0.3
    fused = torch.rand(2, bands, *out_size)
    lr = blur_decimate(fused, 0.3, (out_size[0] / lr_size[0], out_size[1] / lr_size[1]), out_size=lr_size)
    guide = spectral_response(fused, srf)
    r1, r2 = model.back_projection_residuals(fused, lr, guide, model.response(lr, guide))
    assert r1.shape == (2, bands, *lr_size) and r2.shape == (2, guide_bands, *out_size)
    assert r1.abs().max() < 1e-5 and r2.abs().max() < 1e-5


def test_spatial_residual_is_the_sensor_mtf_blur_and_decimation_of_the_error():
    """Independent operators: ``decimate(mtf_blur(d))`` with the sensor's per-band gains, ratio 4."""
    torch.manual_seed(1)
    model = tiny(8, 1, sensor="worldview2")
    fused, error = torch.rand(2, 8, 16, 16), torch.randn(2, 8, 16, 16)
    lr = blur_decimate(fused, gnyq_for("worldview2", 8), 4)
    guide = torch.rand(2, 1, 16, 16)
    r1, _ = model.back_projection_residuals(fused + error, lr, guide, torch.ones(2, 1, 8) / 8)
    expected = -decimate(mtf_blur(error, gnyq_for("worldview2", 8), 4), 4)
    assert torch.allclose(r1, expected, atol=1e-5)


def test_srf_comes_from_the_guide_sensor_or_the_pan_response():
    msi = tiny(31, 3, guide_sensor="nikon_d700", wavelengths=CAVE_NM)
    assert torch.allclose(msi.srf, sensor_srf("nikon_d700", CAVE_NM))
    from fusion.degrade import get_sensor

    wv2 = get_sensor("worldview2").wavelengths_nm
    pan = tiny(8, 1, sensor="worldview2")  # band centres from the preset
    assert torch.allclose(pan.srf, sensor_srf("worldview2", wv2, which="pan"))
    assert tiny(31, 3, guide_sensor="nikon_d700").srf is None  # no wavelengths: estimated per input
    with pytest.raises(InputError, match=r"\(3, 31\)"):
        tiny(31, 3, srf=[[1.0] * 31] * 2)


def test_estimated_response_recovers_a_linear_srf():
    torch.manual_seed(2)
    bands, guide_bands = 4, 2
    srf = random_srf(guide_bands, bands, seed=3)
    reference = torch.rand(2, bands, 24, 24)
    lr = blur_decimate(reference, 0.3, 3)
    guide = spectral_response(reference, srf)
    assert torch.allclose(
        estimate_response(lr, spectral_response(lr, srf), 1e-9), srf.expand(2, -1, -1), atol=1e-4
    )
    model = tiny(bands, guide_bands, ridge=1e-6)
    estimated = model.response(lr, guide)  # the guide is blurred and decimated onto the HS grid first
    assert torch.allclose(estimated, srf.expand(2, -1, -1), atol=1e-3)
    _, r2 = model.back_projection_residuals(reference, lr, guide, estimated)
    assert r2.abs().max() < 1e-3
    zero = estimate_response(torch.zeros(1, bands, 3, 3), torch.zeros(1, guide_bands, 3, 3), 1e-3)
    assert torch.equal(zero, torch.zeros(1, guide_bands, bands))  # all-zero tiles do not fail


def test_spectral_centres_by_hand():
    srf = torch.tensor([[[0.5, 0.5, 0.0, 0.0], [-0.2, 0.0, 0.25, 0.75]]])
    coords = torch.tensor([-0.75, -0.25, 0.25, 0.75])
    assert torch.allclose(spectral_centres(srf, coords), torch.tensor([[-0.5, 0.625]]))


def test_spectral_lift_does_not_depend_on_the_guide_band_order():
    torch.manual_seed(4)
    lift = SpectralLift(width=4, hidden=(8,), activations="gelu", offset_freqs=1)
    residual, guide = torch.randn(2, 3, 5, 6), torch.rand(2, 3, 5, 6)
    centres = torch.tensor([[0.3, -0.5, 0.1], [0.0, 0.4, -0.2]])
    targets = torch.linspace(-0.9, 0.9, 7)
    with torch.no_grad():
        out = lift(residual, guide, centres, targets, chunk=11)
        perm = torch.tensor([2, 0, 1])
        assert torch.allclose(
            lift(residual[:, perm], guide[:, perm], centres[:, perm], targets, chunk=64), out, atol=1e-6
        )
        tied = lift(residual, guide, torch.zeros(2, 3), targets, chunk=64)  # coincident centres still work
    assert out.shape == (2, 7, 5, 6) and torch.isfinite(tied).all()


@pytest.mark.parametrize("lr_size, out_size", [((4, 4), (16, 16)), ((4, 5), (11, 14)), ((3, 4), (9, 16))])
def test_the_untrained_model_is_one_back_projection_step_on_bilinear_upsampling(lr_size, out_size):
    torch.manual_seed(7)
    model = tiny(5, 2)
    lr, guide = torch.rand(2, 5, *lr_size), torch.rand(2, 2, *out_size)
    ratio = (out_size[0] / lr_size[0], out_size[1] / lr_size[1])
    bilinear = F.interpolate(lr, size=out_size, mode="bilinear", align_corners=False)
    missing = lr - blur_decimate(bilinear, 0.3, ratio, out_size=lr_size)
    expected = bilinear + F.interpolate(missing, size=out_size, mode="bilinear", align_corners=False)
    with torch.no_grad():
        assert torch.allclose(model(lr, guide), expected, atol=1e-5)


def test_forward_is_forward_fusion_plus_back_projection_with_one_spatial_inr():
    """Recompute the output from the parts: F1, R1 and R2 with the same (shared) spatial INR."""
    torch.manual_seed(5)
    model = tiny(6, 3, trained=True)
    lr, guide = torch.rand(2, 6, 4, 5), torch.rand(2, 3, 11, 14)
    out_size = (11, 14)
    with torch.no_grad():
        up = model.spatial_inr(lr, None, out_size)
        f1 = up + model.forward_conv(torch.cat([up, guide], 1))
        srf = model.response(lr, guide)
        lr_again = blur_decimate(f1, gnyq_for(None, 6), (11 / 4, 14 / 5), out_size=(4, 5))
        r1 = lr - lr_again
        r2 = guide - torch.einsum("bgc,bchw->bghw", srf, f1)
        spatial = model.spatial_inr(r1, None, out_size)
        spectral = model.spectral_inr(
            r2, guide, spectral_centres(srf, model.band_coords), model.band_coords, 50
        )
        corrected = f1 + spatial + spectral
        expected = corrected + model.body(corrected)
        assert torch.allclose(model(lr, guide), expected, atol=1e-5)
        assert torch.allclose(model(lr, guide, chunk=13), expected, atol=1e-5)
        assert torch.allclose(
            INRModel.forward(model, lr, guide, chunk=29), expected, atol=1e-5
        )  # encode/query
    assert sum(isinstance(m, type(model.spatial_inr)) for m in model.modules()) == 1


@pytest.mark.parametrize("guide_bands, srf", [(1, None), (3, None), (3, "given")])
def test_samples_are_independent(guide_bands, srf):
    torch.manual_seed(6)
    options = {"srf": random_srf(guide_bands, 7).tolist()} if srf else {}
    model = tiny(7, guide_bands, trained=True, **options)
    lr, guide = torch.rand(3, 7, 3, 4), torch.rand(3, guide_bands, 10, 13)
    with torch.no_grad():
        whole = model(lr, guide)
        changed_lr, changed_guide = lr.clone(), guide.clone()
        changed_lr[2], changed_guide[2] = torch.rand_like(lr[2]), torch.rand_like(guide[2])
        changed = model(changed_lr, changed_guide)
        alone = model(lr[:1], guide[:1])
    assert whole.shape == (3, 7, 10, 13) and torch.isfinite(whole).all()
    assert torch.allclose(changed[:2], whole[:2], atol=1e-5) and torch.allclose(alone, whole[:1], atol=1e-5)
    assert not torch.allclose(changed[2], whole[2])


def test_input_errors():
    model = tiny(4, 1)
    with pytest.raises(InputError, match="finer"):
        model(torch.rand(1, 4, 4, 4), torch.rand(1, 1, 4, 8), (4, 8))
    with pytest.raises(InputError, match="chunk"):
        model(torch.rand(1, 4, 4, 4), torch.rand(1, 1, 8, 8), chunk=-2)
    with pytest.raises(InputError, match="guide bands"):
        model(torch.rand(1, 4, 4, 4), torch.rand(1, 2, 8, 8))


def test_core_pixels_partition_the_low_resolution_grid_by_hand():
    # 3 low-resolution pixels over 10 output pixels: their centres are nearest output pixels 1, 5, 8;
    # 2 over 4: output pixels 1 and 3.
    left = core_pixels((2, 3), (4, 10), (slice(0, 4), slice(0, 5)), None)
    right = core_pixels((2, 3), (4, 10), (slice(0, 4), slice(5, 10)), None)
    assert left[0, 0].tolist() == [[True, False, False]] * 2
    assert (left ^ right).all()
    mask = torch.ones(2, 1, 4, 10, dtype=torch.bool)
    mask[1, 0, 1, 5] = False  # the nearest output pixel of low-resolution pixel (0, 1)
    masked = core_pixels((2, 3), (4, 10), None, mask)
    assert masked.shape == (2, 1, 2, 3) and masked.sum() == 11 and not masked[1, 0, 0, 1]


def test_scene_statistics_make_a_window_equal_to_the_whole_scene():
    """Tiling: a window of the inputs with a halo, given the whole scene's summed statistics, reproduces
    the untiled output in its core; the statistics of a partition of cores add up to the whole's."""
    torch.manual_seed(8)
    model = tiny(4, 2, trained=True).eval()
    lr, guide = torch.rand(1, 4, 6, 64), torch.rand(1, 2, 24, 256)
    with torch.no_grad():
        whole = model.scene_statistics(lr, guide)
        halves = [
            model.scene_statistics(lr, guide, core=(slice(0, 24), cols))
            for cols in (slice(0, 130), slice(130, 256))
        ]
        for key in whole:
            torch.testing.assert_close(halves[0][key] + halves[1][key], whole[key])
        untiled = model(lr, guide)
        torch.testing.assert_close(model(lr, guide, stats=whole), untiled, rtol=1e-5, atol=1e-5)
        halo = model.halo((4.0, 4.0)) // 4  # low-resolution pixels
        window = slice(28 - halo, 36 + halo)
        tiled = model(lr[..., window], guide[..., 4 * window.start : 4 * window.stop], stats=whole)
        core = slice(4 * halo, 4 * halo + 32)
        torch.testing.assert_close(tiled[..., core], untiled[..., 112:144], rtol=1e-5, atol=1e-5)
        alone = model(lr[..., window], guide[..., 4 * window.start : 4 * window.stop])  # the window's own SRF
    assert not torch.allclose(alone[..., core], untiled[..., 112:144], atol=1e-4)
    assert (
        model.scene_statistics(
            lr, guide, core=(slice(0, 24), slice(0, 256)), mask=torch.zeros(1, 1, 24, 256)
        )["gram"]
        .abs()
        .sum()
        == 0
    )
    assert tiny(4, 2, srf=random_srf(2, 4).tolist()).scene_statistics(lr, guide) is None


def test_decoders_take_mire_activation_sequences():
    gabor = {"name": "gabor", "params": {"omega": 2.0, "scale": 1.0}}
    model = tiny(4, 2, spatial_hidden=(8, 8), spatial_activations=["pswf", "gaussian"], spectral_hidden=(6,),
                 spectral_activations=[gabor])  # fmt: skip
    assert [act.name for act in model.spatial_inr.spatial.decoder.acts] == ["pswf", "gaussian"]
    assert model.spectral_inr.query.decoder.acts[0].spec() == gabor
    perturb(model, scale=0.1)
    lr, guide = torch.rand(2, 4, 3, 4), torch.rand(2, 2, 9, 12)
    with torch.no_grad():
        before = model(lr, guide)
        model.spatial_inr.spatial.decoder.acts[1].scale.fill_(2.0)
        after = model(lr, guide)
    assert torch.isfinite(before).all() and not torch.allclose(before, after)
