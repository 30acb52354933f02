"""``fusion fuse --method NAME`` with a shipped checkpoint (from a temporary weights folder)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from shipped_factory import load_script, temporary_weights, training_checkpoint  # noqa: E402

from fusion.cli import cli  # noqa: E402
from fusion.engine.checkpoint import file_hash, load_checkpoint  # noqa: E402

SCALE = 2047.0
FOUR_NM = [450.0, 550.0, 650.0, 850.0]
RATIO = 4


@pytest.fixture
def weights(tmp_path, monkeypatch):
    return temporary_weights(tmp_path, monkeypatch)


@pytest.fixture
def shipped(weights, tmp_path):
    """A tiny-cnn for 4 LR bands at :data:`FOUR_NM` + 1 guide band, trained on values / 2047."""
    source = training_checkpoint(tmp_path / "src.pt", centres=FOUR_NM, data_scale=SCALE, seed=6)
    entry, _ = load_script("ship_checkpoint").ship(source, weights / "tiny-wv.pt", task="WV")
    return entry.path


@pytest.fixture
def pair(make_geotiff):
    """A 4-band 10 x 12 LR image and a 40 x 48 PAN on the same extent, 11-bit-like values."""
    rng = np.random.default_rng(0)
    lr = (300 + 1500 * rng.random((4, 10, 12))).astype(np.float32)
    guide = (300 + 1500 * rng.random((1, 40, 48))).astype(np.float32)
    return make_geotiff("pan.tif", guide, res=10.0), make_geotiff("ms.tif", lr, res=10.0 * RATIO)


def run(*args):
    return CliRunner().invoke(cli, ["fuse", *map(str, args), "--device", "cpu"])


def test_fuse_uses_the_shipped_checkpoint_in_scene_units(shipped, pair, tmp_path):
    guide, lr = pair
    result = run(guide, lr, tmp_path / "out.tif", "-m", "tiny-cnn", "--tile", 0)
    assert result.exit_code == 0, result.output
    with (
        rasterio.open(tmp_path / "out.tif") as out,
        rasterio.open(lr) as src_lr,
        rasterio.open(guide) as src_g,
    ):
        fused, tags = out.read(), out.tags()
        lr_values, guide_values = src_lr.read(), src_g.read()
    assert tags["FUSION_METHOD"] == "tiny-cnn" and tags["FUSION_CHECKPOINT"] == file_hash(shipped)
    model, _ = load_checkpoint(shipped)  # the shipped weights, run by hand on inputs / scale
    with torch.no_grad():
        expected = model(
            torch.from_numpy(lr_values)[None] / SCALE, torch.from_numpy(guide_values)[None] / SCALE
        )
    expected = expected[0].numpy() * SCALE
    # away from the borders, where the reader pads the inputs with the model's halo
    inner = (slice(None), slice(8, -8), slice(8, -8))
    np.testing.assert_allclose(fused[inner], expected[inner], rtol=0, atol=1e-4 * np.abs(expected).max())
    # the scale matters: the same model on unscaled values gives another image
    with torch.no_grad():
        unscaled = model(torch.from_numpy(lr_values)[None], torch.from_numpy(guide_values)[None])[0].numpy()
    assert np.abs(unscaled - expected)[inner].max() > 1.0


def test_band_layouts_that_do_not_fit_are_refused(shipped, make_geotiff, pair, tmp_path):
    guide, lr = pair
    three = make_geotiff("three.tif", np.ones((3, 10, 12), np.float32), res=10.0 * RATIO)
    result = run(guide, three, tmp_path / "out.tif", "-m", "tiny-cnn")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "Error: --method tiny-cnn: no shipped checkpoint fits 3 LR bands + 1 guide band (shipped: 4 + 1 "
        "(WV, 450-850 nm)); use --fit to train it on this scene, or `fusion train`"
    ]
    shifted = run(guide, lr, tmp_path / "out.tif", "-m", "tiny-cnn", "--wavelengths", "460,560,660,900")
    assert shifted.exit_code == 1 and "fits 4 LR bands (460-900 nm) + 1 guide band" in shifted.stderr
    assert not (tmp_path / "out.tif").exists()
    close = run(guide, lr, tmp_path / "out.tif", "-m", "tiny-cnn", "--wavelengths", "452,548,651,846")
    assert close.exit_code == 0, close.output


def test_untrained_names_are_refused_without_shipped_weights(weights, pair, tmp_path):
    guide, lr = pair
    result = run(guide, lr, tmp_path / "out.tif", "-m", "tiny-cnn")
    assert result.exit_code == 1 and "(shipped: none); use --fit" in result.stderr
    # --fit builds the model from its name and trains it on the scene
    fitted = run(guide, lr, tmp_path / "fit.tif", "-m", "tiny-cnn", "--fit", "--fit-steps", 2)
    assert fitted.exit_code == 0, fitted.output
    with rasterio.open(tmp_path / "fit.tif") as out:
        assert out.tags()["FUSION_METHOD"] == "tiny-cnn" and "FUSION_CHECKPOINT" not in out.tags()


def test_models_details_lists_shipped_weights(shipped):
    result = CliRunner().invoke(cli, ["models", "tiny-cnn", "--details"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == (
        "Trained weights shipped (LR + guide bands; `fusion fuse --method NAME` uses them where they fit): "
        "tiny-cnn 4 + 1 (WV, 450-850 nm)."
    )


def test_fit_fine_tunes_a_checkpoint_file_at_its_data_scale(shipped, pair):
    from fusion.engine.fit import Rescaled
    from fusion.engine.inference import fit_to_scene

    guide, lr = pair
    start, _ = load_checkpoint(shipped)
    tuned = fit_to_scene(guide, lr, shipped, steps=2, device="cpu", progress=False)
    assert isinstance(tuned, Rescaled) and tuned.scale == SCALE  # not the scene's max |LR|
    before, after = start.state_dict(), tuned.model.state_dict()
    moved = max(float((after[k] - before[k]).abs().max()) for k in before)
    assert 0 < moved < 0.01  # two small steps from the shipped weights (which are of order 0.2)
    # a name starts from scratch even where a checkpoint is shipped: tiny-cnn's last layer starts at 0
    fresh = fit_to_scene(guide, lr, "tiny-cnn", steps=1, device="cpu", progress=False)
    last_fresh, last_shipped = (m.body[-1].weight.detach().abs().max() for m in (fresh.model, start))
    assert float(last_fresh) < 0.01 < float(last_shipped)


def test_fit_starts_a_checkpoint_at_the_fine_tuning_rate(shipped, pair, monkeypatch):
    """A checkpoint file is fine-tuned from FINE_TUNE_LEARNING_RATE; a fresh model gets the default
    (its own ``fit_learning_rate``)."""
    import fusion.engine.fit as fit
    from fusion.engine.inference import fit_to_scene

    rates = []
    real = fit.fit_scene

    def recording(model, lr, guide, ratio=None, sensor=None, **options):
        rates.append(options.get("learning_rate"))
        return real(model, lr, guide, ratio, sensor, **options)

    monkeypatch.setattr(fit, "fit_scene", recording)
    guide, lr = pair
    fit_to_scene(guide, lr, shipped, steps=1, device="cpu", progress=False)
    fit_to_scene(guide, lr, "tiny-cnn", steps=1, device="cpu", progress=False)
    assert rates == [fit.FINE_TUNE_LEARNING_RATE, None] and fit.FINE_TUNE_LEARNING_RATE == 2e-4
