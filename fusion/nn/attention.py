"""Window self-attention (W-MSA) and shifted-window attention (SW-MSA) on ``(B, C, H, W)`` maps of any size.

Built on :class:`timm.models.swin_transformer.WindowAttention` (attention with a learned relative
position bias inside each window). The map is padded at the bottom and right to whole windows, rolled
by the shift, split into windows and attended with a mask: tokens attend only to tokens of the same
*region* – real tokens that were neighbours before the roll (the Swin mask) – so padding never leaks
into real tokens and the real outputs do not depend on how much padding there was. Windows start
at the map's top-left pixel, which is what tiled inference aligns to.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from fusion.errors import InputError


def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, (int, float)) else (int(value[0]), int(value[1]))


def region_labels(size: tuple[int, int], padded: tuple[int, int], shift: tuple[int, int], device=None):
    """Region label of every token of the padded, rolled ``padded`` grid, shape ``(Hp, Wp)``.

    Label ``2 * wrapped_row + wrapped_col`` for real tokens (rows/columns that the roll moved from
    the top/left edge to the bottom/right), and 4 for padding.
    """
    rows = torch.arange(padded[0], device=device)
    cols = torch.arange(padded[1], device=device)
    labels = (rows < shift[0]).long()[:, None] * 2 + (cols < shift[1]).long()[None, :]
    is_pad = (rows >= size[0])[:, None] | (cols >= size[1])[None, :]
    labels = labels.masked_fill(is_pad, 4)
    return labels.roll((-shift[0], -shift[1]), dims=(0, 1))


class WindowAttention(nn.Module):
    """Multi-head self-attention inside ``window_size`` windows, shifted by ``shift_size`` (0: W-MSA).

    ``(B, dim, H, W)`` → ``(B, dim, H, W)`` for any ``H, W`` (padding plus masks). Pure attention (no
    norm, residual or MLP), so models compose it as their block structure says.
    """

    def __init__(self, dim: int, num_heads: int, window_size=8, shift_size=0, qkv_bias: bool = True):
        super().__init__()
        self.dim, self.window_size, self.shift_size = dim, _pair(window_size), _pair(shift_size)
        if dim % num_heads:
            raise InputError(f"WindowAttention: dim {dim} is not divisible by num_heads {num_heads}")
        if any(s < 0 or s >= w for s, w in zip(self.shift_size, self.window_size, strict=False)):
            raise InputError(
                f"WindowAttention: shift {self.shift_size} must lie in [0, window {self.window_size})"
            )
        # timm (and the torchvision it imports, ~5 s) loads when a model with attention is built,
        # not when fusion.models is imported
        from timm.models.swin_transformer import WindowAttention as TimmWindowAttention

        self.attn = TimmWindowAttention(
            dim, num_heads=num_heads, window_size=self.window_size, qkv_bias=qkv_bias
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.dim:
            raise InputError(f"WindowAttention: expected (B, {self.dim}, H, W), got {tuple(x.shape)}")
        height, width = x.shape[-2:]
        wh, ww = self.window_size
        padded = (-(-height // wh) * wh, -(-width // ww) * ww)
        pad = (padded[0] - height, padded[1] - width)
        tokens = F.pad(x, (0, pad[1], 0, pad[0])).permute(0, 2, 3, 1)  # (B, Hp, Wp, C)
        shifted = any(self.shift_size)
        if shifted:
            tokens = tokens.roll((-self.shift_size[0], -self.shift_size[1]), dims=(1, 2))
        windows = rearrange(tokens, "b (nh wh) (nw ww) c -> (b nh nw) (wh ww) c", wh=wh, ww=ww)
        mask = None
        if shifted or any(pad):
            labels = region_labels((height, width), padded, self.shift_size, device=x.device)
            labels = rearrange(labels, "(nh wh) (nw ww) -> (nh nw) (wh ww)", wh=wh, ww=ww)
            same = labels.unsqueeze(-1) == labels.unsqueeze(-2)
            mask = torch.zeros(same.shape, dtype=x.dtype, device=x.device).masked_fill(~same, float("-inf"))
        out = self.attn(windows, mask=mask)
        out = rearrange(
            out, "(b nh nw) (wh ww) c -> b (nh wh) (nw ww) c", nh=padded[0] // wh, nw=padded[1] // ww, wh=wh
        )
        if shifted:
            out = out.roll(self.shift_size, dims=(1, 2))
        return out[:, :height, :width].permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return f"window_size={self.window_size}, shift_size={self.shift_size}"
