"""Scene-adaptive fitting: train a model on the scene's own reduced-resolution version, then fuse.

Wald's protocol turned into a training set: :func:`wald_pair` reduces the guide onto the LR grid at the
pair's ratio (by default with the PAN's MTF, sampling at the pixel centres); the LR image becomes the
reference, and random patches of it, turned and mirrored, are degraded by the same ratio with the
sensor's MTF (:class:`fusion.degrade.Degradation`, the operator :func:`wald_pair` applies to the whole
image). The model learns to undo that degradation and is then applied at full resolution, on the
assumption that the relation between scales is scale invariant.

Values are divided by ``scale`` (default: the LR image's largest absolute value) for training;
:class:`Rescaled` wraps the fitted model so that it takes and returns the scene's own units, e.g. for
``fusion.engine.inference.fuse_raster(..., method=Rescaled(model, scale))``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from fusion.data.patches import keyed_rng, random_window
from fusion.degrade import Degradation, blur_decimate, get_sensor, imresize
from fusion.degrade.resample import lr_size
from fusion.engine.losses import build_loss
from fusion.engine.optim import build_optimizer, build_scheduler
from fusion.engine.trainer import train_step
from fusion.errors import InputError
from fusion.models import FusionModel
from fusion.models.base import WrappedModel

DEFAULT_FIT_MODEL = "prior-inr"
"""The INR model ``fusion fuse --fit`` trains when none is named: a correction of a classical ensemble
(:mod:`fusion.models.prior_inr`), which learns far more from one scene than a model starting from
interpolation (on the WorldView-2 sample under protocol P-PAN; ``docs/benchmarks.md``)."""
DEFAULT_FIT_STEPS = 1000
"""Fitting steps by default (prior-inr: about 70 s for an 80 x 80 x 8 LR image on one CPU thread)."""
DEFAULT_LEARNING_RATE = 1e-3
"""Adam's peak learning rate unless given or set by the model's class (``fit_learning_rate``)."""
FINE_TUNE_LEARNING_RATE = 2e-4
"""Peak learning rate when trained weights are fitted to a scene (the training configs' rate): a fresh
model's rate would undo much of what the weights learned in the first steps."""


class Rescaled(WrappedModel):
    """``model`` applied to inputs divided by ``scale``, its output multiplied back; tiles as ``model``."""

    def __init__(self, model: FusionModel, scale: float):
        super().__init__(model)
        self.scale = float(scale)

    def scene_statistics(self, lr, guide, out_size=None, core=None, mask=None):
        return self.model.scene_statistics(lr / self.scale, guide / self.scale, out_size, core, mask)

    def forward(self, lr: torch.Tensor, guide: torch.Tensor, out_size=None, stats=None) -> torch.Tensor:
        """``lr (B, C, h, w)``, ``guide (B, G, H, W)`` in scene units -> ``(B, C, H, W)``; ``stats``:
        the model's summed :meth:`scene_statistics` (of the scaled inputs) in tiled fusion."""
        extra = {} if stats is None else {"stats": stats}
        return self.model(lr / self.scale, guide / self.scale, out_size=out_size, **extra) * self.scale


@dataclass
class FitResult:
    """The fitted model (eval mode, trained on values divided by ``scale``) and the loss of every step."""

    model: FusionModel
    scale: float
    losses: list[float] = field(default_factory=list)

    def rescaled(self) -> Rescaled:
        """The model in the scene's units (see :class:`Rescaled`)."""
        return Rescaled(self.model, self.scale)


def patch_size(size: tuple[int, int], ratio: tuple[float, float], patch: int | None) -> tuple[int, int]:
    """Patch on the LR grid, at most ``size``, close to ``patch`` and spanning a whole number of reduced
    pixels at ``ratio`` where possible (``round(q r)`` for ``q = round(patch / r)``, at least 2)."""
    out = []
    for n, r in zip(size, ratio, strict=True):
        wanted = n if patch is None else min(n, patch)
        q = max(2, round(wanted / r))
        out.append(min(n, round(q * r)))
    if min(s / r for s, r in zip(out, ratio, strict=True)) < 1.5:
        raise InputError(f"the LR image {tuple(size)} is too small to reduce by {ratio} for fitting")
    return tuple(out)


def fit_scene(
    model: FusionModel,
    lr: torch.Tensor,
    guide: torch.Tensor,
    ratio=None,
    sensor: str | None = None,
    steps: int = DEFAULT_FIT_STEPS,
    patch: int | None = 64,
    batch_size: int = 4,
    learning_rate: float | None = None,
    loss: str = "l1",
    grad_clip: float | None = 1.0,
    scale: float | None = None,
    seed: int = 0,
    guide_mtf: bool = True,
    phase: str = "centre",
    augment: bool = True,
    progress: bool = False,
) -> FitResult:
    """Train ``model`` on ``(lr (B, C, h, w), guide (B, G, H, W))`` reduced by their own ratio.

    Args:
        ratio: per-axis ``H / h`` by default. sensor: preset of the MTF gains (and the PAN gain when
            ``guide_mtf``). guide_mtf, phase: how :func:`wald_pair` reduces the pair (default: the
            guide with its MTF, samples at the pixel centres; reducing at another phase than the
            scene's own costs much, see ``docs/benchmarks.md``).
        augment: turn and mirror each training patch at random (quarter turns only for square
            patches at equal ratios).
        steps, batch_size, learning_rate, loss, grad_clip: the optimisation (Adam, warm-up + cosine);
            ``learning_rate`` defaults to :func:`model_learning_rate`.
        patch: patch size on the LR grid (``None``: the whole image each step).
        scale: divisor of all values (default: ``max |lr|``). seed: patch positions and order.
    Returns :class:`FitResult`; the model ends in eval mode on the inputs' device.
    """
    if steps < 1:
        raise InputError(f"fit needs at least one step, got {steps}")
    scale = float(scale) if scale is not None else float(lr.detach().abs().max())
    if not scale > 0 or not math.isfinite(scale):
        raise InputError(f"cannot fit on an LR image whose largest value is {scale}")
    ratio_yx = (guide.shape[-2] / lr.shape[-2], guide.shape[-1] / lr.shape[-1]) if ratio is None else ratio
    ratio_yx = (float(ratio_yx), float(ratio_yx)) if isinstance(ratio_yx, (int, float)) else tuple(ratio_yx)
    guide_small, _, reference = wald_pair(guide / scale, lr / scale, ratio_yx, sensor, phase, guide_mtf)
    size = patch_size(tuple(reference.shape[-2:]), ratio_yx, patch)
    degradation = Degradation(sensor=sensor, ratio=ratio_yx, phase=phase).to(lr.device)
    square = size[0] == size[1] and ratio_yx[0] == ratio_yx[1]
    turns = (0, 1, 2, 3) if square else (0, 2)  # quarter turns would swap unequal axes
    if learning_rate is None:
        learning_rate = model_learning_rate(model)
    optimizer = build_optimizer(model.parameters(), {"name": "adam", "lr": learning_rate})
    scheduler = build_scheduler(optimizer, steps, warmup=max(0, steps // 20))
    loss_fn = build_loss(loss)
    from tqdm.auto import tqdm

    model.train()
    losses = []
    for step in tqdm(range(steps), desc="fit", disable=not progress, dynamic_ncols=True):
        rng = keyed_rng(seed, step)
        gt, guide_batch = sample_patches(reference, guide_small, size, batch_size, rng)
        if augment:
            gt, guide_batch = dihedral(gt, guide_batch, turns, rng)
        lr_batch = degradation(gt).lr
        losses.append(float(train_step(model, loss_fn, optimizer, lr_batch, guide_batch, gt, grad_clip)))
        scheduler.step()
    model.eval()
    return FitResult(model, scale, losses)


def model_learning_rate(model: FusionModel) -> float:
    """The ``fit_learning_rate`` of ``model`` or, for a wrapper without one (e.g. a back-projected
    model, :class:`fusion.models.consistency.BackProjected`), of the model it wraps; else
    :data:`DEFAULT_LEARNING_RATE`."""
    while not hasattr(model, "fit_learning_rate") and isinstance(model, WrappedModel):
        model = model.model
    return getattr(model, "fit_learning_rate", DEFAULT_LEARNING_RATE)


def sample_patches(
    reference: torch.Tensor, guide: torch.Tensor, size: tuple[int, int], count: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` co-located random windows of ``reference (B, C, h, w)`` and ``guide (B, G, h, w)``."""
    pairs = []
    for _ in range(count):
        image = int(rng.integers(0, reference.shape[0]))
        rows, cols = random_window(tuple(reference.shape[-2:]), size, rng)
        pairs.append((reference[image, :, rows, cols], guide[image, :, rows, cols]))
    return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])


def dihedral(
    reference: torch.Tensor, guide: torch.Tensor, turns: tuple[int, ...], rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each sample of ``reference (B, C, h, w)`` and ``guide (B, G, h, w)`` turned by the same random
    number of quarter turns (from ``turns``) and mirrored or not: the MTF is isotropic, so the turned
    scene is as likely as the scene itself."""
    pairs = []
    for ref, gui in zip(reference, guide, strict=True):
        k, flip = int(rng.choice(turns)), bool(rng.integers(2))
        ref, gui = (torch.rot90(x, k, (-2, -1)) for x in (ref, gui))
        pairs.append((ref.flip(-1), gui.flip(-1)) if flip else (ref, gui))
    return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])


def wald_pair(
    guide: torch.Tensor,
    lr: torch.Tensor,
    ratio,
    sensor=None,
    phase: str = "centre",
    guide_mtf: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Wald's reduced pair ``(guide_small (B, G, h, w), lr_small (B, C, h', w'), reference = lr)``.

    ``lr (B, C, h, w)`` is reduced by ``ratio`` (scalar or ``(y, x)``; ``h' = round(h / r)``) with its
    sensor's MTF gains; ``guide (B, G, H, W)`` onto ``lr``'s grid, with the PAN's MTF gain
    (``guide_mtf``) or MATLAB's bicubic ``imresize`` (the reference toolbox). Both decimations sample
    at ``phase`` (:mod:`fusion.degrade.resample`): ``"centre"`` puts each sample at its pixel's centre,
    ``"toolbox"`` gives :func:`fusion.degrade.reduce_pair`.
    """
    sensor = get_sensor(sensor)
    ry, rx = (float(ratio), float(ratio)) if isinstance(ratio, (int, float)) else map(float, ratio)
    small = (lr_size(lr.shape[-2], ry), lr_size(lr.shape[-1], rx))
    if min(small) < 2:
        raise InputError(f"lr of size {tuple(lr.shape[-2:])} is too small to reduce by {ratio}")
    effective = (lr.shape[-2] / small[0], lr.shape[-1] / small[1])
    lr_small = blur_decimate(lr, sensor.gnyq_for(lr.shape[1]), effective, out_size=small, phase=phase)
    size = tuple(lr.shape[-2:])
    if guide_mtf:
        native = (guide.shape[-2] / size[0], guide.shape[-1] / size[1])
        guide_small = blur_decimate(guide, sensor.pan_gain, native, out_size=size, phase=phase)
    else:
        guide_small = imresize(guide, out_size=size)
    return guide_small, lr_small, lr
