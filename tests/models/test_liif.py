"""``liif``: guide-free use, bilinear residual, continuity across latent cells, locality, MIRE activations."""

from __future__ import annotations

import pytest
import torch
from zoo import assert_bilinear_when_silent, assert_local, tiny_args

from fusion.errors import InputError
from fusion.models import create_model
from fusion.nn.activations import Gabor, Sinc

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_liif(bands: int = 4, **kw):
    torch.manual_seed(0)
    return create_model("liif", lr_bands=bands, **{**tiny_args("liif"), **kw}).eval()


def test_the_guide_only_sets_the_output_size():
    model = tiny_liif()
    lr = torch.rand(2, 4, 7, 9)
    with torch.no_grad():
        with_pan = model(lr, torch.rand(2, 1, 23, 30))
        with_msi = model(lr, torch.rand(2, 3, 23, 30))
        without = model(lr, None, out_size=(23, 30))
    assert torch.equal(with_pan, with_msi) and torch.equal(with_pan, without)
    with pytest.raises(InputError, match="out_size"):
        model(lr, None)


def test_a_silent_decoder_gives_bilinear_upsampling():
    """With the decoder's output layer at zero only the residual remains: torch's bilinear resize."""
    model = tiny_liif()
    lr = torch.rand(2, 4, 7, 9)
    assert_bilinear_when_silent(model, model.spatial.decoder.linears[-1], lr, None, (17, 31))


def largest_jump(model, lr, lines: torch.Tensor, eps: float = 1e-5) -> float:
    """Largest change of the decoded values across vertical ``lines`` (normalised x positions)."""
    state = model.encode(lr, None)
    y = torch.linspace(-0.9, 0.9, 5)
    grid = torch.stack(torch.broadcast_tensors(y[:, None], lines[None, :]), dim=-1).reshape(1, -1, 2)
    shift = torch.tensor([0.0, eps])
    cell = torch.full_like(grid, 0.1)
    left, right = model.query(state, grid - shift, cell), model.query(state, grid + shift, cell)
    return float((left - right).abs().max())


def test_local_ensemble_makes_the_output_continuous_across_latent_cells():
    """The ensemble changes neighbours at latent centres, nearest-code decoding at the midlines between
    them: the first is continuous at both, the second jumps at the midlines."""
    lr = torch.rand(1, 4, 6, 7)
    centres = -1 + (2 * torch.arange(1, 6) + 1) / 7
    midlines = -1 + 2 * torch.arange(1, 7) / 7
    with torch.no_grad():
        blended = max(largest_jump(tiny_liif(), lr, centres), largest_jump(tiny_liif(), lr, midlines))
        nearest = largest_jump(tiny_liif(ensemble=False), lr, midlines)
    assert blended < 1e-3  # a 2e-5 step (7e-5 latent pixels) moves a smooth output by ~1e-4
    assert nearest > 30 * blended


def test_output_depends_only_on_the_receptive_field():
    model = tiny_liif()
    assert model.receptive_field == 2 * 1 + 2 + 1 + 1  # encoder (1 block), unfold, ensemble neighbour
    assert_local(model, torch.rand(1, 4, 20, 20), torch.rand(1, 1, 40, 50), pixel=(20, 25))


def test_decoder_takes_a_mire_activation_sequence():
    sequence = [{"name": "sinc", "params": {"omega": 2.0}}, {"name": "gabor", "params": {"omega": 3.0}}]
    model = tiny_liif(activations=sequence)
    acts = model.spatial.decoder.acts
    assert isinstance(acts[0], Sinc) and isinstance(acts[1], Gabor)
    assert acts[0].values() == {"omega": 2.0} and acts[1].values() == {"omega": 3.0, "scale": 1.0}
    with torch.no_grad():
        assert torch.isfinite(model(torch.rand(2, 4, 5, 5), None, out_size=(16, 13))).all()
