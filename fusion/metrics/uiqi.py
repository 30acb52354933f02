"""Universal image quality index (UIQI, Wang & Bovik 2002) on sliding windows and on distinct blocks.

``Q = 4 σxy μx μy / ((σx² + σy²)(μx² + μy²))``, computed from window sums exactly as the toolbox's
``img_qi.m`` does, including its special cases: a window where both variances vanish but the means do
not gets ``2 μx μy / (μx² + μy²)``, one where both also vanish gets 1. Distinct-block UIQI (the ``uqi``
inside ``D_lambda.m``/``D_s.m``) uses the same rules, so it agrees with the toolbox wherever the
toolbox's value is finite.

Sums are taken on data shifted by a per-band integer offset (close to the band mean): integer data stay
integer, so window sums are exact in float64 and flat windows are recognised exactly.
"""

from __future__ import annotations

import functools

import torch

from fusion.metrics._tensor import as_pair, blocks, box_sum, check_min_size, per_slab


def _offset(x: torch.Tensor) -> torch.Tensor:
    """Integer offset near the mean of each image over its last two dims: ``(..., 1, 1)``."""
    return x.mean(dim=(-2, -1), keepdim=True).round()


def q_from_sums(n: int, sx, sy, sxx_yy, sxy, cx, cy) -> torch.Tensor:
    """UIQI of windows of ``n`` pixels from sums of offset data ``x' = x - cx``, ``y' = y - cy``.

    ``sx, sy, sxx_yy, sxy`` are window sums of ``x', y', x'² + y'², x'y'``; ``cx, cy`` the offsets
    (broadcastable). Covariance terms are offset-invariant; the mean terms use ``Σx = Σx' + n cx``.
    """
    cov = n * sxy - sx * sy
    var_sum = n * sxx_yy - sx * sx - sy * sy
    tx, ty = sx + n * cx, sy + n * cy
    mean_prod, mean_sq = tx * ty, tx * tx + ty * ty
    denominator = var_sum * mean_sq
    regular = denominator != 0
    flat = (var_sum == 0) & (mean_sq != 0)
    quality = torch.where(flat, 2 * mean_prod / torch.where(flat, mean_sq, 1.0), 1.0)
    return torch.where(regular, 4 * cov * mean_prod / torch.where(regular, denominator, 1.0), quality)


def _sliding_q_mean(block_size: int, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean of the sliding UIQI map of each slab pair ``(n, H, W)``: ``(n,)``."""
    cx, cy = _offset(x), _offset(y)
    x, y = x - cx, y - cy
    maps = torch.stack([x, y, x * x + y * y, x * y])  # (4, n, H, W): all running sums in one call per axis
    sx, sy, sxx_yy, sxy = box_sum(maps, block_size)
    return q_from_sums(block_size * block_size, sx, sy, sxx_yy, sxy, cx, cy).mean(dim=(-2, -1))


def q(pred, ref, block_size: int = 32, per_band: bool = False) -> torch.Tensor:
    """Q (Q_avg of the toolbox): per band, the mean of the sliding ``block_size``² UIQI map; band average.

    Args:
        pred, ref: ``(B, C, H, W)`` tensors or arrays (fused, reference); H, W >= ``block_size``.
        block_size: sliding window side (32 in the toolbox).
        per_band: return ``(B, C)`` per-band values instead of the ``(B,)`` band mean.
    """
    pred, ref = as_pair(pred, ref)
    check_min_size(pred, block_size, "q")
    per_band_q = per_slab(functools.partial(_sliding_q_mean, block_size), pred, ref)
    return per_band_q if per_band else per_band_q.mean(dim=1)


def block_q_matrix(x: torch.Tensor, y: torch.Tensor, block_size: int = 32) -> torch.Tensor:
    """UIQI on distinct blocks between every band of ``x`` and every band of ``y``.

    Args:
        x: ``(B, Cx, H, W)``; y: ``(B, Cy, H, W)``, both float64 with H, W multiples of ``block_size``.

    Returns:
        ``(B, Cx, Cy)``: the block-mean UIQI of each band pair (the toolbox's ``mean2(blockproc(uqi))``).
    """
    cx, cy = _offset(x), _offset(y)
    bx, by = blocks(x - cx, block_size), blocks(y - cy, block_size)  # (B, nH, nW, C, n)
    sx, sy = bx.sum(-1), by.sum(-1)
    sxx, syy = (bx * bx).sum(-1), (by * by).sum(-1)
    sxy = bx @ by.transpose(-1, -2)  # (B, nH, nW, Cx, Cy)
    cx, cy = cx.flatten(1)[:, None, None, :, None], cy.flatten(1)[:, None, None, None, :]
    sxx_yy = sxx[..., :, None] + syy[..., None, :]
    quality = q_from_sums(block_size * block_size, sx[..., :, None], sy[..., None, :], sxx_yy, sxy, cx, cy)
    return quality.mean(dim=(1, 2))
