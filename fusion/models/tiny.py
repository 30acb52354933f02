"""``tiny-cnn``: a small residual CNN, the smoke-test model of the training machinery.

Not a fusion method worth using: it exists so that training, checkpoints and resumption can be
exercised on CPU in seconds before (and independently of) the INR models.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fusion.models.base import FusionModel, halo_pixels
from fusion.registry import MODELS


@MODELS.register("tiny-cnn")
class TinyCNN(FusionModel):
    """Bilinear upsampling of ``lr`` plus a residual from ``depth`` 3x3 convolutions over it and the guide.

    The last convolution starts at zero, so an untrained model is exactly bilinear upsampling.

    Args:
        lr_bands, guide_bands: band counts ``C`` and ``G``. width: hidden channels.
        depth: number of convolutions (at least 2).
    """

    def __init__(self, lr_bands: int, guide_bands: int, width: int = 16, depth: int = 3):
        super().__init__(lr_bands=lr_bands, guide_bands=guide_bands)
        if depth < 2:
            raise ValueError(f"tiny-cnn needs depth >= 2, got {depth}")
        layers = [nn.Conv2d(lr_bands + guide_bands, width, 3, padding=1)]
        for _ in range(depth - 2):
            layers += [nn.ReLU(inplace=True), nn.Conv2d(width, width, 3, padding=1)]
        layers += [nn.ReLU(inplace=True), nn.Conv2d(width, lr_bands, 3, padding=1)]
        self.body = nn.Sequential(*layers)
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)
        self.depth = depth

    def halo(self, ratio: tuple[float, float]) -> int:
        return halo_pixels(ratio, 1) + self.depth

    def forward(self, lr: torch.Tensor, guide: torch.Tensor, out_size=None) -> torch.Tensor:
        """``lr (B, C, h, w)``, ``guide (B, G, H, W)`` -> ``(B, C, H, W)``."""
        out_size = self.check_inputs(lr, guide, out_size)
        up = F.interpolate(lr, size=out_size, mode="bilinear", align_corners=False)
        return up + self.body(torch.cat([up, guide.to(up.dtype)], dim=1))
