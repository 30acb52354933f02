"""DyLinear, WindowAttention, ASSConv and HyperMLP against direct reference computations."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from fusion.errors import InputError
from fusion.nn import ASSConv, DyLinear, HyperMLP, WindowAttention

# -- DyLinear ---------------------------------------------------------------------------------


def test_dylinear_equals_the_explicit_modulated_weight():
    torch.manual_seed(0)
    layer = DyLinear(5, 3, cond_dim=4, rank=2).double()
    x, cond = torch.randn(6, 5, dtype=torch.float64), torch.randn(6, 4, dtype=torch.float64)
    params = cond @ layer.generate.weight.T + layer.generate.bias
    u = params[:, : 3 * 2].reshape(6, 3, 2)
    v = params[:, 3 * 2 :].reshape(6, 2, 5)
    weight = layer.linear.weight + u @ v / math.sqrt(2 * 5)  # (6, out, in): one temporary weight per sample
    expected = torch.einsum("noi,ni->no", weight, x) + layer.linear.bias
    assert torch.allclose(layer(x, cond), expected)


def test_dylinear_broadcasts_one_condition_over_many_inputs(independent, grads_reach):
    torch.manual_seed(1)
    layer = DyLinear(4, 6, cond_dim=3, rank=3)
    x, cond = torch.randn(2, 7, 4), torch.randn(2, 1, 3)
    out = layer(x, cond)
    assert out.shape == (2, 7, 6)
    assert torch.allclose(out, layer(x, cond.expand(2, 7, 3)), atol=1e-6)
    grads_reach(layer, out)
    independent(layer, x, cond)
    small = DyLinear(3, 2, cond_dim=2, rank=1).double()
    args = (
        torch.randn(2, 3, dtype=torch.float64, requires_grad=True),
        torch.randn(2, 2, dtype=torch.float64, requires_grad=True),
    )
    assert torch.autograd.gradcheck(small, args)


def test_dylinear_shape_errors():
    layer = DyLinear(4, 2, cond_dim=3)
    with pytest.raises(InputError, match=r"x \(\.\.\., 4\)"):
        layer(torch.randn(2, 5), torch.randn(2, 3))
    with pytest.raises(InputError, match=r"cond \(\.\.\., 3\)"):
        layer(torch.randn(2, 4), torch.randn(2, 2))
    with pytest.raises(InputError, match="do not broadcast"):
        layer(torch.randn(2, 4), torch.randn(3, 3))


# -- WindowAttention ---------------------------------------------------------------------------


def dense_window_reference(module: WindowAttention, x: torch.Tensor) -> torch.Tensor:
    """Full attention over all tokens with an explicit mask: two real tokens interact iff they fall in
    the same window of the image rolled by the shift (windows tiled from the top-left of the padded
    image) and neither or both were wrapped around by the roll along each axis."""
    attn = module.attn
    (wh, ww), (sy, sx) = module.window_size, module.shift_size
    batch, dim, height, width = x.shape
    hp, wp = math.ceil(height / wh) * wh, math.ceil(width / ww) * ww
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    ys, xs = ys.flatten(), xs.flatten()
    ry, rx = (ys - sy) % hp, (xs - sx) % wp  # positions after the roll
    window = (ry // wh) * (wp // ww) + rx // ww
    region = (ys < sy).long() * 2 + (xs < sx).long()
    allowed = (window[:, None] == window[None, :]) & (region[:, None] == region[None, :])
    py, px = ry % wh, rx % ww
    index = (py[:, None] - py[None, :] + wh - 1) * (2 * ww - 1) + (px[:, None] - px[None, :] + ww - 1)
    bias = attn.relative_position_bias_table[index].permute(2, 0, 1)  # (heads, N, N)
    tokens = x.flatten(2).transpose(1, 2)
    q, k, v = attn.qkv(tokens).view(batch, height * width, 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4)
    scores = (q * attn.scale) @ k.transpose(-1, -2) + bias
    scores = scores.masked_fill(~allowed, float("-inf"))
    out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(batch, height * width, -1)
    return attn.proj(out).transpose(1, 2).view(batch, dim, height, width)


@pytest.mark.parametrize(
    "size, window, shift",
    [
        ((5, 7), 3, 0),
        ((5, 7), 3, 1),
        ((6, 6), 3, 1),
        ((6, 6), 3, 0),
        ((7, 5), (2, 3), (1, 2)),
        ((2, 3), 4, 2),
    ],
)
def test_window_attention_matches_a_dense_masked_reference(size, window, shift):
    torch.manual_seed(2)
    module = WindowAttention(8, num_heads=2, window_size=window, shift_size=shift).double()
    torch.nn.init.normal_(module.attn.relative_position_bias_table, std=0.5)
    x = torch.randn(2, 8, *size, dtype=torch.float64)
    out = module(x)
    assert out.shape == x.shape
    assert torch.allclose(out, dense_window_reference(module, x), atol=1e-10)


def test_window_attention_gradients_independence_gradcheck(grads_reach, independent):
    torch.manual_seed(3)
    module = WindowAttention(4, num_heads=2, window_size=2, shift_size=1)
    x = torch.randn(2, 4, 5, 3)
    grads_reach(module, module(x))
    independent(module, x)
    small = WindowAttention(2, num_heads=1, window_size=2, shift_size=1).double()
    assert torch.autograd.gradcheck(
        small, (torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True),)
    )


def test_window_attention_errors():
    with pytest.raises(InputError, match="not divisible"):
        WindowAttention(6, num_heads=4)
    with pytest.raises(InputError, match="shift"):
        WindowAttention(4, num_heads=2, window_size=4, shift_size=4)
    with pytest.raises(InputError, match=r"\(B, 4, H, W\)"):
        WindowAttention(4, num_heads=2)(torch.randn(1, 3, 8, 8))


# -- ASSConv -----------------------------------------------------------------------------------


def test_assconv_equals_an_unfolded_reference():
    torch.manual_seed(4)
    conv = ASSConv(5, kernel_size=3).double()
    x = torch.randn(2, 5, 6, 7, dtype=torch.float64)
    spatial = conv.spatial(x)  # (B, 9, H, W)
    spectral = torch.sigmoid(conv.spectral(x.mean(dim=(2, 3)))).view(2, 5, 9)
    patches = F.unfold(x, 3, padding=1).view(2, 5, 9, 6, 7)
    expected = torch.einsum("bckhw,bkhw,bck->bchw", patches, spatial, spectral)
    assert torch.allclose(conv(x), expected)
    # one pixel by hand: y[j, i] = sum_p x[j, i + p] W_spa[p, i] W_spe[j, p]
    j, (r, c) = 3, (0, 4)
    hand = sum(
        x[1, j, r + dy - 1, c + dx - 1] * spatial[1, dy * 3 + dx, r, c] * spectral[1, j, dy * 3 + dx]
        for dy in range(3)
        for dx in range(3)
        if 0 <= r + dy - 1 < 6 and 0 <= c + dx - 1 < 7
    )
    assert torch.allclose(conv(x)[1, j, r, c], hand)


def test_assconv_gradients_independence_gradcheck(grads_reach, independent):
    torch.manual_seed(5)
    conv = ASSConv(3, kernel_size=5, branch_size=3, spectral_activation="tanh")
    x = torch.randn(2, 3, 7, 5)
    grads_reach(conv, conv(x))
    independent(conv, x)
    small = ASSConv(2, kernel_size=3).double()
    assert torch.autograd.gradcheck(
        small, (torch.randn(1, 2, 3, 4, dtype=torch.float64, requires_grad=True),)
    )
    with pytest.raises(InputError, match="odd"):
        ASSConv(3, kernel_size=4)
    with pytest.raises(InputError, match=r"\(B, 3, H, W\)"):
        conv(torch.randn(1, 4, 5, 5))


# -- HyperMLP ----------------------------------------------------------------------------------


def test_hypermlp_param_count_of_the_inr_hsisr_decoder():
    assert HyperMLP(3 + 8, 31, hidden=(64, 64, 64, 64)).num_params == 15263


def test_hypermlp_equals_a_loop_of_per_group_linears():
    torch.manual_seed(6)
    mlp = HyperMLP(3, 2, hidden=(4, 5), activations=["tanh", "sine"]).double()
    x = torch.randn(2, 3, 6, 3, dtype=torch.float64)  # (B, cells, N, in)
    params = torch.randn(2, 3, mlp.num_params, dtype=torch.float64)
    out = mlp(x, params)
    assert out.shape == (2, 3, 6, 2)
    for b in range(2):
        for cell in range(3):
            flat, h, offset = params[b, cell], x[b, cell], 0
            for i, (n_in, n_out) in enumerate(((3, 4), (4, 5), (5, 2))):
                weight = flat[offset : offset + n_in * n_out].view(n_out, n_in)
                bias = flat[offset + n_in * n_out : offset + n_in * n_out + n_out]
                offset += n_in * n_out + n_out
                h = F.linear(h, weight, bias)
                h = torch.tanh(h) if i == 0 else torch.sin(h) if i == 1 else h
            assert torch.allclose(out[b, cell], h)


def test_hypermlp_broadcast_gradients_independence(grads_reach, independent):
    torch.manual_seed(7)
    mlp = HyperMLP(2, 3, hidden=(4,), activations="gabor")
    x = torch.randn(2, 5, 2)
    params = torch.randn(2, mlp.num_params, requires_grad=True)
    grads_reach(mlp, mlp(x, params))
    assert params.grad.abs().sum() > 0
    independent(mlp, x, params.detach())
    shared = torch.randn(mlp.num_params)
    assert torch.allclose(mlp(x, shared), mlp(x, shared.expand(2, -1)))
    small = HyperMLP(2, 1, hidden=(3,), activations="tanh").double()
    args = (
        torch.randn(2, 4, 2, dtype=torch.float64, requires_grad=True),
        torch.randn(2, small.num_params, dtype=torch.float64, requires_grad=True),
    )
    assert torch.autograd.gradcheck(small, args)


def test_hypermlp_errors():
    mlp = HyperMLP(2, 3, hidden=(4,))
    with pytest.raises(InputError, match=r"params \(\.\.\., 27\)"):
        mlp(torch.randn(2, 5, 2), torch.randn(2, 26))
    with pytest.raises(InputError, match=r"x \(\.\.\., N, 2\)"):
        mlp(torch.randn(2, 5, 3), torch.randn(2, 27))
    with pytest.raises(InputError, match="do not broadcast"):
        mlp(torch.randn(2, 5, 2), torch.randn(3, 27))
