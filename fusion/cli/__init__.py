"""The ``fusion`` command line: a click group whose subcommands live one per module here.

Errors meant for the user (:class:`fusion.errors.FusionError`) become one line on stderr and exit
status 1; nothing else is caught.
"""

from __future__ import annotations

import logging

import click

from fusion import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="fusion")
@click.option("-v", "--verbose", count=True, help="More log output (repeatable).")
@click.option("-q", "--quiet", count=True, help="Less log output (repeatable).")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: int) -> None:
    """Pansharpening and HSI–MSI fusion: classical methods and implicit neural representations."""
    level = logging.WARNING - 10 * verbose + 10 * quiet
    level = max(logging.DEBUG, min(level, logging.CRITICAL))
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s")
    ctx.obj = {"verbosity": verbose - quiet}


# Subcommands register themselves on ``cli`` when imported; one line per module.
from fusion.cli import models_cmd  # noqa: E402,F401,I001  (I001: keep one line per module, appended)
from fusion.cli import fuse_cmd  # noqa: E402,F401
from fusion.cli import info_cmd  # noqa: E402,F401
from fusion.cli import demo_cmd  # noqa: E402,F401
from fusion.cli import simulate_cmd  # noqa: E402,F401
from fusion.cli import train_cmd  # noqa: E402,F401
from fusion.cli import evaluate_cmd  # noqa: E402,F401
from fusion.cli import bench_cmd  # noqa: E402,F401
from fusion.cli import holdout_cmd  # noqa: E402,F401


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="fusion")
