"""Wald protocol on the real WorldView-2 sample at ratio 4 (issue 2, "Done when"): GSA, MTF-GLP-HPM
and BDSD-PC beat EXP in ERGAS and are no worse than EXP in SAM by more than 5%.

The sample (PAN 1280 x 1280, MS 320 x 320 x 8, 11-bit DN) is reduced with ``fusion.degrade.reduce_pair``,
fused, and compared with the original MS by ``fusion.metrics.ergas`` / ``sam`` (no border cut);
``pytest -s`` prints the tables. Two reductions of the PAN are checked:

* MTF (default run): PAN and MS both filtered with the sensor's MTF and decimated
  (``guide_mtf=True``; Ciotola's toolboxes and the project's P-PAN protocol). All three criteria hold.
* bicubic (``slow``): the PAN resized with MATLAB's bicubic ``imresize`` (Vivone's toolbox). GSA's SAM
  exceeds EXP's by 6.1% there (on quarters of the scene the ratio is 0.96, 1.09, 1.05, 1.14): GSA's
  intensity substitution with a PAN that keeps more high frequencies than the MS; a strict expected failure.
"""

from __future__ import annotations

import pytest

from fusion.degrade import reduce_pair
from fusion.metrics import ergas, sam
from fusion.models import create_model

PANSHARPENING = ["exp", "brovey", "gs", "gsa", "pca", "hpf", "sfim", "mtf-glp", "mtf-glp-hpm", "bdsd-pc",
                 "awlp"]
REQUIRED = ["gsa", "mtf-glp-hpm", "bdsd-pc"]
SAM_TOLERANCE = 1.05


TABLES: dict[tuple, dict[str, tuple[float, float]]] = {}


def wald_table(pan, ms, names=tuple(PANSHARPENING), guide_mtf=True) -> dict[str, tuple[float, float]]:
    """``{method: (ERGAS, SAM)}`` at reduced resolution, printed as a table; computed once per setting."""
    key = (tuple(ms.shape), tuple(names), guide_mtf)
    if key in TABLES:
        return TABLES[key]
    guide, lr, reference = reduce_pair(pan, ms, sensor="WV2", guide_mtf=guide_mtf)
    table = {}
    for name in names:
        fused = create_model(name, sensor="WV2")(lr, guide)
        table[name] = (float(ergas(fused, reference, 4)), float(sam(fused, reference)))
    exp_sam = table["exp"][1]
    pan_reduction = "MTF" if guide_mtf else "bicubic"
    size = tuple(ms.shape[-2:])
    print(f"\nWald protocol, WorldView-2 sample, MS {size} reduced by 4, PAN by {pan_reduction}")
    print(f"{'method':12s} {'ERGAS':>7s} {'SAM':>7s} {'SAM/EXP':>8s}")
    for name, (e, s) in table.items():
        print(f"{name:12s} {e:7.3f} {s:7.3f} {s / exp_sam:8.3f}")
    TABLES[key] = table
    return table


def check(table: dict[str, tuple[float, float]], name: str) -> None:
    (exp_ergas, exp_sam), (method_ergas, method_sam) = table["exp"], table[name]
    assert method_ergas < exp_ergas, f"{name}: ERGAS {method_ergas:.3f} not below EXP's {exp_ergas:.3f}"
    assert method_sam <= SAM_TOLERANCE * exp_sam, f"{name}: SAM {method_sam:.3f} vs EXP {exp_sam:.3f}"


def test_wald_protocol_with_mtf_reduced_pan(wv2_pair):
    pan, ms = wv2_pair
    table = wald_table(pan, ms, ("exp", "brovey", *REQUIRED))
    for name in REQUIRED:
        check(table, name)
    assert table["brovey"][1] == pytest.approx(table["exp"][1], rel=1e-9)  # Brovey keeps the angles


@pytest.mark.slow
@pytest.mark.parametrize("name", [
    pytest.param("gsa", marks=pytest.mark.xfail(strict=True, reason="GSA's SAM is 6.1% above EXP's")),
    "mtf-glp-hpm",
    "bdsd-pc",
])
def test_wald_protocol_with_bicubic_reduced_pan(wv2_pair, name):
    pan, ms = wv2_pair
    check(wald_table(pan, ms, guide_mtf=False), name)
