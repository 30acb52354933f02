"""``fusion bench holdout``: trained checkpoints against every classical method on a training config's
held-out data (:mod:`fusion.bench.holdout`)::

    fusion bench holdout configs/train/ss_inr_ms_pan_wv2.yaml -c runs/ss-inr/last.pt --ratios 4,3.3
"""

from __future__ import annotations

import click

from fusion.cli._common import user_errors
from fusion.cli.bench_cmd import _device, _floats, _write_json, bench


def _verdict_line(verdict: dict) -> str:
    parts = []
    for label, beats in ((k, v) for k, v in verdict.items() if k.startswith("beats")):
        lost = [name.upper() for name, won in beats.items() if name != "all" and not won]
        parts.append(f"{label}: {'yes' if beats['all'] else 'no (' + ', '.join(lost) + ')'}")
    return f"{verdict['method']} x{verdict['ratio']:g}: " + "; ".join(parts)


@bench.command("holdout")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--checkpoint",
    "-c",
    "checkpoints",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A trained checkpoint to score (repeatable).",
)
@click.option("--ratios", default="4,3.3", show_default=True, help="Comma-separated ratios.")
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config key, e.g. --set data.root=DIR (repeatable).",
)
@click.option(
    "--back-projection",
    type=click.IntRange(min=1),
    help="Also score every classical method back-projected with N steps (the ablation).",
)
@click.option("--no-classical", is_flag=True, help="Score the checkpoints only.")
@click.option(
    "--compact", is_flag=True, help="One row of the best classical value per column, not every method."
)
@click.option("--device", help="cpu or cuda[:N] [default: cpu].")
@click.option("--out-json", type=click.Path(dir_okay=False), help="Write the rows and verdicts as JSON.")
@user_errors
def holdout_cmd(
    config, checkpoints, ratios, overrides, back_projection, no_classical, compact, device, out_json
):
    """Score CHECKPOINTs and the classical methods on CONFIG's validation data (a training config).

    The held-out images are degraded as the config's validation does (its sensor MTF, sample phase and
    guide response, fixed ratios, no noise), in float32. Prints a Markdown table (the best classical
    value of each column in bold) and, per checkpoint and ratio, whether it beats the best classical
    method on PSNR, SAM and ERGAS.
    """
    from fusion.bench.holdout import markdown_table, run_holdout
    from fusion.config import load_config

    result = run_holdout(
        load_config(config, overrides),
        checkpoints,
        ratios=_floats(ratios, "--ratios"),
        device=_device(device),
        back_projection=back_projection,
        classical=not no_classical,
    )
    result["config"] = {"path": str(config), "overrides": list(overrides)}
    click.echo(markdown_table(result, compact=compact))
    for verdict in result["verdicts"]:
        click.echo(_verdict_line(verdict))
    _write_json(out_json, result)
