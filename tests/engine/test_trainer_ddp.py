"""The same `fusion train` command under torchrun: 2 CPU processes (gloo) equal one process with the
doubled batch, and only rank 0 writes."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from fusion.engine.trainer import Trainer

pytestmark = pytest.mark.slow  # two fresh Python processes with torch: ~20 s on the shared CI machine


def test_two_gloo_processes_match_one_with_the_doubled_batch(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "cubes"
    root.mkdir()
    for number in range(2):
        cube = rng.random((20, 20, 6)).astype(np.float32)
        np.savez(root / f"c{number}.npz", cube=cube, wavelengths_nm=np.linspace(400.0, 700.0, 6))
    config = {
        "model": {"name": "tiny-cnn", "args": {"width": 4, "depth": 2}},
        "data": {"name": "hsi-cubes", "root": str(root), "args": {"patch": 12, "samples_per_image": 8}},
        "val": {"data": {"args": {"files": "c0.npz"}}, "ratios": [2, 4], "every": 6},  # rank 1: no image
        # a deterministic degradation (one ratio, no jitter, no noise): ranks draw their own parameters
        "degrade": {"guide": {"sensor": "nikon_d700"}, "ratio": [3, 3], "gnyq_jitter": 0.0},
        "optim": {"name": "sgd", "lr": 0.05},  # Adam would amplify float rounding in near-zero gradients
        "schedule": {"steps": 6, "warmup": 1},
        "train": {"batch_size": 2, "checkpoint_every": 6, "ema": 0.9},
        "log": {"every": 3, "progress": False},
    }
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "fusion.cli", "train", str(path), "--out", str(tmp_path / "ddp")]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    summaries = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(summaries) == 1  # rank 0 reports

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = {**config, "train": {**config["train"], "batch_size": 4}}
        reference = Trainer(single, tmp_path / "single").fit()
    finally:
        torch.set_num_threads(threads)
    a = torch.load(tmp_path / "ddp" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "single" / "last.pt", weights_only=True)
    for key, value in a["train_state"]["model"].items():
        torch.testing.assert_close(value, b["train_state"]["model"][key], rtol=0, atol=1e-6)
    records = [json.loads(line) for line in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    assert [(r["split"], r["step"]) for r in records] == [
        ("train", 3),
        ("train", 6),
        ("val", 6),
    ]  # written once
    single_records = [
        json.loads(line) for line in (tmp_path / "single" / "metrics.jsonl").read_text().splitlines()
    ]
    for mine, theirs in zip(records, single_records, strict=True):  # losses and metrics reduced over ranks
        for key in ("loss", "psnr", "sam@2", "ergas@4"):
            if key in mine:
                assert mine[key] == pytest.approx(theirs[key], rel=1e-4)
    assert summaries[0]["val"]["psnr"] == pytest.approx(reference["val"]["psnr"], rel=1e-4)
