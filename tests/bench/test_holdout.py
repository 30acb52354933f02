"""`fusion bench holdout`: checkpoints against classical methods on a training config's held-out data."""

import json

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from fusion.bench.holdout import BP_SUFFIX, holdout_cases, markdown_table, run_holdout, verdicts
from fusion.cli import cli
from fusion.engine.checkpoint import save_checkpoint
from fusion.engine.trainer import Trainer
from fusion.metrics import ergas, psnr, sam
from fusion.models import create_model
from fusion.models.consistency import BackProjected

WAVELENGTHS = np.linspace(400.0, 700.0, 6)
SIZE, HELD_OUT_FROM = (32, 24), 16  # rows 16-31 of each cube are held out


@pytest.fixture
def config(tmp_path):
    """Two smooth 6-band cubes and a task config holding out their lower half."""
    rng = np.random.default_rng(1)
    y, x = np.meshgrid(np.arange(SIZE[0]), np.arange(SIZE[1]), indexing="ij")
    for number in range(2):
        bands = [np.sin(x / (3 + b) + rng.random() * 6) * np.cos(y / (4 + b)) for b in range(6)]
        cube = 0.5 + 0.3 * np.stack(bands, axis=-1) + 0.05 * rng.random((*SIZE, 6))
        np.savez(tmp_path / f"c{number}.npz", cube=cube.astype(np.float32), wavelengths_nm=WAVELENGTHS)
    return {
        "model": {"name": "tiny-cnn", "args": {"width": 4, "depth": 2}},
        "data": {"name": "hsi-cubes", "root": str(tmp_path),
                 "args": {"patch": 8, "samples_per_image": 2, "region": [[0, HELD_OUT_FROM], [None, None]]}},
        "val": {"data": {"args": {"patch": None, "region": [[HELD_OUT_FROM, None], [None, None]]}},
                "ratios": [4, 2]},
        "degrade": {"guide": {"sensor": "nikon_d700", "bands": "ms"}, "phase": "toolbox"},
        "schedule": {"steps": 2},
        "train": {"batch_size": 2, "ema": 0.5},
        "log": {"progress": False},
    }  # fmt: skip


def metrics(fused, gt, lr):
    ratio = gt.shape[-1] / lr.shape[-1]
    return {"psnr": float(psnr(fused, gt, data_range=1.0)), "sam": float(sam(fused, gt)),
            "ergas": float(ergas(fused, gt, ratio))}  # fmt: skip


def row(result, method, ratio):
    return next(r for r in result["rows"] if r["method"] == method and r["ratio"] == ratio)


def test_cases_are_the_held_out_rows_of_each_cube(config, tmp_path):
    cases = holdout_cases(config, [4.0], "cpu")
    assert len(cases) == 2
    for case, number in zip(cases, range(2), strict=True):
        cube = np.load(tmp_path / f"c{number}.npz")["cube"][HELD_OUT_FROM:]
        np.testing.assert_array_equal(case.gt[0].numpy(), cube.transpose(2, 0, 1))
        assert case.lr.shape[-2:] == (4, 6) and case.guide.shape[1] == 3


def test_classical_rows_equal_the_metrics_computed_directly(config):
    result = run_holdout(config, ratios=[4.0], device="cpu", back_projection=3)
    cases = holdout_cases(config, [4.0], "cpu")
    exp = create_model("exp")
    projected = BackProjected(create_model("exp"), iterations=3, phase="toolbox")
    for name, model in (("exp", exp), ("exp" + BP_SUFFIX, projected)):
        with torch.no_grad():
            scores = [metrics(model(c.lr, c.guide), c.gt, c.lr) for c in cases]
        expected = {k: np.mean([s[k] for s in scores]) for k in ("psnr", "sam", "ergas")}
        found = row(result, name, 4.0)
        for key, value in expected.items():
            assert found[key] == pytest.approx(value, rel=1e-6)
    assert row(result, "exp" + BP_SUFFIX, 4.0)["psnr"] > row(result, "exp", 4.0)["psnr"]
    assert all(r["kind"] == "classical" for r in result["rows"])
    assert any(s["method"] == "brovey" for s in result["skipped"])  # a PAN method, and this guide is RGB


def test_a_checkpoint_scores_what_training_validation_reports(config, tmp_path):
    trainer = Trainer(config, tmp_path / "run")
    trainer.fit()
    validated = trainer.validate()
    path = save_checkpoint(trainer.ema.module, tmp_path / "ema.pt")
    result = run_holdout(config, [path], ratios=[4.0, 2.0], device="cpu")
    name = "tiny-cnn [" + tmp_path.name + "/ema.pt]"
    for ratio in (4.0, 2.0):
        for key in ("psnr", "sam", "ergas"):
            assert row(result, name, ratio)[key] == pytest.approx(validated[f"{key}@{ratio:g}"], rel=1e-5)
    assert {v["method"] for v in result["verdicts"]} == {name}


def test_verdicts_compare_with_the_best_classical_value_of_each_metric():
    def r(method, kind, psnr_, sam_, ergas_):
        return {"method": method, "kind": kind, "ratio": 4.0, "psnr": psnr_, "sam": sam_, "ergas": ergas_}

    rows = [
        r("a", "classical", 30.0, 5.0, 4.0),
        r("b", "classical", 29.0, 4.0, 3.5),  # best SAM and ERGAS, a has the best PSNR
        r("a" + BP_SUFFIX, "classical", 31.0, 4.5, 3.0),
        r("net", "checkpoint", 30.5, 4.2, 3.2),
    ]
    (verdict,) = verdicts(rows, [4.0])
    assert verdict["beats classical"] == {"psnr": True, "sam": False, "ergas": True, "all": False}
    assert verdict["beats classical + bp"] == {"psnr": False, "sam": True, "ergas": False, "all": False}
    table = markdown_table({"ratios": [4.0], "rows": rows}, compact=True).splitlines()
    assert table[2].rstrip(" |").split(" | ")[1:4] == ["30.00 (a)", "4.000 (b)", "3.500 (b)"]
    assert table[3].rstrip(" |").split(" | ")[1:4] == ["31.00 (a + bp)", "4.500 (a + bp)", "3.000 (a + bp)"]
    assert table[4].startswith("| net | 30.50 | 4.200 | 3.200") and len(table) == 5


def test_cli_writes_the_table_and_refuses_a_checkpoint_for_other_bands(config, tmp_path):
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(config))
    good = save_checkpoint(
        create_model("tiny-cnn", lr_bands=6, guide_bands=3, width=4, depth=2), tmp_path / "g.pt"
    )
    out = tmp_path / "holdout.json"
    runner = CliRunner()
    done = runner.invoke(
        cli, ["bench", "holdout", str(path), "-c", str(good), "--ratios", "4", "--out-json", str(out)]
    )
    assert done.exit_code == 0, done.output
    written = json.loads(out.read_text())
    direct = run_holdout(config, [good], ratios=[4.0], device="cpu")
    assert [(r["method"], r["psnr"]) for r in written["rows"]] == [
        (r["method"], r["psnr"]) for r in direct["rows"]
    ]
    assert f"tiny-cnn [{tmp_path.name}/g.pt] x4: beats classical:" in done.output
    wrong = save_checkpoint(
        create_model("tiny-cnn", lr_bands=5, guide_bands=3, width=4, depth=2), tmp_path / "w.pt"
    )
    failed = runner.invoke(cli, ["bench", "holdout", str(path), "-c", str(wrong), "--ratios", "4"])
    assert failed.exit_code == 1 and "Traceback" not in failed.output
    assert len(failed.output.strip().splitlines()) == 1, failed.output


def test_a_test_split_is_scored_instead_of_the_validation_one(config, tmp_path):
    config["val"]["data"]["args"]["region"] = [[8, HELD_OUT_FROM], [None, None]]
    config["test"] = {"data": {"args": {"patch": None, "region": [[HELD_OUT_FROM, None], [None, None]]}}}
    cases = holdout_cases(config, [4.0], "cpu")
    cube = np.load(tmp_path / "c0.npz")["cube"][HELD_OUT_FROM:]
    np.testing.assert_array_equal(cases[0].gt[0].numpy(), cube.transpose(2, 0, 1))
    assert run_holdout(config, ratios=[4.0], device="cpu")["split"] == "test"
    del config["test"]
    assert run_holdout(config, ratios=[4.0], device="cpu")["split"] == "val"
