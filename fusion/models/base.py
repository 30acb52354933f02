"""The model contract shared by classical methods and learned INR models.

Grid convention (used everywhere in the package): the low-resolution image ``lr`` of shape
``(B, C, h, w)`` and the guide ``(B, G, H, W)`` cover the *same extent*. Low-resolution pixel ``k``
covers guide pixels ``[k * r, (k + 1) * r)`` along an axis with ratio ``r = H / h`` (or ``W / w``),
so its centre lies at guide pixel coordinate ``(k + 0.5) * r - 0.5``. Ratios may be non-integer and
may differ per axis.

Tiled (streaming) fusion relies on two optional hooks:

* :meth:`FusionModel.halo` – guide pixels of context a tile needs on each side so that its core
  equals the untiled result.
* :meth:`FusionModel.scene_statistics` – for methods whose parameters come from whole-image
  statistics (regressions, covariances): additive partial sums over a tile's core, summed over all
  tiles in a first pass and handed back to :meth:`forward` as ``stats`` in the second pass.
"""

from __future__ import annotations

import math
from inspect import signature

import torch
from torch import nn

from fusion.errors import InputError


def takes_sensor(cls: type) -> bool:
    """Whether the model class ``cls`` is built with a ``sensor`` (the preset of its MTF gains)."""
    return "sensor" in signature(cls).parameters


Stats = dict[str, torch.Tensor]


def ratio_of(lr_size: tuple[int, int], out_size: tuple[int, int]) -> tuple[float, float]:
    """Per-axis ratio ``(H / h, W / w)`` of an output size over a low-resolution size."""
    return out_size[0] / lr_size[0], out_size[1] / lr_size[1]


class FusionModel(nn.Module):
    """Base class of every registered method and model.

    Subclasses implement :meth:`forward` (classical methods) or ``encode``/``query`` (INR models).

    Class attributes describe capabilities so callers can check before running:

    * ``guide_kinds`` – ``"pan"`` (one-band guide) and/or ``"msi"`` (multi-band guide).
    * ``min_lr_bands`` – the fewest low-resolution bands the method accepts.
    * ``supports_arbitrary_ratio`` – ``False`` if only some ratios work (see ``check_ratio``).
    * ``exact_tiling`` – ``False`` if the output depends on the whole input (global pooling), so a
      tiled run only approximates the untiled one.
    """

    guide_kinds: tuple[str, ...] = ("pan", "msi")
    min_lr_bands: int = 1
    supports_arbitrary_ratio: bool = True
    exact_tiling: bool = True

    def __init__(self, lr_bands: int | None = None, guide_bands: int | None = None):
        super().__init__()
        self.lr_bands = lr_bands
        self.guide_bands = guide_bands

    # -- shape checks -------------------------------------------------------------------------
    def check_inputs(
        self, lr: torch.Tensor, guide: torch.Tensor, out_size: tuple[int, int] | None = None
    ) -> tuple[int, int]:
        """Validate ``lr (B, C, h, w)`` and ``guide (B, G, H, W)``; return the output size ``(H, W)``.

        Raises :class:`~fusion.errors.InputError` with a message naming the problem.
        """
        name = getattr(self, "registered_name", type(self).__name__)
        if lr.ndim != 4 or guide.ndim != 4:
            raise InputError(
                f"{name}: expected lr (B, C, h, w) and guide (B, G, H, W), got shapes "
                f"{tuple(lr.shape)} and {tuple(guide.shape)}"
            )
        if lr.shape[0] != guide.shape[0]:
            raise InputError(f"{name}: batch sizes differ: lr {lr.shape[0]}, guide {guide.shape[0]}")
        out_size = tuple(out_size) if out_size is not None else tuple(guide.shape[-2:])
        if tuple(guide.shape[-2:]) != out_size:
            raise InputError(f"{name}: guide is {tuple(guide.shape[-2:])} but out_size is {out_size}")
        bands, guide_bands = lr.shape[1], guide.shape[1]
        if self.lr_bands is not None and bands != self.lr_bands:
            raise InputError(f"{name}: built for {self.lr_bands} low-resolution bands, got {bands}")
        if self.guide_bands is not None and guide_bands != self.guide_bands:
            raise InputError(f"{name}: built for {self.guide_bands} guide bands, got {guide_bands}")
        if bands < self.min_lr_bands:
            raise InputError(f"{name}: needs at least {self.min_lr_bands} low-resolution bands, got {bands}")
        kind = "pan" if guide_bands == 1 else "msi"
        if kind not in self.guide_kinds:
            wanted = " or ".join(self.guide_kinds)
            raise InputError(f"{name}: needs a {wanted} guide, got {guide_bands} guide band(s)")
        if out_size[0] < lr.shape[-2] or out_size[1] < lr.shape[-1]:
            raise InputError(
                f"{name}: output {out_size} is smaller than the low-resolution input {tuple(lr.shape[-2:])}"
            )
        self.check_ratio(ratio_of(tuple(lr.shape[-2:]), out_size))
        return out_size

    def check_ratio(self, ratio: tuple[float, float]) -> None:
        """Raise :class:`InputError` if the method cannot work at ``ratio``; any ratio by default."""

    # -- tiling hooks -------------------------------------------------------------------------
    def halo(self, ratio: tuple[float, float]) -> int:
        """Guide pixels of context needed on each side of a tile (0 for pixel-wise methods)."""
        return 0

    def tile_alignment(self) -> tuple[int, int]:
        """``(lr_pixels, out_pixels)``: tile windows must start on multiples of both (e.g. attention
        windows in low-resolution pixels, per-cell decoders in output pixels); ``(1, 1)`` by default."""
        return 1, 1

    def scene_statistics(
        self,
        lr: torch.Tensor,
        guide: torch.Tensor,
        out_size: tuple[int, int] | None = None,
        core: tuple[slice, slice] | None = None,
        mask: torch.Tensor | None = None,
    ) -> Stats | None:
        """Additive statistics over ``core`` (a region of the output grid) or ``None``.

        Summing the returned tensors over a partition of the scene into cores and passing the sum as
        ``stats`` to :meth:`forward` must give the same result as the untiled forward. ``mask``
        ``(B, 1, H, W)`` marks valid output pixels (True = valid). Methods without whole-image
        parameters return ``None``.
        """
        return None


class WrappedModel(FusionModel):
    """A model around another, ``model`` (e.g. rescaling its values or adding a classical prior), that
    tiles as the wrapped model does.

    The band counts, ``registered_name`` and the tiling hooks (``exact_tiling``, :meth:`halo`,
    :meth:`tile_alignment`, :meth:`scene_statistics`) are those of ``model``, so streaming fusion
    treats the wrapper exactly like it; ``lr_bands`` and ``guide_bands`` fill in counts that
    ``model`` leaves open (``None``). Subclasses implement :meth:`forward` and override only the hooks
    their wrapping changes.
    """

    def __init__(self, model: FusionModel, lr_bands: int | None = None, guide_bands: int | None = None):
        super().__init__(
            lr_bands=lr_bands if model.lr_bands is None else model.lr_bands,
            guide_bands=guide_bands if model.guide_bands is None else model.guide_bands,
        )
        self.model = model
        self.registered_name = getattr(model, "registered_name", type(model).__name__)

    @property
    def exact_tiling(self) -> bool:
        return self.model.exact_tiling

    def halo(self, ratio: tuple[float, float]) -> int:
        return self.model.halo(ratio)

    def tile_alignment(self) -> tuple[int, int]:
        return self.model.tile_alignment()

    def scene_statistics(self, lr, guide, out_size=None, core=None, mask=None) -> Stats | None:
        return self.model.scene_statistics(lr, guide, out_size, core, mask)


def halo_pixels(ratio: tuple[float, float], lr_pixels: float) -> int:
    """Guide pixels covering ``lr_pixels`` low-resolution pixels at the larger per-axis ratio."""
    return int(math.ceil(lr_pixels * max(ratio)))


class INRModel(FusionModel):
    """Base class of the implicit-neural-representation models.

    Subclasses implement :meth:`encode` (the inputs → any state, e.g. latent grids) and :meth:`query`
    (decode ``(B, N, C)`` values at ``coord (B, N, 2)`` with ``cell (B, N, 2)``, both in the
    normalised pixel-centre convention of :mod:`fusion.nn.coords`). :meth:`forward` encodes once, then
    generates the output grid's coordinates chunk by chunk and queries them, so the memory beyond
    the output itself is bounded by ``chunk`` queries. ``receptive_field`` is the context, in
    low-resolution pixels on each side, that one output pixel depends on (encoder plus query
    neighbourhood); :meth:`halo` converts it to guide pixels for tiling.
    """

    receptive_field: float = 1.0
    default_chunk: int = 1 << 16

    def encode(self, lr: torch.Tensor, guide: torch.Tensor):
        """Encode ``lr (B, C, h, w)`` and ``guide (B, G, H, W)`` into the state :meth:`query` reads."""
        raise NotImplementedError

    def query(self, state, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """Values ``(B, N, C)`` at ``coord (B, N, 2)`` ((y, x) in [-1, 1]); pixel sizes ``cell (B, N, 2)``."""
        raise NotImplementedError

    def forward(
        self,
        lr: torch.Tensor,
        guide: torch.Tensor,
        out_size: tuple[int, int] | None = None,
        chunk: int | None = None,
    ) -> torch.Tensor:
        from fusion.nn.coords import grid_coords, make_cell

        out_size = self.check_inputs(lr, guide, out_size)
        chunk = int(chunk or self.default_chunk)
        if chunk < 1:
            raise InputError(f"{type(self).__name__}: chunk must be a positive query count, got {chunk}")
        state = self.encode(lr, guide)
        batch, total = lr.shape[0], out_size[0] * out_size[1]
        out = None
        for start in range(0, total, chunk):
            stop = min(start + chunk, total)
            coord = grid_coords(out_size, start, stop, device=lr.device).expand(batch, -1, -1)
            cell = make_cell(out_size, stop - start, device=lr.device).expand(batch, -1, -1)
            values = self.query(state, coord, cell)
            if out is None:
                out = values.new_empty(batch, values.shape[-1], total)
            out[:, :, start:stop] = values.transpose(1, 2)
        return out.view(batch, -1, *out_size)

    def halo(self, ratio: tuple[float, float]) -> int:
        return halo_pixels(ratio, self.receptive_field)
