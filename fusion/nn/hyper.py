"""An MLP whose weights are inputs (INR-HSISR's per-cell MLP, seeds 000 §1 and 004).

A hypernetwork predicts a flat parameter vector per sample or per image cell; :class:`HyperMLP`
interprets it as the weights and biases of a fixed-shape MLP and applies it to that cell's inputs.
Layout of the vector, layer by layer: weight ``(out, in)`` row-major, then bias ``(out,)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from fusion.errors import InputError
from fusion.nn.activations import ActivationSpec, make_activation
from fusion.nn.checks import check_broadcast
from fusion.nn.mlp import per_layer_specs

LEAKY = {"name": "leaky-relu", "params": {"negative_slope": 0.1}}


class HyperMLP(nn.Module):
    """Apply per-group MLPs: ``x (..., N, in_dim)`` with ``params (..., num_params)`` → ``(..., N, out_dim)``.

    Each leading index (a sample, or a cell of a parameter grid) has its own weights, shared by its
    ``N`` points; leading dimensions of ``x`` (without ``N``) and ``params`` broadcast. Activations may
    have their own (shared) learnable parameters.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden: Sequence[int] = (64, 64, 64, 64),
        activations: ActivationSpec | Sequence[ActivationSpec] = LEAKY,
    ):
        super().__init__()
        self.widths = [int(in_dim), *[int(h) for h in hidden], int(out_dim)]
        if min(self.widths) < 1:
            raise InputError(f"HyperMLP: widths must be positive, got {self.widths}")
        self.acts = nn.ModuleList(make_activation(s) for s in per_layer_specs(activations, len(hidden)))
        self.num_params = sum(a * b + b for a, b in zip(self.widths[:-1], self.widths[1:], strict=False))

    def split(self, params: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Views ``[(weight (..., out, in), bias (..., out)), ...]`` of params ``(..., num_params)``."""
        if params.shape[-1] != self.num_params:
            raise InputError(f"HyperMLP: expected params (..., {self.num_params}), got {tuple(params.shape)}")
        sizes = [n for a, b in zip(self.widths[:-1], self.widths[1:], strict=False) for n in (a * b, b)]
        chunks = params.split(sizes, dim=-1)
        layers = zip(chunks[0::2], chunks[1::2], self.widths[:-1], self.widths[1:], strict=False)
        return [(w.unflatten(-1, (b, a)), bias) for w, bias, a, b in layers]

    def forward(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        if x.ndim < 2 or x.shape[-1] != self.widths[0]:
            raise InputError(f"HyperMLP: expected x (..., N, {self.widths[0]}), got {tuple(x.shape)}")
        check_broadcast("HyperMLP", {"x (without N, in_dim)": x.shape[:-2], "params": params.shape[:-1]})
        layers = self.split(params)
        for i, (weight, bias) in enumerate(layers):
            x = x @ weight.transpose(-1, -2) + bias.unsqueeze(-2)
            if i < len(self.acts):
                x = self.acts[i](x)
        return x
