"""Classical methods: registration, the tiling contract (tiled two-pass == untiled), masks, bad input."""

from __future__ import annotations

import pytest
import torch
from classical_scenes import make_scene, run_tiled

from fusion.errors import InputError
from fusion.models import create_model, list_models

PANSHARPENING = ["exp", "brovey", "gs", "gsa", "pca", "hpf", "sfim", "mtf-glp", "mtf-glp-hpm", "bdsd-pc",
                 "awlp"]
HSI_MSI = ["gsa", "sfim-hs", "glp-hs"]
WITH_STATISTICS = {"brovey", "gs", "gsa", "pca", "hpf", "mtf-glp", "bdsd-pc", "awlp", "sfim-hs", "glp-hs"}
# (lr size, ratio) with odd sizes: power-of-two ratios (23-tap interpolator), non-integer and per-axis
# (bicubic). Images span several halos so that tiles are cut inside the scene.
GEOMETRIES = [((33, 29), 2), ((45, 39), (2.5, 3)), pytest.param((47, 41), 4, marks=pytest.mark.slow)]


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def test_every_method_is_registered():
    assert set(PANSHARPENING + HSI_MSI) <= set(list_models())


@pytest.mark.parametrize("lr_size, ratio", GEOMETRIES)
@pytest.mark.parametrize("name", PANSHARPENING)
def test_tiled_pansharpening_equals_untiled(name, lr_size, ratio):
    lr, pan, _ = make_scene(lr_size, ratio, bands=3, seed=1)
    model = create_model(name)
    whole = model(lr, pan)
    tiled, stats = run_tiled(model, lr, pan, tiles=(3, 2))
    assert (stats is not None) == (name in WITH_STATISTICS)
    assert relative_error(tiled, whole) < 1e-5
    assert torch.isfinite(whole).all()


@pytest.mark.parametrize("lr_size, ratio", GEOMETRIES)
@pytest.mark.parametrize("name", ["sfim", "mtf-glp-hpm"])
def test_tiled_equalized_modulation_equals_untiled(name, lr_size, ratio):
    lr, pan, _ = make_scene(lr_size, ratio, bands=3, seed=1)
    model = create_model(name, equalize=True)
    tiled, stats = run_tiled(model, lr, pan, tiles=(3, 2))
    assert stats is not None and relative_error(tiled, model(lr, pan)) < 1e-5


@pytest.mark.parametrize("lr_size, ratio", GEOMETRIES)
@pytest.mark.parametrize("name", HSI_MSI)
def test_tiled_hsi_msi_equals_untiled(name, lr_size, ratio):
    lr, msi, _ = make_scene(lr_size, ratio, bands=7, guide_bands=3, seed=2)
    model = create_model(name)
    assert relative_error(run_tiled(model, lr, msi, tiles=(2, 3))[0], model(lr, msi)) < 1e-5


@pytest.mark.parametrize("name", ["gsa", "mtf-glp", "bdsd-pc"])
def test_tiled_float32_with_sensor_gains(name):
    """Float32 tiles (as the engine reads them) at ratio 4 with WorldView-2's per-band gains."""
    lr, pan, _ = make_scene((29, 27), 4, bands=8, seed=3, dtype=torch.float32)
    model = create_model(name, sensor="WV2")
    assert relative_error(run_tiled(model, lr, pan, tiles=(2, 2))[0], model(lr, pan)) < 1e-5


@pytest.mark.parametrize("name", ["gs", "gsa", "bdsd-pc", "sfim-hs"])
def test_mask_excludes_pixels_from_statistics(name):
    """Masking the right part of the scene gives the statistics of the left part alone, on both the
    output grid and the low-resolution grid (the masked part is filled with NaN to prove it is unused)."""
    guide_bands = 3 if name == "sfim-hs" else 1
    lr, guide, _ = make_scene((21, 19), 4, bands=5, guide_bands=guide_bands, seed=4)
    model = create_model(name)
    split = 40  # on a low-resolution pixel edge
    mask = torch.ones(1, 1, *guide.shape[-2:], dtype=torch.bool)
    mask[..., split:] = False
    masked = model.scene_statistics(lr, guide, mask=mask)
    left = model.scene_statistics(lr, guide, core=(slice(None), slice(0, split)))
    assert masked.keys() == left.keys()
    for key in masked:
        torch.testing.assert_close(masked[key], left[key], rtol=1e-12, atol=0)
        assert masked[key].dtype == torch.float64


@pytest.mark.parametrize("name", ["brovey", "pca", "bdsd-pc", "glp-hs"])
def test_statistics_of_a_partition_add_up(name):
    guide_bands = 3 if name == "glp-hs" else 1
    lr, guide, _ = make_scene((17, 15), 4, bands=4, guide_bands=guide_bands, seed=5)
    model = create_model(name)
    whole = model.scene_statistics(lr, guide)
    top = model.scene_statistics(lr, guide, core=(slice(0, 28), slice(None)))
    bottom = model.scene_statistics(lr, guide, core=(slice(28, None), slice(None)))
    for key in whole:
        torch.testing.assert_close(top[key] + bottom[key], whole[key], rtol=1e-12, atol=1e-9)


def test_forward_uses_given_statistics():
    """Statistics of another scene change the result: forward must not recompute them."""
    lr, pan, _ = make_scene((16, 16), 4, seed=6)
    lr2, pan2, _ = make_scene((16, 16), 4, seed=7)
    model = create_model("gs")
    own = model(lr, pan, stats=model.scene_statistics(lr, pan))
    torch.testing.assert_close(own, model(lr, pan))
    other = model(lr, pan, stats=model.scene_statistics(lr2, pan2))
    assert relative_error(other, own) > 1e-3


@pytest.mark.parametrize("name", ["bdsd-pc", "sfim-hs"])
def test_fits_are_reused_only_for_equal_statistics(name):
    guide_bands = 3 if name == "sfim-hs" else 1
    (lr, guide, _), (lr2, guide2, _) = (make_scene((12, 12), 4, bands=4, guide_bands=guide_bands, seed=s)
                                        for s in (20, 21))
    model = create_model(name)
    first = model(lr, guide)
    other = model(lr, guide, stats=model.scene_statistics(lr2, guide2))
    assert relative_error(other, first) > 1e-4
    torch.testing.assert_close(model(lr, guide), first, rtol=0, atol=0)
    fresh = create_model(name)(lr, guide, stats=model.scene_statistics(lr2, guide2))
    torch.testing.assert_close(fresh, other)


@pytest.mark.parametrize("name", PANSHARPENING + HSI_MSI)
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_batched_and_device_agnostic(name, device):
    """A batch of two equals the two samples fused one by one, on the input's device."""
    guide_bands = 3 if name in ("sfim-hs", "glp-hs") else 1
    lr, guide, _ = make_scene((12, 10), 3, bands=5, guide_bands=guide_bands, batch=2, seed=8)
    model = create_model(name)
    batched = model(lr.to(device), guide.to(device))
    assert batched.device.type == device and batched.shape == (2, 5, 36, 30)
    for i in range(2):
        single = model(lr[i : i + 1].to(device), guide[i : i + 1].to(device))
        torch.testing.assert_close(batched[i : i + 1], single, rtol=1e-9, atol=1e-9)


# -- bad input ---------------------------------------------------------------------------------
def test_pca_needs_two_bands():
    lr, pan, _ = make_scene((8, 8), 4, bands=1)
    with pytest.raises(InputError, match="pca: needs at least 2 low-resolution bands, got 1"):
        create_model("pca")(lr, pan)


@pytest.mark.parametrize("name", ["sfim-hs", "glp-hs"])
def test_hsi_msi_methods_need_a_multiband_guide(name):
    lr, pan, _ = make_scene((8, 8), 4, bands=6)
    with pytest.raises(InputError, match=f"{name}: needs a msi guide, got 1 guide band"):
        create_model(name)(lr, pan)


@pytest.mark.parametrize("name", ["brovey", "mtf-glp-hpm", "bdsd-pc"])
def test_pansharpening_methods_need_a_pan(name):
    lr, msi, _ = make_scene((8, 8), 4, bands=6, guide_bands=3)
    with pytest.raises(InputError, match=f"{name}: needs a pan guide, got 3 guide band"):
        create_model(name)(lr, msi)


def test_guide_must_be_finer():
    lr, _, _ = make_scene((8, 8), 2, bands=3)
    with pytest.raises(InputError, match="gsa: the guide must be finer .* ratio 1 x 1"):
        create_model("gsa")(lr, lr[:, :1])


def test_band_count_fixed_at_construction():
    lr, pan, _ = make_scene((8, 8), 4, bands=3)
    with pytest.raises(InputError, match="built for 4 low-resolution bands, got 3"):
        create_model("mtf-glp", lr_bands=4)(lr, pan)


def test_fully_masked_scene_is_refused():
    lr, pan, _ = make_scene((8, 8), 4)
    model = create_model("gsa")
    stats = model.scene_statistics(lr, pan, mask=torch.zeros(1, 1, 32, 32, dtype=torch.bool))
    with pytest.raises(InputError, match="no valid pixel"):
        model(lr, pan, stats=stats)
