"""``naive-pinr`` and ``dynamic-pinr``: spectral–spatial INRs for arbitrary-resolution pansharpening.

"Two spectral–spatial implicit neural representations for arbitrary-resolution hyperspectral
pansharpening" (IEEE TGRS 2024; no public code). Our only description is the seed note (000 §3);
``docs/models/naive-pinr.md`` and ``dynamic-pinr.md`` say how each part was read.

**NaivePINR** = spectral–spatial encoding + spectral–spatial query mapping.

* Encoding, on the low-resolution grid ``(h, w)``:

  - IFM: PAN/MSI features ``P' = f3(P)`` at the guide grid and HS features
    ``H' = f3(G(P', f3(H)))``, where ``G`` concatenates ``P'`` averaged over each low-resolution pixel's
    footprint (any ratio) with ``f3(H)``; repeated ``ifm_steps`` times.
  - DDEM blocks: ``X1 = (S)W-MSA(LN X0) + SAB(LN X0) + X0``, ``X2 = MLP(LN X1) + X1``, alternating
    window and shifted-window attention (any ``h, w``: windows are padded and masked).
  - ASS-Conv (per-pixel spatial × per-channel spectral dynamic kernel), residual → latent ``z``.
* Spatial query: the 4 nearest codes with the sinusoidal encoding of the relative coordinate, the
  cell and the guide features ``P'`` at the query, area-weighted ensemble → ``H_dec (B, N, E)``.
* Spectral query for band ``b``: ``MLP(Cat(Y_L(b), H↑(b), H_dec))`` where ``Y_L(b)`` encodes the band's
  (normalised) centre wavelength and ``H↑(b)`` is the bilinearly upsampled band at the query; run as a
  :class:`fusion.nn.SpectralQuery` along the band axis, so bands at *other* wavelengths can be queried
  too (linear 2-neighbour ensemble in wavelength). The MLP predicts a residual on ``H↑(b)``; its
  output layer starts at zero, so the untrained model is bilinear upsampling.

**DynamicPINR** adds the twofold tuning: dynamic encoding ``H_dy = H_enc + φ(θ)`` with the TST module
(TFE: convolution + residual blocks on the HS and on the guide; TSE: cross-attention from HS to guide
features, across channels so it is global at linear cost), and a dynamic query mapping whose spectral
MLP is built from :class:`fusion.nn.DyLinear` layers generated from ``H_dec`` per pixel.

Both work for any ratio (per axis, non-integer), image size, batch, band count and guide band count
(``G = 1``: pansharpening; ``G > 1``: HSI–MSI fusion). Band centre wavelengths are optional
(``wavelengths``, nm); without them the bands are evenly spaced on the spectral axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from fusion.degrade import area_downsample, get_sensor
from fusion.errors import InputError
from fusion.models.base import INRModel
from fusion.models.liif import EDSREncoder
from fusion.nn import ASSConv, DyLinear, SpatialQuery, SpectralQuery, WindowAttention, make_activation
from fusion.nn.activations import ActivationSpec
from fusion.nn.coords import normalize_wavelengths, pixel_centres, sample_at
from fusion.nn.encoding import CoordEncoding
from fusion.nn.inr import SpatialState
from fusion.nn.mlp import per_layer_specs
from fusion.registry import MODELS


def conv3(in_dim: int, out_dim: int) -> nn.Conv2d:
    """The ``f3`` of the paper: a 3×3 convolution keeping the size."""
    return nn.Conv2d(in_dim, out_dim, 3, padding=1)


def lr_ratio(lr_size: Sequence[int], out_size: Sequence[int]) -> tuple[float, float]:
    """Per-axis ratio ``(H / h, W / w)``."""
    return out_size[0] / lr_size[0], out_size[1] / lr_size[1]


def require_finer_guide(model: nn.Module, ratio: tuple[float, float]) -> None:
    """:class:`InputError` unless the guide is finer than the low-resolution image on both axes."""
    if min(ratio) <= 1:
        raise InputError(
            f"{getattr(model, 'registered_name', type(model).__name__)}: the guide must be finer than the "
            f"low-resolution image on both axes, got ratio {ratio[0]:g} x {ratio[1]:g}"
        )


def to_lr_grid(x: torch.Tensor, lr_size: Sequence[int]) -> torch.Tensor:
    """Average ``x (B, D, H, W)`` over each low-resolution pixel's footprint → ``(B, D, h, w)``."""
    return area_downsample(x, lr_ratio(lr_size, x.shape[-2:]), out_size=tuple(lr_size))


def zero_output(layer: nn.Module) -> None:
    """Start a residual branch at zero: zero its output ``layer``'s weight and bias.

    For a :class:`fusion.nn.DyLinear`, its static weight and bias and the generator of ``U`` are zeroed,
    while ``V``'s generator stays random, so that ``U`` (and through it everything before) still gets
    gradients: with both zero, the product ``U V`` would stay at a saddle point.
    """
    with torch.no_grad():
        if isinstance(layer, DyLinear):
            zero_output(layer.linear)
            split = layer.out_dim * layer.rank  # the first rows generate U
            layer.generate.weight[:split] = 0
            layer.generate.bias[:split] = 0
        else:
            layer.weight.zero_()
            if layer.bias is not None:
                layer.bias.zero_()


class ChannelNorm(nn.LayerNorm):
    """LayerNorm over the channels of every pixel of ``(B, C, H, W)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


# -- spectral–spatial encoding --------------------------------------------------------------------
class InteractionModule(nn.Module):
    """IFM: ``P' = f3(P)`` on the guide grid, ``H' = f3(G(P', f3(H)))`` on the low-resolution grid.

    ``G`` concatenates ``P'`` averaged over each low-resolution pixel's footprint with ``f3(H)``.
    ``forward(lr (B, C, h, w), guide (B, G, H, W))`` → ``(H' (B, D, h, w), P' (B, D, H, W))``.
    """

    def __init__(self, bands: int, guide_bands: int, dim: int, steps: int):
        super().__init__()
        if steps < 1:
            raise InputError(f"PINR: ifm_steps must be >= 1, got {steps}")
        self.guide_convs = nn.ModuleList(conv3(guide_bands if i == 0 else dim, dim) for i in range(steps))
        self.hs_convs = nn.ModuleList(conv3(bands if i == 0 else dim, dim) for i in range(steps))
        self.mix_convs = nn.ModuleList(conv3(2 * dim, dim) for _ in range(steps))
        self.act = nn.GELU()

    def forward(self, lr: torch.Tensor, guide: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hs, pan = lr, guide.to(lr.dtype)
        for guide_conv, hs_conv, mix_conv in zip(
            self.guide_convs, self.hs_convs, self.mix_convs, strict=True
        ):
            pan = self.act(guide_conv(pan))
            hs = self.act(mix_conv(torch.cat([to_lr_grid(pan, lr.shape[-2:]), hs_conv(hs)], dim=1)))
        return hs, pan


class SpectralAttentionBlock(nn.Module):
    """SAB: conv → GELU → conv, reweighted by channel (spectral) attention from global average pooling."""

    def __init__(self, dim: int, squeeze: int = 4):
        super().__init__()
        inner = max(1, dim // squeeze)
        self.body = nn.Sequential(conv3(dim, inner), nn.GELU(), conv3(inner, dim))
        self.attention = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(dim, inner, 1), nn.GELU(), nn.Conv2d(inner, dim, 1),
            nn.Sigmoid(),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.body(x)
        return features * self.attention(features)


class DDEMBlock(nn.Module):
    """``X1 = (S)W-MSA(LN X0) + SAB(LN X0) + X0``, ``X2 = MLP(LN X1) + X1``; ``(B, D, h, w)``, any size."""

    def __init__(self, dim: int, heads: int, window: int, shift: int, mlp_ratio: float = 2.0):
        super().__init__()
        self.norm1, self.norm2 = ChannelNorm(dim), ChannelNorm(dim)
        self.attention = WindowAttention(dim, heads, window_size=window, shift_size=shift)
        self.sab = SpectralAttentionBlock(dim)
        hidden = max(1, int(round(dim * mlp_ratio)))
        self.mlp = nn.Sequential(nn.Conv2d(dim, hidden, 1), nn.GELU(), nn.Conv2d(hidden, dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = self.norm1(x)
        x = x + self.attention(normed) + self.sab(normed)
        return x + self.mlp(self.norm2(x))


# -- DynamicPINR's TST ------------------------------------------------------------------------------
class ChannelCrossAttention(nn.Module):
    """Multi-head cross-attention across channels: queries from ``x``, keys/values from ``context``.

    Per head the ``d × d`` attention map is ``softmax(t · q̂ k̂^T)`` with ``q̂, k̂`` the L2-normalised
    pixel vectors of each channel (so it spans the whole image at cost linear in its pixels, for any
    size) and ``t`` a learned temperature. ``(B, D, h, w)`` × ``(B, D, h, w)`` → ``(B, D, h, w)``.
    """

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise InputError(f"PINR: width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.query, self.key_value = nn.Conv2d(dim, dim, 1), nn.Conv2d(dim, 2 * dim, 1)
        self.project = nn.Conv2d(dim, dim, 1)
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        split = "b (h d) y x -> b h d (y x)"
        q = F.normalize(rearrange(self.query(x), split, h=self.heads), dim=-1)
        key, value = self.key_value(context).chunk(2, dim=1)
        k = F.normalize(rearrange(key, split, h=self.heads), dim=-1)
        attention = (q @ k.transpose(-1, -2) * self.temperature).softmax(dim=-1)
        out = attention @ rearrange(value, split, h=self.heads)
        return self.project(rearrange(out, "b h d (y x) -> b (h d) y x", y=x.shape[-2]))


class TST(nn.Module):
    """φ of DynamicPINR: TFE (conv + residual blocks) on the HS and on the guide brought to the HS grid,
    then TSE (cross-attention from HS to guide features). ``(lr, guide)`` → ``(B, D, h, w)``."""

    def __init__(self, bands: int, guide_bands: int, dim: int, heads: int, resblocks: int):
        super().__init__()
        self.hs_features = EDSREncoder(bands, dim, resblocks)
        self.guide_features = EDSREncoder(guide_bands, dim, resblocks)
        self.norm_hs, self.norm_guide = ChannelNorm(dim), ChannelNorm(dim)
        self.exchange = ChannelCrossAttention(dim, heads)

    def forward(self, lr: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        hs = self.hs_features(lr)
        pan = self.guide_features(to_lr_grid(guide.to(lr.dtype), lr.shape[-2:]))
        return hs + self.exchange(self.norm_hs(hs), self.norm_guide(pan))


# -- spectral query mapping -------------------------------------------------------------------------
class SpectralDecoder(nn.Module):
    """The spectral MLP of the query mapping, run by :class:`fusion.nn.SpectralQuery`.

    Input ``(P, M, K, band_dim + cond_dim)`` as SpectralQuery builds it: per pixel ``P``, query band
    ``M`` and neighbour band ``K`` the band block ``[H↑(b), Y_L(b), offset encoding]`` followed by the
    pixel's ``H_dec`` (``cond``, repeated over ``M, K``; read once per pixel). The first layer's ``H_dec``
    part is applied once per pixel; with ``rank > 0`` every layer is a :class:`fusion.nn.DyLinear`
    whose low-rank temporary weights are generated from ``H_dec`` once per pixel (DynamicPINR), else a
    plain linear layer (NaivePINR). Output ``(P, M, K, 1)``: ``H↑(b)`` plus the predicted residual.
    """

    def __init__(
        self,
        band_dim: int,
        cond_dim: int,
        hidden: Sequence[int],
        activations: ActivationSpec | Sequence[ActivationSpec],
        rank: int = 0,
    ):
        super().__init__()
        hidden = [int(width) for width in hidden]
        if not hidden or min(hidden) < 1:
            raise InputError(f"PINR: spectral_hidden needs at least one positive width, got {hidden}")
        self.band_dim, self.cond_dim, self.rank = band_dim, cond_dim, rank
        widths = [band_dim, *hidden, 1]
        self.layers = nn.ModuleList(
            DyLinear(a, b, cond_dim, rank) if rank else nn.Linear(a, b)
            for a, b in zip(widths[:-1], widths[1:], strict=False)
        )
        self.cond_in = nn.Linear(cond_dim, hidden[0], bias=False)
        self.acts = nn.ModuleList(make_activation(spec) for spec in per_layer_specs(activations, len(hidden)))

    def layer(self, index: int, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Layer ``index`` on ``x (P, M, K, in)`` with one condition per pixel ``cond (P, E)``."""
        layer = self.layers[index]
        if not self.rank:
            return layer(x)
        # DyLinear's own forward broadcasts (P, 1, 1) weights over (P, M, K) as P * M * K tiny matrix
        # products; the same update as two batched products per pixel is many times faster.
        u, v = layer.temporary_weights(cond)  # (P, out, r), (P, r, in)
        flat = x.reshape(x.shape[0], -1, x.shape[-1])
        update = (flat @ v.transpose(1, 2)) @ (u.transpose(1, 2) * layer.scale)
        return layer.linear(x) + update.view(*x.shape[:-1], -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[-1] != self.band_dim + self.cond_dim:
            raise InputError(
                f"SpectralDecoder: expected (P, M, K, {self.band_dim + self.cond_dim}), got {tuple(x.shape)}"
            )
        band, cond = x[..., : self.band_dim], x[:, 0, 0, self.band_dim :]
        h = self.layer(0, band, cond) + self.cond_in(cond)[:, None, None]
        for index, act in enumerate(self.acts, start=1):
            h = self.layer(index, act(h), cond)
        return band[..., :1] + h


def band_wavelengths(wavelengths: Sequence[float] | None, sensor, bands: int) -> Sequence[float] | None:
    """The bands' centre wavelengths (nm): ``wavelengths`` if given, else the ``sensor`` preset's when its
    band count is ``bands``, else ``None`` (unknown)."""
    if wavelengths is None and sensor is not None:
        preset = get_sensor(sensor)
        if preset.n_bands == bands:
            return preset.wavelengths_nm
    return wavelengths


def band_coordinates(wavelengths: Sequence[float] | None, bands: int) -> torch.Tensor:
    """Spectral coordinates ``(C,)`` of the bands: normalised centre wavelengths, or evenly spaced in
    ``[-1, 1]`` (like pixel centres) when the wavelengths are unknown."""
    if wavelengths is None:
        return pixel_centres(bands)
    centres = torch.as_tensor([float(w) for w in wavelengths], dtype=torch.float32)
    if centres.ndim != 1 or centres.numel() != bands:
        raise InputError(f"wavelengths: expected {bands} band centres (nm), got {centres.numel()}")
    if not bool(torch.isfinite(centres).all()) or centres.unique().numel() != bands:
        raise InputError(
            f"wavelengths must be {bands} distinct finite band centres (nm), got {list(wavelengths)}"
        )
    return normalize_wavelengths(centres)


@dataclass
class PINRState:
    """What :meth:`PINRBase.query` reads: latent codes, guide features ``(B, D, H, W)`` and the input."""

    spatial: SpatialState
    guide_features: torch.Tensor
    lr: torch.Tensor


class PINRBase(INRModel):
    """Shared body of NaivePINR and DynamicPINR (``rank > 0`` makes it dynamic; see the module docstring).

    SAB, ASS-Conv's spectral kernel and TST pool over the whole input, so a tiled run of a trained
    model approximates the untiled one (``exact_tiling = False``); tiles start on attention-window
    edges.

    Args:
        lr_bands, guide_bands: band counts ``C`` of the low-resolution image and ``G`` of the guide.
        width: latent channels ``D`` of the encoding (divisible by ``heads``).
        ifm_steps: IFM interaction steps. blocks: DDEM blocks (odd ones use shifted windows).
        heads, window, mlp_ratio: window attention heads, window size (low-resolution pixels), MLP width.
        ass_kernel: ASS-Conv dynamic kernel size (odd).
        spatial_hidden, spatial_activations: spatial query MLP widths and activations (one spec or a
            MIRE sequence, one per hidden layer). spatial_freqs: frequencies of the sinusoidal
            encoding of the relative coordinate. decoded_dim: width ``E`` of ``H_dec``.
        spectral_hidden, spectral_activations: spectral MLP widths and activations (spec or sequence).
        band_freqs, offset_freqs: sinusoidal frequencies encoding a band's coordinate (``Y_L(b)``) and
            a query's offset from its neighbour bands. spectral_ensemble: 2-neighbour blending along
            the band axis (needed to query between bands).
        wavelengths: centre wavelengths (nm) of the low-resolution bands, any order; optional.
        sensor: sensor preset of the low-resolution image, whose band centres serve when
            ``wavelengths`` is not given and the band count matches.
        rank, tst_resblocks: DynamicPINR's DyLinear rank and TFE residual blocks (``rank = 0``: naive).
    """

    exact_tiling = False  # SAB, ASS-Conv and TST pool over the whole input

    def __init__(
        self,
        lr_bands: int,
        guide_bands: int,
        *,
        width: int = 64,
        ifm_steps: int = 2,
        blocks: int = 2,
        heads: int = 4,
        window: int = 8,
        mlp_ratio: float = 2.0,
        ass_kernel: int = 3,
        spatial_hidden: Sequence[int] = (128, 128, 128),
        spatial_activations: ActivationSpec | Sequence[ActivationSpec] = "relu",
        spatial_freqs: int = 4,
        decoded_dim: int = 64,
        spectral_hidden: Sequence[int] = (64, 64),
        spectral_activations: ActivationSpec | Sequence[ActivationSpec] = "relu",
        band_freqs: int = 4,
        offset_freqs: int = 2,
        spectral_ensemble: bool = True,
        wavelengths: Sequence[float] | None = None,
        sensor: str | None = None,
        rank: int = 0,
        tst_resblocks: int = 1,
    ):
        super().__init__(lr_bands=lr_bands, guide_bands=guide_bands)
        if min(lr_bands, guide_bands, width, blocks, window, decoded_dim) < 1 or rank < 0:
            raise InputError(
                f"PINR: band counts, width, blocks, window, decoded_dim must be positive, rank >= 0; got "
                f"lr_bands {lr_bands}, guide_bands {guide_bands}, width {width}, blocks {blocks}, "
                f"window {window}, decoded_dim {decoded_dim}, rank {rank}"
            )
        self.interaction = InteractionModule(lr_bands, guide_bands, width, ifm_steps)
        self.blocks = nn.ModuleList(
            DDEMBlock(width, heads, window, (window // 2) * (i % 2), mlp_ratio) for i in range(blocks)
        )
        self.ass_conv = ASSConv(width, kernel_size=ass_kernel)
        self.tst = TST(lr_bands, guide_bands, width, heads, tst_resblocks) if rank else None
        self.spatial = SpatialQuery(
            width, decoded_dim, spatial_hidden, spatial_activations,
            encoding="sinusoidal", num_freqs=spatial_freqs, guide_dim=width,
        )  # fmt: skip
        self.band_encoding = CoordEncoding("sinusoidal", 1, band_freqs)
        code_dim = 1 + self.band_encoding.out_dim
        offset_dim = CoordEncoding("sinusoidal", 1, offset_freqs).out_dim
        decoder = SpectralDecoder(
            code_dim + offset_dim, decoded_dim, spectral_hidden, spectral_activations, rank
        )
        # Two views of one spectral INR (shared decoder): the ensemble blends the two neighbour bands of
        # a query between bands; at the band centres it gives the nearest band weight 1 and the other 0,
        # so there the nearest-band view returns the same values at half the cost.
        query_options = dict(
            encoding="sinusoidal", num_freqs=offset_freqs, cond_dim=decoded_dim, decoder=decoder
        )
        self.spectral = SpectralQuery(code_dim, ensemble=spectral_ensemble, **query_options)
        self.spectral_at_bands = SpectralQuery(code_dim, ensemble=False, **query_options)
        zero_output(decoder.layers[-1])  # the untrained model is bilinear upsampling
        wavelengths = band_wavelengths(wavelengths, sensor, lr_bands)
        coords = band_coordinates(wavelengths, lr_bands)
        self.knows_wavelengths = wavelengths is not None
        self.register_buffer("band_coords", coords, persistent=False)
        self.register_buffer("band_order", coords.argsort(), persistent=False)
        # Local context in low-resolution pixels (IFM convs, attention windows, ASS-Conv, unfold and
        # ensemble, TFE); the channel attentions and ASS-Conv's spectral kernel also pool globally.
        local = 2 * ifm_steps + 1 + blocks * max(window - 1, 2) + ass_kernel + 2
        self.receptive_field = float(local + (self.tst.hs_features.reach if self.tst else 0))
        self.window = int(window)
        self.default_chunk = max(256, (1 << 20) // lr_bands)

    def tile_alignment(self) -> tuple[int, int]:
        return self.window, 1  # attention windows start at the map's top-left corner

    @classmethod
    def tiny_args(cls) -> dict:
        """Small widths for fast tests (seconds on a CPU)."""
        return {
            "width": 8, "ifm_steps": 1, "blocks": 2, "heads": 2, "window": 4, "spatial_hidden": (16,),
            "spatial_freqs": 2, "decoded_dim": 8, "spectral_hidden": (16,), "band_freqs": 2,
            "offset_freqs": 1,
        }  # fmt: skip

    def check_ratio(self, ratio: tuple[float, float]) -> None:
        require_finer_guide(self, ratio)

    # -- encoding ---------------------------------------------------------------------------------
    def encode(self, lr: torch.Tensor, guide: torch.Tensor) -> PINRState:
        """Latent codes ``(B, D, h, w)`` and guide features of ``lr (B, C, h, w)``, ``guide (B, G, H, W)``."""
        hs, pan = self.interaction(lr, guide)
        for block in self.blocks:
            hs = block(hs)
        latent = hs + self.ass_conv(hs)
        if self.tst is not None:
            latent = latent + self.tst(lr, guide)  # H_dy = H_enc + φ(θ)
        return PINRState(self.spatial.prepare(latent), pan, lr)

    # -- query mapping ----------------------------------------------------------------------------
    def query(
        self,
        state: PINRState,
        coord: torch.Tensor,
        cell: torch.Tensor,
        wavelengths: Sequence[float] | torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Values ``(B, N, M)`` at ``coord (B, N, 2)`` with pixel sizes ``cell (B, N, 2)``.

        ``M`` is the model's bands, or the bands at ``wavelengths`` (nm, any ``M`` values, e.g. between
        the input bands: spectral super-resolution; needs a model built with ``wavelengths``).
        """
        decoded = self.spatial.query(state.spatial, coord, cell, guide=state.guide_features)  # H_dec
        upsampled = sample_at(state.lr, coord)  # H↑ (B, N, C)
        batch, count, bands = upsampled.shape
        order, coords = self.band_order, self.band_coords  # float32 even in low-precision runs
        band_codes = self.band_encoding(coords[order, None]).to(upsampled.dtype)
        codes = torch.cat(
            [
                upsampled[..., order].reshape(batch * count, bands, 1),
                band_codes.expand(batch * count, -1, -1),
            ],
            dim=-1,
        )
        if wavelengths is None:
            spectral, targets = self.spectral_at_bands, coords
        else:
            spectral, targets = self.spectral, self.query_coordinates(wavelengths, coords)
        values = spectral(codes, coords[order], targets, cond=decoded.reshape(batch * count, -1))
        return values.view(batch, count, -1)

    def query_coordinates(self, wavelengths, like: torch.Tensor) -> torch.Tensor:
        """Spectral coordinates of query wavelengths (nm) for a model that knows its band wavelengths."""
        if not self.knows_wavelengths:
            raise InputError("querying other wavelengths needs a model built with the bands' wavelengths")
        return normalize_wavelengths(
            torch.as_tensor(wavelengths, dtype=torch.float32, device=like.device).reshape(-1)
        )


@MODELS.register("naive-pinr")
class NaivePINR(PINRBase):
    """NaivePINR: spectral–spatial encoding + spectral–spatial query mapping (see :class:`PINRBase`)."""

    def __init__(self, lr_bands: int, guide_bands: int, **options):
        super().__init__(lr_bands, guide_bands, rank=0, **options)


@MODELS.register("dynamic-pinr")
class DynamicPINR(PINRBase):
    """DynamicPINR: NaivePINR + TST dynamic encoding and a DyLinear spectral MLP (see :class:`PINRBase`)."""

    def __init__(self, lr_bands: int, guide_bands: int, rank: int = 4, **options):
        if rank < 1:
            raise InputError(f"dynamic-pinr: rank must be >= 1, got {rank}")
        super().__init__(lr_bands, guide_bands, rank=rank, **options)

    @classmethod
    def tiny_args(cls) -> dict:
        return {**super().tiny_args(), "rank": 2}


__all__ = ["DynamicPINR", "NaivePINR", "PINRBase", "band_coordinates"]
