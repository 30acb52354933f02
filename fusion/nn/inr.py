"""Local implicit queries: LIIF-style spatial queries and band-axis spectral queries.

Both decode a query from the codes of its nearest latent samples, each fed with the query's offset
from that sample, and blend the predictions with the areas of the opposite rectangles (bilinear
weights along the spatial axes, linear weights along the band axis). Borders are clamped: outside
the outermost sample centres the neighbours collapse onto the edge samples, so with a decoder that
returns the code unchanged a spatial query is bilinear interpolation (``align_corners=False``,
border clamped) and a spectral query is linear interpolation in wavelength.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fusion.errors import InputError
from fusion.nn.activations import ActivationSpec
from fusion.nn.coords import coord_to_index, sample_at
from fusion.nn.encoding import CoordEncoding
from fusion.nn.mlp import MLP

Decoder = Callable[[torch.Tensor], torch.Tensor]


def axis_neighbours(p: torch.Tensor, n: int, ensemble: bool = True):
    """Neighbours of continuous indices ``p (...)`` on an axis of ``n`` samples at ``0 .. n - 1``.

    Returns ``index (..., k)`` (long, clamped to ``[0, n - 1]``), ``weight (..., k)`` and
    ``offset (..., k) = p - index`` with ``k = 2`` (ensemble: linear weights ``1 - t, t``) or ``k = 1``
    (nearest sample, weight 1).
    """
    if ensemble:
        low = p.detach().floor()
        t = p - low
        index = torch.stack((low, low + 1), dim=-1).clamp(0, n - 1)
        weight = torch.stack((1 - t, t), dim=-1)
    else:
        index = (p.detach() + 0.5).floor().clamp(0, n - 1).unsqueeze(-1)
        weight = torch.ones_like(index)
    return index.long(), weight, p.unsqueeze(-1) - index


def spatial_neighbours(coord: torch.Tensor, size: tuple[int, int], ensemble: bool = True):
    """The 4 (or 1) latent samples around each query of ``coord (B, N, 2)`` on an ``(h, w)`` grid.

    Returns ``index (B, N, K)`` into the row-major ``h * w`` grid, ``weight (B, N, K)`` (the areas of
    the opposite rectangles, summing to 1) and ``offset (B, N, K, 2)``, the query minus the sample
    centre in latent pixels.
    """
    p = coord_to_index(coord, size)
    iy, wy, oy = axis_neighbours(p[..., 0], size[0], ensemble)
    ix, wx, ox = axis_neighbours(p[..., 1], size[1], ensemble)
    index = (iy.unsqueeze(-1) * size[1] + ix.unsqueeze(-2)).flatten(-2)
    weight = (wy.unsqueeze(-1) * wx.unsqueeze(-2)).flatten(-2)
    oy, ox = torch.broadcast_tensors(oy.unsqueeze(-1), ox.unsqueeze(-2))
    return index, weight, torch.stack((oy, ox), dim=-1).flatten(-3, -2)


def blend(predictions: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted sum over the neighbour axis: ``(..., K, C)`` and ``(..., K)`` → ``(..., C)``."""
    return (predictions * weight.unsqueeze(-1).to(predictions.dtype)).sum(-2)


@dataclass
class SpatialState:
    """A latent grid prepared for queries: one row per latent sample, ``rows (B * h * w, E)``."""

    rows: torch.Tensor
    batch: int
    size: tuple[int, int]


class SpatialQuery(nn.Module):
    """LIIF-style continuous query of a latent grid ``(B, D, h, w)`` at coordinates ``(B, N, 2)``.

    For each query the decoder sees, per neighbour ``t``: the code ``z_t`` (its 3×3 neighbourhood,
    zero padded, with ``unfold``), the encoded offset ``x_q - v_t`` in latent pixels, the cell (query
    pixel size in latent pixels, with ``cell``) and guide features at the query (``guide_dim``); the
    predictions of the 4 neighbours are blended with the opposite-rectangle areas (``ensemble``) or
    the nearest code alone is used. Decoder input layout: ``[code, offset encoding, cell, guide]``.

    With the built-in :class:`MLP` decoder the first layer is split by input block: its code part is
    applied once per latent sample (a 3×3 or 1×1 convolution of the latent grid) and gathered, its
    cell and guide parts once per query, and the output layer runs after the blend (it is linear), so
    only the hidden layers run per neighbour. A custom ``decoder`` (any callable ``(..., in_dim)`` →
    ``(..., C)``) gets the concatenated inputs. Both give the same values.

    Coordinates follow :mod:`fusion.nn.coords` (pixel centres in ``[-1, 1]``, ``(y, x)``), so any
    output size, per-axis and non-integer ratios work. ``forward(..., chunk=n)`` decodes ``n`` queries
    at a time, so memory grows with the chunk, not with ``N``.
    """

    def __init__(
        self,
        latent_dim: int,
        out_dim: int | None = None,
        hidden: Sequence[int] = (256, 256, 256, 256),
        activations: ActivationSpec | Sequence[ActivationSpec] = "relu",
        *,
        unfold: bool = True,
        ensemble: bool = True,
        cell: bool = True,
        encoding: str = "none",
        num_freqs: int = 0,
        guide_dim: int = 0,
        decoder: Decoder | None = None,
    ):
        super().__init__()
        self.latent_dim, self.unfold, self.ensemble = latent_dim, unfold, ensemble
        self.use_cell, self.guide_dim = cell, guide_dim
        self.encoding = CoordEncoding(encoding, 2, num_freqs)
        self.code_dim = latent_dim * (9 if unfold else 1)
        self.in_dim = self.code_dim + self.encoding.out_dim + (2 if cell else 0) + guide_dim
        if decoder is None:
            if out_dim is None or not hidden:
                raise InputError(
                    "SpatialQuery: the built-in decoder needs out_dim and at least one hidden layer"
                )
            decoder = MLP(self.in_dim, out_dim, hidden, activations)
        self.decoder = decoder
        self.factorised = isinstance(decoder, MLP)

    # -- latent side ----------------------------------------------------------------------------
    def prepare(self, latent: torch.Tensor) -> SpatialState:
        """Per-latent-sample rows: first-layer code projections (built-in MLP) or the codes themselves."""
        if latent.ndim != 4 or latent.shape[1] != self.latent_dim:
            raise InputError(
                f"SpatialQuery: expected latent (B, {self.latent_dim}, h, w), got {tuple(latent.shape)}"
            )
        batch, _, height, width = latent.shape
        kernel = 3 if self.unfold else 1
        if self.factorised:
            weight = self.decoder.linears[0].weight[:, : self.code_dim]
            weight = weight.reshape(-1, self.latent_dim, kernel, kernel)
            rows = F.conv2d(latent, weight.to(latent.dtype), padding=kernel // 2)
        elif self.unfold:
            rows = F.unfold(latent, kernel, padding=1).view(batch, self.code_dim, height, width)
        else:
            rows = latent
        rows = rows.permute(0, 2, 3, 1).reshape(batch * height * width, -1)
        return SpatialState(rows, batch, (height, width))

    # -- query side -----------------------------------------------------------------------------
    def _check_query(self, state: SpatialState, coord, cell, guide):
        if coord.ndim != 3 or coord.shape[-1] != 2 or coord.shape[0] != state.batch:
            raise InputError(
                f"SpatialQuery: expected coord ({state.batch}, N, 2) as (y, x), got {tuple(coord.shape)}"
            )
        if self.use_cell and (cell is None or cell.shape != coord.shape):
            got = None if cell is None else tuple(cell.shape)
            raise InputError(f"SpatialQuery: cell decoding needs cell {tuple(coord.shape)}, got {got}")
        if self.guide_dim and guide is None:
            raise InputError(f"SpatialQuery: built for {self.guide_dim} guide channels but got no guide")
        if guide is not None and (
            guide.ndim not in (3, 4)
            or guide.shape[0] != state.batch
            or guide.shape[1 if guide.ndim == 4 else -1] != self.guide_dim
        ):
            raise InputError(
                f"SpatialQuery: expected guide features ({state.batch}, {self.guide_dim}, H, W) or "
                f"({state.batch}, N, {self.guide_dim}), got {tuple(guide.shape)}"
            )
        if guide is not None and guide.ndim == 3 and guide.shape[1] != coord.shape[1]:
            raise InputError(f"SpatialQuery: guide has {guide.shape[1]} queries, coord {coord.shape[1]}")

    def _per_query(self, state: SpatialState, coord, cell, guide) -> list[torch.Tensor]:
        """Inputs shared by the neighbours of a query: ``[cell in latent pixels, guide features]``."""
        blocks = []
        if self.use_cell:
            blocks.append(cell * cell.new_tensor(state.size) / 2)
        if guide is not None:
            blocks.append(sample_at(guide, coord) if guide.ndim == 4 else guide)
        return blocks

    def query(
        self,
        state: SpatialState,
        coord: torch.Tensor,
        cell: torch.Tensor | None = None,
        guide: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Decode ``coord (B, N, 2)`` → ``(B, N, C)``; ``cell (B, N, 2)``; guide map or per-query features."""
        self._check_query(state, coord, cell, guide)
        index, weight, offset = spatial_neighbours(coord, state.size, self.ensemble)
        batch_offset = torch.arange(state.batch, device=index.device).view(-1, 1, 1) * (
            state.size[0] * state.size[1]
        )
        rows = state.rows.index_select(0, (index + batch_offset).flatten()).view(*index.shape, -1)
        encoded = self.encoding(offset)
        shared = self._per_query(state, coord, cell, guide)
        if not self.factorised:
            shared = [block.unsqueeze(2).expand(-1, -1, index.shape[-1], -1) for block in shared]
            inputs = torch.cat([rows, encoded.to(rows.dtype), *[s.to(rows.dtype) for s in shared]], dim=-1)
            return blend(self.decoder(inputs), weight)
        first = self.decoder.linears[0]
        split = self.code_dim + self.encoding.out_dim
        pre = rows + F.linear(encoded.to(rows.dtype), first.weight[:, self.code_dim : split])
        if shared:
            per_query = F.linear(torch.cat(shared, -1).to(rows.dtype), first.weight[:, split:], first.bias)
            pre = pre + per_query.unsqueeze(-2)
        else:
            pre = pre + first.bias.to(pre.dtype)
        return self.decoder.head(blend(self.decoder.trunk(pre), weight))

    def forward(
        self,
        latent: torch.Tensor,
        coord: torch.Tensor,
        cell: torch.Tensor | None = None,
        guide: torch.Tensor | None = None,
        chunk: int | None = None,
    ) -> torch.Tensor:
        """Query ``latent (B, D, h, w)`` at ``coord (B, N, 2)`` → ``(B, N, C)``, ``chunk`` queries a time."""
        state = self.prepare(latent)
        total = coord.shape[1] if coord.ndim == 3 else 0
        if chunk is None or chunk >= total:
            return self.query(state, coord, cell, guide)
        pieces = []
        for start in range(0, total, chunk):
            part = slice(start, start + chunk)
            pieces.append(
                self.query(
                    state,
                    coord[:, part],
                    None if cell is None else cell[:, part],
                    guide[:, part] if guide is not None and guide.ndim == 3 else guide,
                )
            )
        return torch.cat(pieces, dim=1)


class SpectralQuery(nn.Module):
    """An INR along the band axis: values at any wavelengths from codes at the band centres.

    ``codes (B, L, D)`` sit at normalised band-centre wavelengths ``(L,)`` or ``(B, L)`` (strictly
    increasing, e.g. from :func:`fusion.nn.coords.normalize_wavelengths`); a query wavelength takes its
    two neighbouring bands, feeds ``[code, encoded offset, cond]`` to the decoder (offset in units of
    the mean band spacing; ``cond (B, E)`` is shared by all queries of a row, e.g. a decoded spatial
    feature) and blends the two predictions linearly in wavelength (``ensemble``) or uses the nearest
    band. Queries outside the band range take the edge band. Because wavelengths are inputs, a model can
    return bands it was never trained on (spectral super-resolution).
    """

    def __init__(
        self,
        code_dim: int,
        out_dim: int | None = 1,
        hidden: Sequence[int] = (64, 64),
        activations: ActivationSpec | Sequence[ActivationSpec] = "relu",
        *,
        ensemble: bool = True,
        encoding: str = "none",
        num_freqs: int = 0,
        cond_dim: int = 0,
        decoder: Decoder | None = None,
    ):
        super().__init__()
        self.code_dim, self.cond_dim, self.ensemble = code_dim, cond_dim, ensemble
        self.encoding = CoordEncoding(encoding, 1, num_freqs)
        self.in_dim = code_dim + self.encoding.out_dim + cond_dim
        self.decoder = decoder if decoder is not None else MLP(self.in_dim, out_dim, hidden, activations)

    def _check(self, codes, wavelengths, query, cond):
        if codes.ndim != 3 or codes.shape[-1] != self.code_dim:
            raise InputError(
                f"SpectralQuery: expected codes (B, L, {self.code_dim}), got {tuple(codes.shape)}"
            )
        batch, bands = codes.shape[:2]
        if wavelengths.shape not in ((bands,), (batch, bands)):
            raise InputError(
                f"SpectralQuery: expected wavelengths ({bands},) or ({batch}, {bands}), "
                f"got {tuple(wavelengths.shape)}"
            )
        if bands > 1 and not bool((wavelengths.diff(dim=-1) > 0).all()):
            raise InputError("SpectralQuery: band wavelengths must be strictly increasing")
        if query.ndim not in (1, 2) or (query.ndim == 2 and query.shape[0] != batch):
            raise InputError(
                f"SpectralQuery: expected query wavelengths (M,) or ({batch}, M), got {tuple(query.shape)}"
            )
        if self.cond_dim and (cond is None or cond.shape != (batch, self.cond_dim)):
            got = None if cond is None else tuple(cond.shape)
            raise InputError(f"SpectralQuery: expected cond ({batch}, {self.cond_dim}), got {got}")

    def forward(
        self,
        codes: torch.Tensor,
        wavelengths: torch.Tensor,
        query: torch.Tensor,
        cond: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Values ``(B, M, C)`` at the query wavelengths ``(M,)`` or ``(B, M)``."""
        self._check(codes, wavelengths, query, cond)
        batch, bands = codes.shape[:2]
        wavelengths = wavelengths.to(query.dtype).expand(batch, bands).contiguous()
        query = query.expand(batch, query.shape[-1]).contiguous()
        if bands > 1:
            left = (torch.searchsorted(wavelengths, query, right=True) - 1).clamp(0, bands - 2)
            low, high = wavelengths.gather(1, left), wavelengths.gather(1, left + 1)
            position = left + (query - low) / (high - low)  # continuous band index, extrapolated outside
            spacing = (wavelengths[:, -1:] - wavelengths[:, :1]) / (bands - 1)
        else:
            position, spacing = torch.zeros_like(query), torch.ones_like(query[:, :1])
        index, weight, _ = axis_neighbours(position, bands, self.ensemble)  # (B, M, K)
        picked = wavelengths.gather(1, index.flatten(1)).view(index.shape)
        offset = ((query.unsqueeze(-1) - picked) / spacing.unsqueeze(-1)).unsqueeze(-1)
        rows = codes.gather(1, index.flatten(1).unsqueeze(-1).expand(-1, -1, self.code_dim))
        blocks = [rows.view(*index.shape, self.code_dim), self.encoding(offset).to(codes.dtype)]
        if cond is not None:
            blocks.append(cond[:, None, None, :].expand(*index.shape, -1).to(codes.dtype))
        return blend(self.decoder(torch.cat(blocks, dim=-1)), weight)
