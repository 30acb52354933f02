"""Training losses on ``(B, C, H, W)`` tensors, registered in :data:`fusion.registry.LOSSES`.

``l1``, ``mse``, ``sam`` (mean spectral angle, radians) and ``combination`` (a weighted sum of the
others). Each is a pure function with a thin module; config spec ``{name, args}``::

    loss: {name: combination, args: {terms: [{name: l1, weight: 1.0}, {name: sam, weight: 0.1}]}}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from fusion.errors import InputError
from fusion.registry import LOSSES


def spectral_angle(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Mean angle (radians) between the spectra of ``pred`` and ``target`` ``(B, C, H, W)``.

    Computed in float32 at least (also for bf16 inputs under autocast). ``acos`` has an infinite
    slope at identical spectra, so the cosine is clamped to ``1 - eps`` (``eps`` must stay
    representable next to 1 in float32, where ``1 - 1e-8 == 1``), off by at most ``sqrt(2 eps)``
    radians; the norms come from squared sums clamped away from 0, whose gradient stays finite for
    all-zero spectra.
    """
    dtype = torch.promote_types(pred.dtype, torch.float32)
    pred, target = pred.to(dtype), target.to(dtype)
    dot = (pred * target).sum(dim=1)
    norms = (pred.pow(2).sum(dim=1) * target.pow(2).sum(dim=1)).clamp_min(1e-30).sqrt()
    cosine = (dot / norms).clamp(-1 + eps, 1 - eps)
    return torch.acos(cosine).mean()


@LOSSES.register("l1")
class L1(nn.Module):
    """Mean absolute error."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (pred - target).abs().mean()


@LOSSES.register("mse")
class MSE(nn.Module):
    """Mean squared error."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (pred - target).pow(2).mean()


@LOSSES.register("sam")
class SAM(nn.Module):
    """Mean spectral angle in radians (:func:`spectral_angle`)."""

    def __init__(self, eps: float = 1e-6):
        super().__init__()
        self.eps = eps

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return spectral_angle(pred, target, self.eps)


@LOSSES.register("combination")
class Combination(nn.Module):
    """``sum_i weight_i * loss_i(pred, target)`` over ``terms`` ``[{name, weight, args}, ...]``."""

    def __init__(self, terms: Sequence[Mapping[str, Any]]):
        super().__init__()
        if not terms:
            raise InputError("loss 'combination' needs at least one term")
        self.weights = [float(term.get("weight", 1.0)) for term in terms]
        self.terms = nn.ModuleList(build_loss(term) for term in terms)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum(w * term(pred, target) for w, term in zip(self.weights, self.terms, strict=True))


def build_loss(spec: Mapping[str, Any] | str) -> nn.Module:
    """The loss of a spec (a name or ``{name, args}``; a ``weight`` key is the caller's business)."""
    spec = {"name": spec} if isinstance(spec, str) else spec
    try:
        return LOSSES.build({"name": spec["name"], "args": spec.get("args")})
    except KeyError as exc:
        raise InputError(str(exc.args[0])) from None
    except TypeError as exc:
        raise InputError(f"loss {spec['name']!r}: {exc}") from None
