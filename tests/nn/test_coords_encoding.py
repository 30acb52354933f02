"""Coordinates (the package's grid convention) and coordinate encodings."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from fusion.errors import InputError
from fusion.nn import (
    CoordEncoding,
    encode_coords,
    grid_coords,
    make_cell,
    make_coord,
    normalize_wavelengths,
    sample_at,
)
from fusion.nn.coords import coord_to_index, pixel_centres


def test_make_coord_is_row_major_pixel_centres():
    coord = make_coord((3, 4), dtype=torch.float64)
    assert coord.shape == (12, 2)
    # pixel (1, 2) of a 3 x 4 grid: y = -1 + 3/3, x = -1 + 5/4
    assert coord[1 * 4 + 2].tolist() == pytest.approx([0.0, 0.25])
    assert coord[0].tolist() == pytest.approx([-1 + 1 / 3, -1 + 1 / 4])
    assert coord[-1].tolist() == pytest.approx([1 - 1 / 3, 1 - 1 / 4])


def test_grid_coords_slices_match_the_whole_grid():
    whole = make_coord((5, 7))
    parts = torch.cat([grid_coords((5, 7), s, min(s + 6, 35)) for s in range(0, 35, 6)])
    assert torch.equal(parts, whole)


@pytest.mark.parametrize("h, H", [(4, 16), (3, 10), (5, 12)])
def test_low_res_centres_follow_the_base_grid_convention(h, H):
    """Low-res pixel k sits at guide pixel (k + 0.5) r - 0.5 (fusion.models.base): same coordinate."""
    r = H / h
    k = torch.arange(h, dtype=torch.float64)
    guide_pixel = (k + 0.5) * r - 0.5
    as_guide = (2 * guide_pixel + 1) / H - 1
    assert torch.allclose(pixel_centres(h, dtype=torch.float64), as_guide)
    back = coord_to_index(torch.stack((as_guide, as_guide), -1), (h, h))
    assert torch.allclose(back[:, 0], k)


def test_cell_is_the_query_pixel_size():
    cell = make_cell((4, 10), n=3)
    assert cell.shape == (3, 2)
    assert cell[0].tolist() == pytest.approx([0.5, 0.2])


def test_bad_sizes_raise_input_error():
    with pytest.raises(InputError, match="grid size"):
        make_coord((0, 3))
    with pytest.raises(InputError, match="span"):
        normalize_wavelengths(torch.tensor([500.0]), span=(900.0, 400.0))


def test_normalize_wavelengths_maps_the_span_to_unit_interval():
    out = normalize_wavelengths(torch.tensor([400.0, 550.0, 700.0]), span=(400.0, 700.0))
    assert out.tolist() == pytest.approx([-1.0, 0.0, 1.0])


def test_sample_at_equals_bilinear_resize_and_pixels_at_centres():
    torch.manual_seed(0)
    features = torch.randn(2, 3, 5, 6, dtype=torch.float64)
    at_centres = sample_at(features, make_coord((5, 6), dtype=torch.float64).expand(2, -1, -1))
    assert torch.allclose(at_centres, features.flatten(2).transpose(1, 2))
    fine = sample_at(features, make_coord((11, 13), dtype=torch.float64).expand(2, -1, -1))
    ref = F.interpolate(features, size=(11, 13), mode="bilinear", align_corners=False)
    assert torch.allclose(fine, ref.flatten(2).transpose(1, 2), atol=1e-12)
    with pytest.raises(InputError, match="sample_at"):
        sample_at(features, torch.zeros(2, 4, 3))


def test_periodic_encoding_matches_gamma_by_hand():
    p = torch.tensor([[0.25, -0.5]], dtype=torch.float64)
    out = encode_coords(p, "periodic", 2)
    a, b = 0.25, -0.5
    expected = []
    for k in range(2):
        f = 2**k * math.pi
        expected += [math.cos(f * a), math.sin(f * a), math.cos(f * b), math.sin(f * b)]
    assert out[0].tolist() == pytest.approx(expected)


def test_sinusoidal_encoding_keeps_the_coordinate_and_adds_waves():
    p = torch.tensor([[0.3, 0.1]], dtype=torch.float64)
    out = encode_coords(p, "sinusoidal", 3)
    assert out.shape == (1, 2 + 2 * 2 * 3)
    assert out[0, :2].tolist() == pytest.approx([0.3, 0.1])
    # frequency k = 2: sin of both axes then cos of both axes
    f = 4 * math.pi
    assert out[0, 2 + 8 : 2 + 12].tolist() == pytest.approx(
        [math.sin(f * 0.3), math.sin(f * 0.1), math.cos(f * 0.3), math.cos(f * 0.1)]
    )


@pytest.mark.parametrize("kind, freqs, dim", [("none", 0, 2), ("sinusoidal", 4, 18), ("periodic", 4, 16)])
def test_encoding_module_width(kind, freqs, dim):
    enc = CoordEncoding(kind, 2, freqs)
    assert enc.out_dim == dim
    assert enc(torch.zeros(3, 5, 2)).shape == (3, 5, dim)


def test_encoding_errors():
    with pytest.raises(InputError, match="unknown coordinate encoding"):
        CoordEncoding("fourier")
    with pytest.raises(InputError, match="num_freqs"):
        CoordEncoding("periodic", 2, 0)
    with pytest.raises(InputError, match="expected coordinates"):
        CoordEncoding("none", 2)(torch.zeros(4, 3))
