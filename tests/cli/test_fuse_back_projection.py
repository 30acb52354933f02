"""``fusion fuse --back-projection N``: the output made consistent with the LR input, on a simulated pair.

The pair is simulated the way :class:`fusion.models.consistency.BackProjected` models a real one: the
LR image is the reference blurred with WorldView-2's MTF gains and sampled at the centres of the
4 x 4 guide blocks (phase ``"centre"``, :data:`fusion.engine.inference.SCENE_PHASE`).
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch
from click.testing import CliRunner
from scipy.ndimage import gaussian_filter

import fusion
from fusion.cli import cli
from fusion.degrade import blur_decimate, get_sensor
from fusion.engine.checkpoint import save_checkpoint
from fusion.engine.fit import DEFAULT_LEARNING_RATE, model_learning_rate
from fusion.engine.inference import SCENE_PHASE, fuse_raster
from fusion.errors import InputError
from fusion.models.consistency import CONTEXT_LR_PIXELS, BackProjected, back_project, lr_residual

RATIO = 4
SENSOR = "worldview2"
BANDS = 8


def run(*args):
    return CliRunner().invoke(cli, ["fuse", *map(str, args), "--device", "cpu"])


def fused(*args) -> tuple[torch.Tensor, dict]:
    """The output of ``fusion fuse ARGS`` (path ``args[2]``) as ``(1, C, H, W)`` float64, and its tags."""
    result = run(*args)
    assert result.exit_code == 0, result.output
    with rasterio.open(args[2]) as out:
        return torch.from_numpy(out.read().astype(np.float64))[None], out.tags()


def rms(residual: torch.Tensor) -> float:
    return float(residual.pow(2).mean().sqrt())


@pytest.fixture
def simulated(make_geotiff):
    """A smooth 8-band 128 x 128 reference, its PAN (band mean) and its LR (32 x 32, WorldView-2 MTF,
    centre phase) as float32 GeoTIFFs, with the LR and PAN tensors ``(1, C, h, w)``, ``(1, 1, H, W)``."""
    rng = np.random.default_rng(3)
    texture = gaussian_filter(rng.random((BANDS, 128, 128)), sigma=(0, 2, 2))
    edges = (np.add.outer(np.arange(128), np.arange(128)) % 48 < 24).astype(float)
    reference = torch.from_numpy(
        400 + 800 * texture + 150 * edges * np.linspace(0.5, 1.5, BANDS)[:, None, None]
    )
    reference = reference[None].float()
    lr = blur_decimate(reference, get_sensor(SENSOR).gnyq_for(BANDS), RATIO, phase=SCENE_PHASE)
    pan = reference.mean(dim=1, keepdim=True)
    paths = make_geotiff("pan.tif", pan[0].numpy(), res=0.5), make_geotiff("ms.tif", lr[0].numpy(), res=2.0)
    return (*paths, lr, pan)


def test_back_projection_cuts_the_lr_residual(simulated, tmp_path):
    guide, lr_path, lr, _ = simulated
    gains = get_sensor(SENSOR).gnyq_for(BANDS)
    common = (guide, lr_path)
    plain, _ = fused(*common, tmp_path / "plain.tif", "-m", "gsa", "--sensor", SENSOR, "--tile", 0)
    projected, tags = fused(
        *common, tmp_path / "bp.tif", "-m", "gsa", "--sensor", SENSOR, "--tile", 0, "--back-projection", 10
    )
    before, after = (rms(lr_residual(x, lr.double(), gains, SCENE_PHASE)) for x in (plain, projected))
    print(f"\nLR residual RMS: gsa {before:.4f}, gsa + 10 back-projection steps {after:.5f}")
    assert after * 5 <= before, (before, after)
    assert tags["FUSION_BACK_PROJECTION"] == "10" and tags["FUSION_METHOD"] == "gsa"


def engine_view(method, guide_path, lr_path, halo: int) -> tuple[torch.Tensor, torch.Tensor, dict, tuple]:
    """What an untiled run hands ``method`` with a halo of ``halo`` guide pixels: the LR ``(1, C, h, w)``
    and guide ``(1, G, H, W)`` windows (the scene, its edge pixels repeated around it), its ``stats``
    keyword arguments (whole-scene statistics for two-pass methods) and where the scene lies in it."""
    from fusion.io import open_pair, plan_tiles

    with open_pair(guide_path, lr_path) as scene:
        tile = plan_tiles(scene.shape, scene.ratio, None, halo, *method.tile_alignment())[0]
        window = scene.read_tile(tile)
    stats = method.scene_statistics(
        window.lr, window.guide, tile.window_size, tile.core_in_window, window.valid
    )
    extra = {} if stats is None else {"stats": {key: value.double() for key, value in stats.items()}}
    return window.lr, window.guide, extra, (..., *tile.core_in_window)


def test_a_classical_method_equals_back_project_of_its_output(simulated, tmp_path):
    """The CLI's output is ``back_project(method(lr, guide), lr, WorldView-2 gains, "centre", 4)``:
    exactly on the window the engine reads (see :func:`engine_view`), and on the bare scene away from
    the edges, where the window's padding no longer reaches."""
    guide_path, lr_path, lr, guide = simulated
    out, _ = fused(
        guide_path, lr_path, tmp_path / "bp.tif", "-m", "mtf-glp", "--sensor", SENSOR, "--tile", 0,
        "--back-projection", 4,
    )  # fmt: skip
    method = fusion.create_model("mtf-glp", lr_bands=BANDS, guide_bands=1, sensor=SENSOR)
    gains = get_sensor(SENSOR).gnyq_for(BANDS)
    halo = BackProjected(method, iterations=4).halo((RATIO, RATIO))
    lr_window, guide_window, extra, scene = engine_view(method, guide_path, lr_path, halo)
    with torch.no_grad():
        on_window = back_project(method(lr_window, guide_window, **extra), lr_window, gains, "centre", 4)
        plain = method(lr, guide)
        bare = back_project(plain, lr, gains, "centre", iterations=4)
        generic = back_project(plain, lr, 0.3, "centre", iterations=4)
    peak = float(bare.abs().max())
    assert float((out - on_window[scene].double()).abs().max()) <= 1e-5 * peak
    border = CONTEXT_LR_PIXELS * RATIO  # how far the back-projection carries the edges' padding
    inner = (..., slice(border, -border), slice(border, -border))
    assert float((out - bare.double())[inner].abs().max()) <= 1e-5 * peak
    # WorldView-2's gains (0.27-0.35), not the generic 0.3: a visible difference
    assert float((bare - generic).abs().max()) > 1e-3 * peak


def test_without_the_option_the_output_is_unchanged(simulated, tmp_path):
    """No option, ``--back-projection 0`` and the API's default give one output, bit for bit: the
    plain method as the engine applies it."""
    guide_path, lr_path, _, _ = simulated
    absent, tags = fused(guide_path, lr_path, tmp_path / "absent.tif", "-m", "gsa", "--tile", 0)
    zero, _ = fused(
        guide_path, lr_path, tmp_path / "zero.tif", "-m", "gsa", "--tile", 0, "--back-projection", 0
    )
    summary = fuse_raster(
        guide_path, lr_path, tmp_path / "api.tif", "gsa", tile=None, device="cpu", progress=False
    )
    with rasterio.open(tmp_path / "api.tif") as api:
        assert torch.equal(torch.from_numpy(api.read().astype(np.float64))[None], absent)
    assert torch.equal(absent, zero) and "FUSION_BACK_PROJECTION" not in tags
    assert summary["back_projection"] == 0
    method = fusion.create_model("gsa", lr_bands=BANDS, guide_bands=1)
    lr_window, guide_window, extra, scene = engine_view(
        method, guide_path, lr_path, method.halo((RATIO, RATIO))
    )
    with torch.no_grad():
        direct = method(lr_window, guide_window, **extra)[scene].double()
    assert float((absent - direct).abs().max()) <= 1e-5 * float(direct.abs().max())


def test_tiled_back_projection_matches_untiled(simulated, tmp_path):
    """BackProjected widens the halo by 8 LR pixels: 4 tiles of 64 x 64 agree with one closely."""
    guide, lr, _, _ = simulated
    args = ("-m", "gsa", "--sensor", SENSOR, "--back-projection", 10, "--tile", 0)
    whole, _ = fused(guide, lr, tmp_path / "whole.tif", *args)
    options = {"sensor": SENSOR, "tile": 64, "device": "cpu", "progress": False}
    summary = fuse_raster(guide, lr, tmp_path / "tiled.tif", "gsa", back_projection=10, **options)
    assert (summary["tiles"], summary["passes"], summary["back_projection"]) == (4, 2, 10)
    with rasterio.open(tmp_path / "tiled.tif") as out:
        tiled = torch.from_numpy(out.read().astype(np.float64))[None]
    difference = float((tiled - whole).abs().max()) / float(whole.abs().max())
    print(f"\ntiled vs untiled, gsa + 10 steps: max |difference| = {difference:.2e} of the peak")
    assert difference <= 1e-4


@pytest.fixture
def projecting_checkpoint(tmp_path):
    """A tiny-cnn checkpoint whose spec back-projects (3 steps) and the model it stores."""
    torch.manual_seed(0)
    model = fusion.create_model(
        "tiny-cnn", lr_bands=BANDS, guide_bands=1, width=8, depth=2, back_projection=3
    )
    return save_checkpoint(model, tmp_path / "bp.pt"), model.eval()


def test_a_checkpoint_that_back_projects_is_not_projected_twice(
    simulated, projecting_checkpoint, tmp_path, monkeypatch
):
    guide_path, lr_path, _, _ = simulated
    path, model = projecting_checkpoint
    out, tags = fused(guide_path, lr_path, tmp_path / "own.tif", "-m", path, "--tile", 0)
    lr_window, guide_window, _, scene = engine_view(model, guide_path, lr_path, model.halo((RATIO, RATIO)))
    with torch.no_grad():
        expected = model(lr_window, guide_window)[scene].double()
    assert tags["FUSION_BACK_PROJECTION"] == "3"
    assert float((out - expected).abs().max()) <= 1e-5 * float(expected.abs().max())
    twice = run(guide_path, lr_path, tmp_path / "twice.tif", "-m", path, "--back-projection", 2)
    message = f"--back-projection 2: --method {path} back-projects its output already (3 steps, in its spec)"
    assert twice.exit_code == 1
    assert twice.stderr.strip().splitlines() == [f"Error: {message}; drop --back-projection"]
    # the same checkpoint found as the shipped one for tiny-cnn
    monkeypatch.setattr("fusion.engine.zoo.find_shipped", lambda *args, **kwargs: path)
    shipped = run(guide_path, lr_path, tmp_path / "shipped.tif", "-m", "tiny-cnn", "--back-projection", 2)
    assert shipped.exit_code == 1 and "back-projects its output already (3 steps" in shipped.stderr
    assert not (tmp_path / "twice.tif").exists() and not (tmp_path / "shipped.tif").exists()


@pytest.mark.parametrize("value", ["-1", "1.5", "two"])
def test_bad_step_counts_are_one_click_error(simulated, tmp_path, value):
    guide, lr, _, _ = simulated
    result = run(guide, lr, tmp_path / "out.tif", "--back-projection", value)
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and "Invalid value for '--back-projection'" in errors[0], result.stderr
    assert not (tmp_path / "out.tif").exists()


def test_bad_step_counts_through_the_api(simulated, tmp_path):
    guide, lr, _, _ = simulated
    for value in (-1, 1.5):
        with pytest.raises(InputError, match=f"--back-projection {value}: give a whole number of steps"):
            fuse_raster(guide, lr, tmp_path / "out.tif", "gsa", back_projection=value, progress=False)


def test_fit_trains_through_the_back_projection(simulated, tmp_path, monkeypatch):
    """``--fit --back-projection 5``: ``fit_scene`` trains the BackProjected model (the sensor's gains,
    centre phase), the output keeps it, and its LR residual is far below a plain fit's."""
    import fusion.engine.fit as fit_module

    guide_path, lr_path, lr, _ = simulated
    trained = []
    real_fit = fit_module.fit_scene

    def recording_fit(model, *args, **kwargs):
        trained.append(model)
        return real_fit(model, *args, **kwargs)

    monkeypatch.setattr(fit_module, "fit_scene", recording_fit)
    fit = ("-m", "tiny-cnn", "--fit", "--fit-steps", 3, "--sensor", SENSOR, "--tile", 0)
    outputs = {}
    for steps in (None, 0, 5):
        torch.manual_seed(0)
        extra = () if steps is None else ("--back-projection", steps)
        outputs[steps], tags = fused(guide_path, lr_path, tmp_path / f"fit{steps}.tif", *fit, *extra)
    projection = trained[-1]
    assert [type(m) is BackProjected for m in trained] == [False, False, True]
    assert (projection.iterations, projection.phase) == (5, "centre")
    assert projection.gains(BANDS) == (0.35,) * 7 + (0.27,)  # WorldView-2's MS gains
    assert tags["FUSION_BACK_PROJECTION"] == "5"
    assert torch.equal(outputs[None], outputs[0])  # 0 is off: the same seeded fit, bit for bit
    gains = get_sensor(SENSOR).gnyq_for(BANDS)
    plain, projected = (rms(lr_residual(outputs[s], lr.double(), gains, SCENE_PHASE)) for s in (None, 5))
    print(f"\nLR residual RMS after a 3-step fit: plain {plain:.4f}, through 5 steps {projected:.5f}")
    assert projected * 5 <= plain, (plain, projected)


def test_a_back_projected_model_fits_at_its_own_learning_rate():
    prior_inr = fusion.create_model("prior-inr", lr_bands=BANDS, guide_bands=1)
    tiny = fusion.create_model("tiny-cnn", lr_bands=BANDS, guide_bands=1)
    assert model_learning_rate(BackProjected(prior_inr, iterations=2)) == prior_inr.fit_learning_rate == 3e-3
    assert model_learning_rate(BackProjected(tiny, iterations=2)) == DEFAULT_LEARNING_RATE
