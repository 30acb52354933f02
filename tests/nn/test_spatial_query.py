"""SpatialQuery: exactness against bilinear interpolation, continuity, fast path = plain path, checks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fusion.errors import InputError
from fusion.nn import SpatialQuery, make_cell, make_coord
from fusion.nn.coords import pixel_centres


def grid_queries(batch: int, size: tuple[int, int], dtype=torch.float32):
    n = size[0] * size[1]
    coord = make_coord(size, dtype=dtype).expand(batch, -1, -1)
    return coord, make_cell(size, n, dtype=dtype).expand(batch, -1, -1)


def bilinear(latent: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    out = F.interpolate(latent, size=size, mode="bilinear", align_corners=False)
    return out.flatten(2).transpose(1, 2)


SIZES = [((5, 7), (13, 16)), ((4, 4), (16, 16)), ((6, 5), (9, 20)), ((3, 3), (3, 3)), ((8, 9), (5, 6))]


@pytest.mark.parametrize("lr_size, out_size", SIZES)
def test_identity_decoder_with_ensemble_is_bilinear(lr_size, out_size):
    torch.manual_seed(0)
    latent = torch.randn(2, 3, *lr_size)
    coord, cell = grid_queries(2, out_size)
    query = SpatialQuery(3, unfold=False, cell=False, decoder=lambda x: x[..., :3])
    assert (query(latent, coord) - bilinear(latent, out_size)).abs().max() < 1e-5


def test_identity_decoder_on_unfolded_centre_is_bilinear_at_any_chunk():
    torch.manual_seed(1)
    latent = torch.randn(3, 4, 5, 6)
    coord, cell = grid_queries(3, (11, 17))
    centre = slice(4, 9 * 4, 9)  # channel c of the 3x3 unfolding sits at 9 c + 4
    query = SpatialQuery(4, unfold=True, cell=True, decoder=lambda x: x[..., centre])
    for chunk in (None, 1, 19, 500):
        assert (query(latent, coord, cell, chunk=chunk) - bilinear(latent, (11, 17))).abs().max() < 1e-5


def test_queries_outside_the_centres_are_border_clamped():
    latent = torch.arange(6.0).view(1, 1, 2, 3)
    coord = torch.tensor([[[-1.0, -1.0], [1.0, 1.0], [-0.9, 0.0]]])
    query = SpatialQuery(1, unfold=False, cell=False, decoder=lambda x: x[..., :1])
    assert query(latent, coord).flatten().tolist() == pytest.approx([0.0, 5.0, 1.0])


def border_pairs(h: int, w: int, at_edges: bool, gap: float = 1e-4):
    """Query pairs ``gap`` apart straddling every vertical border between latent columns of row 1.

    ``at_edges``: borders at latent pixel edges (where the nearest code changes); otherwise at latent
    centres (where the ensemble's neighbour set changes).
    """
    xs = pixel_centres(w, dtype=torch.float64)
    borders = (xs[:-1] + xs[1:]) / 2 if at_edges else xs[1:-1]
    y = pixel_centres(h, dtype=torch.float64)[1] + 0.3 / h
    left = torch.stack((torch.full_like(borders, y), borders - gap / 2), -1)
    right = torch.stack((torch.full_like(borders, y), borders + gap / 2), -1)
    return left.unsqueeze(0), right.unsqueeze(0)


@pytest.mark.parametrize("at_edges", [True, False])
def test_continuity_across_latent_borders(at_edges):
    torch.manual_seed(2)
    latent = torch.randn(1, 8, 6, 9, dtype=torch.float64)
    left, right = border_pairs(6, 9, at_edges)
    cell = torch.full_like(left, 0.1)
    jumps = {}
    for ensemble in (True, False):
        torch.manual_seed(3)
        query = SpatialQuery(8, 3, hidden=(32, 32), ensemble=ensemble).double()
        with torch.no_grad():
            wide = border_pairs(6, 9, True, gap=0.3)[0]
            spread = query(latent, wide, torch.full_like(wide, 0.1)).std()
            jumps[ensemble] = (
                (query(latent, left, cell) - query(latent, right, cell)).abs().max() / spread
            ).item()
    assert jumps[True] < 1e-2
    if at_edges:  # the nearest code changes here: without the ensemble the value jumps
        assert jumps[False] > 0.1


CONFIGS = [
    dict(unfold=True, ensemble=True, cell=True, encoding="none", guide="map"),
    dict(unfold=False, ensemble=True, cell=False, encoding="sinusoidal", guide=None),
    dict(unfold=True, ensemble=False, cell=True, encoding="periodic", guide="per-query"),
    dict(unfold=False, ensemble=False, cell=False, encoding="none", guide=None),
]


def build_pair(config, latent_dim=4, guide_dim=2, out_dim=3):
    """The built-in (factorised) query and the same decoder called on concatenated inputs."""
    options = {k: v for k, v in config.items() if k != "guide"}
    options["num_freqs"] = 0 if options["encoding"] == "none" else 3
    options["guide_dim"] = guide_dim if config["guide"] else 0
    fast = SpatialQuery(latent_dim, out_dim, hidden=(16, 8), activations=["gelu", "sine"], **options).double()
    plain = SpatialQuery(latent_dim, decoder=lambda x: fast.decoder(x), **options)
    return fast, plain


def guide_for(kind, batch, n, size, dims=2):
    if kind == "map":
        return torch.randn(batch, dims, *size, dtype=torch.float64)
    if kind == "per-query":
        return torch.randn(batch, n, dims, dtype=torch.float64)
    return None


@pytest.mark.parametrize("config", CONFIGS)
def test_factorised_first_layer_equals_concatenated_inputs(config):
    torch.manual_seed(4)
    fast, plain = build_pair(config)
    latent = torch.randn(2, 4, 5, 7, dtype=torch.float64)
    coord, cell = grid_queries(2, (9, 12), torch.float64)
    guide = guide_for(config["guide"], 2, 9 * 12, (9, 12))
    expected = plain(latent, coord, cell, guide)
    assert expected.shape == (2, 9 * 12, 3)
    assert torch.allclose(fast(latent, coord, cell, guide), expected, atol=1e-12)
    assert torch.allclose(fast(latent, coord, cell, guide, chunk=13), expected, atol=1e-12)


def test_gradients_reach_every_parameter_and_the_inputs(grads_reach):
    torch.manual_seed(5)
    query = SpatialQuery(4, 3, hidden=(16, 16), encoding="sinusoidal", num_freqs=2, guide_dim=2)
    latent = torch.randn(2, 4, 5, 6, requires_grad=True)
    guide = torch.randn(2, 2, 11, 13, requires_grad=True)
    coord, cell = grid_queries(2, (11, 13))
    grads_reach(query, query(latent, coord, cell, guide, chunk=50))
    assert latent.grad.abs().sum() > 0 and guide.grad.abs().sum() > 0


def test_gradcheck_float64():
    torch.manual_seed(6)
    query = SpatialQuery(2, 2, hidden=(4,), activations="tanh", guide_dim=1, encoding="periodic", num_freqs=1)
    query = query.double()
    latent = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    guide = torch.randn(1, 1, 4, 5, dtype=torch.float64, requires_grad=True)
    coord = (torch.rand(1, 5, 2, dtype=torch.float64) * 1.6 - 0.8).requires_grad_()
    cell = torch.full((1, 5, 2), 0.4, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda z, c, g: query(z, c, cell, g), (latent, coord, guide))


def test_samples_are_independent(independent):
    torch.manual_seed(7)
    query = SpatialQuery(3, 2, hidden=(8,), guide_dim=1)
    coord, cell = grid_queries(2, (7, 9))
    independent(
        lambda z, c, g: query(z, c, cell, g),
        torch.randn(2, 3, 4, 5),
        coord.clone() * 0.9,
        torch.randn(2, 1, 7, 9),
    )


def test_bf16_autocast_is_close_to_float32():
    torch.manual_seed(8)
    query = SpatialQuery(4, 3, hidden=(32, 32), guide_dim=2)
    latent, guide = torch.randn(1, 4, 6, 6), torch.randn(1, 2, 15, 15)
    coord, cell = grid_queries(1, (15, 15))
    with torch.no_grad():
        full = query(latent, coord, cell, guide)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = query(latent, coord, cell, guide)
    assert half.dtype == torch.bfloat16
    assert ((half.float() - full).abs().max() / full.abs().max()) < 0.05


def test_shape_errors_name_the_problem():
    query = SpatialQuery(3, 2, hidden=(8,), guide_dim=2)
    latent = torch.randn(2, 3, 4, 4)
    coord, cell = grid_queries(2, (6, 6))
    guide = torch.randn(2, 2, 6, 6)
    with pytest.raises(InputError, match=r"latent \(B, 3, h, w\)"):
        query(torch.randn(2, 5, 4, 4), coord, cell, guide)
    with pytest.raises(InputError, match="coord"):
        query(latent, coord[:1], cell, guide)
    with pytest.raises(InputError, match="cell decoding needs cell"):
        query(latent, coord, None, guide)
    with pytest.raises(InputError, match="no guide"):
        query(latent, coord, cell)
    with pytest.raises(InputError, match="guide features"):
        query(latent, coord, cell, torch.randn(2, 3, 6, 6))
    with pytest.raises(InputError, match="guide features"):
        query(latent, coord, cell, torch.randn(2, 36 * 2))
    with pytest.raises(InputError, match="at least one hidden layer"):
        SpatialQuery(3, 2, hidden=())
