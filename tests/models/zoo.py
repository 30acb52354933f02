"""Every registered model, built small, for the registry-wide tests (contract and learning).

A model class may provide ``tiny_args()`` (a classmethod returning keyword arguments of a small,
fast configuration) and ``slow_fit = True`` (its learning test is marked slow). Which tests apply
comes from capabilities, never from name lists: ``guide_kinds``, ``min_lr_bands``, learnable
parameters, and being an :class:`~fusion.models.base.INRModel`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fusion.models import create_model, list_models
from fusion.models.base import INRModel
from fusion.registry import MODELS

#: Guide band count used for each guide kind.
GUIDE_BANDS = {"pan": 1, "msi": 3}


def tiny_args(name: str) -> dict:
    """The model's small configuration (``{}`` when it has none)."""
    maker = getattr(MODELS.get(name), "tiny_args", None)
    return dict(maker()) if callable(maker) else {}


def build(name: str, lr_bands: int, guide_bands: int, **extra):
    """``create_model(name, lr_bands=..., guide_bands=..., **tiny_args, **extra)``."""
    return create_model(name, lr_bands=lr_bands, guide_bands=guide_bands, **{**tiny_args(name), **extra})


def guide_kinds(name: str) -> tuple[str, ...]:
    return tuple(MODELS.get(name).guide_kinds)


def inr_names() -> list[str]:
    """Registered models that are implicit neural representations."""
    return [name for name in list_models() if issubclass(MODELS.get(name), INRModel)]


def learnable(model: torch.nn.Module) -> bool:
    return any(p.requires_grad for p in model.parameters())


def perturb(model: torch.nn.Module, scale: float = 0.05, seed: int = 0) -> None:
    """Add small noise to every parameter: breaks zero initialisations (e.g. of residual branches)
    so that gradients and checkpoints are tested at a generic point, not at a special one."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            noise = torch.randn(param.shape, generator=generator, dtype=param.dtype)
            param.add_(scale * noise.to(param.device))


def far_masks(lr_size, out_size, pixel, halo: int):
    """Masks ``(lr (h, w), guide (H, W))`` of the pixels farther than ``halo`` guide pixels from ``pixel``.

    A low-resolution pixel ``k`` covers guide pixels ``[k r, (k + 1) r)``; it is far when that extent,
    on either axis, lies entirely outside ``[pixel - halo, pixel + halo]``.
    """
    lr_far, guide_far = [], []
    for n_lr, n_out, centre in zip(lr_size, out_size, pixel, strict=True):
        ratio = n_out / n_lr
        k = torch.arange(n_lr, dtype=torch.float64)
        lr_far.append(((k + 1) * ratio <= centre - halo) | (k * ratio > centre + halo))
        guide_far.append((torch.arange(n_out) - centre).abs() > halo)
    return lr_far[0][:, None] | lr_far[1][None, :], guide_far[0][:, None] | guide_far[1][None, :]


def assert_local(model, lr: torch.Tensor, guide: torch.Tensor, pixel: tuple[int, int]) -> None:
    """Changing every input pixel beyond ``model.halo(ratio)`` leaves the output at ``pixel`` unchanged
    (and the check is not vacuous: far pixels exist and the perturbation changes the output elsewhere)."""
    out_size = tuple(guide.shape[-2:])
    ratio = (out_size[0] / lr.shape[-2], out_size[1] / lr.shape[-1])
    lr_far, guide_far = far_masks(lr.shape[-2:], out_size, pixel, model.halo(ratio))
    assert lr_far.any() and guide_far.any()
    model.eval()
    with torch.no_grad():
        before = model(lr, guide)
        after = model(lr + 5 * lr_far * torch.rand_like(lr), guide + 5 * guide_far * torch.rand_like(guide))
    torch.testing.assert_close(after[..., pixel[0], pixel[1]], before[..., pixel[0], pixel[1]])
    assert not torch.allclose(after, before)


def assert_bilinear_when_silent(model, output_layer: torch.nn.Linear, lr, guide, out_size) -> None:
    """With ``output_layer`` (the decoder's last) at zero, ``model`` is bilinear resizing of ``lr``."""
    torch.nn.init.zeros_(output_layer.weight)
    torch.nn.init.zeros_(output_layer.bias)
    model.eval()
    with torch.no_grad():
        out = model(lr, guide, out_size=out_size)
    expected = F.interpolate(lr, size=out_size, mode="bilinear", align_corners=False)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
