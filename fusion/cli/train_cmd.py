"""``fusion train CONFIG``: train a model from a YAML config (single process or under torchrun)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from fusion.cli import cli
from fusion.cli._common import user_errors


def default_run_dir(config: str, resume: str | None) -> Path:
    """``runs/<config stem>``, or the run folder a resumed checkpoint belongs to."""
    if resume is None:
        return Path("runs") / Path(config).stem
    path = Path(resume)
    if path.is_dir():
        return path
    return path.parent.parent if path.parent.name == "checkpoints" else path.parent


@cli.command("train")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config key (repeatable), e.g. --set train.batch_size=4.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    help="Run folder [default: runs/<config name>, or the resumed run's].",
)
@click.option(
    "--resume",
    type=click.Path(),
    metavar="RUN_OR_CKPT",
    help="Continue a run from its folder (last.pt) or a checkpoint.",
)
@click.option(
    "--device", metavar="cpu|cuda[:N]", help="Torch device [default: cuda when available, else cpu]."
)
@click.option(
    "--log",
    "loggers",
    type=click.Choice(["tensorboard"]),
    multiple=True,
    help="Extra logger (JSONL is always written).",
)
@user_errors
def train_cmd(config, overrides, out, resume, device, loggers):
    """Train the model described by CONFIG (see configs/train/).

    The run folder receives the resolved config, metrics.jsonl, last.pt (resumable), best.pt and
    periodic checkpoints. Under `torchrun --nproc_per_node N` the same command trains with DDP.
    """
    from fusion.config import load_config
    from fusion.engine.trainer import Trainer

    overrides = [*overrides, *(f"log.{name}=true" for name in loggers)]
    trainer = Trainer(load_config(config, overrides), out or default_run_dir(config, resume), device, resume)
    summary = trainer.fit()
    if trainer.env.is_main:
        click.echo(json.dumps(summary))
