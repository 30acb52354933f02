"""Tiles start where a model needs them to: on attention windows (LR pixels) and output cells."""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch
from test_inference import field, make_pair, read

import fusion
from fusion.io import plan_tiles


@pytest.mark.parametrize("ratio", [Fraction(2), Fraction(10, 3), Fraction(4)])
@pytest.mark.parametrize("lr_unit, out_unit", [(1, 1), (8, 1), (1, 4), (3, 5)])
def test_tiles_start_on_both_units_and_cover_the_scene_once(ratio, lr_unit, out_unit):
    shape = (101, 131)
    tiles = plan_tiles(shape, (ratio, ratio), 40, 7, lr_unit=lr_unit, out_unit=out_unit)
    p, q = ratio.numerator, ratio.denominator
    for axis in ("rows", "cols"):
        spans = sorted({getattr(t, axis) for t in tiles}, key=lambda s: s.core)
        assert spans[0].core[0] == 0 and spans[-1].core[1] == shape[0 if axis == "rows" else 1]
        for before, after in zip(spans, spans[1:], strict=False):
            assert before.core[1] == after.core[0]  # no gap, no overlap
        for span in spans:
            for start in (span.core[0], span.window[0]):
                assert start % out_unit == 0 and start * q % p == 0  # an output-cell and an LR-pixel edge
                assert (start * q // p) % lr_unit == 0  # an LR-unit edge
            assert span.core[0] - span.window[0] >= 7  # the halo


def test_hyper_inr_cells_make_tiled_equal_untiled(make_geotiff, tmp_path):
    """At ratio 10/3 the LR alignment alone (10 output pixels) would start tiles inside 4 x 4 cells."""
    reflectance = lambda x, y, band: field(x, y, band) / 2000  # noqa: E731  (values the model is made for)
    guide, lr = make_pair(make_geotiff, "ratio10/3", fn=reflectance)
    torch.manual_seed(0)
    options = {"width": 8, "blocks": 1, "cell": 4, "hidden": (8,)}
    model = fusion.create_model("hyper-inr", lr_bands=4, guide_bands=1, **options)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.05 * torch.randn_like(param))  # away from the bilinear start
    assert model.tile_alignment() == (1, 4)
    # 30-pixel tiles: on LR edges (multiples of 10 output pixels) but not all on cell edges without the hook
    tiled = fusion.fuse(guide, lr, tmp_path / "tiled.tif", model, tile=30, progress=False)
    fusion.fuse(guide, lr, tmp_path / "untiled.tif", model, tile=None, progress=False)
    a, b = read(tmp_path / "tiled.tif")[0], read(tmp_path / "untiled.tif")[0]
    assert tiled["tiles"] >= 9
    assert abs(a.astype("float64") - b).max() <= 1e-5 * abs(b).max()
