"""`fusion train` end to end on the shipped smoke config, and one clear error per kind of bad input."""

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from fusion.cli import cli

REPO = Path(__file__).resolve().parents[2]
SMOKE = str(REPO / "configs" / "train" / "smoke.yaml")
SHORT = [  # the smoke config, cut down to seconds
    "--set", "schedule.steps=4", "--set", "val.every=4", "--set", "log.progress=false",
    "--set", "data.args.patch=24", "--set", "val.data.args.patch=40", "--set", "val.ratios=[2, 3.3]",
]  # fmt: skip


@pytest.fixture(autouse=True)
def in_repo(monkeypatch):
    """The smoke config names the shipped sample data relative to the repository root."""
    monkeypatch.chdir(REPO)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def train(*args):
    return CliRunner().invoke(cli, ["train", SMOKE, *SHORT, *map(str, args)])


def test_smoke_config_trains_and_resumes(tmp_path):
    run = tmp_path / "run"
    result = train("--out", run, "--set", "train.stop_at=2")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert (summary["step"], summary["finished"]) == (2, False)
    result = train("--resume", run)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert (summary["step"], summary["finished"]) == (4, True)
    assert set(summary["val"]) >= {"psnr@2", "psnr@3.3", "sam", "ergas"}
    assert summary["val"]["psnr"] > 20  # bilinear-like output on smooth reflectance: tens of dB
    assert {p.name for p in run.iterdir()} >= {"config.yaml", "metrics.jsonl", "last.pt", "best.pt"}
    again = train("--out", run)
    assert again.exit_code == 1 and "already holds a run; continue it with --resume" in again.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "train.batchsize=4"], "unknown config key(s) train.batchsize in train"),
        (["--set", "trian.steps=4"], "smoke.yaml: unknown config key(s) trian"),
        (["--set", "data.root=nowhere/data"], "nowhere/data: dataset folder not found"),
        (
            ["--set", "model.args.lr_bands=8"],
            "model 'tiny-cnn' is configured for 8 low-resolution bands but the data in fusion/sample_data "
            "have 4",
        ),
    ],
)
def test_bad_input_is_one_clear_error(tmp_path, args, message):
    result = train("--out", tmp_path / "run", *args)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0]
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()


def test_corrupt_checkpoint_for_resume(tmp_path):
    bad = tmp_path / "last.pt"
    bad.write_bytes(b"not a checkpoint")
    result = train("--resume", bad)
    assert result.exit_code == 1
    assert f"{bad}: not a readable fusion checkpoint" in result.output and "Traceback" not in result.output
    result = train("--resume", tmp_path / "empty_run")
    assert result.exit_code == 1 and "checkpoint not found" in result.output


def test_missing_config_file(tmp_path):
    result = CliRunner().invoke(cli, ["train", str(tmp_path / "none.yaml")])
    assert result.exit_code == 1 and "none.yaml: config not found" in result.output


def test_tensorboard_logger_without_the_package(tmp_path):
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        result = train("--out", tmp_path / "run", "--log", "tensorboard")
        assert result.exit_code == 1 and "log.tensorboard needs the tensorboard package" in result.output
        assert not (tmp_path / "run").exists()
    else:
        pytest.skip("tensorboard is installed")
