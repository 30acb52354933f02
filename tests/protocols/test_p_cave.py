"""Protocol P-CAVE: the degradation against independent scipy/numpy versions, the guide against the
Nikon table read with numpy, scoring through ``run`` on a small synthetic folder, and the real scenes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

from fusion.config import read_config_file
from fusion.data import load_cube
from fusion.degrade import RandomDegradation, sensor_srf
from fusion.degrade.sensors import SENSOR_DIR
from fusion.engine.checkpoint import save_checkpoint
from fusion.engine.fit import FINE_TUNE_LEARNING_RATE
from fusion.engine.trainer import resolve_train_config
from fusion.errors import InputError
from fusion.models import create_model
from fusion.protocols import markdown_table, p_cave, run_protocol
from fusion.registry import MODELS

pytestmark = pytest.mark.usefixtures("one_thread")

REPO = Path(__file__).resolve().parents[2]
NIKON_TABLE = "nikon_d700_400-700nm_4nm.csv"
CAVE_WAVELENGTHS = np.arange(400.0, 701.0, 10.0)


# -- independent implementations ------------------------------------------------------------------
def scipy_lr(gt: np.ndarray, ratio: float) -> np.ndarray:
    """The protocol's LR of ``gt (C, H, W)`` with scipy: Gaussian blur (nearest = edge replicate,
    truncated far out) at the effective ratio, then bilinear values at ``(k + 0.5) r - 0.5``."""
    size = [round(n / ratio) for n in gt.shape[1:]]
    rows, cols = ((np.arange(m) + 0.5) * (n / m) - 0.5 for n, m in zip(gt.shape[1:], size, strict=True))
    sigma = [
        (n / m) * math.sqrt(-2 * math.log(0.3)) / math.pi for n, m in zip(gt.shape[1:], size, strict=True)
    ]
    out = []
    for band in gt:
        blurred = ndi.gaussian_filter(band, sigma, mode="nearest", truncate=12.0)
        yy, xx = np.meshgrid(rows, cols, indexing="ij")
        out.append(ndi.map_coordinates(blurred, [yy, xx], order=1, mode="nearest"))
    return np.stack(out)


def numpy_nikon(path: Path, wavelengths: np.ndarray) -> np.ndarray:
    """``(3, C)`` R, G, B responses: the long CSV read by numpy, np.interp at the band centres, each
    channel's weights divided by their sum."""
    table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=str)
    rows = []
    for band in ("R", "G", "B"):
        mine = table[table[:, 0] == band]
        wl, resp = mine[:, 1].astype(float), mine[:, 2].astype(float)
        row = np.interp(wavelengths, wl, resp, left=0.0, right=0.0)
        rows.append(row / row.sum())
    return np.stack(rows)


def numpy_scores(pred: np.ndarray, gt: np.ndarray, ratio: float) -> tuple[float, float, float]:
    """PSNR (peak 1), SAM (degrees) and ERGAS of ``(C, H, W)`` arrays, written out."""
    psnr = 10 * np.log10(1.0 / np.mean((pred - gt) ** 2))
    cos = (pred * gt).sum(0) / np.sqrt((pred**2).sum(0) * (gt**2).sum(0))
    sam = np.degrees(np.arccos(np.clip(cos, -1, 1))).mean()
    ergas = 100 / ratio * np.sqrt(np.mean(((pred - gt) ** 2).mean((1, 2)) / gt.mean((1, 2)) ** 2))
    return psnr, sam, ergas


def smooth_cube(bands: int, size: int, seed: int = 0) -> np.ndarray:
    """A positive, smooth ``(bands, size, size)`` cube in (0, 1): random low-frequency waves per band."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size] / size
    cube = [
        0.5
        + 0.2
        * np.sin(2 * np.pi * (rng.uniform(1, 6) * y + rng.uniform(0, 1)))
        * np.cos(2 * np.pi * (rng.uniform(1, 6) * x + rng.uniform(0, 1)))
        + 0.1 * rng.uniform(-1, 1, (size, size))
        for _ in range(bands)
    ]
    return np.clip(np.stack(cube), 0.01, 0.99)


# -- the degradation and the guide ----------------------------------------------------------------
def test_blur_sigma_hand_value_and_gain_at_nyquist():
    # 4 * sqrt(-2 ln 0.3) / pi = 4 * sqrt(2.4079456) / pi = 4 * 1.5517556 / pi
    assert p_cave.blur_sigma(4.0) == pytest.approx(1.975757, abs=1e-6)
    # the sampled Gaussian's frequency response at the LR Nyquist (1/8 cycle/pixel) is the gain 0.3
    sigma = p_cave.blur_sigma(4.0)
    taps = np.exp(-0.5 * (np.arange(-20, 21) / sigma) ** 2)
    taps /= taps.sum()
    response = np.sum(taps * np.cos(2 * np.pi * np.arange(-20, 21) / 8))
    assert response == pytest.approx(0.3, abs=1e-4)


@pytest.mark.parametrize("ratio", [4.0, 3.3])
def test_degradation_matches_scipy(ratio):
    gt = np.random.default_rng(1).uniform(0, 1, (3, 40, 46))
    lr = p_cave.degrade_lr(torch.from_numpy(gt)[None], ratio)[0].numpy()
    assert lr.shape == (3, round(40 / ratio), round(46 / ratio))
    np.testing.assert_allclose(lr, scipy_lr(gt, ratio), atol=1e-10)


@pytest.mark.parametrize("ratio", [4.0, 3.3])
def test_lr_samples_sit_at_the_centred_positions(ratio):
    """A linear ramp survives the (symmetric, normalised) blur away from the borders, and bilinear
    sampling of a ramp is exact, so LR pixel k reads its HR position (k + 0.5) r - 0.5 (4k + 1.5)."""
    size = 256
    ramp = torch.arange(size, dtype=torch.float64).expand(1, 1, size, size)
    lr = p_cave.degrade_lr(ramp, ratio)[0, 0]
    effective = size / round(size / ratio)
    positions = (np.arange(lr.shape[-1]) + 0.5) * effective - 0.5
    interior = (positions > 25) & (positions < size - 26)  # beyond the kernel's 20-pixel reach
    np.testing.assert_allclose(lr[5].numpy()[interior], positions[interior], atol=1e-9)
    if ratio == 4.0:
        np.testing.assert_allclose(positions, 4 * np.arange(64) + 1.5)


def test_guide_response_is_the_nikon_table_interpolated():
    shipped = SENSOR_DIR / "srf" / NIKON_TABLE
    expected = numpy_nikon(shipped, CAVE_WAVELENGTHS)
    np.testing.assert_allclose(p_cave.guide_response(CAVE_WAVELENGTHS).numpy(), expected, atol=1e-7)
    np.testing.assert_allclose(expected.sum(1), 1.0, atol=1e-12)


def test_shipped_nikon_table_is_the_issue_table(shared_data):
    shipped = (SENSOR_DIR / "srf" / NIKON_TABLE).read_bytes()
    assert shipped == (shared_data / "srf" / NIKON_TABLE).read_bytes()


def test_bicubic_reproduces_a_ramp_on_the_centred_grid():
    """Keys' cubic reproduces linear functions, so bicubic interpolation of LR samples of a ramp taken
    at (k + 0.5) r - 0.5 gives the HR ramp back away from the (mirrored) borders."""
    size, ratio = 64, 4.0
    positions = (torch.arange(size // 4, dtype=torch.float64) + 0.5) * ratio - 0.5
    lr = positions.expand(1, 1, size // 4, size // 4)
    up = p_cave.bicubic(lr, torch.zeros(1, 3, size, size, dtype=torch.float64))[0, 0, 3]
    np.testing.assert_allclose(up[8:-8].numpy(), np.arange(8, size - 8), atol=1e-9)


def test_centre_crop_geometry_and_too_small_images():
    x = torch.arange(10 * 12).reshape(1, 10, 12)
    crop = p_cave.centre_crop(x, 4)
    assert crop[0, 0, 0] == 3 * 12 + 4 and crop.shape == (1, 4, 4)
    with pytest.raises(InputError, match="does not fit"):
        p_cave.centre_crop(x, 11)


# -- run() on a synthetic folder ------------------------------------------------------------------
SIZE, CROP = 64, 32


@pytest.fixture
def cave_folder(tmp_path) -> Path:
    """Two cave-like cubes ``(64, 64, 31)`` uint16 with wavelengths, as the shared files are stored."""
    folder = tmp_path / "hsi"
    folder.mkdir()
    for seed, name in enumerate(("cave_a", "cave_b")):
        cube = np.round(smooth_cube(31, SIZE, seed) * 65535).astype(np.uint16).transpose(1, 2, 0)
        np.savez(folder / f"{name}.npz", cube=cube, wavelengths_nm=CAVE_WAVELENGTHS.astype(np.float32))
    return tmp_path


def tiny_checkpoint(path: Path, files=None, seed: int = 0, **meta) -> Path:
    """An untrained tiny-cnn (last layer randomised, so the guide and the input scale matter) saved as
    the trainer would, recording ``files`` as its training files."""
    torch.manual_seed(seed)
    model = create_model("tiny-cnn", lr_bands=31, guide_bands=3, width=4)
    torch.nn.init.normal_(model.body[-1].weight, std=0.05)
    torch.nn.init.normal_(model.body[-1].bias, std=0.01)
    meta = {
        "lr_bands": 31,
        "guide_bands": 3,
        "band_centres_nm": CAVE_WAVELENGTHS.tolist(),
        "data_scale": 65535.0,
        "guide_response": {"sensor": "nikon_d700", "bands": "ms"},
        "data_range": 1.0,
        **meta,
    }
    config = {"data": {"name": "hsi-cubes", "args": {"files": files}}}
    return save_checkpoint(model, path, meta=meta, config=config, step=3)


def case_of(folder: Path, scene: str, ratio: float) -> p_cave.Case:
    return p_cave.make_case(load_cube(folder / "hsi" / f"{scene}.npz"), ratio, CROP)


def test_run_scores_methods_checkpoints_and_leave_one_out(cave_folder, tmp_path):
    both = tiny_checkpoint(tmp_path / "both.pt", ["cave_a.npz", "cave_b.npz"])
    on_a = tiny_checkpoint(tmp_path / "tiny_train_a.pt", ["cave_a.npz"], seed=1)
    on_b = tiny_checkpoint(tmp_path / "tiny_train_b.pt", ["cave_b.npz"], seed=2)
    result = run_protocol(
        "p-cave",
        data_root=cave_folder,
        methods=["bicubic", "glp-hs"],
        checkpoints=[both],
        loo={"cave_b": [on_a], "cave_a": [on_b]},
        device="cpu",
        crop=CROP,
    )
    assert result["protocol"] == "p-cave" and result["ratios"] == [4.0, 3.3]
    assert result["meta"]["scenes"] == ["cave_a", "cave_b"]
    assert result["meta"]["lr_size"] == {"4": 8, "3.3": 10}
    rows = {(r["method"], r["scene"], r["ratio"]): r for r in result["rows"]}
    assert len(rows) == len(result["rows"]) == 3 * 2 * 2 + 2 * 2  # LOO: each checkpoint on one scene
    loo = "tiny-cnn (leave-one-out)"
    assert {(s, r) for m, s, r in rows if m == loo} == {
        (s, r) for s in ("cave_a", "cave_b") for r in (4.0, 3.3)
    }

    # bicubic rows against numpy metrics of an independent (scipy) LR interpolated by the protocol
    for scene in ("cave_a", "cave_b"):
        for ratio in (4.0, 3.3):
            case = case_of(cave_folder, scene, ratio)
            np.testing.assert_allclose(case.lr[0].numpy(), scipy_lr(case.gt[0].numpy(), ratio), atol=1e-7)
            pred = p_cave.bicubic(case.lr.float(), case.guide.float()).double()[0].numpy()
            effective = CROP / round(CROP / ratio)
            row = rows[("bicubic", scene, ratio)]
            expected = numpy_scores(pred, case.gt[0].numpy(), effective)
            np.testing.assert_allclose([row["psnr"], row["sam"], row["ergas"]], expected, rtol=1e-9)
            assert row["psnr"] < rows[("glp-hs", scene, ratio)]["psnr"]  # the guide helps on smooth data

    # the leave-one-out method runs the checkpoint that did not see the scene, on [0, 1] values
    case = case_of(cave_folder, "cave_b", 4.0)
    model = create_model("tiny-cnn", lr_bands=31, guide_bands=3, width=4)
    model.load_state_dict(torch.load(on_a, weights_only=True)["state_dict"])
    with torch.no_grad():
        pred = model.eval()(case.lr.float(), case.guide.float(), out_size=(CROP, CROP)).double()[0].numpy()
    row = rows[(loo, "cave_b", 4.0)]
    np.testing.assert_allclose(
        [row["psnr"], row["sam"], row["ergas"]], numpy_scores(pred, case.gt[0].numpy(), 4.0), rtol=1e-6
    )
    assert row["trained_on_scene"] is False
    assert rows[("tiny-cnn (both)", "cave_a", 4.0)]["trained_on_scene"] is True

    # means over scenes
    means = {(m["method"], m["ratio"]): m for m in result["mean"]}
    expected = np.mean([rows[(loo, s, 3.3)]["sam"] for s in ("cave_a", "cave_b")])
    assert means[(loo, 3.3)]["sam"] == pytest.approx(expected, rel=1e-12) and means[(loo, 3.3)]["scenes"] == 2
    infos = [m for m in result["meta"]["methods"] if m["label"] == loo]
    assert {(m["loo_scene"], m["checkpoint"]) for m in infos} == {
        ("cave_b", str(on_a)),
        ("cave_a", str(on_b)),
    }
    assert "| bicubic | 4 |" in markdown_table(result)
    assert json.loads(json.dumps(result)) == result


def test_leave_one_out_assignment_from_recorded_training_files(cave_folder, tmp_path):
    on_a = tiny_checkpoint(tmp_path / "a.pt", ["cave_a.npz"])
    both = tiny_checkpoint(tmp_path / "b.pt", "cave_*.npz")
    assert p_cave.leave_one_out([on_a, both], ["cave_a", "cave_b"]) == {"cave_a": [], "cave_b": [str(on_a)]}
    # a trainable model's name asks for its checkpoints: here the leave-one-out one
    result = p_cave.run(cave_folder, methods=["tiny-cnn"], loo=[on_a], ratios=[4.0], device="cpu", crop=CROP)
    assert [(r["method"], r["scene"]) for r in result["rows"]] == [("tiny-cnn (leave-one-out)", "cave_b")]


def test_checkpoint_in_other_units_gets_rescaled_inputs(cave_folder, tmp_path):
    """A checkpoint trained on raw DN (data_scale 1) sees the protocol's values times 65535."""
    raw = tiny_checkpoint(tmp_path / "raw.pt", ["x.npz"], data_scale=1.0)
    result = p_cave.run(cave_folder, methods=[], checkpoints=[raw], ratios=[4.0], scenes=["cave_a"],
                        device="cpu", crop=CROP)  # fmt: skip
    case = case_of(cave_folder, "cave_a", 4.0)
    model = create_model("tiny-cnn", lr_bands=31, guide_bands=3, width=4)
    model.load_state_dict(torch.load(raw, weights_only=True)["state_dict"])
    scale = 65535.0
    with torch.no_grad():
        pred = model.eval()(case.lr.float() * scale, case.guide.float() * scale) / scale
    row = result["rows"][0]
    assert result["meta"]["methods"][0]["value_scale"] == pytest.approx(1 / scale)
    expected = numpy_scores(pred.double()[0].numpy(), case.gt[0].numpy(), 4.0)
    np.testing.assert_allclose([row["psnr"], row["sam"], row["ergas"]], expected, rtol=1e-5)


def test_run_refuses_what_the_protocol_cannot_score(cave_folder, tmp_path):
    on_a = tiny_checkpoint(tmp_path / "a.pt", ["cave_a.npz"])
    common = {"ratios": [4.0], "device": "cpu", "crop": CROP}
    with pytest.raises(InputError, match="trained on cave_a"):
        p_cave.run(cave_folder, methods=[], loo={"cave_a": [on_a]}, **common)
    with pytest.raises(InputError, match="trainable model"):
        p_cave.run(cave_folder, methods=["tiny-cnn"], **common)
    with pytest.raises(InputError, match="no such scene"):
        p_cave.run(cave_folder, scenes=["cave_zzz"], **common)
    with pytest.raises(InputError, match="labelled"):
        p_cave.run(cave_folder, methods=[], checkpoints=[on_a, on_a], **common)
    pan_guided = tiny_checkpoint(tmp_path / "pan.pt", guide_response={"sensor": "wv2", "bands": "pan"})
    with pytest.raises(InputError, match="trained with guide"):
        p_cave.run(cave_folder, methods=[], checkpoints=[pan_guided], **common)
    with pytest.raises(InputError, match="does not fit"):
        p_cave.run(cave_folder, methods=["bicubic"], ratios=[4.0], device="cpu", crop=128)


def test_scene_fits_fresh_and_from_a_leave_one_out_checkpoint(cave_folder, tmp_path):
    """With a zero learning rate a fit leaves the weights as they were: the fresh prior-inr is its
    prior (the mean of GLP-HS and SFIM-HS, its output layer starting at zero) and the fine-tuned
    checkpoint scores as the checkpoint itself; with a positive rate the fit changes the result."""
    from fusion.models.prior_inr import PriorINR

    on_a = tiny_checkpoint(tmp_path / "tiny_train_a.pt", ["cave_a.npz"], seed=1)
    common = {"ratios": [4.0, 3.3], "device": "cpu", "crop": CROP, "fit_steps": 2}
    options = {"model_args": PriorINR.tiny_args(), "learning_rate": 0.0}
    loo = {"cave_b": {"tiny": on_a}}
    result = p_cave.run(cave_folder, methods=["glp-hs", "sfim-hs"], loo=loo, fit=["prior-inr"], fit_loo=loo,
                        fit_options=options, **common)  # fmt: skip
    rows = {(r["method"], r["scene"], r["ratio"]): r for r in result["rows"]}
    assert {(s, r) for m, s, r in rows if m == "tiny + fit"} == {("cave_b", 4.0), ("cave_b", 3.3)}
    for ratio in (4.0, 3.3):
        fitted, plain = rows[("tiny + fit", "cave_b", ratio)], rows[("tiny", "cave_b", ratio)]
        assert fitted["fit_seconds"] > 0 and "fit_seconds" not in plain
        assert [fitted[m] for m in ("psnr", "sam", "ergas")] == pytest.approx(
            [plain[m] for m in ("psnr", "sam", "ergas")], rel=1e-6
        )
        for scene in ("cave_a", "cave_b"):
            case = case_of(cave_folder, scene, ratio)
            classical = [create_model(n, lr_bands=31, guide_bands=3) for n in ("glp-hs", "sfim-hs")]
            with torch.no_grad():
                prior = sum(m(case.lr.float(), case.guide.float()) for m in classical) / 2
            row = rows[("prior-inr (fit)", scene, ratio)]
            expected = numpy_scores(prior.double()[0].numpy(), case.gt[0].numpy(), case.effective_ratio)
            np.testing.assert_allclose([row["psnr"], row["sam"], row["ergas"]], expected, rtol=1e-4)
    fitted = {(f["label"], f["scene"], f["ratio"]): f for f in result["meta"]["fitted"]}
    tuned = fitted[("tiny + fit", "cave_b", 4.0)]
    assert tuned["checkpoint"] == str(on_a) and tuned["steps"] == 2 and tuned["value_scale"] == 1.0
    assert tuned["fit_args"]["learning_rate"] == 0.0 and tuned["fit_args"]["loss"] == p_cave.L1_SAM_LOSS
    assert result["meta"]["fit_sensor"] == {"lr_gnyq": 0.3, "guide_gnyq": 0.3}

    moved = p_cave.run(cave_folder, methods=[], fit_loo={"cave_b": [on_a]}, **common)  # unlabelled
    assert moved["meta"]["fitted"][0]["fit_args"]["learning_rate"] == FINE_TUNE_LEARNING_RATE
    assert moved["rows"][0]["method"] == "tiny-cnn (leave-one-out) + fit"
    assert moved["rows"][0]["psnr"] != pytest.approx(rows[("tiny", "cave_b", 4.0)]["psnr"], rel=1e-6)
    with pytest.raises(InputError, match="trained on cave_a"):
        p_cave.run(cave_folder, methods=[], fit_loo={"cave_a": [on_a]}, **common)
    with pytest.raises(InputError, match="nothing to train"):
        p_cave.run(cave_folder, methods=[], fit=["glp-hs"], **common)


def test_back_projection_rows_and_a_fit_through_it(cave_folder, tmp_path):
    """``back_projection=N`` adds a ``+ bp`` row for every method, scored on the back-projected output;
    a zero-rate fit through it scores as the back-projected checkpoint."""
    from fusion.models.consistency import back_project

    on_a = tiny_checkpoint(tmp_path / "tiny_train_a.pt", ["cave_a.npz"], seed=1)
    loo = {"cave_b": {"tiny": on_a}}
    result = p_cave.run(
        cave_folder, methods=["glp-hs"], loo=loo, fit_loo=loo, ratios=[4.0], device="cpu", crop=CROP,
        fit_steps=1, fit_options={"learning_rate": 0.0}, back_projection=3,
    )  # fmt: skip
    rows = {(r["method"], r["scene"]): r for r in result["rows"]}
    assert {m for m, _ in rows} == {"glp-hs", "glp-hs + bp", "tiny", "tiny + bp", "tiny + fit + bp"}
    case = case_of(cave_folder, "cave_a", 4.0)
    with torch.no_grad():
        fused = create_model("glp-hs", lr_bands=31, guide_bands=3)(case.lr.float(), case.guide.float())
    projected = back_project(fused, case.lr.float(), **p_cave.BACK_PROJECTION, iterations=3)
    expected = numpy_scores(projected.double()[0].numpy(), case.gt[0].numpy(), case.effective_ratio)
    row = rows[("glp-hs + bp", "cave_a")]
    np.testing.assert_allclose([row["psnr"], row["sam"], row["ergas"]], expected, rtol=1e-4)
    assert row["psnr"] > rows[("glp-hs", "cave_a")]["psnr"]  # the LR input's information restored
    fitted, plain = rows[("tiny + fit + bp", "cave_b")], rows[("tiny + bp", "cave_b")]
    assert [fitted[m] for m in ("psnr", "sam", "ergas")] == pytest.approx(
        [plain[m] for m in ("psnr", "sam", "ergas")], rel=1e-5
    )
    assert result["meta"]["back_projection"] == {"iterations": 3, **p_cave.BACK_PROJECTION}


# -- the training configs -------------------------------------------------------------------------
P_CAVE_CONFIGS = sorted(
    p.name for p in (REPO / "configs" / "train" / "p_cave").glob("*.yaml") if p.name != "task.yaml"
)


@pytest.mark.parametrize("name", P_CAVE_CONFIGS)
def test_training_config_loads_and_degrades_like_the_protocol(name):
    config = resolve_train_config(read_config_file(REPO / "configs" / "train" / "p_cave" / name))
    assert config["model"]["name"] in MODELS.keys()
    degrade = config["degrade"]
    assert degrade["sensor"] is None and degrade["gnyq_jitter"] == 0  # the generic, unjittered 0.3
    assert degrade["snr_db"] is None and degrade["shift"] == 0
    assert degrade["guide"] == {"sensor": "nikon_d700", "bands": "ms"}
    low, high = degrade["ratio"]
    assert low <= 3.3 and high >= 4.0


def trainer_degradation(ratio: float, wavelengths) -> RandomDegradation:
    """The trainer's degradation (``Trainer.__init__``) of the P-CAVE task, its ratio range pinned."""
    config = resolve_train_config(read_config_file(REPO / "configs" / "train" / "p_cave" / P_CAVE_CONFIGS[0]))
    degrade = config["degrade"]
    srf = sensor_srf(degrade["guide"]["sensor"], wavelengths, which=degrade["guide"]["bands"])
    return RandomDegradation(
        sensor=degrade["sensor"], ratio=(ratio, ratio), gnyq_jitter=degrade["gnyq_jitter"],
        snr_db=degrade["snr_db"], guide_snr_db=degrade["guide_snr_db"], shift=degrade["shift"], srf=srf,
        per_sample=False, phase=degrade["phase"],
    )  # fmt: skip


@pytest.mark.skipif(not P_CAVE_CONFIGS, reason="no configs/train/p_cave")
def test_training_guide_equals_the_protocol_guide():
    gt = torch.from_numpy(smooth_cube(31, 64)).float()[None]
    _, guide, _, _ = trainer_degradation(4.0, CAVE_WAVELENGTHS)(
        gt, generator=torch.Generator().manual_seed(0)
    )
    expected = torch.einsum(
        "mc,bchw->bmhw",
        torch.from_numpy(numpy_nikon(SENSOR_DIR / "srf" / NIKON_TABLE, CAVE_WAVELENGTHS)).float(),
        gt,
    )
    torch.testing.assert_close(guide, expected, rtol=0, atol=1e-6)


@pytest.mark.skipif(not P_CAVE_CONFIGS, reason="no configs/train/p_cave")
@pytest.mark.parametrize("ratio", [4.0, 3.3])
def test_training_lr_is_close_to_the_protocol_lr(ratio):
    gt = torch.from_numpy(smooth_cube(31, 64)).double()[None]
    lr = trainer_degradation(ratio, CAVE_WAVELENGTHS)(gt, generator=torch.Generator().manual_seed(0)).lr
    protocol = p_cave.degrade_lr(gt, ratio)
    assert lr.shape == protocol.shape
    assert float((lr - protocol).abs().max()) < 2e-2


@pytest.mark.skipif(not P_CAVE_CONFIGS, reason="no configs/train/p_cave")
@pytest.mark.xfail(
    strict=True,
    reason="known gap: the trainer's blur_decimate(phase='centre') evaluates the Gaussian at the exact "
    "LR centre, the protocol takes the bilinear value of the blurred image there (an extra 2-tap "
    "average at ratio 4): up to 8e-3 apart on a CAVE crop",
)
@pytest.mark.parametrize("ratio", [4.0, 3.3])
def test_training_lr_equals_the_protocol_lr(ratio):
    gt = torch.from_numpy(smooth_cube(31, 64)).double()[None]
    lr = trainer_degradation(ratio, CAVE_WAVELENGTHS)(gt, generator=torch.Generator().manual_seed(0)).lr
    torch.testing.assert_close(lr, p_cave.degrade_lr(gt, ratio), rtol=0, atol=1e-5)


@pytest.mark.slow  # about 6 s on one shared core
def test_real_scenes_classical_methods_beat_bicubic(shared_data):
    """P-CAVE on the two developer cubes: every default method at x4 and x3.3 (numbers printed)."""
    result = p_cave.run(shared_data, device="cpu")
    print("\n" + markdown_table(result))
    assert result["meta"]["scenes"] == ["cave_balloons", "cave_fake_and_real_peppers"]
    assert result["meta"]["lr_size"] == {"4": 64, "3.3": 78}
    assert result["meta"]["sigma"]["4"] == pytest.approx(1.975757, abs=1e-6)
    means = {(m["method"], m["ratio"]): m for m in result["mean"]}
    for ratio in (4.0, 3.3):
        best = max(means[(name, ratio)]["psnr"] for name in p_cave.DEFAULT_METHODS[1:])
        assert best > means[("bicubic", ratio)]["psnr"] + 5.0
        assert all(means[(name, ratio)]["scenes"] == 2 for name in p_cave.DEFAULT_METHODS)


def test_verdicts_against_the_classical_methods_and_the_issue_numbers():
    rows = [
        {"method": "fit", "ratio": 4.0, "psnr": 46.0, "sam": 1.50, "ergas": 2.3},
        {"method": "gsa", "ratio": 4.0, "psnr": 44.2, "sam": 2.29, "ergas": 3.2},
        {"method": "sfim-hs", "ratio": 4.0, "psnr": 43.6, "sam": 1.57, "ergas": 3.3},
        {"method": "fit", "ratio": 3.3, "psnr": 47.0, "sam": 1.30, "ergas": 2.7},
        {"method": "glp-hs", "ratio": 3.3, "psnr": 47.2, "sam": 1.32, "ergas": 2.8},
    ]
    result = {"protocol": "p-cave", "ratios": [4.0, 3.3], "mean": rows}
    verdict = p_cave.versus_best(result, "fit")
    assert all(entry["beats"] for entry in verdict[4.0].values())
    assert verdict[4.0]["sam"]["best"] == ("sfim-hs", 1.57) and verdict[4.0]["psnr"]["best"] == ("gsa", 44.2)
    assert [m for m, e in verdict[3.3].items() if not e["beats"]] == ["psnr"] and verdict["every"] is False
    qis = p_cave.versus_reference(result, "fit")  # QIS-GAN 39.51 dB / 3.54 deg / ERGAS 2.24
    assert qis["psnr"]["beats"] and qis["sam"]["beats"] and not qis["ergas"]["beats"] and not qis["every"]
    with pytest.raises(InputError, match="no mean row"):
        p_cave.versus_reference(result, "other")
