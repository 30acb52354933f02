"""``fusion bench quality --protocol p-cave --loo DIR [--fit-loo]``: a folder of leave-one-out checkpoints
named by the scene each was trained on, scored (and fine-tuned) through the CLI exactly as
``p_cave.run`` scores them when given the assignment by hand; a bad folder is one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from fusion.cli import cli
from fusion.data import load_cube
from fusion.engine.checkpoint import save_checkpoint
from fusion.errors import InputError
from fusion.models import create_model
from fusion.protocols import p_cave

pytestmark = pytest.mark.usefixtures("one_thread")

BANDS = 8
WAVELENGTHS = np.linspace(400.0, 700.0, BANDS)  # fewer bands than CAVE's 31, for speed
BALLOONS, PEPPERS = "cave_balloons", "cave_fake_and_real_peppers"
SIZE = p_cave.CROP  # the CLI runs the protocol's own 256 x 256 crop
META = {
    "lr_bands": BANDS,
    "guide_bands": 3,
    "band_centres_nm": WAVELENGTHS.tolist(),
    "data_scale": 65535.0,
    "guide_response": {"sensor": "nikon_d700", "bands": "ms"},
    "data_range": 1.0,
}


def write_cubes(folder: Path) -> Path:
    """Two smooth positive ``(256, 256, BANDS)`` uint16 cubes named as the CAVE scenes, in ``folder/hsi``."""
    (folder / "hsi").mkdir(parents=True)
    y, x = np.mgrid[:SIZE, :SIZE] / SIZE
    for seed, name in enumerate((BALLOONS, PEPPERS)):
        rng = np.random.default_rng(seed)
        bands = [
            0.5 + 0.3 * np.sin(2 * np.pi * rng.uniform(1, 5) * y + rng.uniform(0, 6)) * np.cos(5 * x + b / 3)
            for b in range(BANDS)
        ]
        cube = np.round(np.stack(bands, axis=-1) * 65535).astype(np.uint16)
        np.savez(folder / "hsi" / f"{name}.npz", cube=cube, wavelengths_nm=WAVELENGTHS)
    return folder


def tiny_checkpoint(path: Path, files: list[str], seed: int, prior: str | None = None) -> Path:
    """A tiny-cnn (last layer randomised) saved as the trainer would, recording its training files."""
    torch.manual_seed(seed)
    model = create_model("tiny-cnn", prior=prior, lr_bands=BANDS, guide_bands=3, width=4)
    body = model.model.body if prior else model.body
    torch.nn.init.normal_(body[-1].weight, std=0.05)
    torch.nn.init.normal_(body[-1].bias, std=0.01)
    config = {"data": {"name": "hsi-cubes", "args": {"files": files}}}
    return save_checkpoint(model, path, meta=META, config=config, step=3)


@pytest.fixture(scope="module")
def loo_setup(tmp_path_factory):
    """Cubes, and a folder of leave-one-out checkpoints: tiny-cnn trained on each scene (short and full
    scene names), tiny-cnn + glp-hs prior trained on balloons, and one trained on both (not LOO)."""
    root = write_cubes(tmp_path_factory.mktemp("data"))
    weights = tmp_path_factory.mktemp("weights")
    paths = {
        "on_balloons": tiny_checkpoint(weights / "tiny_train_balloons.pt", [f"{BALLOONS}.npz"], 1),
        "on_peppers": tiny_checkpoint(weights / f"tiny_train_{PEPPERS}.pt", [f"{PEPPERS}.npz"], 2),
        "prior": tiny_checkpoint(
            weights / "tiny_prior_train_balloons.pt", [f"{BALLOONS}.npz"], 3, prior="glp-hs"
        ),
    }
    tiny_checkpoint(weights / "tiny_both.pt", [f"{BALLOONS}.npz", f"{PEPPERS}.npz"], 4)
    return root, weights, paths


@pytest.fixture(scope="module")
def cli_and_direct(loo_setup, tmp_path_factory):
    """The CLI's JSON result with --loo/--fit-loo/--back-projection, and ``p_cave.run`` given the same
    checkpoints as an explicit ``{scene: {label: path}}`` (no folder reading)."""
    root, weights, paths = loo_setup
    out = tmp_path_factory.mktemp("out") / "q.json"
    args = ["bench", "quality", "--protocol", "p-cave", "--data-root", str(root), "--methods", "bicubic",
            "--ratios", "4", "--loo", str(weights), "--fit-loo", "--fit-steps", "1",
            "--back-projection", "2", "--device", "cpu", "--out-json", str(out)]  # fmt: skip
    invoked = CliRunner().invoke(cli, args)
    assert invoked.exit_code == 0, invoked.output
    loo = {
        PEPPERS: {
            "tiny-cnn (leave-one-out)": str(paths["on_balloons"]),
            "tiny-cnn + glp-hs prior": str(paths["prior"]),
        },
        BALLOONS: {"tiny-cnn (leave-one-out)": str(paths["on_peppers"])},
    }
    direct = p_cave.run(
        root, methods=["bicubic"], ratios=[4.0], device="cpu", loo=loo, fit_loo=loo, fit_steps=1,
        back_projection=2,
    )  # fmt: skip
    return json.loads(out.read_text()), direct


def keyed(rows):
    return {(r["method"], r["scene"], r["ratio"]): [r["psnr"], r["sam"], r["ergas"]] for r in rows}


def test_cli_rows_equal_the_direct_run(cli_and_direct):
    found, direct = cli_and_direct
    rows, expected = keyed(found["rows"]), keyed(direct["rows"])
    assert rows.keys() == expected.keys()
    for key, values in expected.items():
        np.testing.assert_allclose(rows[key], values, rtol=1e-6, err_msg=str(key))
    labels = {method for method, _, _ in rows}
    assert labels == {
        "bicubic", "bicubic + bp",
        "tiny-cnn (leave-one-out)", "tiny-cnn (leave-one-out) + bp",
        "tiny-cnn (leave-one-out) + fit + bp",
        "tiny-cnn + glp-hs prior", "tiny-cnn + glp-hs prior + bp", "tiny-cnn + glp-hs prior + fit + bp",
    }  # fmt: skip
    scenes = {(m, s) for m, s, _ in rows if m.startswith("tiny-cnn + glp-hs prior")}
    assert {s for _, s in scenes} == {PEPPERS}  # trained on balloons: tested on peppers only
    assert {s for m, s, _ in rows if m == "tiny-cnn (leave-one-out)"} == {BALLOONS, PEPPERS}
    unfitted = [r for r in found["rows"] if r["method"].startswith("tiny-cnn") and "fit" not in r["method"]]
    assert all(r["trained_on_scene"] is False for r in unfitted)
    means = {(m["method"], m["ratio"]): m for m in found["mean"]}
    loo_sam = [rows[("tiny-cnn (leave-one-out)", s, 4.0)][1] for s in (BALLOONS, PEPPERS)]
    assert means[("tiny-cnn (leave-one-out)", 4.0)]["sam"] == pytest.approx(np.mean(loo_sam), rel=1e-12)


def test_leave_one_out_row_is_the_other_scenes_checkpoint(cli_and_direct, loo_setup):
    """Independent check of one row: the balloons checkpoint run by hand on the peppers case, scored
    with numpy."""
    found, _ = cli_and_direct
    root, _, paths = loo_setup
    case = p_cave.make_case(load_cube(root / "hsi" / f"{PEPPERS}.npz"), 4.0)
    model = create_model("tiny-cnn", lr_bands=BANDS, guide_bands=3, width=4)
    model.load_state_dict(torch.load(paths["on_balloons"], weights_only=True)["state_dict"])
    with torch.no_grad():
        pred = model.eval()(case.lr.float(), case.guide.float()).double()[0].numpy()
    gt = case.gt[0].numpy()
    psnr = 10 * np.log10(1.0 / np.mean((pred - gt) ** 2))
    cos = (pred * gt).sum(0) / np.sqrt((pred**2).sum(0) * (gt**2).sum(0))
    sam = np.degrees(np.arccos(np.clip(cos, -1, 1))).mean()
    ergas = 100 / 4 * np.sqrt(np.mean(((pred - gt) ** 2).mean((1, 2)) / gt.mean((1, 2)) ** 2))
    row = keyed(found["rows"])[("tiny-cnn (leave-one-out)", PEPPERS, 4.0)]
    np.testing.assert_allclose(row, [psnr, sam, ergas], rtol=1e-6)


def test_verdicts_compare_with_the_rows(cli_and_direct):
    found, _ = cli_and_direct
    means = {(m["method"], m["ratio"]): m for m in found["mean"]}
    verdicts = found["verdicts"]
    assert set(verdicts) == {
        "tiny-cnn (leave-one-out)", "tiny-cnn (leave-one-out) + bp", "tiny-cnn (leave-one-out) + fit + bp",
        "tiny-cnn + glp-hs prior", "tiny-cnn + glp-hs prior + bp", "tiny-cnn + glp-hs prior + fit + bp",
    }  # fmt: skip
    qis = verdicts["tiny-cnn + glp-hs prior + bp"]["versus_qis_gan"]
    mine = means[("tiny-cnn + glp-hs prior + bp", 4.0)]
    assert qis["psnr"]["value"] == mine["psnr"] and qis["psnr"]["reference"] == 39.51
    assert qis["psnr"]["beats"] == (mine["psnr"] > 39.51) and qis["sam"]["beats"] == (mine["sam"] < 3.54)
    assert qis["every"] == all(qis[m]["beats"] for m in ("psnr", "sam", "ergas"))
    # only bicubic ran, so there is no classical method to compare with
    assert "versus_best_classical" not in verdicts["tiny-cnn + glp-hs prior + bp"]


@pytest.mark.parametrize("case", ["missing", "empty", "unknown scene"])
def test_a_bad_loo_folder_is_one_clear_error(case, loo_setup, tmp_path):
    root, _, paths = loo_setup
    folder = tmp_path / "w"
    if case != "missing":
        folder.mkdir()
        (folder / "run_both.pt").write_bytes(Path(paths["on_balloons"]).read_bytes())  # not LOO: ignored
    if case == "unknown scene":
        (folder / "tiny_train_houston.pt").write_bytes(Path(paths["on_balloons"]).read_bytes())
    args = ["bench", "quality", "--protocol", "p-cave", "--data-root", str(root), "--methods", "bicubic",
            "--ratios", "4", "--loo", str(folder)]  # fmt: skip
    out = CliRunner().invoke(cli, args)
    expected = {
        "missing": f"{folder}: no such folder of leave-one-out checkpoints",
        "empty": f"{folder}: no leave-one-out checkpoints in it (files named *_train_*.pt)",
        "unknown scene": f"{folder / 'tiny_train_houston.pt'}: its name says it was trained on 'houston', "
        f"which names none of the P-CAVE scenes {BALLOONS}, {PEPPERS}",
    }[case]
    assert out.exit_code == 1
    assert out.output.strip().splitlines() == [f"Error: {expected}"]


def test_loo_options_need_the_protocol_and_each_other(loo_setup):
    _, weights, _ = loo_setup
    out = CliRunner().invoke(cli, ["bench", "quality", "--loo", str(weights)])
    assert out.exit_code == 1 and "--loo: only with --protocol p-cave" in out.output
    out = CliRunner().invoke(cli, ["bench", "quality", "--protocol", "p-cave", "--fit-loo"])
    assert out.exit_code == 1 and "--fit-loo: give the leave-one-out checkpoints with --loo DIR" in out.output


def test_scene_names_in_file_names():
    scenes = [BALLOONS, PEPPERS]
    assert p_cave.trained_scene("x/ss_inr_prior_train_peppers.pt", scenes) == PEPPERS
    assert p_cave.trained_scene(f"m_train_{BALLOONS}.pt", scenes) == BALLOONS
    with pytest.raises(InputError, match=r"names several \(cave_a_red, cave_b_red\) of the P-CAVE scenes"):
        p_cave.trained_scene("m_train_red.pt", ["cave_a_red", "cave_b_red"])
    with pytest.raises(InputError, match="names none of"):
        p_cave.trained_scene("m_train_loons.pt", scenes)  # a word, not a substring
