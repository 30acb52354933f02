"""``fusion models``: list every registered method and model."""

from __future__ import annotations

import click

from fusion.cli import cli
from fusion.cli._common import user_errors


def _summary(cls) -> str:
    doc = (cls.__doc__ or "").strip().splitlines()
    return doc[0] if doc else ""


@cli.command("models")
@click.argument("pattern", default="*")
@user_errors
def models_cmd(pattern: str) -> None:
    """List registered methods and models (optionally matching PATTERN, e.g. 'mtf-*')."""
    from fusion.models import list_models
    from fusion.registry import MODELS

    names = list_models(pattern)
    width = max((len(n) for n in names), default=0)
    for name in names:
        click.echo(f"{name:<{width}}  {_summary(MODELS.get(name))}")
