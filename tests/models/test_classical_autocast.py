"""Classical methods ignore an enclosing bf16 autocast (a prior inside a mixed-precision training step)."""

from __future__ import annotations

import pytest
import torch

from fusion.models import create_model


@pytest.mark.parametrize("name, guide_bands", [("mtf-glp-hpm", 1), ("bdsd-pc", 1), ("glp-hs", 3), ("gsa", 3)])
def test_autocast_leaves_the_result_unchanged(name, guide_bands):
    generator = torch.Generator().manual_seed(0)
    lr = 0.1 + torch.rand(1, 6, 16, 16, generator=generator)
    guide = 0.1 + torch.rand(1, guide_bands, 64, 64, generator=generator)
    method = create_model(name, lr_bands=6, guide_bands=guide_bands)
    expected = method(lr, guide)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        found = method(lr, guide)
        from_half = method(lr.bfloat16(), guide.bfloat16())
    torch.testing.assert_close(found, expected, rtol=0, atol=0)
    assert from_half.dtype == torch.float32  # bf16 inputs are widened before any arithmetic
    torch.testing.assert_close(from_half, method(lr.bfloat16().float(), guide.bfloat16().float()))
