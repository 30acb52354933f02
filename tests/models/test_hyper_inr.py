"""``hyper-inr``: cell geometry, per-cell MLPs against a dense re-implementation, both modes, locality."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from zoo import assert_local, tiny_args

from fusion.errors import InputError
from fusion.models import create_model
from fusion.models.hyper_inr import cell_position, per_cell_mlp
from fusion.nn import HyperMLP, encode_coords, make_coord
from fusion.nn.activations import Sinc

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_hyper(bands=4, guide=3, **kw):
    torch.manual_seed(0)
    args = {**tiny_args("hyper-inr"), **kw}
    return create_model("hyper-inr", lr_bands=bands, guide_bands=guide, **args).eval()


def test_cell_position_by_hand():
    """A 10-pixel axis with S = 4 has cells [0, 4), [4, 8), [8, 10): pixel 9 is in cell 2 at local
    position (9.5 - 8) / 4 * 2 - 1 = -0.25; pixel 0 in cell 0 at -0.75; pixel 5 in cell 1 at -0.25. A
    3-pixel axis is one partial cell: positions -0.75, -0.25, 0.25."""
    coord = make_coord((10, 3))[None]  # (1, 30, 2)
    index, local = cell_position(coord, (10, 3), 4, (3, 1))
    rows = index.view(10, 3)[:, 0]
    assert rows.tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]
    ly = local.view(10, 3, 2)[:, 0, 0]
    torch.testing.assert_close(ly[[0, 5, 9]], torch.tensor([-0.75, -0.25, -0.25]))
    torch.testing.assert_close(local.view(10, 3, 2)[0, :, 1], torch.tensor([-0.75, -0.25, 0.25]))


def test_grouped_cells_equal_one_mlp_per_query():
    torch.manual_seed(1)
    mlp = HyperMLP(5, 3, hidden=(7, 6))
    params = torch.randn(9, mlp.num_params) * 0.3
    index = torch.randint(0, 9, (2, 40))
    x = torch.randn(2, 40, 5)
    expected = mlp(x.unsqueeze(-2), params[index]).squeeze(-2)
    torch.testing.assert_close(per_cell_mlp(mlp, x, index, params), expected)


@pytest.mark.parametrize("size, cell", [((13, 10), 4), ((9, 16), 2)])
def test_fusion_output_equals_a_dense_per_cell_evaluation(size, cell):
    """Each pixel decoded by its cell's MLP from [guide, bilinear(lr), gamma(local position)], plus the
    bilinear residual, computed densely with repeat_interleave over the parameter grid."""
    model = tiny_hyper(cell=cell)
    lr, guide = torch.rand(2, 4, 5, 4), torch.rand(2, 3, *size)
    with torch.no_grad():
        out = model(lr, guide)
        up = F.interpolate(lr, size=size, mode="bilinear", align_corners=False)
        inputs = torch.cat((guide, up), 1)
        grid = model.hyper(inputs)  # (B, P, ceil(H / S), ceil(W / S))
        per_pixel = grid.repeat_interleave(cell, 2).repeat_interleave(cell, 3)[..., : size[0], : size[1]]
        local = [(torch.arange(n) % cell + 0.5) * 2 / cell - 1 for n in size]
        pos = torch.stack(torch.meshgrid(*local, indexing="ij"), -1)
        gamma = encode_coords(pos, "periodic", model.num_freqs).expand(2, -1, -1, -1)
        x = torch.cat((inputs.permute(0, 2, 3, 1), gamma), -1)
        values = model.mlp(x.unsqueeze(-2), per_pixel.permute(0, 2, 3, 1)).squeeze(-2)
        expected = up + values.permute(0, 3, 1, 2)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_spectral_mode_maps_the_guide_alone_to_the_target_bands():
    model = tiny_hyper(bands=31, guide=3, mode="spectral")
    rgb = torch.rand(2, 3, 17, 22)
    with torch.no_grad():
        alone = model(None, rgb)
        ignored = model(torch.rand(2, 31, 17, 22), rgb)
    assert alone.shape == (2, 31, 17, 22) and torch.isfinite(alone).all()
    assert torch.equal(alone, ignored)  # lr plays no part in spectral mode
    with pytest.raises(InputError, match="fusion mode"):
        tiny_hyper()(None, rgb)


def test_untrained_model_is_one_shared_mlp():
    """With the hypernetwork's offsets at zero every cell holds ``base``: pixels with equal inputs and
    equal local positions in different cells decode equally."""
    model = tiny_hyper(mode="spectral")
    torch.nn.init.zeros_(model.hyper.out.weight)
    guide = torch.rand(1, 3, 4, 4).repeat(1, 1, 3, 2)  # a 4x4 pattern tiled on the 4x4 cells
    with torch.no_grad():
        out = model(None, guide)
    torch.testing.assert_close(out[..., :4, :4], out[..., 8:12, 4:8])


def test_defaults_and_bad_arguments():
    model = create_model("hyper-inr", lr_bands=8, guide_bands=1, cell=8)
    assert model.num_freqs == 4 and model.hyper.reach == 2 * 8 - 1 + 2 * 5 * 8
    with pytest.raises(InputError, match="power of two"):
        create_model("hyper-inr", lr_bands=8, guide_bands=1, cell=6)
    with pytest.raises(InputError, match="mode"):
        create_model("hyper-inr", lr_bands=8, guide_bands=1, mode="both")


@pytest.mark.parametrize("ratio", [2, 3])
def test_output_depends_only_on_the_halo(ratio):
    lr = torch.rand(1, 4, 16, 16)
    guide = torch.rand(1, 3, 16 * ratio, 16 * ratio)
    assert_local(tiny_hyper(blocks=1), lr, guide, pixel=(8 * ratio + 3, 8 * ratio + 1))


def test_mlp_takes_a_mire_activation_sequence():
    model = tiny_hyper(activations=["sinc", "relu"])
    assert isinstance(model.mlp.acts[0], Sinc)
    with torch.no_grad():
        assert torch.isfinite(model(torch.rand(2, 4, 5, 6), torch.rand(2, 3, 13, 17))).all()
