"""A classical fusion as the starting point of a learned model: ``create_model(name, prior="glp-hs")``.

The INR models predict a residual on the bilinear upsampling of the LR image. Trained on one or two
scenes, that residual has to learn spatial detail injection from scratch and transfers poorly to new
scenes. :class:`WithPrior` adds the detail a classical method injects (its output minus the same
bilinear upsampling), so the model's residual becomes a correction of the classical result:

    out = model(lr, guide) + (prior(lr, guide) - bilinear(lr))

With ``prior={"name": ..., "gated": True}`` the correction is scaled by a trainable scalar that starts at
zero, ``out = prior(lr, guide) + g * (model(lr, guide) - bilinear(lr))``: training starts from the
classical result itself, and a freshly initialised network cannot make it worse before it has learned
anything (on small scenes it may never learn enough to repay that damage).

The prior has no trainable parameters. Its scene statistics (e.g. GLP-HS's regression) and halo are
passed through, so tiled streaming stays as exact as the prior and the model each are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fusion.errors import InputError
from fusion.models.base import FusionModel, Stats, WrappedModel

BAND_KEYS = ("lr_bands", "guide_bands")


def prior_spec(prior: str | Mapping[str, Any], model_args: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """``(spec, gated)``: the registry spec ``{"name", "args"}`` of the prior and whether the correction
    is gated. ``prior`` is a method name or ``{"name": ..., "gated": bool, **args}`` (e.g. a ``sensor``
    for its MTF); the model's band counts in ``model_args`` are passed on."""
    if isinstance(prior, str):
        prior = {"name": prior}
    if not isinstance(prior, Mapping) or not isinstance(prior.get("name"), str):
        raise InputError(f"prior: give a method name or a mapping with its 'name', got {prior!r}")
    bands = {key: model_args[key] for key in BAND_KEYS if key in model_args}
    args = {key: value for key, value in prior.items() if key not in ("name", "gated")}
    return {"name": prior["name"], "args": {**bands, **args}}, bool(prior.get("gated", False))


class WithPrior(WrappedModel):
    """``model`` plus the detail that the classical method ``prior`` injects (see the module doc)."""

    def __init__(self, model: FusionModel, prior: FusionModel, gated: bool = False):
        super().__init__(model, lr_bands=prior.lr_bands, guide_bands=prior.guide_bands)
        self.prior = prior
        self.gate = nn.Parameter(torch.zeros(())) if gated else None

    @property
    def exact_tiling(self) -> bool:
        return self.model.exact_tiling and self.prior.exact_tiling

    def halo(self, ratio: tuple[float, float]) -> int:
        return max(self.model.halo(ratio), self.prior.halo(ratio))

    def scene_statistics(self, lr, guide, out_size=None, core=None, mask=None) -> Stats | None:
        return self.prior.scene_statistics(lr, guide, out_size, core, mask)

    def forward(
        self, lr: torch.Tensor, guide: torch.Tensor, out_size=None, stats: Stats | None = None
    ) -> torch.Tensor:
        """``lr (B, C, h, w)``, ``guide (B, G, H, W)`` -> ``(B, C, H, W)``."""
        out_size = self.check_inputs(lr, guide, out_size)
        learned = self.model(lr, guide, out_size=out_size)
        extra = {} if stats is None else {"stats": stats}
        with torch.no_grad(), torch.autocast(lr.device.type, enabled=False):
            prior = self.prior(lr.float(), guide.float(), out_size=out_size, **extra)
            bilinear = F.interpolate(lr.float(), size=out_size, mode="bilinear", align_corners=False)
        if self.gate is not None:
            return prior.to(learned.dtype) + self.gate * (learned - bilinear.to(learned.dtype))
        return learned + (prior - bilinear).to(learned.dtype)
