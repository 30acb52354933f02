"""``WrappedModel``: a wrapper tiles as the model it wraps (hooks forwarded), and its subclasses
``Rescaled`` and ``WithPrior`` change only the hooks their wrapping changes."""

from __future__ import annotations

import torch

from fusion.engine.fit import Rescaled
from fusion.models.base import FusionModel, WrappedModel
from fusion.models.prior import WithPrior


class Toy(FusionModel):
    """Halo 3, alignment (2, 2), not exactly tileable; its statistics: the sum of the guide's core."""

    registered_name = "toy"
    exact_tiling = False

    def halo(self, ratio):
        return 3

    def tile_alignment(self):
        return 2, 2

    def scene_statistics(self, lr, guide, out_size=None, core=None, mask=None):
        core = core or (slice(None), slice(None))
        return {"sum": guide[..., core[0], core[1]].sum()}

    def forward(self, lr, guide, out_size=None, stats=None):
        return guide.expand(-1, lr.shape[1], -1, -1)


class Identity(WrappedModel):
    """The smallest wrapper: the model's output unchanged."""

    def forward(self, lr, guide, out_size=None, stats=None):
        return self.model(lr, guide, out_size, stats)


def inputs():
    guide = torch.arange(64.0).view(1, 1, 8, 8)
    return torch.ones(1, 3, 4, 4), guide


def test_hooks_bands_and_name_are_the_wrapped_models():
    wrapped = Identity(Toy(lr_bands=3, guide_bands=1))
    assert wrapped.halo((2.0, 2.0)) == 3 and wrapped.tile_alignment() == (2, 2)
    assert wrapped.exact_tiling is False
    assert (wrapped.lr_bands, wrapped.guide_bands, wrapped.registered_name) == (3, 1, "toy")
    lr, guide = inputs()
    core = (slice(0, 4), slice(2, 8))
    assert wrapped.scene_statistics(lr, guide, core=core)["sum"].item() == guide[0, 0, :4, 2:].sum().item()
    # band counts the model leaves open come from the wrapper's arguments, the model's win otherwise
    assert Identity(Toy(), lr_bands=5, guide_bands=2).lr_bands == 5
    assert Identity(Toy(lr_bands=3), lr_bands=5).lr_bands == 3


def test_rescaled_computes_statistics_of_the_scaled_inputs():
    lr, guide = inputs()
    wrapped = Rescaled(Toy(), 4.0)
    assert wrapped.halo((3.0, 3.0)) == 3 and wrapped.tile_alignment() == (2, 2) and not wrapped.exact_tiling
    assert wrapped.scene_statistics(lr, guide)["sum"].item() == sum(range(64)) / 4


def test_with_prior_combines_model_and_prior():
    class Wider(Toy):
        exact_tiling = True

        def halo(self, ratio):
            return 7

        def scene_statistics(self, lr, guide, out_size=None, core=None, mask=None):
            return {"count": torch.tensor(float(guide.numel()))}

    lr, guide = inputs()
    model = WithPrior(Toy(), Wider(lr_bands=3, guide_bands=1))
    assert model.halo((2.0, 2.0)) == 7 and model.tile_alignment() == (2, 2)
    assert not model.exact_tiling and WithPrior(Wider(), Wider()).exact_tiling
    assert (model.lr_bands, model.guide_bands, model.registered_name) == (3, 1, "toy")
    assert model.scene_statistics(lr, guide)["count"].item() == 64  # the prior's, not the model's
