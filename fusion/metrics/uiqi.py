"""Universal image quality index (UIQI, Wang & Bovik 2002) on sliding windows and on distinct blocks.

``Q = 4 σxy μx μy / ((σx² + σy²)(μx² + μy²))``, computed from window sums exactly as the toolbox's
``img_qi.m`` does, including its special cases: a window where both variances vanish but the means do
not gets ``2 μx μy / (μx² + μy²)``, one where both also vanish gets 1. Distinct-block UIQI (the ``uqi``
inside ``D_lambda.m``/``D_s.m``) uses the same rules, so it agrees with the toolbox wherever the
toolbox's value is finite.

Sums are taken on data shifted by a per-band integer offset (a rounded pixel value of the band): integer
data stay integer, so window sums are exact in float64 and flat windows are recognised exactly.
"""

from __future__ import annotations

import functools

import torch

from fusion.metrics._tensor import as_pair, block_row_groups, blocks, box_sum, check_min_size, strip_sums


def _offset(x: torch.Tensor) -> torch.Tensor:
    """Integer offset of each image over its last two dims: its rounded first pixel, ``(..., 1, 1)``.

    Any constant near the data works (it only conditions the sums); the first pixel costs no pass.
    """
    return x[..., :1, :1].round()


def q_from_sums(n: int, sx, sy, sxx_yy, sxy, cx, cy) -> torch.Tensor:
    """UIQI of windows of ``n`` pixels from sums of offset data ``x' = x - cx``, ``y' = y - cy``.

    ``sx, sy, sxx_yy, sxy`` are window sums of ``x', y', x'² + y'², x'y'``; ``cx, cy`` the offsets
    (broadcastable). Covariance terms are offset-invariant; the mean terms use ``Σx = Σx' + n cx``.
    """
    cov = torch.addcmul(n * sxy, sx, sy, value=-1)
    var_sum = torch.addcmul(n * sxx_yy, sx, sx, value=-1).addcmul_(sy, sy, value=-1)
    tx, ty = sx + n * cx, sy + n * cy
    mean_prod, mean_sq = tx * ty, torch.addcmul(tx * tx, ty, ty)
    denominator = var_sum * mean_sq
    quality = cov.mul_(mean_prod).mul_(4).div_(denominator)
    irregular = denominator == 0
    if irregular.any():  # img_qi.m's special cases; rare, so handled only when present
        flat = (var_sum == 0) & (mean_sq != 0)
        fallback = torch.where(flat, 2 * mean_prod / torch.where(flat, mean_sq, 1.0), 1.0)
        quality = torch.where(irregular, fallback, quality)
    return quality


def _sliding_q_sum(block_size: int, _where, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Sum of the sliding UIQI map of each strip pair ``(n, rows, W)``: ``(n, 1)``."""
    cx, cy = _offset(x), _offset(y)
    maps = x.new_empty((4, *x.shape))  # x', y', x'² + y'², x'y': one running sum per axis for all four
    torch.sub(x, cx, out=maps[0])
    torch.sub(y, cy, out=maps[1])
    torch.mul(maps[0], maps[0], out=maps[2]).addcmul_(maps[1], maps[1])
    torch.mul(maps[0], maps[1], out=maps[3])
    sx, sy, sxx_yy, sxy = box_sum(maps, block_size)
    return q_from_sums(block_size * block_size, sx, sy, sxx_yy, sxy, cx, cy).sum(dim=(-2, -1))[:, None]


def q(pred, ref, block_size: int = 32, per_band: bool = False) -> torch.Tensor:
    """Q (Q_avg of the toolbox): per band, the mean of the sliding ``block_size``² UIQI map; band average.

    Args:
        pred, ref: ``(B, C, H, W)`` tensors or arrays (fused, reference); H, W >= ``block_size``.
        block_size: sliding window side (32 in the toolbox).
        per_band: return ``(B, C)`` per-band values instead of the ``(B,)`` band mean.
    """
    pred, ref = as_pair(pred, ref)
    check_min_size(pred, block_size, "q")
    windows = (pred.shape[-2] - block_size + 1) * (pred.shape[-1] - block_size + 1)
    per_band_q = (
        strip_sums(functools.partial(_sliding_q_sum, block_size), block_size, pred, ref)[..., 0] / windows
    )
    return per_band_q if per_band else per_band_q.mean(dim=1)


def block_q_matrix(x: torch.Tensor, y: torch.Tensor, block_size: int = 32) -> torch.Tensor:
    """UIQI on distinct blocks between every band of ``x`` and every band of ``y``.

    Args:
        x: ``(B, Cx, H, W)``; y: ``(B, Cy, H, W)``, both float64 with H, W multiples of ``block_size``.

    Returns:
        ``(B, Cx, Cy)``: the block-mean UIQI of each band pair (the toolbox's ``mean2(blockproc(uqi))``).
    """
    cx, cy = _offset(x), _offset(y)
    total = 0
    for group in block_row_groups(x, block_size):
        bx = blocks(x[..., group, :] - cx, block_size)  # (B, nH, nW, Cx, n)
        by = blocks(y[..., group, :] - cy, block_size)
        sx, sy = bx.sum(-1), by.sum(-1)
        sxx, syy = (bx * bx).sum(-1), (by * by).sum(-1)
        sxy = bx @ by.transpose(-1, -2)  # (B, nH, nW, Cx, Cy)
        sxx_yy = sxx[..., :, None] + syy[..., None, :]
        offsets = cx.flatten(1)[:, None, None, :, None], cy.flatten(1)[:, None, None, None, :]
        quality = q_from_sums(
            block_size * block_size, sx[..., :, None], sy[..., None, :], sxx_yy, sxy, *offsets
        )
        total = total + quality.sum(dim=(1, 2))
    n_blocks = (x.shape[-2] // block_size) * (x.shape[-1] // block_size)
    return total / n_blocks
