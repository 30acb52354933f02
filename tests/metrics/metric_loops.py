"""Direct, loop-based re-implementations of toolbox formulas, used as independent references in tests."""

from __future__ import annotations

import numpy as np


def uiqi_direct(x: np.ndarray, y: np.ndarray) -> float:
    """``img_qi.m``'s UIQI of one window, from its definition (with its flat-window rules)."""
    mx, my = x.mean(), y.mean()
    vx, vy, cov = x.var(), y.var(), ((x - mx) * (y - my)).mean()
    if vx + vy == 0:
        return 1.0 if mx * mx + my * my == 0 else 2 * mx * my / (mx * mx + my * my)
    if mx * mx + my * my == 0:
        return 1.0
    return 4 * cov * mx * my / ((vx + vy) * (mx * mx + my * my))


def block_uiqi_direct(x: np.ndarray, y: np.ndarray, size: int) -> float:
    """Mean UIQI over distinct ``size``² blocks of two 2-D images (``mean2(blockproc(...))``)."""
    rows, cols = x.shape
    values = [
        uiqi_direct(x[r : r + size, c : c + size], y[r : r + size, c : c + size])
        for r in range(0, rows, size)
        for c in range(0, cols, size)
    ]
    return float(np.mean(values))
