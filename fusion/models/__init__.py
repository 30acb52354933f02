"""Registered fusion methods and models.

A new model is one module with one ``@MODELS.register("name")`` and one import line below.
"""

from __future__ import annotations

import copy

# Registration happens on import; keep one line per model family.
from fusion.models import classical  # noqa: E402,F401  (registers the classical methods)
from fusion.models import tiny  # noqa: E402,F401  (tiny-cnn, the smoke-test model)
from fusion.models import liif  # noqa: E402,F401  (liif)
from fusion.models import qis  # noqa: E402,F401  (qis)
from fusion.models import hyper_inr  # noqa: E402,F401  (hyper-inr)
from fusion.models import pinr  # noqa: E402,F401  (naive-pinr, dynamic-pinr)
from fusion.models import ssinr  # noqa: E402,F401  (ss-inr)
from fusion.models import prior_inr  # noqa: E402,F401  (prior-inr)
from fusion.models.base import FusionModel
from fusion.models.consistency import BackProjected, back_projection_args
from fusion.models.prior import WithPrior, prior_spec
from fusion.registry import MODELS


def create_model(name: str, prior: str | None = None, back_projection=None, **kwargs) -> FusionModel:
    """Build the registered model ``name`` with keyword arguments (e.g. ``lr_bands``, ``sensor``).

    ``prior``: a classical method whose injected detail the model corrects instead of learning it
    from scratch (:class:`fusion.models.prior.WithPrior`): its name, or ``{"name": ..., **args}`` (e.g.
    ``{"name": "mtf-glp-hpm", "sensor": "worldview2"}``; ``"gated": True`` starts training from the prior's
    output). ``back_projection``: an iteration count or
    :class:`fusion.models.consistency.BackProjected`'s arguments, to make the output consistent with
    the LR input. The model remembers its spec ``{"name", "args"}`` so a checkpoint can rebuild it.
    """
    model = MODELS.build({"name": name, "args": kwargs})
    if prior is not None:
        spec, gated = prior_spec(prior, kwargs)
        model = WithPrior(model, MODELS.build(spec), gated=gated)
        kwargs = {**kwargs, "prior": prior}
    projection = back_projection_args(back_projection)
    if projection is not None:
        model = BackProjected(model, **projection)
        kwargs = {**kwargs, "back_projection": projection}
    model.spec = {"name": name, "args": copy.deepcopy(kwargs)}
    return model


def list_models(pattern: str = "*") -> list[str]:
    """Sorted names of registered models matching an fnmatch ``pattern``."""
    return MODELS.keys(pattern)


__all__ = ["FusionModel", "create_model", "list_models"]
