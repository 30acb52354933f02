"""A fully connected decoder with one activation spec per hidden layer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from fusion.errors import InputError
from fusion.nn.activations import ActivationSpec, make_activation


def per_layer_specs(activations: ActivationSpec | Sequence[ActivationSpec], layers: int) -> list:
    """One activation spec per hidden layer: a single spec is repeated, a list must have ``layers`` items."""
    if isinstance(activations, (str, Mapping)):
        return [activations] * layers
    activations = list(activations)
    if len(activations) != layers:
        raise InputError(f"got {len(activations)} activation specs for {layers} hidden layer(s)")
    return activations


class MLP(nn.Module):
    """``in_dim → hidden[0] → … → hidden[-1] → out_dim`` with ``activations[i]`` after hidden layer ``i``.

    ``activations`` is one spec for every layer or a list with one spec per hidden layer (a MIRE
    sequence, e.g. ``["sinc", "gaussian", {"name": "gabor", "params": {"omega": 3.0}}]``). The output
    layer is linear. Input ``(..., in_dim)`` → output ``(..., out_dim)``.

    Decoders that share the first layer's work across queries (see :class:`fusion.nn.SpatialQuery`)
    call ``linears[0]``, :meth:`trunk` and :meth:`head` separately; ``forward`` chains them.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden: Sequence[int] = (256, 256, 256, 256),
        activations: ActivationSpec | Sequence[ActivationSpec] = "relu",
    ):
        super().__init__()
        hidden = [int(width) for width in hidden]
        if in_dim < 1 or out_dim < 1 or any(width < 1 for width in hidden):
            raise InputError(f"MLP widths must be positive, got in {in_dim}, hidden {hidden}, out {out_dim}")
        widths = [in_dim, *hidden, out_dim]
        self.in_dim, self.out_dim, self.hidden = in_dim, out_dim, hidden
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:], strict=False))
        self.acts = nn.ModuleList(make_activation(spec) for spec in per_layer_specs(activations, len(hidden)))

    def trunk(self, pre: torch.Tensor) -> torch.Tensor:
        """Last hidden layer's features from the first layer's pre-activation ``(..., hidden[0])``."""
        x = self.acts[0](pre)
        for linear, act in zip(self.linears[1:-1], self.acts[1:], strict=False):
            x = act(linear(x))
        return x

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """Output layer (linear): ``(..., hidden[-1])`` → ``(..., out_dim)``."""
        return self.linears[-1](features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_dim:
            raise InputError(f"MLP: expected inputs (..., {self.in_dim}), got {tuple(x.shape)}")
        if not self.hidden:
            return self.linears[0](x)
        return self.head(self.trunk(self.linears[0](x)))
