"""prior-inr: starts as its classical ensemble, queries offsets within the LR pixel, passes scene statistics
through (also inside :class:`fusion.engine.fit.Rescaled`), and scene-adaptive fitting improves it."""

from __future__ import annotations

import pytest
import torch

from fusion.engine.fit import Rescaled, fit_scene, wald_pair
from fusion.errors import InputError
from fusion.models import create_model
from fusion.models.prior_inr import PriorINR, cell_offsets
from fusion.nn.coords import make_coord

pytestmark = pytest.mark.usefixtures("one_thread")


def scene(size=48, bands=4, seed=0):
    """Blocks of random spectra with a PAN that is their band mean: ``(ms (1, C, size / 2, ...), pan)``."""
    g = torch.Generator().manual_seed(seed)
    blocks = torch.rand(1, bands, size // 6, size // 6, generator=g)
    gt = torch.nn.functional.interpolate(blocks, size=(size, size), mode="nearest")
    gt = torch.nn.functional.avg_pool2d(gt, 3, stride=1, padding=1, count_include_pad=False)
    return torch.nn.functional.avg_pool2d(gt, 2), gt.mean(1, keepdim=True)


def test_untrained_model_is_the_mean_of_its_priors():
    lr, guide = scene()
    model = create_model("prior-inr", lr_bands=4, guide_bands=1, sensor="WV2", **PriorINR.tiny_args())
    awlp, bdsd = (create_model(name, sensor="WV2") for name in ("awlp", "bdsd-pc"))
    with torch.no_grad():
        torch.testing.assert_close(model(lr, guide), (awlp(lr, guide) + bdsd(lr, guide)) / 2)
    assert [p.sensor for p in model.priors] == ["WV2", "WV2"]
    msi = create_model("prior-inr", lr_bands=4, guide_bands=3, **PriorINR.tiny_args())
    assert [p.registered_name for p in msi.priors] == ["glp-hs", "sfim-hs"]


def test_priors_must_be_classical():
    with pytest.raises(InputError, match="trainable"):
        create_model("prior-inr", lr_bands=4, guide_bands=1, priors=["tiny-cnn"])


def test_cell_offsets_are_positions_within_the_lr_pixel():
    coord = make_coord((8, 10))[None]  # output 8 x 10 over LR 2 x 3: ratios 4 and 10/3
    offsets = cell_offsets(coord, (2, 3)).reshape(8, 10, 2)
    # row i of ratio 4: LR index (i + 0.5) / 4 - 0.5 -> offsets -3/8, -1/8, 1/8, 3/8 in each LR pixel
    torch.testing.assert_close(offsets[:4, 0, 0], torch.tensor([-0.375, -0.125, 0.125, 0.375]))
    # column j of ratio 10/3: (j + 0.5) * 0.3 - 0.5, minus the nearest LR centre
    expected = torch.tensor([(j + 0.5) * 0.3 - 0.5 - round((j + 0.5) * 0.3 - 0.5) for j in range(10)])
    torch.testing.assert_close(offsets[0, :, 1], expected.float())


def test_scene_statistics_pass_through_rescaled():
    """Statistics of one half of the scene change the priors' parameters, and Rescaled hands them on:
    whole-scene statistics reproduce the untiled output, half-scene ones do not."""
    lr, guide = scene()
    model = create_model("prior-inr", lr_bands=4, guide_bands=1, **PriorINR.tiny_args()).eval()
    wrapped = Rescaled(model, 10.0)
    lr10, guide10 = lr * 10, guide * 10
    with torch.no_grad():
        plain = wrapped(lr10, guide10)
        whole = wrapped(lr10, guide10, stats=wrapped.scene_statistics(lr10, guide10))
        top = wrapped.scene_statistics(lr10, guide10, core=(slice(0, 24), slice(None)))
        half = wrapped(lr10, guide10, stats=top)
    torch.testing.assert_close(whole, plain)
    assert (half - plain).abs().max() > 1e-3
    assert set(wrapped.scene_statistics(lr10, guide10)) == {
        f"1/{key}" for key in model.priors[1].scene_statistics(lr, guide)
    } | {f"0/{key}" for key in model.priors[0].scene_statistics(lr, guide)}


def test_fitting_lowers_the_reduced_scale_error():
    lr, guide = scene(size=96)
    lr, guide = lr / lr.max(), guide / lr.max()  # fitting divides by max(lr): keep the units
    torch.manual_seed(0)
    model = create_model("prior-inr", lr_bands=4, guide_bands=1, **PriorINR.tiny_args())
    guide_small, lr_small, reference = wald_pair(guide, lr, 2.0)

    def reduced_error():
        with torch.no_grad():
            return float((model(lr_small, guide_small) - reference).abs().mean())

    before = reduced_error()
    result = fit_scene(model, lr, guide, steps=40, patch=None, batch_size=2, learning_rate=5e-3)
    assert result.scale == pytest.approx(1.0)
    after = reduced_error()
    assert after < 0.95 * before  # measured: 0.0759 -> 0.0682
