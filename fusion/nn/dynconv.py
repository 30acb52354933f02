"""ASS-Conv: adaptive spatial–spectral dynamic convolution (NaivePINR's encoder, seed 000 eq. 11).

Output pixel ``i``, channel ``j`` is a ``k x k`` neighbourhood sum whose kernel is the product of a
per-pixel spatial kernel and a per-channel spectral kernel, both predicted from the input:

    y[j, i] = sum_p x[j, i + p] * W_spa[p, i] * W_spe[j, p]

``W_spa (B, k^2, H, W)`` comes from one convolution branch; ``W_spe (B, C, k^2)`` from global average
pooling, a linear layer and an activation. Borders are zero padded.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fusion.errors import InputError
from fusion.nn.activations import ActivationSpec, make_activation


def dual_kernel_conv(x: torch.Tensor, spatial: torch.Tensor, spectral: torch.Tensor) -> torch.Tensor:
    """Apply per-pixel ``spatial (B, k^2, H, W)`` × per-channel ``spectral (B, C, k^2)`` kernels to ``x``.

    Loops over the ``k^2`` taps on shifted views, so no ``k^2``-times unfolded copy of ``x`` is made.
    """
    taps = spatial.shape[1]
    k = int(round(taps**0.5))
    height, width = x.shape[-2:]
    padded = F.pad(x, (k // 2,) * 4)
    out = torch.zeros_like(x)
    for tap in range(taps):
        dy, dx = divmod(tap, k)
        window = padded[:, :, dy : dy + height, dx : dx + width]
        out = out + window * spatial[:, tap : tap + 1] * spectral[:, :, tap, None, None]
    return out


class ASSConv(nn.Module):
    """Dynamic convolution ``(B, C, H, W)`` → ``(B, C, H, W)`` with predicted spatial × spectral kernels.

    ``kernel_size`` is the odd size ``k`` of the dynamic kernel; ``branch_size`` the size of the
    convolution predicting the spatial kernel.
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int = 3,
        branch_size: int = 3,
        spectral_activation: ActivationSpec = "sigmoid",
    ):
        super().__init__()
        if kernel_size % 2 == 0 or branch_size % 2 == 0:
            raise InputError(f"ASSConv: kernel sizes must be odd, got {kernel_size} and {branch_size}")
        self.channels, self.kernel_size = channels, kernel_size
        taps = kernel_size * kernel_size
        self.spatial = nn.Conv2d(channels, taps, branch_size, padding=branch_size // 2)
        self.spectral = nn.Linear(channels, channels * taps)
        self.spectral_act = make_activation(spectral_activation)

    def kernels(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Spatial kernel ``(B, k^2, H, W)`` and spectral kernel ``(B, C, k^2)`` for ``x``."""
        spectral = self.spectral_act(self.spectral(x.mean(dim=(-2, -1))))
        return self.spatial(x), spectral.view(x.shape[0], self.channels, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise InputError(f"ASSConv: expected (B, {self.channels}, H, W), got {tuple(x.shape)}")
        return dual_kernel_conv(x, *self.kernels(x))
