"""The training loop on CPU: run folder, exact resume, reproducible batches, validation numbers."""

import copy
import json
import math

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from fusion.degrade import Degradation, sensor_srf
from fusion.engine.checkpoint import load_checkpoint
from fusion.engine.trainer import Trainer
from fusion.errors import InputError, OutputError

WAVELENGTHS = np.linspace(400.0, 700.0, 6)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def cube_root(tmp_path):
    """Two smooth 6-band cubes (24 x 24) with wavelengths covering the Nikon D700 response."""
    rng = np.random.default_rng(0)
    root = tmp_path / "cubes"
    root.mkdir()
    y, x = np.meshgrid(np.arange(24), np.arange(24), indexing="ij")
    for number in range(2):
        waves = [np.sin(x / (3 + b) + rng.random() * 6) * np.cos(y / (4 + b)) for b in range(6)]
        cube = 0.5 + 0.3 * np.stack(waves, axis=-1) + 0.05 * rng.random((24, 24, 6))
        np.savez(root / f"c{number}.npz", cube=cube.astype(np.float32), wavelengths_nm=WAVELENGTHS)
    return root


def make_config(root, **sections):
    config = {
        "model": {"name": "tiny-cnn", "args": {"width": 4, "depth": 2}},
        "data": {"name": "hsi-cubes", "root": str(root), "args": {"patch": 12, "samples_per_image": 4}},
        "degrade": {"guide": {"sensor": "nikon_d700"}, "ratio": [2, 4], "snr_db": [30, 40]},
        "optim": {"lr": 5.0e-3},
        "schedule": {"steps": 6, "warmup": 1},
        "train": {"batch_size": 2, "checkpoint_every": 3, "keep_checkpoints": 1, "ema": 0.9},
        "log": {"every": 2, "progress": False},
    }
    for name, values in sections.items():
        config[name] = {**config.get(name, {}), **values}
    return config


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_run_folder_logs_checkpoints_and_best(cube_root, tmp_path):
    config = make_config(cube_root, val={"data": {}, "every": 3, "ratios": [2, 3.3]})
    trainer = Trainer(config, tmp_path / "run")
    summary = trainer.fit()
    run = tmp_path / "run"
    assert summary["step"] == 6 and summary["finished"]
    assert yaml.safe_load((run / "config.yaml").read_text()) == trainer.config
    records = read_jsonl(run / "metrics.jsonl")
    assert [(r["split"], r["step"]) for r in records] == [
        ("train", 2), ("val", 3), ("train", 4), ("train", 6), ("val", 6)
    ]  # fmt: skip
    assert all(
        r["loss"] > 0 and r["samples_per_s"] > 0 and 2 <= r["ratio"] <= 4
        for r in records
        if r["split"] == "train"
    )
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step_0000006.pt"]  # keep_checkpoints: 1
    vals = [r for r in records if r["split"] == "val"]
    best = max(vals, key=lambda r: r["psnr"])
    model, payload = load_checkpoint(run / "best.pt")
    assert payload["step"] == best["step"] and payload["val"]["psnr"] == best["psnr"]
    assert "train_state" not in payload  # best.pt is for inference
    meta = payload["meta"]
    assert (meta["lr_bands"], meta["guide_bands"], meta["band_centres_nm"]) == (6, None, list(WAVELENGTHS))
    assert set(vals[-1]) >= {"psnr@2", "sam@3.3", "ergas@2", "psnr", "sam", "ergas"}
    last, payload = load_checkpoint(run / "last.pt")
    lr, guide = torch.rand(1, 6, 5, 5), torch.rand(1, 3, 10, 10)
    torch.testing.assert_close(
        last(lr, guide), trainer.ema.module(lr, guide)
    )  # last.pt holds the EMA weights
    with pytest.raises(OutputError, match="already holds a run"):
        Trainer(config, run)


def test_resume_continues_exactly(cube_root, tmp_path):
    config = make_config(
        cube_root, schedule={"steps": 20}, train={"deterministic": True, "checkpoint_every": 5}
    )
    Trainer(config, tmp_path / "straight").fit()
    interrupted = copy.deepcopy(config)
    interrupted["train"]["stop_at"] = 10
    assert Trainer(interrupted, tmp_path / "resumed").fit()["finished"] is False
    summary = Trainer(config, tmp_path / "resumed", resume=tmp_path / "resumed").fit()
    assert summary["step"] == 20
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)
    for key in a["state_dict"]:
        torch.testing.assert_close(a["state_dict"][key], b["state_dict"][key], rtol=0, atol=0)
        torch.testing.assert_close(
            a["train_state"]["model"][key], b["train_state"]["model"][key], rtol=0, atol=0
        )
    for key, value in a["train_state"]["optimizer"]["state"][0].items():
        torch.testing.assert_close(value, b["train_state"]["optimizer"]["state"][0][key], rtol=0, atol=0)
    straight = [r for r in read_jsonl(tmp_path / "straight" / "metrics.jsonl") if r["step"] > 10]
    resumed = [r for r in read_jsonl(tmp_path / "resumed" / "metrics.jsonl") if r["step"] > 10]
    assert [r["loss"] for r in straight] == [r["loss"] for r in resumed]


def test_same_seed_gives_the_same_batches(cube_root, tmp_path):
    config = make_config(cube_root)

    def batches(config, folder):
        trainer = Trainer(config, tmp_path / folder)
        stream = iter(trainer._loader())
        return [trainer.prepare(next(stream), step) for step in range(4)]

    first, again = batches(config, "a"), batches(config, "b")
    other = batches(make_config(cube_root, train={"seed": 1}), "c")
    for (lr, guide, gt), (lr2, guide2, gt2) in zip(first, again, strict=True):
        assert torch.equal(lr, lr2) and torch.equal(guide, guide2) and torch.equal(gt, gt2)
        assert guide.shape[1] == 3 and gt.shape[-2:] == (12, 12)
    assert len({lr.shape[-1] for lr, _, _ in first}) > 1  # the ratio changes from batch to batch
    assert not all(torch.equal(a[2], b[2]) for a, b in zip(first, other, strict=True))


def test_validation_numbers_match_an_independent_computation(cube_root, tmp_path):
    """An untrained tiny-cnn is bilinear upsampling: recompute PSNR, SAM and ERGAS by hand."""
    config = make_config(cube_root, val={"data": {"args": {"patch": 20}}, "ratios": [2, 4], "batch_size": 2})
    trainer = Trainer(config, tmp_path / "run")
    result = trainer.validate()
    srf = sensor_srf("nikon_d700", WAVELENGTHS)
    for ratio in (2, 4):
        psnrs, sams, ergases = [], [], []
        for number in range(2):
            cube = np.load(cube_root / f"c{number}.npz")["cube"].transpose(2, 0, 1)[:, 2:22, 2:22]
            gt = torch.from_numpy(cube.astype(np.float64))[None]
            lr = Degradation(ratio=ratio, srf=srf)(gt).lr
            pred = F.interpolate(lr, size=(20, 20), mode="bilinear", align_corners=False)
            mse = (pred - gt).pow(2).mean()
            psnrs.append(10 * math.log10(1 / float(mse)))
            cosine = (pred * gt).sum(1) / (pred.norm(dim=1) * gt.norm(dim=1))
            sams.append(float(torch.rad2deg(torch.acos(cosine.clamp(-1, 1))).mean()))
            band_rel = (pred - gt).pow(2).mean(dim=(0, 2, 3)) / gt.mean(dim=(0, 2, 3)).pow(2)
            ergases.append(100 / ratio * float(band_rel.mean().sqrt()))
        assert result[f"psnr@{ratio}"] == pytest.approx(np.mean(psnrs), abs=1e-4)
        assert result[f"sam@{ratio}"] == pytest.approx(np.mean(sams), abs=1e-4)
        assert result[f"ergas@{ratio}"] == pytest.approx(np.mean(ergases), rel=1e-5)
    assert result["psnr"] == pytest.approx((result["psnr@2"] + result["psnr@4"]) / 2)


def test_data_with_their_own_lr_are_used_as_is(tmp_path):
    rng = np.random.default_rng(2)
    gt = rng.random((4, 3, 16, 16)) * 2047
    with h5py.File(tmp_path / "set.h5", "w") as stream:
        stream["gt"], stream["pan"] = gt, gt.mean(1, keepdims=True)
        stream["ms"] = F.avg_pool2d(torch.from_numpy(gt), 4).numpy()
        stream["lms"] = gt
    data = {"name": "pancollection", "root": str(tmp_path / "set.h5"), "args": {"patch": 8}}
    config = make_config(tmp_path, data=data)
    config["val"] = {"data": {}, "ratios": [2]}
    trainer = Trainer(config, tmp_path / "run")
    batch = next(iter(trainer._loader()))
    lr, guide, gt_batch = trainer.prepare(batch, 0)
    assert torch.equal(lr, batch["lr"]) and lr.shape[-1] == 2 and gt_batch.shape[-1] == 8
    torch.testing.assert_close(lr, F.avg_pool2d(gt_batch, 4))
    assert sorted(trainer.validate()) == ["ergas", "ergas@native", "psnr", "psnr@native", "sam", "sam@native"]


def test_time_limit_stops_with_a_resumable_checkpoint(cube_root, tmp_path):
    summary = Trainer(make_config(cube_root, train={"time_limit": 0}), tmp_path / "run").fit()
    assert summary["step"] == 2 and not summary["finished"]  # the first log step
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["step"] == 2


def test_configuration_errors(cube_root, tmp_path):
    with pytest.raises(InputError, match="have no guide: set degrade.guide.sensor"):
        Trainer(make_config(cube_root, degrade={"guide": {"sensor": None}}), tmp_path / "a")
    with pytest.raises(
        InputError, match="model 'tiny-cnn' is configured for 5 low-resolution bands .* have 6"
    ):
        Trainer(make_config(cube_root, model={"args": {"lr_bands": 5}}), tmp_path / "b")
    with pytest.raises(InputError, match="unknown model 'tiny'"):
        Trainer(make_config(cube_root, model={"name": "tiny"}), tmp_path / "c")
