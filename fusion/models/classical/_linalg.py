"""Small batched solvers on Gram matrices, the form in which additive scene statistics arrive.

Regressions of the classical methods are posed from sums (``A^T A``, ``A^T y``) accumulated over the
scene, never from the pixels themselves, so the tiled two-pass run can solve them from summed
statistics. Both solvers work in the dtype they are given (float64 in practice) on any device.
"""

from __future__ import annotations

import torch

RIDGE = 1e-12
"""Ridge added to Gram matrices after scaling them to a unit diagonal, so that a constant or duplicated
band leaves the system solvable; far below the precision of any real regression."""


def unit_diagonal(gram: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Jacobi scaling: ``(S gram S + RIDGE I, s)`` with ``S = diag(s)``, ``s = 1 / sqrt(diag(gram))``.

    Regressions mix variables of very different scales (digital numbers and an intercept); solving
    in scaled variables ``x = S x'`` keeps the ridge and the tolerances relative to each variable.
    """
    diag = gram.diagonal(dim1=-2, dim2=-1)
    floor = diag.amax(-1, keepdim=True) * RIDGE + torch.finfo(gram.dtype).tiny
    scale = torch.rsqrt(torch.maximum(diag, floor))
    scaled = gram * scale[..., :, None] * scale[..., None, :]
    return scaled + RIDGE * torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device), scale


def solve_spd(gram: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """Least-squares coefficients ``x (..., n)`` from normal equations ``gram x = rhs``."""
    scaled, scale = unit_diagonal(gram)
    scale = scale.expand_as(rhs)
    return torch.linalg.solve(scaled, (rhs * scale).unsqueeze(-1)).squeeze(-1) * scale


def _solve_on_passive(gram: torch.Tensor, rhs: torch.Tensor, passive: torch.Tensor) -> torch.Tensor:
    """Unconstrained solution restricted to the ``passive`` variables, zero elsewhere."""
    pair = passive[..., :, None] & passive[..., None, :]
    system = torch.where(pair, gram, torch.zeros_like(gram))
    system = system + torch.diag_embed((~passive).to(gram.dtype))
    return torch.linalg.solve(system, torch.where(passive, rhs, 0.0).unsqueeze(-1)).squeeze(-1)


def _feasible_step(gram, rhs, x, passive, rows) -> None:
    """Lawson-Hanson inner loop, in place: solve on the passive set of ``rows``; where a passive
    variable would turn non-positive, move towards the solution until the first one reaches zero,
    drop it, and solve again."""
    n = rhs.shape[-1]
    for _ in range(n + 1):
        trial = _solve_on_passive(gram[rows], rhs[rows], passive[rows])
        blocked = passive[rows] & (trial <= 0)
        done = ~blocked.any(-1)
        x[rows[done]] = trial[done]
        rows, trial, blocked = rows[~done], trial[~done], blocked[~done]
        if rows.numel() == 0:
            return
        current = x[rows]
        gap = (current - trial).clamp_min(torch.finfo(x.dtype).tiny)
        steps = torch.where(blocked, current / gap, torch.inf)
        alpha = steps.amin(-1, keepdim=True)
        moved = current + alpha * (trial - current)
        kept = passive[rows] & ~((steps <= alpha) | (moved <= 0))
        passive[rows] = kept
        x[rows] = torch.where(kept, moved, 0.0)


def nnls(gram: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """Non-negative least squares from normal equations, batched (Lawson and Hanson's active set).

    Minimises ``0.5 x^T gram x - rhs^T x`` subject to ``x >= 0`` for ``gram (..., n, n)`` (a Gram
    matrix ``A^T A``) and ``rhs (..., n)`` (``A^T y``), i.e. ``min ||A x - y||`` with ``x >= 0``.
    The passive set starts from the positive entries of the unconstrained solution (then made
    feasible), so few iterations remain; each iteration solves only the problems not yet finished.
    It ends when the KKT conditions hold. Returns ``x (..., n)``, deterministic for given inputs.
    """
    batch_shape, n = rhs.shape[:-1], rhs.shape[-1]
    gram, scale = unit_diagonal(gram.expand(*batch_shape, n, n).reshape(-1, n, n))
    rhs = rhs.reshape(-1, n) * scale.reshape(-1, n)
    x = torch.zeros_like(rhs)
    passive = torch.linalg.solve(gram, rhs.unsqueeze(-1)).squeeze(-1) > 0
    _feasible_step(gram, rhs, x, passive, torch.arange(rhs.shape[0], device=rhs.device))
    tol = 1e-10 * rhs.abs().amax(-1, keepdim=True)
    for _ in range(3 * n):
        gradient = rhs - (gram @ x.unsqueeze(-1)).squeeze(-1)
        candidates = ~passive & (gradient > tol)
        rows = candidates.any(-1).nonzero().squeeze(-1)
        if rows.numel() == 0:
            break
        passive[rows, torch.where(candidates[rows], gradient[rows], -torch.inf).argmax(-1)] = True
        _feasible_step(gram, rhs, x, passive, rows)
    return (x * scale.reshape(-1, n)).reshape(*batch_shape, n)
