"""scripts/ship_checkpoint.py, scripts/model_card.py and scripts/eval_checkpoint.py."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent / "engine"))
from shipped_factory import load_script, tiny_model, training_checkpoint  # noqa: E402

from fusion.engine.checkpoint import load_checkpoint, read_checkpoint  # noqa: E402
from fusion.engine.trainer import Trainer  # noqa: E402
from fusion.engine.zoo import read_index  # noqa: E402
from fusion.errors import InputError, OutputError  # noqa: E402

CAVE_NM = np.arange(400.0, 701.0, 10.0)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """``last.pt`` of a 2-step training run of tiny-cnn on a small uint16 cube (data scale 65535)."""
    root = tmp_path_factory.mktemp("cubes")
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:20, 0:20]
    bands = [np.sin(x / (3 + b)) * np.cos(y / (4 + b)) for b in range(5)]
    cube = 30000 + 15000 * np.stack(bands, axis=-1) + 500 * rng.random((20, 20, 5))
    np.savez(root / "c.npz", cube=cube.astype(np.uint16), wavelengths_nm=np.linspace(420.0, 680.0, 5))
    config = {
        "model": {"name": "tiny-cnn", "args": {"width": 4, "depth": 2}},
        "data": {"name": "hsi-cubes", "root": str(root), "args": {"patch": 12, "samples_per_image": 4}},
        "degrade": {"guide": {"sensor": "nikon_d700"}, "ratio": [2, 3]},
        "schedule": {"steps": 2},
        "train": {"batch_size": 2, "checkpoint_every": 2, "ema": 0.5, "keep_checkpoints": 0},
        "log": {"every": 1, "progress": False},
    }
    run = tmp_path_factory.mktemp("run")
    torch.set_num_threads(1)
    Trainer(config, run).fit()
    return run / "last.pt"


def relative_difference(path_a, path_b, seed=7):
    """Max |b - a| / max |a| of the two checkpoints' models on one random input at ratio 3."""
    (a, _), (b, _) = load_checkpoint(path_a), load_checkpoint(path_b)
    generator = torch.Generator().manual_seed(seed)
    lr = torch.rand(1, a.lr_bands, 9, 8, generator=generator)
    guide = torch.rand(1, a.guide_bands, 27, 24, generator=generator)
    with torch.no_grad():
        expected, found = a.eval()(lr, guide), b.eval()(lr, guide)
    assert all(p.dtype == torch.float32 for p in b.parameters())  # fp16 weights load into float32
    return float((found - expected).abs().max() / expected.abs().max())


def test_ship_a_training_run(trained_run, tmp_path):
    ship = load_script("ship_checkpoint")
    evaluation = {"train": {"gpu": "X", "seconds": 12.0}, "protocol": "P", "metrics": {"4": {"psnr": 1.0}}}
    (tmp_path / "eval.json").write_text(json.dumps(evaluation))
    weights = tmp_path / "weights"
    weights.mkdir()
    ship.main(
        [
            str(trained_run),
            str(weights / "t.pt"),
            "--task",
            "tiny",
            "--card-json",
            str(tmp_path / "eval.json"),
        ]
    )
    source, shipped = read_checkpoint(trained_run), read_checkpoint(weights / "t.pt")
    assert "train_state" in source and not {"train_state", "optimizer", "config", "step"} & set(shipped)
    assert shipped["model"] == source["model"]
    assert set(shipped["state_dict"]) == set(source["state_dict"])
    for key, value in shipped["state_dict"].items():
        assert value.dtype == (
            torch.float16 if value.is_floating_point() else source["state_dict"][key].dtype
        )
        # the EMA weights, not the raw ones of the training state
        torch.testing.assert_close(value.float(), source["state_dict"][key].half().float(), rtol=0, atol=0)
    meta = dict(shipped["meta"])
    trained = meta.pop("trained")
    assert meta == {**source["meta"], "task": "tiny"} and meta["data_scale"] == 65535.0
    assert trained["step"] == 2 and trained["config"] == source["config"]
    assert trained["source_sha256"] == hashlib.sha256(trained_run.read_bytes()).hexdigest()
    assert {k: trained[k] for k in ("train", "protocol", "metrics")} == evaluation
    assert relative_difference(trained_run, weights / "t.pt") < 1e-3
    (entry,) = read_index(weights)
    assert (entry.model, entry.file, entry.task, entry.lr_bands, entry.guide_bands) == (
        "tiny-cnn",
        "t.pt",
        "tiny",
        5,
        3,
    )
    assert entry.guide_response == "nikon_d700" and entry.band_centres_nm == tuple(
        np.linspace(420.0, 680.0, 5)
    )
    assert entry.size == (weights / "t.pt").stat().st_size < trained_run.stat().st_size


def test_fp16_round_trip_is_within_bound(tmp_path):
    """A model with all weights random (not a near-bilinear one): fp16 is visible, yet below 1e-3."""
    source = training_checkpoint(tmp_path / "src.pt", lr_bands=6, guide_bands=3, seed=2)
    (tmp_path / "w").mkdir()
    entry, reported = load_script("ship_checkpoint").ship(source, tmp_path / "w" / "m.pt", task="t")
    measured = relative_difference(source, entry.path)
    assert 0 < measured < 1e-3 and 0 < reported < 1e-3


def test_fp16_check_refuses_and_writes_nothing(tmp_path, monkeypatch):
    ship = load_script("ship_checkpoint")
    source = training_checkpoint(tmp_path / "src.pt", seed=1)
    (tmp_path / "w").mkdir()
    monkeypatch.setattr(ship, "FP16_TOLERANCE", 0.0)
    with pytest.raises(
        InputError, match=r"src\.pt: fp16 weights change the output by .* over 0; not shipped"
    ):
        ship.ship(source, tmp_path / "w" / "m.pt", task="t")
    assert list((tmp_path / "w").iterdir()) == []


def test_size_limit_refuses_with_a_clear_message(tmp_path, capsys):
    ship = load_script("ship_checkpoint")
    weights = tmp_path / "w"
    weights.mkdir()
    first = training_checkpoint(tmp_path / "a-src.pt", seed=1)
    second = training_checkpoint(tmp_path / "b-src.pt", seed=2)
    entry, _ = ship.ship(first, weights / "a.pt", task="t")
    index = (weights / "index.json").read_text()
    limit = entry.size + len(index) + 64  # room for a.pt and its index, not for a second checkpoint
    ship.ship(second, weights / "a.pt", task="t", limit=limit)  # replacing a.pt: same size, still fits
    index = (weights / "index.json").read_text()
    message = (
        r"shipping b\.pt \(.* MB\) would make the weights folder .* MB, over the 0\.\d+ MB limit; ship a "
    )
    with pytest.raises(OutputError, match=message + "smaller model or remove a checkpoint"):
        ship.ship(second, weights / "b.pt", task="t", limit=limit)
    assert sorted(p.name for p in weights.iterdir()) == ["a.pt", "index.json"]
    assert (weights / "index.json").read_text() == index
    with pytest.raises(SystemExit, match=r"^ship_checkpoint: .*over the 0\.00 MB limit"):
        ship.main([str(second), str(weights / "b.pt"), "--limit-mb", "0.001"])


def evaluation_json():
    metrics = {
        r: {"psnr": 40.0 + k, "sam": 2.0 - 0.1 * k, "ergas": 1.5} for k, r in enumerate(("2", "3", "4"))
    }
    metrics["3.3"] = {"psnr": 38.456, "sam": 2.345, "ergas": None}
    return {
        "model": "liif",
        "checkpoint": {"file": "fusion/weights/liif-cave.pt", "bytes": 3_310_000, "sha256": "ab" * 32},
        "train": {"data": "CAVE", "split": "cols", "steps": 5000, "seconds": 468.0, "gpu": "NVIDIA H200"},
        "protocol": "P-CAVE",
        "scenes": [{"name": "cave_balloons", "trained_on": False}],
        "metrics": metrics,
    }


def test_model_card_section_round_trip(tmp_path, capsys):
    card_script = load_script("model_card")
    evaluation = tmp_path / "eval.json"
    evaluation.write_text(json.dumps(evaluation_json()))
    card = tmp_path / "liif.md"
    head, tail = "# liif\n\nWhat it is.\n\n", "\n\n## Tests\n\nSee tests.\n"
    card.write_text(f"{head}{card_script.START}\nold text\n{card_script.END}{tail}")
    card_script.main([str(evaluation), "--model", "liif", "--out", str(card)])
    text = card.read_text()
    assert text.startswith(head + card_script.START) and text.endswith(card_script.END + tail)
    assert "old text" not in text and text.count(card_script.START) == text.count(card_script.END) == 1
    lines = text.splitlines()
    assert "| 4 | 42.00 | 1.80 | 1.50 |" in lines and "| 3.3 | 38.46 | 2.35 | n/a |" in lines
    assert "| training time | 7.8 min |" in lines and "| GPU | NVIDIA H200 |" in lines
    assert "| checkpoint | `fusion/weights/liif-cave.pt` (3.31 MB, SHA-256 `abababababab`) |" in lines
    assert "| validation scenes | cave_balloons (held out) |" in lines
    rows = [line.split(" | ")[0] for line in lines if line.startswith("| ") and line[2].isdigit()]
    assert rows == ["| 2", "| 3", "| 4", "| 3.3"]  # the JSON's order
    assert "no metrics at ratio 6, 8" in capsys.readouterr().err
    card_script.main([str(evaluation), "--model", "liif", "--out", str(card)])
    assert card.read_text() == text and "unchanged" in capsys.readouterr().out


def test_model_card_without_section_or_file(tmp_path):
    card_script = load_script("model_card")
    section = card_script.section(evaluation_json(), "liif")
    assert card_script.update_card(None, section, "liif") == f"# liif\n\n{section}\n"
    appended = card_script.update_card("# liif\n\nText.\n\n", section, "liif")
    assert appended == f"# liif\n\nText.\n\n{section}\n"
    assert card_script.update_card(appended, section, "liif") == appended
    with pytest.raises(ValueError, match="broken"):
        card_script.update_card(f"# x\n{card_script.START}\n", section, "liif")


def test_eval_checkpoint_scores_the_p_cave_cases(tmp_path):
    from fusion.data import load_cube
    from fusion.metrics import ergas, psnr, sam
    from fusion.protocols import p_cave

    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:40, 0:40]
    for name in ("cave_a", "cave_b"):
        cube = np.stack([np.sin(x / (4 + b / 7) + rng.random()) * np.cos(y / 5) for b in range(31)], axis=-1)
        np.savez(
            tmp_path / f"{name}.npz", cube=(30000 + 20000 * cube).astype(np.uint16), wavelengths_nm=CAVE_NM
        )
    config = {"data": {"name": "hsi-cubes", "root": "cubes", "args": {"files": ["cave_a.npz"]}}}
    path = training_checkpoint(tmp_path / "m.pt", 31, 3, CAVE_NM.tolist(), 65535.0, seed=4, config=config)
    evaluation = load_script("eval_checkpoint").evaluate_checkpoint(
        path, tmp_path, ratios=[2, 4, 3.3], crop=32
    )
    assert evaluation["scenes"] == [
        {"name": "cave_a", "trained_on": True},
        {"name": "cave_b", "trained_on": False},
    ]
    assert list(evaluation["metrics"]) == ["2", "4", "3.3"]
    assert evaluation["train"]["steps"] == 2 and "values / 65535" in evaluation["train"]["data"]
    assert evaluation["checkpoint"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    model = tiny_model(31, 3, seed=4)
    for ratio in (2, 4, 3.3):
        scores = []
        for name in ("cave_a", "cave_b"):
            case = p_cave.make_case(load_cube(tmp_path / f"{name}.npz"), ratio, crop=32)
            with torch.no_grad():
                fused = model(case.lr.float(), case.guide.float()).double()
            effective = 32 / case.lr.shape[-1]
            scores.append([float(psnr(fused, case.gt, data_range=1.0)), float(sam(fused, case.gt)),
                           float(ergas(fused, case.gt, effective))])  # fmt: skip
        expected = np.mean(scores, axis=0)
        found = evaluation["metrics"][f"{ratio:g}"]
        np.testing.assert_allclose([found["psnr"], found["sam"], found["ergas"]], expected, rtol=1e-5)
