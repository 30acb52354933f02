"""Fixtures for the metric tests: a fused-like image made from the real WorldView-2 MS."""

from __future__ import annotations

import pytest
import torch.nn.functional as F


@pytest.fixture
def wv2_fused_like(wv2_pair):
    """``(fused, reference)``: the WV2 MS (1, 8, 320, 320) DN and a 4x-reduced, bicubic re-interpolated copy.

    Not trivially close to the reference (Q8 about 0.8), values in the same DN range.
    """
    _, ms = wv2_pair
    reduced = F.avg_pool2d(ms, 4)
    fused = F.interpolate(reduced, scale_factor=4, mode="bicubic", align_corners=False).clamp(min=0)
    return fused, ms
