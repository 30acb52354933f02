"""Tiny models with known outputs for testing the streaming engine independently of real methods."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fusion.models.base import FusionModel, halo_pixels


def bilinear(lr: torch.Tensor, out_size) -> torch.Tensor:
    """Bilinear upsampling on the grid convention of ``fusion.models.base`` (exact on linear ramps)."""
    return F.interpolate(lr, size=tuple(out_size), mode="bilinear", align_corners=False)


class Bilinear(FusionModel):
    """Upsample ``lr`` bilinearly; ignore the guide."""

    def halo(self, ratio):
        return halo_pixels(ratio, 2)

    def forward(self, lr, guide, out_size=None):
        return bilinear(lr, self.check_inputs(lr, guide, out_size))


class GuideCopy(FusionModel):
    """Every output band is the (first) guide band."""

    def forward(self, lr, guide, out_size=None):
        self.check_inputs(lr, guide, out_size)
        return guide[:, :1].expand(-1, lr.shape[1], -1, -1)


class HighPass(FusionModel):
    """``bilinear(lr) + guide - box_blur(guide)``: needs a halo for both parts."""

    radius = 3

    def halo(self, ratio):
        return halo_pixels(ratio, 2) + self.radius

    def forward(self, lr, guide, out_size=None):
        out_size = self.check_inputs(lr, guide, out_size)
        blurred = F.avg_pool2d(guide[:, :1], 2 * self.radius + 1, stride=1, padding=self.radius)
        return bilinear(lr, out_size) + guide[:, :1] - blurred


class MeanShift(FusionModel):
    """``bilinear(lr) + guide - mean(guide over the scene's valid pixels)``: a two-pass method."""

    def halo(self, ratio):
        return halo_pixels(ratio, 2)

    def scene_statistics(self, lr, guide, out_size=None, core=None, mask=None):
        core = core or (slice(None), slice(None))
        valid = torch.ones_like(guide[:, :1], dtype=torch.bool) if mask is None else mask
        g, m = guide[:, :1][..., core[0], core[1]], valid[..., core[0], core[1]]
        return {"sum": (g * m).sum(), "count": m.sum().to(g.dtype)}

    def forward(self, lr, guide, out_size=None, stats=None):
        out_size = self.check_inputs(lr, guide, out_size)
        stats = stats if stats is not None else self.scene_statistics(lr, guide, out_size)
        return bilinear(lr, out_size) + guide[:, :1] - stats["sum"] / stats["count"]


class FailOnCall(FusionModel):
    """Upsample like :class:`Bilinear` but raise on forward call number ``fail_at`` (1-based)."""

    def __init__(self, fail_at: int):
        super().__init__()
        self.fail_at, self.calls = fail_at, 0

    def forward(self, lr, guide, out_size=None):
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("simulated failure")
        return bilinear(lr, self.check_inputs(lr, guide, out_size))


class NeedsFiveBands(Bilinear):
    """Refuses fewer than five low-resolution bands."""

    min_lr_bands = 5
