"""A shipped checkpoint's card from a P-CAVE result (``scripts/eval_checkpoint.py --from-result``, then
``scripts/model_card.py``): its leave-one-out twins' mean rows as the metrics, the ablation beside them,
the back-projection it ships with, and the verdict against the issue's QIS-GAN numbers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "engine"))
from shipped_factory import load_script, training_checkpoint  # noqa: E402

LABEL, ABLATION = "tiny-cnn + glp-hs prior + bp", "glp-hs + bp"
A, B = "cave_a", "cave_b"


def mean(method, ratio, psnr, sam, ergas):
    return {"method": method, "ratio": ratio, "psnr": psnr, "sam": sam, "ergas": ergas, "scenes": 2}


@pytest.fixture
def shipped_and_result(tmp_path):
    """A checkpoint shipped with 10 back-projection steps, and a hand-written P-CAVE result whose
    ``LABEL`` rows come from two twins (each trained on one scene, tested on the other)."""
    ship = load_script("ship_checkpoint")
    (tmp_path / "w").mkdir()
    config = {"data": {"name": "hsi-cubes"}, "degrade": {"ratio": [3.0, 5.0]}, "schedule": {"steps": 50}}
    source = training_checkpoint(tmp_path / "both.pt", seed=1, config=config)
    projection = {"iterations": 10, "gnyq": 0.3, "phase": "centre"}
    entry, _ = ship.ship(source, tmp_path / "w" / "tiny-cave.pt", task="t", back_projection=projection)
    twins = {}
    for trained, tested in ((A, B), (B, A)):
        config = {"data": {"args": {"files": [f"{trained}.npz"]}}, "schedule": {"steps": 50}}
        config["train"] = {"time_limit": 460}
        path = training_checkpoint(tmp_path / f"tiny_train_{trained}.pt", seed=2, config=config)
        twins[tested] = {"label": LABEL, "checkpoint": str(path), "sha256": "ab" * 6, "step": 2,
                         "training_files": [f"{trained}.npz"], "loo_scene": tested}  # fmt: skip
    result = {
        "protocol": "p-cave",
        "ratios": [4.0, 3.3, 8.0],
        "rows": [{"method": LABEL, "scene": s, "ratio": 4.0, "trained_on_scene": False} for s in (A, B)],
        "mean": [
            mean(ABLATION, 4.0, 44.0, 1.6, 2.6),
            mean(LABEL, 4.0, 45.0, 1.5, 2.5),
            mean(LABEL, 3.3, 46.0, 1.4, 2.0),
            mean(ABLATION, 3.3, 46.5, 1.3, 2.1),
            mean(LABEL, 8.0, 40.0, 2.0, 1.0),
        ],  # fmt: skip
        "meta": {
            "crop": 256,
            "guide": "g",
            "gnyq": 0.3,
            "metrics": "m",
            "device": "cpu",
            "effective_ratios": {"4": 4.0, "3.3": 3.282, "8": 8.0},
            "methods": [{"label": ABLATION, "kind": "classical"}, twins[B], twins[A]],
        },  # fmt: skip
        "command": "fusion bench quality --protocol p-cave",
        "machine": {"cpu": "X"},
    }
    (tmp_path / "r.json").write_text(json.dumps(result))
    return entry.path, tmp_path / "r.json"


def test_evaluation_takes_the_twins_rows_and_judges_them(shipped_and_result, tmp_path):
    checkpoint, result = shipped_and_result
    out = tmp_path / "eval.json"
    load_script("eval_checkpoint").main(
        [str(checkpoint), "--from-result", str(result), "--label", LABEL, "--ablation", ABLATION,
         "--train-seconds", "410", "--train", "config=c.yaml", "--train", "data=CAVE, x = y",
         "--out", str(out)]
    )  # fmt: skip
    evaluation = json.loads(out.read_text())
    assert evaluation["metrics"] == {
        "4": {"psnr": 45.0, "sam": 1.5, "ergas": 2.5},
        "3.3": {"psnr": 46.0, "sam": 1.4, "ergas": 2.0},
        "8": {"psnr": 40.0, "sam": 2.0, "ergas": 1.0},
    }
    assert evaluation["ablation"]["metrics"]["3.3"] == {"psnr": 46.5, "sam": 1.3, "ergas": 2.1}
    assert evaluation["back_projection"] == {"iterations": 10, "gnyq": 0.3, "phase": "centre"}
    assert evaluation["scenes"] == [{"name": A, "trained_on": False}, {"name": B, "trained_on": False}]
    assert evaluation["train"]["seconds"] == 410.0 and evaluation["train"]["data"] == "CAVE, x = y"
    twins = evaluation["metrics_source"]["checkpoints"]
    assert [(t["file"], t["tested_on"], t["steps_planned"], t["time_limit_s"]) for t in twins] == [
        (f"tiny_train_{A}.pt", B, 50, 460),  # the result's order
        (f"tiny_train_{B}.pt", A, 50, 460),
    ]
    # QIS-GAN 39.51 dB / 3.54 deg / ERGAS 2.24: PSNR and SAM beaten at both ratios, ERGAS only at 3.3
    assert evaluation["reference"]["beats"] == {
        "4": {"psnr": True, "sam": True, "ergas": False, "every": False},
        "3.3": {"psnr": True, "sam": True, "ergas": True, "every": True},
    }


def test_card_shows_the_ablation_the_projection_and_the_verdict(shipped_and_result, tmp_path):
    checkpoint, result = shipped_and_result
    out = tmp_path / "eval.json"
    evaluate = load_script("eval_checkpoint")
    evaluate.main([str(checkpoint), "--from-result", str(result), "--label", LABEL, "--ablation", ABLATION,
                   "--out", str(out)])  # fmt: skip
    card = load_script("model_card")
    lines = card.section(json.loads(out.read_text()), "tiny-cnn").splitlines()
    assert "| ratio | PSNR (dB) | SAM (°) | ERGAS | glp-hs + bp: PSNR (dB) | glp-hs + bp: SAM (°) | " \
        "glp-hs + bp: ERGAS |" in lines  # fmt: skip
    assert "| 4 | 45.00 | 1.50 | 2.50 | 44.00 | 1.60 | 2.60 |" in lines
    assert "| 8 | 40.00 | 2.00 | 1.00 | n/a | n/a | n/a |" in lines
    projection = next(line for line in lines if line.startswith("| back-projection |"))
    assert "10 steps" in projection and "gain 0.3" in projection and "(k + 0.5) r - 0.5" in projection
    twins = next(line for line in lines if line.startswith("| validation checkpoints |"))
    assert f"`tiny_train_{B}.pt` (trained on {B}.npz, 2 steps of 50, 460 s limit) scored on {A}" in twins
    assert "| training ratios | uniform in [3, 5] |" in lines
    # 45 > 44, 1.5 < 1.6, 2.5 < 2.6 at x4; 46 < 46.5 dB at x3.3; no ablation row at x8
    assert (
        "Beside glp-hs + bp: better on all three metrics at x4; level or worse on at least one at x3.3."
        in lines
    )
    assert "x4: beats it on PSNR (dB), SAM (°); x3.3 (its x4 numbers): beats it on all three." in lines[-2]
    with pytest.raises(SystemExit, match="no rows of 'absent'"):
        evaluate.main([str(checkpoint), "--from-result", str(result), "--label", "absent", "--out", str(out)])
