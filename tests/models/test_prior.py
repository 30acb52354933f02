"""``create_model(name, prior=...)``: a learned model as a correction of a classical fusion."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from zoo import build

from fusion.engine.checkpoint import load_checkpoint, save_checkpoint
from fusion.errors import InputError
from fusion.models import create_model
from fusion.models.prior import WithPrior


def _pair(seed: int = 0, bands: int = 5, size: int = 8, ratio: int = 4):
    generator = torch.Generator().manual_seed(seed)
    lr = torch.rand(2, bands, size, size, generator=generator)
    guide = torch.rand(2, 3, size * ratio, size * ratio, generator=generator)
    return lr, guide


def test_output_is_model_plus_the_priors_detail():
    lr, guide = _pair()
    model = build("liif", 5, 3, prior="glp-hs")
    assert isinstance(model, WithPrior)
    out = model(lr, guide)
    prior = create_model("glp-hs", lr_bands=5, guide_bands=3)(lr, guide)
    bilinear = F.interpolate(lr, size=guide.shape[-2:], mode="bilinear", align_corners=False)
    expected = model.model(lr, guide) + prior - bilinear
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_summed_scene_statistics_reproduce_the_untiled_output():
    lr, guide = _pair(1)
    model = build("qis", 5, 3, prior="glp-hs").eval()
    whole = model.scene_statistics(lr, guide)
    assert whole is not None  # GLP-HS regresses over the scene
    halves = [(slice(0, 16), slice(None)), (slice(16, 32), slice(None))]
    parts = [model.scene_statistics(lr, guide, core=core) for core in halves]
    summed = {key: parts[0][key] + parts[1][key] for key in parts[0]}
    with torch.no_grad():
        torch.testing.assert_close(model(lr, guide, stats=summed), model(lr, guide), rtol=1e-5, atol=1e-6)


def test_halo_and_tiling_hooks_combine_model_and_prior():
    model = build("liif", 5, 3, prior="glp-hs")
    ratio = (4.0, 4.0)
    assert model.halo(ratio) == max(model.model.halo(ratio), model.prior.halo(ratio))
    assert model.tile_alignment() == model.model.tile_alignment()
    assert model.exact_tiling == (model.model.exact_tiling and model.prior.exact_tiling)


def test_checkpoint_rebuilds_the_prior(tmp_path):
    lr, guide = _pair(2)
    model = build("liif", 5, 3, prior="glp-hs").eval()
    assert model.spec["args"]["prior"] == "glp-hs"
    path = save_checkpoint(model, tmp_path / "m.pt")
    loaded, payload = load_checkpoint(path)
    assert isinstance(loaded, WithPrior) and payload["model"]["args"]["prior"] == "glp-hs"
    with torch.no_grad():
        torch.testing.assert_close(loaded(lr, guide), model(lr, guide))


def test_gradients_reach_the_model_only():
    lr, guide = _pair(3)
    model = build("liif", 5, 3, prior="glp-hs")
    model(lr, guide).square().mean().backward()
    grads = [p.grad for p in model.model.parameters() if p.requires_grad]
    assert grads and all(g is not None for g in grads)
    assert not any(p.requires_grad for p in model.prior.parameters())


def test_a_prior_with_arguments_is_built_with_them_and_kept_in_the_checkpoint(tmp_path):
    generator = torch.Generator().manual_seed(3)
    lr, pan = torch.rand(1, 8, 8, 8, generator=generator), torch.rand(1, 1, 32, 32, generator=generator)
    prior = {"name": "mtf-glp", "sensor": "worldview2"}
    model = build("qis", 8, 1, prior=prior).eval()
    assert model.spec["args"]["prior"] == prior
    with torch.no_grad():
        detail = create_model("mtf-glp", sensor="worldview2")(lr, pan) - F.interpolate(
            lr, size=pan.shape[-2:], mode="bilinear", align_corners=False
        )
        torch.testing.assert_close(model(lr, pan), model.model(lr, pan) + detail, rtol=1e-5, atol=1e-5)
        generic = create_model("mtf-glp")(lr, pan)  # the sensor's gains are not the generic ones
        assert not torch.allclose(generic, create_model("mtf-glp", sensor="worldview2")(lr, pan))
        loaded, _ = load_checkpoint(save_checkpoint(model, tmp_path / "m.pt"))
        torch.testing.assert_close(loaded.eval()(lr, pan), model(lr, pan), rtol=0, atol=0)


def test_a_prior_without_a_name_is_refused():
    with pytest.raises(InputError, match="prior: give a method name"):
        create_model("qis", lr_bands=8, guide_bands=1, prior={"sensor": "worldview2"})


def test_a_gated_correction_starts_at_the_prior_and_learns():
    lr, guide = _pair(4)
    model = build("qis", 5, 3, prior={"name": "glp-hs", "gated": True})
    assert model.spec["args"]["prior"] == {"name": "glp-hs", "gated": True}
    prior = create_model("glp-hs", lr_bands=5, guide_bands=3)(lr, guide)
    torch.testing.assert_close(model(lr, guide), prior, rtol=0, atol=0)  # the gate starts at zero
    model(lr, guide).square().mean().backward()
    assert model.gate.grad is not None and float(model.gate.grad) != 0.0
    with torch.no_grad():
        model.gate.fill_(0.5)
    bilinear = F.interpolate(lr, size=guide.shape[-2:], mode="bilinear", align_corners=False)
    expected = prior + 0.5 * (model.model(lr, guide) - bilinear)
    torch.testing.assert_close(model(lr, guide), expected, rtol=1e-5, atol=1e-5)
    ungated = build("qis", 5, 3, prior="glp-hs")
    assert "gate" not in dict(ungated.named_parameters())  # checkpoints without a gate still load
