"""Q2n (Q4, Q8, any band count): the hypercomplex UIQI of Garzelli & Nencini (IEEE GRSL 2009).

The bands of a pixel are the components of a Cayley–Dickson number (complex for 2 bands, quaternion for
4, octonion for 8; other counts are zero-padded to the next power of two). On each distinct block the
toolbox (``q2n.m``/``onions_quality.m``) normalises every reference band to ``(x - μ) / σ + 1`` (sample
σ, ``eps`` when 0), applies the same μ, σ to the fused band, and computes

    q = [n/(n-1) (mean(z1 z̄2) - m1 m̄2)] · 2|m1||m2| / (|m1|² + |m2|²) · 2 / Σ_k (var z1_k + var z2_k)

with hypercomplex products. The block value is ``|q|``; Q2n is the mean over blocks.

Vectorised over blocks: the product is bilinear, ``(a b)_k = Σ_ij C_kij a_i b_j`` with structure
constants ``C`` of the algebra, so the block term is ``C`` contracted with the band cross-covariance
matrix of the block, one batched matrix product for all blocks.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from fusion.metrics._tensor import (
    MATLAB_EPS,
    as_pair,
    block_row_groups,
    blocks,
    check_convention,
    check_dn_range,
    quantize_uint16,
)


def hypercomplex_product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cayley–Dickson product of hypercomplex numbers stored along the last dim (a power of two).

    The toolbox's ``onion_mult`` recursion: split ``a`` and ``b`` in halves, conjugate the second halves
    (``p, q = a_lo, conj(a_hi)``; ``r, s = b_lo, conj(b_hi)``), then
    ``a b = (p r - s conj(q), conj(p) s + r q)``, with scalar products at the bottom.
    """
    n = a.shape[-1]
    if n == 1:
        return a * b
    half = n // 2
    p, q_ = a[..., :half], conjugate(a[..., half:])
    r, s = b[..., :half], conjugate(b[..., half:])
    if n == 2:
        return torch.cat([p * r - s * q_, p * s + r * q_], dim=-1)
    first = hypercomplex_product(p, r) - hypercomplex_product(s, conjugate(q_))
    second = hypercomplex_product(conjugate(p), s) + hypercomplex_product(r, q_)
    return torch.cat([first, second], dim=-1)


def conjugate(a: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Hypercomplex conjugate along ``dim``: keep the real (first) component, negate the others."""
    return torch.cat([a.narrow(dim, 0, 1), -a.narrow(dim, 1, a.shape[dim] - 1)], dim=dim)


@functools.cache
def _structure_constants(n: int) -> torch.Tensor:
    """``C (n, n, n)`` float64 with ``hypercomplex_product(a, b)_k = Σ_ij C[k, i, j] a_i b_j``."""
    basis = torch.eye(n, dtype=torch.float64)
    products = hypercomplex_product(basis[:, None, :].expand(n, n, n), basis[None, :, :].expand(n, n, n))
    return products.permute(2, 0, 1).contiguous()  # products[i, j, k] -> C[k, i, j]


def _pad_to_blocks(x: torch.Tensor, block_size: int, shift: int) -> torch.Tensor:
    """Mirror-pad bottom/right (edge sample repeated, MATLAB ``N:-1:N-est+1``) so blocks tile the image."""
    h, w = x.shape[-2:]
    extra_h = (-(-h // shift) - 1) * shift + block_size - h
    extra_w = (-(-w // shift) - 1) * shift + block_size - w
    if extra_w > 0:
        x = torch.cat([x, x[..., w - extra_w :].flip(-1)], dim=-1)
    if extra_h > 0:
        x = torch.cat([x, x[..., h - extra_h :, :].flip(-2)], dim=-2)
    return x


def _pad_bands(x: torch.Tensor) -> torch.Tensor:
    """Zero-pad the band dimension of ``(B, C, H, W)`` to the next power of two."""
    bands = x.shape[1]
    target = 1 << (bands - 1).bit_length()
    return F.pad(x, (0, 0, 0, 0, 0, target - bands)) if target > bands else x


def q2n_blocks(ref_blocks: torch.Tensor, pred_blocks: torch.Tensor) -> torch.Tensor:
    """Hypercomplex quality ``q (..., N)`` of blocks given as ``(..., N, n)`` (N a power of two, n pixels)."""
    n_pix = ref_blocks.shape[-1]
    mean = ref_blocks.mean(-1, keepdim=True)
    std = ref_blocks.std(-1, keepdim=True)
    std = torch.where(std == 0, MATLAB_EPS, std)
    z1 = (ref_blocks - mean) / std + 1
    # onions_quality.m: when the reference band's *mean* is 0 the fused band is shifted, not scaled.
    z2 = torch.where(mean == 0, pred_blocks - mean, (pred_blocks - mean) / std) + 1
    z2 = conjugate(z2, dim=-2)
    m1, m2 = z1.mean(-1), z2.mean(-1)  # (..., N)
    c1, c2 = z1 - m1[..., None], z2 - m2[..., None]
    cov = (c1 @ c2.transpose(-1, -2)) / (n_pix - 1)  # (..., N, N): cov[i, j] = cov(z1_i, z2_j)
    variance = (c1.pow(2).sum(-1) + c2.pow(2).sum(-1)).sum(-1) / (n_pix - 1)  # (...,)
    norm1, norm2 = m1.pow(2).sum(-1), m2.pow(2).sum(-1)
    mean_bias = 2 * (norm1 * norm2).sqrt() / (norm1 + norm2)
    constants = _structure_constants(ref_blocks.shape[-2]).to(cov.device)
    correlation = torch.einsum("kij,...ij->...k", constants, cov)
    quality = correlation * (mean_bias * 2 / torch.where(variance == 0, 1.0, variance))[..., None]
    degenerate = torch.zeros_like(quality)
    degenerate[..., -1] = mean_bias
    return torch.where((variance == 0)[..., None], degenerate, quality)


def q2n_map(
    pred, ref, block_size: int = 32, shift: int | None = None, convention: str = "reference"
) -> torch.Tensor:
    """Per-block Q2n values ``(B, nH, nW)`` (the toolbox's ``Q2n_index_map``); see :func:`q2n`."""
    check_convention(convention)
    pred, ref = as_pair(pred, ref)
    shift = shift or block_size
    if convention == "reference":
        check_dn_range(ref, "ref")
    pred, ref = (_pad_to_blocks(t, block_size, shift) for t in (pred, ref))

    def prepared(x: torch.Tensor) -> torch.Tensor:
        x = quantize_uint16(x) if convention == "reference" else x
        return blocks(_pad_bands(x), block_size, shift)

    rows = [
        q2n_blocks(prepared(ref[..., group, :]), prepared(pred[..., group, :]))
        for group in block_row_groups(ref, block_size, shift)
    ]
    return torch.cat(rows, dim=1).pow(2).sum(-1).sqrt()


def q2n(
    pred, ref, block_size: int = 32, shift: int | None = None, convention: str = "reference"
) -> torch.Tensor:
    """Q2n of a fused image against its reference, per sample: ``(B,)``, 1 for identical images.

    Args:
        pred: fused image ``(B, C, H, W)`` (tensor or array), any band count.
        ref: reference image of the same shape (its block statistics normalise both images).
        block_size: block side (32 in the toolbox); images are mirror-padded bottom/right to whole blocks.
        shift: distance between block origins (default ``block_size``: distinct blocks).
        convention: ``"reference"`` casts both images to uint16 like ``q2n.m`` (so data must be digital
            numbers, not [0, 1]); ``"float"`` keeps the values.
    """
    return q2n_map(pred, ref, block_size, shift, convention).mean(dim=(-2, -1))
