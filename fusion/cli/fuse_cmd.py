"""``fusion fuse GUIDE LR OUTPUT``: fuse a GeoTIFF pair into a GeoTIFF, tile by tile."""

from __future__ import annotations

import click

from fusion.cli import cli
from fusion.cli._common import user_errors
from fusion.engine import DEFAULT_METHOD
from fusion.engine.fit import DEFAULT_FIT_MODEL, DEFAULT_FIT_STEPS


@cli.command("fuse")
@click.argument("guide")
@click.argument("lr")
@click.argument("output")
@click.option(
    "-m",
    "--method",
    show_default=f"{DEFAULT_METHOD}; with --fit: {DEFAULT_FIT_MODEL}",
    help="A registered method (see `fusion models`) or a checkpoint file.",
)
@click.option("--sensor", help="Sensor preset (MTF gains for the method; band wavelengths the files lack).")
@click.option("--wavelengths", metavar="NM,NM,...", help="Centre wavelengths (nm) of the LR bands.")
@click.option(
    "--tile",
    type=click.IntRange(min=0),
    default=1024,
    show_default=True,
    help="Output tile size in guide pixels (0: the whole scene at once).",
)
@click.option(
    "--device", metavar="cpu|cuda[:N]", help="Torch device [default: cuda when available, else cpu]."
)
@click.option(
    "-t", "--dtype", help="Output data type, e.g. uint16, float32 [default: the LR's]; values are clipped."
)
@click.option(
    "--co",
    "--profile",
    "creation_options",
    multiple=True,
    metavar="NAME=VALUE",
    help="GeoTIFF creation option, repeatable (e.g. --co COMPRESS=ZSTD).",
)
@click.option("--cog", is_flag=True, help="Write a Cloud-Optimized GeoTIFF.")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("--reproject", is_flag=True, help="Warp LR to the guide's CRS when the two differ.")
@click.option(
    "--fit", is_flag=True,
    help="Scene-adaptive: first train METHOD (an INR model) on this pair reduced by its own ratio.",
)  # fmt: skip
@click.option(
    "--fit-steps",
    type=click.IntRange(min=1),
    default=DEFAULT_FIT_STEPS,
    show_default=True,
    help="--fit steps.",
)
@click.option(
    "--back-projection",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="Make the output consistent with LR: N steps of iterative back-projection, x += U(LR - D(x)), "
    "D = blur with --sensor's MTF gains (generic without --sensor) and decimation; LR pixels sampled "
    "at the centres of the guide blocks they cover, as on co-registered grids. With --fit, the model "
    "is fitted through it. [default: 0, off]",
)
@click.pass_context
@user_errors
def fuse_cmd(ctx, guide, lr, output, method, sensor, wavelengths, tile, device, dtype, creation_options, cog,
             overwrite, reproject, fit, fit_steps, back_projection):  # fmt: skip
    """Fuse the low-resolution image LR (MS or HS) with the finer GUIDE (PAN or MSI) into OUTPUT.

    OUTPUT lies on the guide's grid over the overlap of the two files, with the data type and band
    metadata of LR. It is written tile by tile to a temporary file next to it and renamed at the end.

    --back-projection applies to whatever METHOD resolves to: a classical method, a shipped or given
    checkpoint, the --fit model. A checkpoint that back-projects already is refused with it.
    """
    from fusion.atomic import check_writable
    from fusion.engine.inference import fit_to_scene, fuse_raster

    quiet = ctx.obj["verbosity"] < 0
    method = method or (DEFAULT_FIT_MODEL if fit else DEFAULT_METHOD)
    if fit:
        check_writable(output, overwrite)  # refuse before spending the fitting time
        method = fit_to_scene(
            guide, lr, method, sensor=sensor, steps=fit_steps, device=device, reproject=reproject,
            wavelengths=wavelengths, progress=not quiet, back_projection=back_projection,
        )  # fmt: skip
        back_projection = 0  # the fitted model carries it
    summary = fuse_raster(
        guide, lr, output, method, sensor=sensor, wavelengths=wavelengths, tile=tile or None,
        device=device, dtype=dtype, co=creation_options, cog=cog, overwrite=overwrite, reproject=reproject,
        progress=not quiet, back_projection=back_projection,
    )  # fmt: skip
    if not quiet:
        height, width = summary["size"]
        ry, rx = summary["ratio"]
        method = summary["method"] + bp_note(summary["back_projection"])
        click.echo(
            f"{summary['output']}: {width} x {height} pixels, {summary['bands']} bands {summary['dtype']}, "
            f"{method}, ratio {ry:.4g}{'' if ry == rx else f' x {rx:.4g}'}, "
            f"{summary['seconds']:.1f} s",
            err=True,
        )


def bp_note(steps: int) -> str:
    """`` + back-projection (N steps)`` for the summary line, empty without one."""
    return f" + back-projection ({steps} steps)" if steps else ""
