"""Activation functions for INR decoders, including MIRE's dictionary of atoms (seed 001).

Every activation is built from a *spec*: a name (``"relu"``) or ``{"name": ..., "params": {...}}``,
so a sequence found by :func:`fusion.nn.mire_search` plugs into any MLP of the package.

MIRE atoms (learnable scalar parameters, initialised at their base configuration unless given;
``sinc_n(t) = sin(pi t) / (pi t)``; ``u = omega * x``):

======================  ===========================================================  ===================
name                    value                                                        parameters
======================  ===========================================================  ===================
``sine``                ``sin(omega x + phase)``                                     omega=1, phase=0
``gaussian``            ``exp(-(scale x)^2)``                                        scale=1
``gabor``               ``cos(omega x) exp(-(scale x)^2)`` (real Gabor wavelet)      omega=1, scale=1
``sinc``                ``sin(omega x) / (omega x)``                                 omega=1
``raised-cosine``       ``sinc_n(u) cos(pi b u) / (1 - (2 b u)^2)``                  omega=1, rolloff=0.5
``root-raised-cosine``  ``[sin(pi u (1-b)) + 4bu cos(pi u (1+b))] / [pi u (1-(4bu)^2)]``  omega, rolloff
``pswf``                ``psi_0(c, scale x)``, prolate spheroidal wave fn of order 0  scale=1 (c fixed)
======================  ===========================================================  ===================

The raised cosines are the pulse shapes of their namesake filters with symbol period ``T = 1 / omega``
(without the ``1 / T`` gain); their removable singularities take their limits. The PSWF is the
bandlimited (bandwidth ``c``) function most concentrated on ``[-1, 1]``, normalised like
``scipy.special.pro_ang1`` (``psi(0) = 1``); on the whole line it is extended through its integral
equation and approximated by a natural cubic spline on ``[-16, 16]`` (zero beyond, where
``|psi| < 3e-3`` for the default ``c = 4``), as MIRE approximates it with a spline.

Plain activations without parameters: ``relu``, ``leaky-relu`` (negative_slope), ``gelu``, ``silu``,
``tanh``, ``sigmoid``, ``identity``.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from fusion.errors import InputError

ActivationSpec = str | Mapping

#: The seven atoms of MIRE's dictionary, in the order the search tries them.
MIRE_ATOMS = ("raised-cosine", "root-raised-cosine", "pswf", "sinc", "gabor", "gaussian", "sine")


class Atom(nn.Module):
    """An activation with named learnable scalar parameters (``defaults``: their names and base values)."""

    name: str = ""
    defaults: dict[str, float] = {}

    def __init__(self, trainable: bool = True, **params: float):
        super().__init__()
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise InputError(
                f"activation {self.name!r} has no parameter(s) {unknown}; it takes {sorted(self.defaults)}"
            )
        for key, base in self.defaults.items():
            value = torch.tensor(float(params.get(key, base)))
            setattr(self, key, nn.Parameter(value, requires_grad=trainable))

    def values(self) -> dict[str, float]:
        """Current parameter values as plain floats."""
        return {key: float(getattr(self, key).detach()) for key in self.defaults}

    def spec(self) -> dict:
        """The spec that rebuilds this atom with its current parameter values."""
        return {"name": self.name, "params": self.values()}

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value:.4g}" for key, value in self.values().items())


def _sinc(t: torch.Tensor) -> torch.Tensor:
    """Normalised sinc ``sin(pi t) / (pi t)``."""
    return torch.sinc(t)


class Sine(Atom):
    name, defaults = "sine", {"omega": 1.0, "phase": 0.0}

    def forward(self, x):
        return torch.sin(self.omega * x + self.phase)


class Gaussian(Atom):
    name, defaults = "gaussian", {"scale": 1.0}

    def forward(self, x):
        return torch.exp(-((self.scale * x) ** 2))


class Gabor(Atom):
    name, defaults = "gabor", {"omega": 1.0, "scale": 1.0}

    def forward(self, x):
        return torch.cos(self.omega * x) * torch.exp(-((self.scale * x) ** 2))


class Sinc(Atom):
    name, defaults = "sinc", {"omega": 1.0}

    def forward(self, x):
        return _sinc(self.omega * x / math.pi)


def _rolloff(beta: torch.Tensor) -> torch.Tensor:
    return beta.clamp(1e-3, 1.0)


class RaisedCosine(Atom):
    """Raised-cosine pulse, written without singularity: with ``v = 2 beta |u|``,
    ``cos(pi v / 2) / (1 - v^2) = (pi / 2) sinc_n((1 - v) / 2) / (1 + v)``."""

    name, defaults = "raised-cosine", {"omega": 1.0, "rolloff": 0.5}

    def forward(self, x):
        u = self.omega * x
        v = 2 * _rolloff(self.rolloff) * u.abs()
        return _sinc(u) * (math.pi / 2) * _sinc((1 - v) / 2) / (1 + v)


class RootRaisedCosine(Atom):
    """Root-raised-cosine pulse; the points ``|u| = 1 / (4 beta)`` take their limit value."""

    name, defaults = "root-raised-cosine", {"omega": 1.0, "rolloff": 0.5}

    def forward(self, x):
        beta = _rolloff(self.rolloff)
        u = self.omega * x
        denom = 1 - (4 * beta * u) ** 2
        singular = denom.abs() < 1e-4
        safe = torch.where(singular, torch.ones_like(denom), denom)
        regular = (
            (1 - beta) * _sinc(u * (1 - beta)) + 4 * beta / math.pi * torch.cos(math.pi * u * (1 + beta))
        ) / safe
        quarter = math.pi / (4 * beta)
        limit = (
            beta
            / math.sqrt(2)
            * ((1 + 2 / math.pi) * torch.sin(quarter) + (1 - 2 / math.pi) * torch.cos(quarter))
        )
        return torch.where(singular, limit, regular)


@functools.lru_cache(maxsize=8)
def pswf_spline(c: float, half_width: float = 16.0, step: float = 1 / 64, nodes: int = 96) -> np.ndarray:
    """Natural cubic spline of ``psi_0(c, t)`` on ``[-half_width, half_width]``: ``(4, K)`` coefficients.

    Inside ``[-1, 1]`` the values come from ``scipy.special.pro_ang1``; outside from the integral
    equation ``lambda psi(t) = int_{-1}^{1} sin(c (t - s)) / (pi (t - s)) psi(s) ds`` by Gauss–Legendre
    quadrature (``lambda`` from the same equation at ``t = 0``). Row ``k`` multiplies ``(t - t_i)^(3-k)``.
    """
    from scipy.interpolate import CubicSpline
    from scipy.special import pro_ang1

    s, w = np.polynomial.legendre.leggauss(nodes)
    psi_s = pro_ang1(0, 0, c, s)[0]

    def integral(t: np.ndarray) -> np.ndarray:
        kernel = (c / np.pi) * np.sinc(c * (t[:, None] - s[None, :]) / np.pi)
        return kernel @ (w * psi_s)

    eigenvalue = integral(np.zeros(1))[0] / pro_ang1(0, 0, c, 0.0)[0]
    knots = np.arange(-half_width, half_width + step / 2, step)
    inside = np.abs(knots) < 1
    values = integral(knots) / eigenvalue
    values[inside] = pro_ang1(0, 0, c, knots[inside])[0]
    return CubicSpline(knots, values, bc_type="natural").c


class PSWF(Atom):
    name, defaults = "pswf", {"scale": 1.0}

    def __init__(self, trainable: bool = True, c: float = 4.0, **params: float):
        super().__init__(trainable, **params)
        self.c, self.half_width, self.step = float(c), 16.0, 1 / 64
        coefficients = torch.from_numpy(pswf_spline(self.c, self.half_width, self.step).T.copy())
        self.register_buffer("coefficients", coefficients.float(), persistent=False)  # (K, 4)

    def spec(self) -> dict:
        return {"name": self.name, "params": {**self.values(), "c": self.c}}

    def forward(self, x):
        t = self.scale * x
        position = (t + self.half_width) / self.step
        index = position.detach().floor().clamp(0, self.coefficients.shape[0] - 1).long()
        local = (position - index) * self.step
        a, b, c, d = self.coefficients.to(t.dtype)[index].unbind(-1)
        value = ((a * local + b) * local + c) * local + d
        return torch.where(t.abs() <= self.half_width, value, torch.zeros_like(value))


_ATOMS = {cls.name: cls for cls in (Sine, Gaussian, Gabor, Sinc, RaisedCosine, RootRaisedCosine, PSWF)}

_PLAIN = {
    "relu": nn.ReLU,
    "leaky-relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "identity": nn.Identity,
}


def activation_names() -> list[str]:
    """Every name :func:`make_activation` accepts."""
    return sorted([*_ATOMS, *_PLAIN])


def normalize_spec(spec: ActivationSpec) -> dict:
    """``"name"`` or ``{"name", "params"}`` → a fresh ``{"name": str, "params": dict}``."""
    if isinstance(spec, str):
        return {"name": spec, "params": {}}
    if isinstance(spec, Mapping) and "name" in spec:
        return {"name": spec["name"], "params": copy.deepcopy(dict(spec.get("params", {})))}
    raise InputError(f"an activation spec is a name or {{'name': ..., 'params': {{...}}}}, got {spec!r}")


def make_activation(name: ActivationSpec, **params) -> nn.Module:
    """Build an activation from a name (or spec) and parameters, e.g. ``make_activation("sinc", omega=3)``.

    MIRE atoms take ``trainable=False`` to freeze their parameters.
    """
    spec = normalize_spec(name)
    params = {**spec["params"], **params}
    key = spec["name"]
    if key in _ATOMS:
        return _ATOMS[key](**params)
    if key in _PLAIN:
        return _PLAIN[key](**params)
    raise InputError(f"unknown activation {key!r}; choose one of {', '.join(activation_names())}")
