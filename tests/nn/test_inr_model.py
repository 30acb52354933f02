"""fusion.models.base.INRModel: chunked forward on the output grid, with a trivial identity INR."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fusion.errors import InputError
from fusion.models.base import INRModel
from fusion.nn import SpatialQuery


class IdentityINR(INRModel):
    """The low-resolution image is its own latent grid; the decoder returns the code: bilinear upsampling."""

    receptive_field = 1.0

    def __init__(self, bands: int):
        super().__init__()
        self.spatial = SpatialQuery(bands, unfold=False, cell=False, decoder=lambda x: x[..., :bands])
        self.queried: list[int] = []
        self.cells: list[torch.Tensor] = []

    def encode(self, lr, guide):
        return self.spatial.prepare(lr)

    def query(self, state, coord, cell):
        self.queried.append(coord.shape[1])
        self.cells.append(cell[0, 0])
        return self.spatial.query(state, coord)


@pytest.mark.parametrize("lr_size, out_size", [((5, 6), (20, 24)), ((4, 7), (10, 23)), ((3, 3), (10, 12))])
def test_forward_is_bilinear_upsampling_for_any_ratio(lr_size, out_size):
    torch.manual_seed(0)
    lr = torch.randn(2, 3, *lr_size)
    guide = torch.randn(2, 1, *out_size)
    model = IdentityINR(3)
    out = model(lr, guide)
    ref = F.interpolate(lr, size=out_size, mode="bilinear", align_corners=False)
    assert out.shape == (2, 3, *out_size)
    assert (out - ref).abs().max() < 1e-5
    assert torch.allclose(model.cells[0], torch.tensor([2 / out_size[0], 2 / out_size[1]]))


def test_chunks_bound_the_queries_and_do_not_change_the_result():
    torch.manual_seed(1)
    lr, guide = torch.randn(1, 2, 4, 5), torch.randn(1, 3, 13, 17)
    model = IdentityINR(2)
    whole = model(lr, guide, chunk=10_000)
    model.queried.clear()
    chunked = model(lr, guide, chunk=30)
    assert max(model.queried) <= 30 and sum(model.queried) == 13 * 17
    assert torch.equal(whole, chunked)
    with pytest.raises(InputError, match="chunk"):
        model(lr, guide, chunk=-1)


def test_halo_comes_from_the_receptive_field_and_inputs_are_checked():
    model = IdentityINR(2)
    model.receptive_field = 3.5
    assert model.halo((4.0, 2.5)) == 14
    with pytest.raises(InputError, match="out_size"):
        model(torch.randn(1, 2, 4, 4), torch.randn(1, 1, 8, 8), out_size=(9, 9))
