"""Synthetic scenes and a reference tiled runner for the classical-method tests.

A scene is a smooth random high-resolution cube (positive, DN-like, spatially correlated) whose
low-resolution image is its MTF blur and decimation, and whose guide is a noisy band average (PAN) or
a noisy set of band averages (MSI) -- the structure fusion methods assume.
"""

from __future__ import annotations

import math
from fractions import Fraction

import torch
import torch.nn.functional as F

from fusion.degrade import decimate, mtf_blur


def smooth_field(shape, generator, dtype, passes: int = 3) -> torch.Tensor:
    """Random field ``shape (B, C, H, W)`` smoothed by repeated 5x5 box filters, scaled to [0, 1]."""
    field = torch.rand(shape, generator=generator, dtype=dtype)
    kernel = torch.full((shape[1], 1, 5, 5), 1 / 25, dtype=dtype)
    for _ in range(passes):
        field = F.conv2d(F.pad(field, (2, 2, 2, 2), mode="replicate"), kernel, groups=shape[1])
    low, high = field.amin((-2, -1), keepdim=True), field.amax((-2, -1), keepdim=True)
    return (field - low) / (high - low)


def make_scene(lr_size, ratio, bands=4, guide_bands=1, batch=1, seed=0, dtype=torch.float64):
    """``(lr (B, C, h, w), guide (B, G, H, W), truth (B, C, H, W))`` with ``H = h * ratio`` per axis."""
    generator = torch.Generator().manual_seed(seed)
    ry, rx = (ratio, ratio) if isinstance(ratio, (int, float)) else ratio
    out_size = (round(lr_size[0] * ry), round(lr_size[1] * rx))
    shape = (batch, bands, *out_size)
    spectra = 300 + 1200 * torch.rand((batch, bands, 1, 1), generator=generator, dtype=dtype)
    texture = 1 + 0.5 * torch.rand(shape, generator=generator, dtype=dtype)
    truth = spectra * (0.4 + smooth_field(shape, generator, dtype) * texture)
    groups = torch.arange(bands) * guide_bands // bands
    guide = torch.stack([truth[:, groups == g].mean(1) for g in range(guide_bands)], 1)
    guide = guide + 5 * torch.randn(guide.shape, generator=generator, dtype=dtype)
    lr = decimate(mtf_blur(truth, 0.3, (ry, rx)), (ry, rx), out_size=lr_size)
    return lr, guide, truth


def aligned_step(n_out: int, n_lr: int) -> tuple[int, int]:
    """Guide and low-resolution pixels per aligned block: ``n_out / n_lr = p / q`` in lowest terms."""
    ratio = Fraction(n_out, n_lr)
    return ratio.numerator, ratio.denominator


def tile_spans(n_out: int, n_lr: int, tiles: int, halo: int):
    """``(core, window, lr_window)`` spans along one axis; cores and windows on block edges."""
    p, q = aligned_step(n_out, n_lr)
    blocks = n_out // p
    edges = sorted({round(i * blocks / tiles) * p for i in range(tiles + 1)})
    pad = math.ceil(halo / p) * p
    spans = []
    for start, stop in zip(edges[:-1], edges[1:], strict=True):
        w0, w1 = max(0, start - pad), min(n_out, stop + pad)
        spans.append(((start, stop), (w0, w1), (w0 // p * q, w1 // p * q)))
    return spans


def run_tiled(model, lr, guide, tiles=(3, 3), mask=None):
    """Two-pass tiled fusion as the streaming engine does it: summed core statistics, then each
    window fused with them and its core stitched. Returns ``(fused, summed statistics)``."""
    out_size = tuple(guide.shape[-2:])
    ratio = (out_size[0] / lr.shape[-2], out_size[1] / lr.shape[-1])
    halo = model.halo(ratio)
    rows = tile_spans(out_size[0], lr.shape[-2], tiles[0], halo)
    cols = tile_spans(out_size[1], lr.shape[-1], tiles[1], halo)
    windows = []
    for (core_y, win_y, lr_y) in rows:
        for (core_x, win_x, lr_x) in cols:
            tile_lr = lr[..., lr_y[0] : lr_y[1], lr_x[0] : lr_x[1]]
            tile_guide = guide[..., win_y[0] : win_y[1], win_x[0] : win_x[1]]
            core = (slice(core_y[0] - win_y[0], core_y[1] - win_y[0]),
                    slice(core_x[0] - win_x[0], core_x[1] - win_x[0]))
            tile_mask = None if mask is None else mask[..., win_y[0] : win_y[1], win_x[0] : win_x[1]]
            windows.append((tile_lr, tile_guide, core, tile_mask, (core_y, core_x)))
    total = None
    for tile_lr, tile_guide, core, tile_mask, _ in windows:
        stats = model.scene_statistics(tile_lr, tile_guide, tuple(tile_guide.shape[-2:]), core, tile_mask)
        if stats is not None:
            total = stats if total is None else {k: total[k] + stats[k] for k in total}
    fused = torch.empty(lr.shape[0], lr.shape[1], *out_size, dtype=lr.dtype)
    for tile_lr, tile_guide, core, _, (core_y, core_x) in windows:
        kwargs = {} if total is None else {"stats": total}
        out = model(tile_lr, tile_guide, tuple(tile_guide.shape[-2:]), **kwargs)
        fused[..., core_y[0] : core_y[1], core_x[0] : core_x[1]] = out[..., core[0], core[1]]
    return fused, total
