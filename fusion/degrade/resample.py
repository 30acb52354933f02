"""Resampling at any ratio, separately per axis, on ``(..., H, W)`` tensors.

Grid convention (``fusion.models.base``): low-resolution pixel ``k`` covers high-resolution pixels
``[k r, (k + 1) r)``, its centre at ``(k + 0.5) r - 0.5``. Where a low-resolution sample is *taken*
is the **phase**:

* ``phase="toolbox"`` (default): the reference toolbox's choice. Decimation keeps high-resolution
  pixel ``floor((k + 0.5) r)`` -- the pixel nearest the centre, ties going up, which is the toolbox's
  ``ratio/2`` start index (0-based 2 at ratio 4, 1 at ratio 3), MATLAB ``imresize(..., 'nearest')``
  and torch ``nearest-exact``. Interpolation puts sample ``k`` at ``(k + 0.5) r - 0.5 + delta`` with
  ``delta = 0.5`` for even integer ratios (where the 23-tap interpolator puts it: ``r k + r / 2``) and
  ``0`` otherwise (odd ratios: the exact centre; non-integer ratios: the nearest-pixel rule averages to
  the centre).
* ``phase="centre"``: exactly at the centre ``(k + 0.5) r - 0.5``; decimation interpolates linearly
  between the two nearest pixels when the centre falls between pixels.

Both keep ``decimate(upsample(x))`` close to ``x`` when given the same phase (exact for the 23-tap
interpolator and for odd integer ratios).

Every operator is built as per-axis *taps*: for each output sample, ``T`` input indices and weights
(edge handling folded into the indices), applied one tap at a time (temporaries of the output's size,
not ``T`` times it) or turned into a dense ``(n_out, n_in)`` matrix for batched per-sample geometries.
The 23-tap interpolator runs in polyphase form instead: half of each step's samples are copies, the
other half sums of shifted slices.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from fusion.degrade.kernels import Ratio, ratio_pair
from fusion.errors import InputError

PHASES = ("toolbox", "centre")
BOUNDARIES = ("replicate", "symmetric", "circular")

# Half of the 23-tap interpolator of the reference toolbox (``interp23tap``): even offsets are zero
# except the centre, so the filter passes the original samples through unchanged.
_CDF23_HALF = (
    0.5,
    0.305334091185,
    0.0,
    -0.072698593239,
    0.0,
    0.021809577942,
    0.0,
    -0.005192756653,
    0.0,
    0.000807762146,
    0.0,
    -0.000060081482,
)


# -- taps ---------------------------------------------------------------------------------------
def fold_indices(idx: torch.Tensor, n: int, boundary: str) -> torch.Tensor:
    """Map indices outside ``[0, n)`` back inside: clamp, mirror with edge repeat, or wrap."""
    if boundary == "replicate":
        return idx.clamp(0, n - 1)
    if boundary == "symmetric":  # ... 1 0 | 0 1 ... n-1 | n-1 n-2 ... (MATLAB's imresize padding)
        period = torch.remainder(idx, 2 * n)
        return torch.where(period < n, period, 2 * n - 1 - period)
    if boundary == "circular":
        return torch.remainder(idx, n)
    raise InputError(f"unknown boundary {boundary!r}; use one of {BOUNDARIES}")


def kernel_taps(
    positions: torch.Tensor,
    n_in: int,
    kernel: Callable[[torch.Tensor], torch.Tensor],
    support: float,
    boundary: str = "replicate",
    normalize: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Taps of a kernel centred at fractional input ``positions (..., n_out)``.

    ``kernel(offsets)`` gets ``input index - position`` and must vanish beyond ``support / 2``.
    Returns ``idx (..., n_out, T)`` (folded into ``[0, n_in)``) and ``weights (..., n_out, T)``,
    rows normalised to sum to 1 when ``normalize``.
    """
    count = int(math.ceil(support)) + 2
    start = torch.floor(positions.detach() - support / 2)
    raw = start[..., None] + torch.arange(count, dtype=positions.dtype, device=positions.device)
    weights = kernel(raw - positions[..., None])
    if normalize:
        weights = weights / weights.sum(-1, keepdim=True)
    return fold_indices(raw.long(), n_in, boundary), weights


def apply_taps(x: torch.Tensor, idx: torch.Tensor, weights: torch.Tensor, dim: int) -> torch.Tensor:
    """Resample ``x`` along ``dim`` (-1 or -2) with taps ``idx, weights (n_out, T)`` shared by all.

    Accumulates tap by tap, so the temporaries have the output's size whatever ``T``.
    """
    if dim not in (-1, -2):
        raise ValueError(f"apply_taps resamples along dim -1 or -2, got {dim}")
    weights = weights.to(x.dtype)
    if dim == -2:
        weights = weights[:, None]  # (n_out, 1, T): broadcast over the last axis
    out = x.index_select(dim, idx[:, 0]) * weights[..., 0]
    for t in range(1, idx.shape[-1]):
        out.addcmul_(x.index_select(dim, idx[:, t]), weights[..., t])
    return out


def taps_matrix(idx: torch.Tensor, weights: torch.Tensor, n_in: int) -> torch.Tensor:
    """Dense operator ``(..., n_out, n_in)`` from taps (repeated indices add up)."""
    dense = torch.zeros(*weights.shape[:-1], n_in, dtype=weights.dtype, device=weights.device)
    return dense.scatter_add(-1, idx.expand_as(weights), weights)


def resample_axes(x: torch.Tensor, taps_y, taps_x) -> torch.Tensor:
    """Apply per-axis taps ``(idx, weights)`` along H then W."""
    return apply_taps(apply_taps(x, *taps_y, dim=-2), *taps_x, dim=-1)


# -- kernels ------------------------------------------------------------------------------------
def cubic(offsets: torch.Tensor, a: float = -0.5) -> torch.Tensor:
    """Keys' cubic convolution kernel (``a = -0.5``: MATLAB's and Pillow's bicubic)."""
    d = offsets.abs()
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return torch.where(d <= 1, near, torch.where(d < 2, far, torch.zeros_like(d)))


def triangle(offsets: torch.Tensor) -> torch.Tensor:
    """Linear interpolation kernel."""
    return torch.clamp(1 - offsets.abs(), min=0)


def box_overlap(width: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """Area kernel: overlap of pixel ``[d - 0.5, d + 0.5]`` with ``[-width / 2, width / 2]``."""

    def kernel(offsets: torch.Tensor) -> torch.Tensor:
        lo = torch.clamp(offsets - 0.5, min=-width / 2)
        hi = torch.clamp(offsets + 0.5, max=width / 2)
        return torch.clamp(hi - lo, min=0)

    return kernel


# -- geometry -----------------------------------------------------------------------------------
def check_phase(phase: str) -> str:
    if phase not in PHASES:
        raise InputError(f"unknown resampling phase {phase!r}; use one of {PHASES}")
    return phase


def phase_offset(ratio: float, phase: str) -> float:
    """HR-pixel offset of the sample of LR pixel ``k`` from its centre ``(k + 0.5) r - 0.5``."""
    check_phase(phase)
    even_integer = abs(ratio - round(ratio)) < 1e-9 and round(ratio) % 2 == 0
    return 0.5 if phase == "toolbox" and even_integer else 0.0


def lr_size(size: int, ratio: float) -> int:
    """Low-resolution size for ``size`` HR pixels: ``round(size / ratio)``, at least 1."""
    return max(1, int(round(size / ratio)))


def _sizes(shape: Sequence[int], ratio: Ratio, out_size) -> tuple[tuple[int, int], tuple[float, float]]:
    """Output size (default ``round(H / r)``) and the effective per-axis ratio ``H / h``."""
    ry, rx = ratio_pair(ratio)
    h, w = (lr_size(shape[-2], ry), lr_size(shape[-1], rx)) if out_size is None else map(int, out_size)
    if h < 1 or w < 1:
        raise InputError(f"output size must be positive, got {(h, w)}")
    return (h, w), (shape[-2] / h, shape[-1] / w)


def float_range(n: int, like: torch.Tensor) -> torch.Tensor:
    """``0 .. n - 1`` in ``like``'s floating dtype (float64 for integer inputs) and device."""
    dtype = like.dtype if like.is_floating_point() else torch.float64
    return torch.arange(n, dtype=dtype, device=like.device)


def sample_positions(n_out: int, ratio: float, offset: float, like: torch.Tensor) -> torch.Tensor:
    """HR coordinates ``(k + 0.5) r - 0.5 + offset`` of LR samples ``k = 0 .. n_out - 1``."""
    return (float_range(n_out, like) + 0.5) * ratio - 0.5 + offset


# -- public operators ---------------------------------------------------------------------------
def decimation_taps(n_in: int, n_out: int, ratio: float, phase: str, like: torch.Tensor):
    """Taps picking (``toolbox``) or linearly interpolating (``centre``) the sample of each LR pixel."""
    check_phase(phase)
    centres = sample_positions(n_out, ratio, 0.0, like)
    if phase == "toolbox":
        idx = torch.floor(centres + 0.5).long().clamp(0, n_in - 1)[:, None]
        return idx, torch.ones(idx.shape, dtype=centres.dtype, device=centres.device)
    return kernel_taps(centres.clamp(0, n_in - 1), n_in, triangle, 2.0, "replicate")


def decimate(x: torch.Tensor, ratio: Ratio, phase: str = "toolbox", out_size=None) -> torch.Tensor:
    """Sample ``x (..., H, W)`` at low-resolution pixel centres -> ``(..., h, w)``.

    ``h = round(H / ratio)`` unless ``out_size`` is given; the samples follow the effective ratio
    ``H / h`` so the output covers the input's extent. No anti-alias filtering: blur first
    (``mtf_blur``) as the Wald protocol does. See the module docstring for ``phase``.
    """
    (h, w), (ry, rx) = _sizes(x.shape, ratio, out_size)
    taps_y = decimation_taps(x.shape[-2], h, ry, phase, x)
    taps_x = decimation_taps(x.shape[-1], w, rx, phase, x)
    return resample_axes(x, taps_y, taps_x)


def area_taps(n_in: int, n_out: int, ratio: float, like: torch.Tensor):
    """Taps averaging the HR pixels (with fractional overlap) covered by each LR pixel."""
    centres = sample_positions(n_out, ratio, 0.0, like)
    return kernel_taps(centres, n_in, box_overlap(ratio), ratio + 1.0, "replicate")


def area_downsample(x: torch.Tensor, ratio: Ratio, out_size=None) -> torch.Tensor:
    """Average ``x (..., H, W)`` over each LR pixel's footprint (fractional pixels weighted by overlap)."""
    (h, w), (ry, rx) = _sizes(x.shape, ratio, out_size)
    return resample_axes(x, area_taps(x.shape[-2], h, ry, x), area_taps(x.shape[-1], w, rx, x))


def imresize_taps(n_in: int, n_out: int, like: torch.Tensor, antialias: bool = True):
    """MATLAB ``imresize`` bicubic taps along one axis (scale ``n_out / n_in``, symmetric edges)."""
    scale = n_out / n_in
    positions = (float_range(n_out, like) + 0.5) / scale - 0.5
    if antialias and scale < 1:
        return kernel_taps(positions, n_in, lambda d: scale * cubic(scale * d), 4.0 / scale, "symmetric")
    return kernel_taps(positions, n_in, cubic, 4.0, "symmetric")


def imresize(
    x: torch.Tensor, scale: Ratio | None = None, out_size=None, antialias: bool = True
) -> torch.Tensor:
    """MATLAB-compatible bicubic ``imresize`` of ``x (..., H, W)`` (antialiased when shrinking).

    Give ``scale`` (output/input, scalar or per axis; output size ``ceil(H * scale)`` as in MATLAB)
    or ``out_size``. Used for the PAN in the toolbox's reduced-resolution protocol.
    """
    if (scale is None) == (out_size is None):
        raise InputError("imresize needs exactly one of scale or out_size")
    if out_size is None:
        sy, sx = (scale, scale) if not isinstance(scale, Sequence) else scale
        out_size = (math.ceil(x.shape[-2] * float(sy) - 1e-9), math.ceil(x.shape[-1] * float(sx) - 1e-9))
    h, w = map(int, out_size)
    taps_y = imresize_taps(x.shape[-2], h, x, antialias)
    taps_x = imresize_taps(x.shape[-1], w, x, antialias)
    return resample_axes(x, taps_y, taps_x)


def is_power_of_two(ratio: float) -> bool:
    r = round(ratio)
    return abs(ratio - r) < 1e-9 and r >= 2 and (r & (r - 1)) == 0


INTERP23_ODD_TAPS = tuple(2 * tap for tap in _CDF23_HALF[1::2])
"""Taps at offsets 1, 3, ..., 11 (both sides) of the 23-tap interpolator, gain 2 per dyadic step. The
even offsets are zero but the centre (1), so each step keeps the original samples and these taps make
the inserted ones."""
INTERP23_SIDE = len(INTERP23_ODD_TAPS)
"""Original samples each inserted sample takes from either side (6)."""


def interp23_margin(steps: int) -> int:
    """Low-resolution samples that ``steps`` dyadic steps reach on each side: step ``s`` reads
    ``INTERP23_SIDE`` samples of a grid ``2^(s-1)`` times finer (fewer than 12 for any ratio)."""
    return math.ceil(sum(INTERP23_SIDE / 2**s for s in range(steps)))


def interp23(x: torch.Tensor, ratio: Ratio, boundary: str = "circular") -> torch.Tensor:
    """Upsample ``x (..., h, w)`` by a power of two per axis with the toolbox's 23-tap interpolator.

    Each dyadic step inserts a sample between neighbours (the first step before each original sample,
    later ones after, so LR pixel ``k`` lands on HR pixel ``r k + r / 2``) and filters separably. The
    image is first extended at low resolution by ``boundary`` (``"circular"``: the toolbox's wrap,
    same numbers as its zero-insert-then-wrap; ``"symmetric"``: mirrored about the edge, as MATLAB's
    ``padarray(..., 'symmetric')``; ``"replicate"``: edge pixels repeated), so a constant image stays
    constant up to the edges in every mode. Runs ``log2(ratio)`` steps (the MATLAB loop
    ``1 : ratio / 2`` is only right for ratios 2 and 4).
    """
    ratios = ratio_pair(ratio)
    if not all(is_power_of_two(r) for r in ratios):
        raise InputError(f"the 23-tap interpolator needs a power-of-two ratio, got {ratio!r}")
    out = x
    for dim, r in zip((-2, -1), ratios, strict=True):
        out = _interp23_axis(out, dim, int(round(math.log2(r))), boundary)
    return out


def _interp23_axis(x: torch.Tensor, dim: int, steps: int, boundary: str) -> torch.Tensor:
    """``steps`` dyadic steps along ``dim`` of ``x (..., n, ...)`` -> ``(..., 2^steps n, ...)``.

    ``start`` tracks the output-grid position of the first sample: the extension starts at
    ``-margin``, and each step keeps samples from ``INTERP23_SIDE - 1`` on, doubling positions.
    """
    n = x.shape[dim]
    margin = interp23_margin(steps)
    idx = fold_indices(torch.arange(-margin, n + margin, device=x.device), n, boundary)
    out, start = x.index_select(dim, idx), -margin
    for step in range(steps):
        out = _interp23_step(out, dim)
        start = 2 * (start + INTERP23_SIDE - 1) + (1 if step == 0 else 0)
    return out.narrow(dim, -start, n * 2**steps)


def _interp23_step(x: torch.Tensor, dim: int) -> torch.Tensor:
    """One polyphase step along ``dim`` (-1 or -2): the ``L - 11`` samples ``x[5 + j]`` of ``x (.., L, ..)``,
    each followed by the inserted sample between it and ``x[6 + j]`` -> ``(.., 2 (L - 11), ..)``."""
    count = x.shape[dim] - 2 * INTERP23_SIDE + 1
    inserted = None
    for i, weight in enumerate(INTERP23_ODD_TAPS):  # offsets 1, 3, ..., 11, both sides
        pair = x.narrow(dim, INTERP23_SIDE - 1 - i, count) + x.narrow(dim, INTERP23_SIDE + i, count)
        inserted = pair.mul_(weight) if inserted is None else inserted.add_(pair, alpha=weight)
    kept = x.narrow(dim, INTERP23_SIDE - 1, count)
    return torch.stack([kept, inserted], dim=dim).flatten(dim - 1, dim)


def upsample_taps(n_in: int, n_out: int, offset: float, like: torch.Tensor, boundary: str = "symmetric"):
    """Bicubic interpolation taps placing LR sample ``k`` at HR ``(k + 0.5) r - 0.5 + offset``."""
    ratio = n_out / n_in
    lr_coords = (float_range(n_out, like) + 0.5 - offset) / ratio - 0.5
    return kernel_taps(lr_coords, n_in, cubic, 4.0, boundary)


def upsample(
    x: torch.Tensor,
    out_size: Sequence[int],
    method: str = "auto",
    phase: str = "toolbox",
    boundary: str = "symmetric",
) -> torch.Tensor:
    """Interpolate ``x (..., h, w)`` onto the HR grid ``out_size = (H, W)`` for any per-axis ratio.

    ``method``: ``"interp23"`` (toolbox 23-tap, power-of-two ratios, toolbox phase), ``"bicubic"``
    (Keys, any ratio) or ``"auto"``: 23-tap when both ratios are powers of two and
    ``phase="toolbox"``, bicubic otherwise. The phase matches :func:`decimate`'s. ``boundary``
    (see :data:`BOUNDARIES`) extends the image past its edges for either method; the default mirrors,
    so a border depends only on nearby pixels (tile-safe); ``"circular"`` is the toolbox's wrap.
    """
    check_phase(phase)
    H, W = map(int, out_size)
    ratios = (H / x.shape[-2], W / x.shape[-1])
    if method == "auto":
        use23 = phase == "toolbox" and all(is_power_of_two(r) for r in ratios)
        method = "interp23" if use23 else "bicubic"
    if method == "interp23":
        if phase != "toolbox":
            raise InputError("the 23-tap interpolator has the toolbox phase; use method='bicubic'")
        return interp23(x, ratios, boundary)
    if method != "bicubic":
        raise InputError(f"unknown upsampling method {method!r}; use 'auto', 'interp23' or 'bicubic'")
    taps_y = upsample_taps(x.shape[-2], H, phase_offset(ratios[0], phase), x, boundary)
    taps_x = upsample_taps(x.shape[-1], W, phase_offset(ratios[1], phase), x, boundary)
    return resample_axes(x, taps_y, taps_x)
