"""``fusion evaluate``: score fused GeoTIFFs against a reference or their inputs, or compare methods.

Three modes::

    fusion evaluate --reference GT.tif FUSED.tif [FUSED2.tif ...]        # full-reference
    fusion evaluate --pan PAN.tif --lr MS.tif FUSED.tif [...]             # no-reference (QNR, HQNR)
    fusion evaluate --protocol reduced|full --methods gsa,mtf-glp-hpm GUIDE.tif LR.tif

The table goes to the terminal; ``--json``, ``--csv`` and ``--report report.html`` (with PNG quicklooks)
write files. Every output records the metric convention (``--convention``).
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import torch

from fusion.cli import cli
from fusion.cli._common import user_errors
from fusion.errors import InputError


def _tensor(array: np.ndarray, device: str | None) -> torch.Tensor:
    """``(C, H, W)`` array -> ``(1, C, H, W)`` float64 tensor on ``device``."""
    return torch.from_numpy(np.asarray(array, dtype=np.float64))[None].to(device or "cpu")


def _read(path: str, device: str | None):
    from fusion.io import read_raster

    array, info = read_raster(path)
    return _tensor(array, device), info


def read_pair_on_common_grid(guide_path: str, lr_path: str, sensor: str | None, device: str | None):
    """The guide and low-resolution images on a common grid cropped to whole LR pixels, and the ratio.

    Returns ``guide (1, G, H, W)``, ``lr (1, C, h, w)``, ``ratio``, the scene's output shape and the LR
    band wavelengths.
    """
    from fusion.io import open_pair, plan_tiles

    with open_pair(guide_path, lr_path, sensor=sensor) as scene:
        ratio_y, ratio_x = scene.ratio
        if ratio_y != ratio_x:
            raise InputError(
                f"{lr_path}: the metrics need one ratio for both axes, got {ratio_y} and {ratio_x}"
            )
        tile = plan_tiles(scene.shape, scene.ratio, None, 0)[0]
        data = scene.read_tile(tile)
        shape, wavelengths = scene.shape, scene.lr.wavelengths
    p, q = ratio_y.numerator, ratio_y.denominator
    height, width = shape[0] // p * p, shape[1] // p * p
    if not height or not width:
        raise InputError(f"{guide_path}: too small for ratio {ratio_y}")
    guide = data.guide[..., :height, :width].double().to(device or "cpu")
    lr = data.lr[..., : height // p * q, : width // p * q].double().to(device or "cpu")
    if not bool(data.valid[..., :height, :width].all()):
        click.echo("warning: the inputs have no-data pixels; metrics include them", err=True)
    return guide, lr, float(ratio_y), shape, wavelengths


def _score_files(paths, evaluate_one, device, crop=None):
    """Evaluate each fused file (rows named by file stem) and merge the reports."""
    report, images = None, {}
    for path in paths:
        fused, _ = _read(path, device)
        if crop is not None:
            fused = crop(fused, path)
        result = evaluate_one(fused, Path(path).stem)
        images[Path(path).stem] = fused
        report = result if report is None else report.merge(result)
    report.images = images
    return report


@cli.command("evaluate")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--reference", "reference", type=click.Path(dir_okay=False), help="Ground truth: full-reference mode."
)
@click.option("--pan", type=click.Path(dir_okay=False), help="PAN of a no-reference evaluation (with --lr).")
@click.option("--lr", type=click.Path(dir_okay=False), help="Low-resolution MS of a no-reference evaluation.")
@click.option(
    "--protocol",
    type=click.Choice(["reduced", "full"]),
    help="Compare --methods on INPUTS = GUIDE LR: Wald reduced resolution, or full resolution.",
)
@click.option("--methods", help="Comma-separated registered methods for --protocol (see `fusion models`).")
@click.option("--sensor", help="Sensor preset (MTF gains for the Wald reduction and D_lambda_K), e.g. WV2.")
@click.option(
    "--ratio", type=float, help="PAN/MS scale factor (full-reference mode; otherwise from the files)."
)
@click.option(
    "--convention",
    type=click.Choice(["reference", "float"]),
    default="reference",
    show_default=True,
    help="reference: as the MATLAB toolbox (DN data, uint16 Q2n, 21-px border cut); float: no cast, no cut.",
)
@click.option("--block-size", default=32, show_default=True, help="Q / Q2n / QNR block size.")
@click.option("--data-range", type=float, help="Peak value for PSNR/SSIM [default: the reference's maximum].")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the report as JSON.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Write the report as CSV.")
@click.option(
    "--report", "html_path", type=click.Path(dir_okay=False), help="Write an HTML report with quicklooks."
)
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@click.option("--device", metavar="cpu|cuda[:N]", help="Torch device [default: cpu].")
@user_errors
def evaluate_cmd(
    inputs, reference, pan, lr, protocol, methods, sensor, ratio, convention, block_size, data_range,
    json_path, csv_path, html_path, overwrite, device,
):  # fmt: skip
    """Score fused images (INPUTS) against --reference or --pan/--lr, or compare --methods on GUIDE LR."""
    from fusion.metrics import evaluate, evaluate_full, evaluate_reduced
    from fusion.metrics.protocols import interpolated_ms

    modes = [reference is not None, pan is not None or lr is not None, protocol is not None]
    if sum(modes) != 1:
        raise InputError("choose one mode: --reference GT, --pan PAN --lr LR, or --protocol reduced|full")
    common = {"convention": convention, "block_size": block_size, "sensor": sensor}
    wavelengths, reference_image = None, None
    if reference is not None:
        gt, info = _read(reference, device)
        wavelengths, reference_image = info.wavelengths, ("reference", gt)

        def check(fused, path):
            if fused.shape != gt.shape:
                raise InputError(
                    f"{path}: shape {tuple(fused.shape[1:])} differs from the reference {tuple(gt.shape[1:])}"
                )
            return fused

        report = _score_files(
            inputs,
            lambda fused, name: evaluate(
                fused, gt, ratio=ratio, data_range=data_range, method=name, **common
            ),
            device,
            crop=check,
        )
    elif protocol is None:
        if pan is None or lr is None:
            raise InputError("no-reference mode needs both --pan and --lr")
        guide, low, pair_ratio, shape, wavelengths = read_pair_on_common_grid(pan, lr, sensor, device)
        ms_up = interpolated_ms(low, tuple(guide.shape[-2:]))

        def crop(fused, path):
            if tuple(fused.shape[-2:]) != tuple(shape):
                raise InputError(
                    f"{path}: size {tuple(fused.shape[-2:])} is not the PAN grid's {tuple(shape)}"
                )
            return fused[..., : guide.shape[-2], : guide.shape[-1]]

        report = _score_files(
            inputs,
            lambda fused, name: evaluate(
                fused, lr=low, guide=guide, ratio=pair_ratio, method=name, ms_up=ms_up, **common
            ),
            device,
            crop=crop,
        )
        reference_image = ("interpolated MS", ms_up)
    else:
        if len(inputs) != 2 or not methods:
            raise InputError("--protocol needs INPUTS = GUIDE LR and --methods name[,name...]")
        guide, low, pair_ratio, _, wavelengths = read_pair_on_common_grid(*inputs, sensor, device)
        names = [m.strip() for m in methods.split(",") if m.strip()]
        run = evaluate_reduced if protocol == "reduced" else evaluate_full
        extra = {"data_range": data_range} if protocol == "reduced" else {}
        report = run(names, guide, low, pair_ratio, keep_images=html_path is not None, **common, **extra)
        reference_image = report.reference_image
    click.echo(report.table())
    if json_path:
        report.to_json(json_path, overwrite=overwrite)
    if csv_path:
        report.to_csv(csv_path, overwrite=overwrite)
    if html_path:
        from fusion.metrics.html import write_html

        known = wavelengths if wavelengths and all(w is not None for w in wavelengths) else None
        name, image = reference_image if reference_image is not None else ("reference", None)
        write_html(
            report, html_path, report.images, reference=image, reference_name=name,
            wavelengths_nm=known, overwrite=overwrite,
        )  # fmt: skip
    for path in (json_path, csv_path, html_path):
        if path:
            click.echo(f"wrote {path}")
