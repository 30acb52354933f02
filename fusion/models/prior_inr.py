"""``prior-inr``: an implicit correction of a classical pansharpening ensemble, for scene-adaptive fitting.

Fitted on one scene's own reduced-resolution version (``fusion fuse --fit``), a network learns from a
few thousand pixels. Learning the whole fusion from that is slow and brittle; correcting a strong
classical result is not. The model's output at a query point ``x`` of the guide grid is

    out(x) = prior(x) + f([F(x), z(x), delta(x), cell])

* ``prior``: the mean of fixed classical methods (by default AWLP and BDSD-PC with a PAN, GLP-HS and
  SFIM-HS with an MSI guide; built with the sensor's MTF gains), without trainable parameters; their scene
  statistics pass through for tiled fusion.
* ``F``: features of ``[prior, up, guide]`` on the guide grid (a few 3 x 3 convolutions), ``up`` the
  classical methods' interpolation of the LR image.
* ``z``: codes of the LR image (3 x 3 convolutions on its own grid), taken at the LR pixel holding ``x``.
* ``delta``: ``x``'s offset from that LR pixel's centre, in LR pixels (in ``[-1/2, 1/2]``), and
  ``cell``: the query pixel's size in LR pixels (``1 / ratio``) -- the local implicit function's
  coordinates (LIIF), which let the correction depend on where ``x`` falls in the LR pixel (the
  sampling phase of the prior's interpolation) at any, also non-integer, ratio.
* ``f``: an MLP whose output layer starts at zero, so the untrained model is the prior itself.

Values are expected around ``[0, 1]`` (fitting divides by the LR maximum, see
:class:`fusion.engine.fit.Rescaled`). Unlike :class:`fusion.models.prior.WithPrior`, which adds a
prior's detail to an independent model's output, the prior's output here is also the network's input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from fusion.errors import InputError
from fusion.models.base import INRModel, Stats, takes_sensor
from fusion.models.classical import interpolate
from fusion.nn import MLP, sample_at
from fusion.nn.activations import ActivationSpec, make_activation
from fusion.nn.coords import coord_to_index
from fusion.registry import MODELS

DEFAULT_PRIORS = {"pan": ("awlp", "bdsd-pc"), "msi": ("glp-hs", "sfim-hs")}
"""The prior's classical methods by guide kind: a one-band PAN, or a multi-band MSI (HSI-MSI fusion).
With an MSI, GLP-HS + SFIM-HS has the lowest SAM of the pairs under P-CAVE (1.51 degrees at x4, 1.27
at x3.3; GLP-HS + GSA: 1.70, 1.57), and a scene fit recovers PSNR more easily than spectral angle."""


@dataclass
class PriorState:
    """``prior (B, C, H, W)``, guide-grid features ``(B, F, H, W)``, LR codes ``(B, D, h, w)``."""

    prior: torch.Tensor
    features: torch.Tensor
    codes: torch.Tensor | None
    lr_size: tuple[int, int]


def conv_stack(in_dim: int, width: int, layers: int, activation: ActivationSpec) -> nn.Sequential:
    """``layers`` 3 x 3 convolutions of ``width`` channels, each followed by ``activation``."""
    modules = []
    for i in range(layers):
        modules += [nn.Conv2d(in_dim if i == 0 else width, width, 3, padding=1), make_activation(activation)]
    return nn.Sequential(*modules)


def cell_offsets(coord: torch.Tensor, lr_size: Sequence[int]) -> torch.Tensor:
    """Offset ``(B, N, 2)`` of queries ``coord (B, N, 2)`` from the centre of the LR pixel holding them,
    in LR pixels."""
    index = coord_to_index(coord, lr_size)
    return index - torch.round(index)


def build_prior(name: str, lr_bands: int, guide_bands: int, sensor: str | None) -> nn.Module:
    """The registered classical method ``name`` for the band counts, with ``sensor`` if it takes one."""
    cls = MODELS.get(name)
    prior = cls(
        lr_bands=lr_bands, guide_bands=guide_bands, **({"sensor": sensor} if takes_sensor(cls) else {})
    )
    if any(p.requires_grad for p in prior.parameters()):
        raise InputError(f"prior-inr: prior {name!r} has trainable parameters; use classical methods")
    return prior


@MODELS.register("prior-inr")
class PriorINR(INRModel):
    """A local implicit function correcting a fixed classical ensemble (see the module docstring).

    Args:
        lr_bands, guide_bands: band counts ``C`` and ``G``.
        priors: registered classical methods averaged into the prior (default: :data:`DEFAULT_PRIORS`).
        sensor: sensor preset of the LR image, passed to the priors (MTF gains).
        width, layers: channels and 3 x 3 convolutions of the guide-grid feature encoder.
        codes, code_layers: channels and convolutions of the LR encoder (``codes=0``: none).
        hidden, activation: the decoder MLP's hidden widths and the activation of every layer.
    """

    fit_learning_rate = 3e-3
    """Adam's learning rate for scene-adaptive fitting (:func:`fusion.engine.fit.fit_scene`): on the
    WorldView-2 sample, 1e-3 under-fits in 600 steps and 1e-2 diverges."""

    def __init__(
        self,
        lr_bands: int,
        guide_bands: int = 1,
        *,
        priors: Sequence[str] | None = None,
        sensor: str | None = None,
        width: int = 32,
        layers: int = 3,
        codes: int = 16,
        code_layers: int = 2,
        hidden: Sequence[int] = (32,),
        activation: ActivationSpec = "gelu",
    ):
        super().__init__(lr_bands=lr_bands, guide_bands=guide_bands)
        priors = DEFAULT_PRIORS["pan" if guide_bands == 1 else "msi"] if priors is None else tuple(priors)
        if not priors or min(lr_bands, guide_bands, width, layers) < 1 or min(codes, code_layers) < 0:
            raise InputError(
                f"prior-inr: needs priors and positive sizes, got priors {list(priors)}, lr_bands "
                f"{lr_bands}, guide_bands {guide_bands}, width {width}, layers {layers}, codes {codes}"
            )
        self.priors = nn.ModuleList(build_prior(name, lr_bands, guide_bands, sensor) for name in priors)
        self.encoder = conv_stack(2 * lr_bands + guide_bands, width, layers, activation)
        self.code_encoder = conv_stack(lr_bands, codes, code_layers, activation) if codes else None
        self.decoder = MLP(width + codes + 4, lr_bands, hidden, activation)
        nn.init.zeros_(self.decoder.linears[-1].weight)
        nn.init.zeros_(self.decoder.linears[-1].bias)
        self.encoder_reach, self.code_reach = layers, code_layers + 1  # guide pixels, LR pixels
        self._stats: Stats | None = None

    @classmethod
    def tiny_args(cls) -> dict:
        """A small configuration for fast tests."""
        return {"width": 8, "layers": 2, "codes": 4, "code_layers": 1, "hidden": (8,)}

    @property
    def exact_tiling(self) -> bool:
        return all(prior.exact_tiling for prior in self.priors)

    def halo(self, ratio) -> int:
        ratio = (ratio, ratio) if isinstance(ratio, (int, float)) else tuple(ratio)
        prior = max(p.halo(ratio) for p in self.priors)
        return int(prior + self.encoder_reach + self.code_reach * max(ratio)) + 1

    # -- scene statistics of the priors, keyed by prior -------------------------------------------
    def scene_statistics(self, lr, guide, out_size=None, core=None, mask=None) -> Stats | None:
        merged = {}
        for i, prior in enumerate(self.priors):
            stats = prior.scene_statistics(lr, guide, out_size, core, mask)
            merged.update({f"{i}/{key}": value for key, value in (stats or {}).items()})
        return merged or None

    def prior_output(self, lr: torch.Tensor, guide: torch.Tensor, stats: Stats | None) -> torch.Tensor:
        """Mean of the priors ``(B, C, H, W)`` (their share of ``stats`` when given), without gradients."""
        total = 0
        with torch.no_grad():
            for i, prior in enumerate(self.priors):
                mine = None if stats is None else {
                    key.split("/", 1)[1]: value for key, value in stats.items() if key.startswith(f"{i}/")
                }  # fmt: skip
                total = total + prior(lr, guide, **({"stats": mine} if mine else {}))
        return total / len(self.priors)

    # -- the implicit function -------------------------------------------------------------------
    def forward(self, lr, guide, out_size=None, chunk=None, stats: Stats | None = None) -> torch.Tensor:
        """``lr (B, C, h, w)``, ``guide (B, G, H, W)`` -> ``(B, C, H, W)``; ``stats``: summed
        :meth:`scene_statistics` of all tiles in tiled fusion."""
        self._stats = stats
        try:
            return super().forward(lr, guide, out_size, chunk)
        finally:
            self._stats = None

    def encode(self, lr: torch.Tensor, guide: torch.Tensor) -> PriorState:
        prior = self.prior_output(lr, guide, self._stats).to(lr.dtype)
        up = interpolate(lr, tuple(guide.shape[-2:])).to(lr.dtype)
        features = self.encoder(torch.cat([prior, up, guide.to(lr.dtype)], 1))
        codes = self.code_encoder(lr) if self.code_encoder is not None else None
        return PriorState(prior, features, codes, tuple(lr.shape[-2:]))

    def query(self, state: PriorState, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        lr_units = cell.new_tensor([state.lr_size[0] / 2, state.lr_size[1] / 2])
        inputs = [sample_at(state.features, coord, "nearest")]
        if state.codes is not None:
            inputs.append(sample_at(state.codes, coord, "nearest"))
        inputs += [cell_offsets(coord, state.lr_size), cell * lr_units]
        correction = self.decoder(torch.cat(inputs, -1))
        return sample_at(state.prior, coord, "nearest") + correction
