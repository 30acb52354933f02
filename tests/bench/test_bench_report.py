"""`fusion bench report`: the sample HTML report of the bundled Landsat-8 pair, small and self-contained."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from fusion.cli import cli

pytestmark = pytest.mark.usefixtures("one_thread")


def test_report_sample_is_small_and_its_images_lie_next_to_it(tmp_path):
    out = tmp_path / "sample"
    result = CliRunner().invoke(cli, ["bench", "report", str(out), "--methods", "exp,gsa", "--crop", "80"])
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text()
    images = re.findall(r'<img src="([^"]+)"', page)
    assert len(images) == 3 + 2 + 1  # true colour of reference and 2 methods, 2 error maps, spectra
    for src in images:
        assert (out / src).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) < 1_000_000
    assert "convention=reference" in page and "<th>gsa</th>" in page
