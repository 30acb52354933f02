"""``qis``: level planning from the ratio, the softmax-blended level against a direct loop, locality,
MIRE activations, and the adversarial loss module."""

from __future__ import annotations

import math

import pytest
import torch
from zoo import assert_bilinear_when_silent, assert_local, tiny_args

from fusion.models import create_model
from fusion.models.qis import QISAdversarialLoss, QISDiscriminator, QuadtreeLevel, level_sizes
from fusion.nn.activations import Gaussian, Sine

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize(
    "lr_size, out_size, expected",
    [
        ((7, 9), (28, 36), [(14, 18), (28, 36)]),  # x4: the public quadtree, x2 twice
        ((4, 4), (32, 32), [(8, 8), (16, 16), (32, 32)]),  # x8: three x2 levels
        ((7, 9), (14, 18), [(14, 18)]),  # x2: one level
        ((10, 10), (15, 15), [(15, 15)]),  # x1.5: one level
        ((7, 9), (23, 30), [(14, 18), (23, 30)]),  # x3.3: x2, then x1.65
        ((7, 9), (21, 36), [(14, 18), (21, 36)]),  # 3 x 4: (2, 2), then (1.5, 2)
        ((4, 4), (6, 32), [(4, 8), (4, 16), (6, 32)]),  # 1.5 x 8: y waits for the last level
    ],
)
def test_levels_come_from_the_ratio(lr_size, out_size, expected):
    assert level_sizes(lr_size, out_size) == expected


@pytest.mark.parametrize("big", [10, 20, 21, 33, 40, 50, 79, 80, 165])
def test_levels_double_exactly_then_take_one_step_of_at_most_two(big):
    sizes = [(10, 10), *level_sizes((10, 10), (big, big))]
    steps = [b[0] / a[0] for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    assert len(steps) == max(1, math.ceil(math.log2(big / 10) - 1e-9))
    assert all(step == 2 for step in steps[:-1])
    assert 1 <= steps[-1] <= 2


def test_level_equals_a_direct_softmax_blend_of_the_four_neighbours():
    """The factorised level (first layer per code, output layer after the blend) against the textbook
    computation: the MLP on ``[code, offset, cell, guide]`` for each of the 4 nearest codes, softmax of
    the logits, weighted sum of the outputs."""
    torch.manual_seed(0)
    level = QuadtreeLevel(code_dim=5, guide_dim=3, out_dim=4, hidden=(16, 8))
    codes = torch.randn(2, 5, 4, 6)
    coord = torch.rand(2, 11, 2) * 2 - 1
    cell = torch.full((2, 11, 2), 0.3)
    guide = torch.randn(2, 11, 3)
    got = level.query(level.prepare(codes), (4, 6), coord, cell, guide)

    expected = torch.zeros(2, 11, 4)
    for b in range(2):
        for n in range(11):
            y = ((coord[b, n, 0] + 1) * 4 - 1) / 2  # continuous latent index
            x = ((coord[b, n, 1] + 1) * 6 - 1) / 2
            outs, logits = [], []
            for i in (math.floor(y), math.floor(y) + 1):
                for j in (math.floor(x), math.floor(x) + 1):
                    ci, cj = min(max(i, 0), 3), min(max(j, 0), 5)
                    offset = torch.stack((y - ci, x - cj))
                    scaled_cell = cell[b, n] * torch.tensor([4.0, 6.0]) / 2
                    inputs = torch.cat((codes[b, :, ci, cj], offset, scaled_cell, guide[b, n]))
                    hidden = level.mlp.trunk(level.mlp.linears[0](inputs))
                    outs.append(level.mlp.head(hidden))
                    logits.append(level.logit(hidden))
            weights = torch.softmax(torch.cat(logits), 0)
            expected[b, n] = sum(w * o for w, o in zip(weights, outs, strict=True))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def tiny_qis(bands=4, guide=3, **kw):
    torch.manual_seed(0)
    return create_model("qis", lr_bands=bands, guide_bands=guide, **{**tiny_args("qis"), **kw}).eval()


def test_a_silent_last_level_gives_bilinear_upsampling():
    model = tiny_qis()
    lr, guide = torch.rand(2, 4, 7, 9), torch.rand(2, 3, 23, 30)
    assert_bilinear_when_silent(model, model.last.mlp.linears[-1], lr, guide, (23, 30))


@pytest.mark.parametrize("ratio", [2, 3.3, (1.5, 4)])
def test_output_depends_only_on_the_receptive_field(ratio):
    ratio = ratio if isinstance(ratio, tuple) else (ratio, ratio)
    out_size = (round(16 * ratio[0]), round(18 * ratio[1]))
    lr, guide = torch.rand(1, 4, 16, 18), torch.rand(1, 3, *out_size)
    assert_local(tiny_qis(), lr, guide, pixel=(out_size[0] // 2, out_size[1] // 2))


def test_levels_take_a_mire_activation_sequence():
    model = tiny_qis(activations=["gaussian", {"name": "sine", "params": {"omega": 4.0}}])
    for level in (model.middle, model.last):
        assert isinstance(level.mlp.acts[0], Gaussian) and isinstance(level.mlp.acts[1], Sine)
    with torch.no_grad():
        assert torch.isfinite(model(torch.rand(2, 4, 5, 6), torch.rand(2, 3, 21, 17))).all()


# -- adversarial loss -----------------------------------------------------------------------------
def test_discriminator_takes_any_size_and_returns_probabilities():
    torch.manual_seed(0)
    disc = QISDiscriminator(5, widths=(8, 8, 16, 16))
    for size in [(17, 23), (32, 32), (3, 5)]:
        p = disc(torch.rand(3, 5, *size))
        assert p.shape == (3,) and bool(((p > 0) & (p < 1)).all())


def test_generator_and_discriminator_losses_follow_their_definitions():
    torch.manual_seed(0)
    loss = QISAdversarialLoss(
        4, widths=(8, 8), gradient_weight=0.5, spectral_weight=2.0, adversarial_weight=0.1
    )
    loss.eval()  # batch-norm on running statistics, so D is a fixed function here
    fused, ref = torch.rand(2, 4, 9, 11, requires_grad=True), torch.rand(2, 4, 9, 11)
    d_fused, d_ref = loss.discriminator(fused).detach(), loss.discriminator(ref).detach()
    content = (fused - ref).abs().mean()
    dx = ((fused[..., :, 1:] - fused[..., :, :-1]) - (ref[..., :, 1:] - ref[..., :, :-1])).pow(2).mean()
    dy = ((fused[..., 1:, :] - fused[..., :-1, :]) - (ref[..., 1:, :] - ref[..., :-1, :])).pow(2).mean()
    db = ((fused[:, 1:] - fused[:, :-1]) - (ref[:, 1:] - ref[:, :-1])).pow(2).mean()
    expected = content + 0.5 * (dx + dy) + 2.0 * db + 0.1 * (1 - d_fused).mean()
    torch.testing.assert_close(loss(fused, ref), expected)
    torch.testing.assert_close(loss.discriminator_loss(fused, ref), (1 - d_ref).mean() + d_fused.mean())
    # The discriminator's loss does not reach the generator's output; the generator's does.
    loss.discriminator_loss(fused, ref).backward()
    assert fused.grad is None
    assert all(p.grad is not None for p in loss.discriminator.parameters())
    loss.generator_loss(fused, ref).backward()
    assert fused.grad is not None and fused.grad.abs().sum() > 0
