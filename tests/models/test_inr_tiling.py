"""Tiled fusion with ``halo`` equals untiled fusion for liif, qis and hyper-inr.

Tiles start on low-resolution pixel edges (the streaming engine's alignment, ``classical_scenes.run_tiled``).
``hyper-inr`` decodes each S x S cell with its own MLP, so its tiles must also start on multiples of S:
at ratio 4 with S = 4 they do.
"""

from __future__ import annotations

import pytest
import torch
from classical_scenes import run_tiled
from zoo import build

pytestmark = pytest.mark.usefixtures("one_thread")

CASES = [
    ("liif", 2),
    ("liif", (3, 4)),
    ("qis", 4),
    ("qis", 2.5),
    ("qis", (3, 4)),
    ("qis", (1.5, 4)),
    ("hyper-inr", 4),
]


@pytest.mark.parametrize("name, ratio", CASES)
def test_tiled_equals_untiled(name, ratio):
    ry, rx = ratio if isinstance(ratio, tuple) else (ratio, ratio)
    lr_size = (24, 22)
    torch.manual_seed(0)
    lr = torch.rand(2, 4, *lr_size)
    guide = torch.rand(2, 3, round(lr_size[0] * ry), round(lr_size[1] * rx))
    model = build(name, 4, 3).eval()
    with torch.no_grad():
        whole = model(lr, guide)
        tiled, _ = run_tiled(model, lr, guide, tiles=(2, 2))
    torch.testing.assert_close(tiled, whole, rtol=1e-5, atol=1e-5)
