"""``fusion models`` and ``fusion models --details`` (parameters and FLOPs per output pixel)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from fusion.cli import cli
from fusion.cli.models_cmd import DETAIL_RATIO, model_cost


def tiny_cnn_cost(bands: int, guide: int, width: int = 16, depth: int = 3) -> tuple[int, int]:
    """Parameters and conv FLOPs per output pixel of ``tiny-cnn``, counted by hand.

    Every convolution is 3x3 and runs on the output grid: ``2 * 9 * in * out`` FLOPs per pixel.
    """
    convs = [(bands + guide, width)] + [(width, width)] * (depth - 2) + [(width, bands)]
    params = sum(9 * a * b + b for a, b in convs)
    flops = sum(2 * 9 * a * b for a, b in convs)
    return params, flops


@pytest.mark.parametrize("bands, guide", [(31, 1), (103, 3)])
def test_model_cost_matches_a_hand_count(bands, guide):
    params, flops = model_cost("tiny-cnn", bands, guide, lr_size=(5, 7))
    assert (params, flops) == tiny_cnn_cost(bands, guide)


def test_classical_methods_have_no_parameters_and_matmul_free_ones_no_flops():
    assert model_cost("brovey", 31, 1) == (0, 0)
    params, flops = model_cost("gsa", 31, 1)
    assert params == 0 and flops > 0  # its regression is a matrix product


def test_details_table_prints_both_band_counts():
    result = CliRunner().invoke(cli, ["models", "--details", "tiny-*"])
    assert result.exit_code == 0, result.output
    header, row = result.output.splitlines()[:2]
    assert header.split() == ["model", "guide", "params", "C=31", "FLOPs/px", "C=31", "params", "C=103",
                              "FLOPs/px", "C=103"]
    small, large = tiny_cnn_cost(31, 1), tiny_cnn_cost(103, 1)
    assert row.split() == ["tiny-cnn", "G=1", "11.4k", "22.8k", "32.2k", "64.2k"]
    assert small[0] == 11_439 and large[0] == 32_247  # the rounded cells above
    assert f"ratio {DETAIL_RATIO}" in result.output


def test_plain_listing_is_unchanged():
    result = CliRunner().invoke(cli, ["models", "liif"])
    assert result.exit_code == 0
    assert result.output.startswith("liif  LIIF: EDSR-baseline encoder")
