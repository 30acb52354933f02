"""``fusion fuse --method NAME`` with the package's own shipped checkpoints: the WorldView-2 one for
8 MS bands + PAN, the CAVE one for 31 bands + RGB, the "use --fit or train" message otherwise."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from fusion.cli import cli
from fusion.degrade.sensors import get_sensor
from fusion.engine.checkpoint import file_hash
from fusion.engine.zoo import WEIGHTS_ENV, weights_folder

RATIO = 4
WV2_SCALE = 2047.0  # the checkpoints' data scale: values are 11-bit DN


@pytest.fixture(autouse=True)
def package_weights(monkeypatch):
    """The package's weights folder, whatever the environment says."""
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    return weights_folder()


def scene(make_geotiff, lr_bands, guide_bands, peak, size=(12, 16), seed=0):
    """An LR image of ``lr_bands`` at ``size`` and a guide ``RATIO`` times finer on the same extent,
    smooth random fields in [0.2, 0.8] * ``peak``."""
    rng = np.random.default_rng(seed)
    h, w = size
    y, x = np.mgrid[0 : h * RATIO, 0 : w * RATIO] / RATIO
    fine = np.stack(
        [np.sin(x / (2 + rng.random()) + rng.random() * 6) * np.cos(y / 3) for _ in range(lr_bands)]
    )
    lr = fine.reshape(lr_bands, h, RATIO, w, RATIO).mean(axis=(2, 4))
    guide = np.repeat(fine.mean(axis=0, keepdims=True), guide_bands, axis=0)
    lr, guide = ((0.5 + 0.3 * a) * peak for a in (lr, guide))
    return (
        make_geotiff(f"guide{guide_bands}.tif", guide.astype(np.float32), res=10.0),
        make_geotiff(f"lr{lr_bands}.tif", lr.astype(np.float32), res=10.0 * RATIO),
    )


def fuse(*args):
    return CliRunner().invoke(cli, ["fuse", *map(str, args), "--device", "cpu", "--tile", "0"])


def used_checkpoint(path) -> str:
    with rasterio.open(path) as out:
        return out.tags()["FUSION_CHECKPOINT"]


def test_eight_ms_bands_and_pan_get_the_wv2_checkpoint(make_geotiff, package_weights, tmp_path):
    guide, lr = scene(make_geotiff, 8, 1, WV2_SCALE, size=(4, 6))
    shipped = package_weights / "qis-wv2.pt"
    result = fuse(guide, lr, tmp_path / "out.tif", "-m", "qis")
    assert result.exit_code == 0, result.output
    assert used_checkpoint(tmp_path / "out.tif") == file_hash(shipped)
    with rasterio.open(tmp_path / "out.tif") as out:
        fused = out.read()
    assert fused.shape == (8, 16, 24) and np.all(np.isfinite(fused)) and fused.std() > 0.01 * WV2_SCALE
    # band centres 30 nm off the WorldView-2 ones do not fit (tests/engine/test_zoo.py: the ones that do)
    shifted = ",".join(f"{c + 30:g}" for c in get_sensor("worldview2").wavelengths_nm)
    refused = fuse(guide, lr, tmp_path / "off.tif", "-m", "qis", "--wavelengths", shifted)
    assert (
        refused.exit_code == 1 and "no shipped checkpoint fits 8 LR bands (458.4-953.3 nm)" in refused.stderr
    )


@pytest.mark.parametrize("method", ["dynamic-pinr", "hyper-inr", "liif", "naive-pinr", "qis", "ss-inr"])
def test_each_layout_resolves_to_its_checkpoint(method, package_weights):
    """What ``fusion fuse`` looks up (without running the models): 8 + 1 bands the WorldView-2 file
    (band centres unknown or the preset's), 31 + 3 the CAVE one."""
    from fusion.engine.inference import resolve_model

    wv2_nm = get_sensor("worldview2").wavelengths_nm
    cave_nm = [400.0 + 10 * k for k in range(31)]
    for layout, task in (((8, 1, None, None), "wv2"), ((8, 1, "worldview2", wv2_nm), "wv2"),
                         ((31, 3, None, cave_nm), "cave")):  # fmt: skip
        model, tags = resolve_model(method, *layout)
        assert tags["FUSION_CHECKPOINT"] == file_hash(package_weights / f"{method}-{task}.pt")
        assert (model.lr_bands, model.guide_bands) == layout[:2]


@pytest.mark.parametrize("method", ["dynamic-pinr", "hyper-inr", "liif", "naive-pinr", "qis", "ss-inr"])
def test_four_ms_bands_are_told_to_fit_or_train(make_geotiff, method, tmp_path):
    guide, lr = scene(make_geotiff, 4, 1, WV2_SCALE, size=(4, 4))
    result = fuse(guide, lr, tmp_path / "out.tif", "-m", method)
    assert result.exit_code == 1
    task = "WorldView-2 8-band MS + PAN, ratio 4 Wald, mtf-glp prior, back-projected, 428.4-923.3 nm"
    cave = "CAVE 31-band HSI + RGB (Nikon D700), P-CAVE, glp-hs prior, back-projection 10 (GNyq 0.3, centred)"
    assert result.stderr.strip().splitlines() == [
        f"Error: --method {method}: no shipped checkpoint fits 4 LR bands + 1 guide band (shipped: 31 + 3 "
        f"({cave}, 400-700 nm), 8 + 1 ({task})); use --fit to train it on this scene, or `fusion train`"
    ]
    assert not (tmp_path / "out.tif").exists()
