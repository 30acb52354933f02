"""``qis``: quadtree implicit sampling for HSI–MSI fusion and HS pansharpening, at any ratio.

Zhu, Deng, Zhou, Deng & Wu, "QIS-GAN: A Lightweight Adversarial Network With Quadtree Implicit
Sampling for Multispectral and Hyperspectral Image Fusion", IEEE TGRS 61, 2023 (seed 000 §"quadtree";
``REFERENCE-papers.md`` §3). The LR-HSI codes are upsampled level by level: each level queries, at
every pixel of a finer grid, the 4 nearest codes of the coarser grid together with guide features at
the query, and blends the 4 predictions with learned softmax weights (an extra logit per
prediction) instead of LIIF's fixed area weights. The last level returns a residual on the bilinear
upsampling of the LR-HSI.

The public code has one hand-wired module per level for ×4/×8/×16 at 128×128. Here the levels come
from the ratio (:func:`level_sizes`: exact ×2 levels, then one last level of ratio ``r / 2^d`` in
``(1, 2]``, per axis), so any ratio works, non-integer and anisotropic included; all intermediate
levels share one MLP, told the level's scale by the cell input. The adversarial part of QIS-GAN is
:class:`QISAdversarialLoss`, an optional training loss. Details and reasons: ``docs/models/qis.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fusion.errors import InputError
from fusion.models.base import INRModel
from fusion.nn import MLP, make_cell, make_coord, sample_at
from fusion.nn.activations import ActivationSpec
from fusion.nn.inr import spatial_neighbours
from fusion.registry import MODELS


def level_sizes(lr_size: Sequence[int], out_size: Sequence[int]) -> list[tuple[int, int]]:
    """Grid sizes of the quadtree levels from ``lr_size (h, w)`` up to ``out_size (H, W)`` (included).

    Per axis of ratio ``r``, ``d = max(0, ceil(log2 r) - 1)`` exact doublings, then one last step of
    ``r / 2^d`` in ``(1, 2]``; ``L = 1 + max(d)`` levels, an axis with fewer doublings keeping its size
    at the later intermediate levels. ×4 gives ×2, ×2 (the public quadtree); ×3.3 gives ×2, ×1.65;
    3 × 4 gives (2, 2), (1.5, 2). Intermediate grids are exact multiples of the LR grid, so a tile that
    starts on a low-resolution pixel edge has the same level grids as the whole scene.
    """
    ratios = [big / small for small, big in zip(lr_size, out_size, strict=True)]
    doublings = [max(0, math.ceil(math.log2(r) - 1e-9) - 1) for r in ratios]
    sizes = [
        tuple(int(n) * 2 ** min(level, d) for n, d in zip(lr_size, doublings, strict=True))
        for level in range(1, max(doublings) + 1)
    ]
    return [*sizes, (int(out_size[0]), int(out_size[1]))]


class QuadtreeLevel(nn.Module):
    """One implicit-sampling level: codes ``(B, D, h, w)`` → values at queries ``(B, N, 2)``.

    For each query and each of its 4 nearest codes ``z_t``, the MLP gets ``[z_t, x_q - v_t, cell,
    g(x_q)]`` (offset and cell in source pixels, ``g`` the guide features at the query); a bias-free
    linear map of its last hidden layer gives a logit per neighbour, and the neighbours are blended with
    the softmax of their logits. The first layer's code part runs once per source code and the output
    layer once per query (after the blend: it is linear); only the hidden layers run per neighbour.
    """

    def __init__(
        self,
        code_dim: int,
        guide_dim: int,
        out_dim: int,
        hidden: Sequence[int] = (256, 128),
        activations: ActivationSpec | Sequence[ActivationSpec] = "relu",
    ):
        super().__init__()
        if not hidden:
            raise InputError("qis: a level MLP needs at least one hidden layer")
        self.code_dim = code_dim
        self.mlp = MLP(code_dim + 4 + guide_dim, out_dim, hidden, activations)
        self.logit = nn.Linear(self.mlp.hidden[-1], 1, bias=False)

    def prepare(self, codes: torch.Tensor) -> torch.Tensor:
        """First-layer projections of the codes, one row per source pixel ``(B * h * w, hidden[0])``."""
        weight = self.mlp.linears[0].weight[:, : self.code_dim]
        return torch.einsum("bdhw,kd->bhwk", codes, weight.to(codes.dtype)).flatten(0, 2)

    def query(
        self,
        rows: torch.Tensor,
        size: tuple[int, int],
        coord: torch.Tensor,
        cell: torch.Tensor,
        guide: torch.Tensor,
    ) -> torch.Tensor:
        """Blend of the 4 neighbours at ``coord (B, N, 2)``: ``(B, N, out_dim)``; ``guide (B, N, G')``."""
        batch = coord.shape[0]
        index, _, offset = spatial_neighbours(coord, size, ensemble=True)  # (B, N, 4), (B, N, 4, 2)
        base = torch.arange(batch, device=index.device).view(-1, 1, 1) * (size[0] * size[1])
        gathered = rows[(index + base).flatten()].view(*index.shape, -1)  # (B, N, 4, hidden[0])
        first = self.mlp.linears[0]
        scale = cell.new_tensor(size) / 2
        per_query = torch.cat((cell * scale, guide.to(cell.dtype)), dim=-1)
        pre = gathered + F.linear(
            offset.to(gathered.dtype), first.weight[:, self.code_dim : self.code_dim + 2]
        )
        pre = pre + F.linear(
            per_query.to(pre.dtype), first.weight[:, self.code_dim + 2 :], first.bias
        ).unsqueeze(-2)
        features = self.mlp.trunk(pre)  # (B, N, 4, hidden[-1])
        weights = torch.softmax(self.logit(features), dim=-2)
        return self.mlp.head((features * weights).sum(-2))


@dataclass
class QISState:
    """What the last level reads: its source codes' rows, their grid size, guide features, the LR image."""

    rows: torch.Tensor
    size: tuple[int, int]
    guide: torch.Tensor
    lr: torch.Tensor


@MODELS.register("qis")
class QIS(INRModel):
    """Quadtree implicit sampling (QIS-GAN's generator): LR-HSI codes refined level by level with a guide.

    Spectral encoder ``relu(conv3x3(lr))`` gives the level-0 codes; spatial encoder
    ``relu(conv3x3([guide, bilinear(lr)]))`` gives guide features at full resolution, max-pooled to
    each intermediate level's grid. Intermediate levels (one shared MLP) output ``code_dim`` features;
    the last level outputs the ``C`` bands, added to the bilinear upsampling of ``lr``. Any ratio
    (non-integer, per-axis), band count, guide (PAN or MSI) and batch.

    Args:
        lr_bands, guide_bands: band counts ``C`` and ``G``.
        code_dim: channels of the codes at every level (spectral encoder and intermediate levels).
        guide_dim: channels of the guide features.
        hidden, activations: hidden widths of every level MLP and their activation spec(s) (one, or one
            per hidden layer, e.g. a :func:`fusion.nn.mire_search` sequence).
    """

    def __init__(
        self,
        lr_bands: int,
        guide_bands: int,
        code_dim: int = 64,
        guide_dim: int = 64,
        hidden: Sequence[int] = (256, 128),
        activations: ActivationSpec | Sequence[ActivationSpec] = "relu",
    ):
        super().__init__(lr_bands=lr_bands, guide_bands=guide_bands)
        self.spectral_encoder = nn.Conv2d(lr_bands, code_dim, 3, padding=1)
        self.spatial_encoder = nn.Conv2d(guide_bands + lr_bands, guide_dim, 3, padding=1)
        self.middle = QuadtreeLevel(code_dim, guide_dim, code_dim, hidden, activations)
        self.last = QuadtreeLevel(code_dim, guide_dim, lr_bands, hidden, activations)
        # Encoder (1) + one coarser pixel per level, a geometric series below 2 LR pixels, + pooling.
        self.receptive_field = 4.0

    @classmethod
    def tiny_args(cls) -> dict:
        """A small configuration for fast tests."""
        return {"code_dim": 16, "guide_dim": 16, "hidden": (32, 32)}

    def _dense_level(self, codes: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        """The shared intermediate level on every pixel of ``guide``'s grid → ``(B, code_dim, H', W')``."""
        batch, size = codes.shape[0], tuple(guide.shape[-2:])
        rows, source = self.middle.prepare(codes), tuple(codes.shape[-2:])
        total, chunk = size[0] * size[1], self.default_chunk
        coord = make_coord(size, device=codes.device).expand(batch, -1, -1)
        cell = make_cell(size, total, device=codes.device).expand(batch, -1, -1)
        pieces = []
        for start in range(0, total, chunk):
            part = slice(start, start + chunk)
            g = sample_at(guide, coord[:, part], mode="nearest")
            pieces.append(self.middle.query(rows, source, coord[:, part], cell[:, part], g))
        return torch.cat(pieces, dim=1).transpose(1, 2).reshape(batch, -1, *size)

    def encode(self, lr: torch.Tensor, guide: torch.Tensor) -> QISState:
        out_size = tuple(guide.shape[-2:])
        up = F.interpolate(lr, size=out_size, mode="bilinear", align_corners=False)
        features = F.relu(self.spatial_encoder(torch.cat((guide.to(up.dtype), up), dim=1)))
        codes = F.relu(self.spectral_encoder(lr))
        for size in level_sizes(lr.shape[-2:], out_size)[:-1]:
            codes = self._dense_level(codes, F.adaptive_max_pool2d(features, size))
        return QISState(self.last.prepare(codes), tuple(codes.shape[-2:]), features, lr)

    def query(self, state: QISState, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        guide = sample_at(state.guide, coord, mode="nearest")
        return sample_at(state.lr, coord) + self.last.query(state.rows, state.size, coord, cell, guide)


# -- the adversarial part of QIS-GAN (an optional training loss) ---------------------------------------
class QISDiscriminator(nn.Module):
    """QIS-GAN's discriminator: ``(B, C, H, W)`` → probability ``(B,)`` that the image is real.

    3×3 convolutions of widths ``widths`` (every second one with stride 2), batch norm on all but the
    first, LeakyReLU(0.2); global average pooling, then 1×1 convolutions to ``2 * widths[-1]`` and 1,
    and a sigmoid. Global pooling makes it size-agnostic.
    """

    def __init__(self, bands: int, widths: Sequence[int] = (64, 64, 128, 128, 256, 256, 512, 512)):
        super().__init__()
        if bands < 1 or not widths:
            raise InputError(f"QISDiscriminator: needs bands >= 1 and widths, got {bands}, {widths}")
        layers, previous = [], bands
        for i, width in enumerate(widths):
            layers.append(nn.Conv2d(previous, width, 3, stride=1 + i % 2, padding=1))
            if i:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            previous = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Conv2d(previous, 2 * previous, 1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * previous, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.features(x).mean(dim=(-2, -1), keepdim=True)
        return torch.sigmoid(self.head(pooled)).flatten()


def image_gradient_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE of the horizontal plus vertical first differences of ``(B, C, H, W)`` images."""
    dy = F.mse_loss(pred.diff(dim=-2), target.diff(dim=-2))
    return dy + F.mse_loss(pred.diff(dim=-1), target.diff(dim=-1))


def spectral_difference_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE of the first differences along the band axis (zero for one band)."""
    if pred.shape[1] < 2:
        return pred.new_zeros(())
    return F.mse_loss(pred.diff(dim=1), target.diff(dim=1))


class QISAdversarialLoss(nn.Module):
    """QIS-GAN's training losses with their discriminator, for a trainer with two optimisers.

    ``generator_loss(fused, reference)`` = L1 + ``gradient_weight`` · (MSE of spatial differences) +
    ``spectral_weight`` · (MSE of band differences) + ``adversarial_weight`` · mean(1 − D(fused));
    ``discriminator_loss(fused, reference)`` = mean(1 − D(reference)) + mean(D(fused)) with ``fused``
    detached. Step the generator with the first and the discriminator (``self.discriminator``'s
    parameters) with the second. All inputs ``(B, C, H, W)``.
    """

    def __init__(
        self,
        bands: int,
        widths: Sequence[int] = (64, 64, 128, 128, 256, 256, 512, 512),
        gradient_weight: float = 1.0,
        spectral_weight: float = 1.0,
        adversarial_weight: float = 1.0,
    ):
        super().__init__()
        self.discriminator = QISDiscriminator(bands, widths)
        self.weights = (float(gradient_weight), float(spectral_weight), float(adversarial_weight))

    def generator_loss(self, fused: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        gradient, spectral, adversarial = self.weights
        loss = F.l1_loss(fused, reference)
        loss = loss + gradient * image_gradient_loss(fused, reference)
        loss = loss + spectral * spectral_difference_loss(fused, reference)
        if adversarial:
            loss = loss + adversarial * (1 - self.discriminator(fused)).mean()
        return loss

    def discriminator_loss(self, fused: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        real, fake = self.discriminator(reference), self.discriminator(fused.detach())
        return (1 - real).mean() + fake.mean()

    def forward(self, fused: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """The generator loss (so the module drops in where a ``(pred, target)`` loss is expected)."""
        return self.generator_loss(fused, reference)
