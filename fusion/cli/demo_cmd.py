"""``fusion demo [OUTDIR]``: fuse the bundled Landsat-8 sample and show the result."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
import torch

from fusion.atomic import atomic_output
from fusion.cli import cli
from fusion.cli._common import user_errors
from fusion.engine import DEFAULT_METHOD
from fusion.errors import OutputError

TRUE_COLOUR_NM = (650.0, 560.0, 480.0)
STRETCH_PERCENTILES = (2.0, 98.0)
GAP = 8  # white pixels between the two halves of the quicklook


def true_colour_bands(wavelengths) -> list[int]:
    """Indices of the bands nearest red, green and blue (the first three when wavelengths are unknown)."""
    if all(nm is not None for nm in wavelengths) and len(wavelengths) >= 3:
        return [int(np.argmin([abs(nm - target) for nm in wavelengths])) for target in TRUE_COLOUR_NM]
    return [min(i, len(wavelengths) - 1) for i in range(3)]


def stretch_limits(image: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-band 2nd and 98th percentiles of ``image (3, H, W)`` over ``valid (H, W)`` pixels."""
    low, high = np.percentile(image[:, valid], STRETCH_PERCENTILES, axis=1)
    return low, np.maximum(high, low + np.finfo(np.float32).eps)


def to_rgb8(image: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """``(3, H, W)`` to an ``(H, W, 3)`` uint8 picture with a linear stretch from ``low`` to ``high``."""
    scaled = (image - low[:, None, None]) / (high - low)[:, None, None]
    return np.round(255 * np.clip(np.nan_to_num(scaled), 0, 1)).astype(np.uint8).transpose(1, 2, 0)


def write_quicklook(
    path: Path, interpolated: np.ndarray, fused: np.ndarray, bands: list[int], nodata
) -> dict:
    """Side-by-side PNG (interpolated | fused), both stretched with the interpolated image's limits."""
    from PIL import Image

    left, right = interpolated[bands].astype(np.float64), fused[bands].astype(np.float64)
    valid = np.isfinite(left).all(0) & (True if nodata is None else (interpolated[bands] != nodata).all(0))
    low, high = stretch_limits(left, valid)
    gap = np.full((left.shape[1], GAP, 3), 255, np.uint8)
    picture = np.concatenate([to_rgb8(left, low, high), gap, to_rgb8(right, low, high)], axis=1)
    with atomic_output(path, overwrite=True) as tmp:
        Image.fromarray(picture).save(tmp, format="PNG")
    return {"bands": bands, "low": low.tolist(), "high": high.tolist()}


def full_resolution_quality(guide_path, lr_path, images: dict[str, np.ndarray]) -> dict:
    """D_λ, D_S, QNR, D_λ^K and HQNR of each fused ``(C, H, W)`` image against the sample's inputs.

    The ``float`` convention: the Landsat-8 sample is reflectance in [0, 1], not digital numbers.
    """
    from fusion.cli.evaluate_cmd import read_pair_on_common_grid
    from fusion.metrics import evaluate

    guide, lr, ratio, _, _ = read_pair_on_common_grid(str(guide_path), str(lr_path), "landsat8", None)
    height, width = guide.shape[-2:]
    scores = {}
    for name, image in images.items():
        fused = torch.from_numpy(np.ascontiguousarray(image[:, :height, :width])).double()[None]
        report = evaluate(
            fused, lr=lr, guide=guide, ratio=ratio, sensor="landsat8", convention="float", method=name
        )
        scores[name] = report.to_dict()
    return scores


@cli.command("demo")
@click.argument("outdir", default="fusion-demo", type=click.Path(file_okay=False))
@click.option("-m", "--method", default=DEFAULT_METHOD, show_default=True, help="Method to fuse with.")
@click.option("--device", metavar="cpu|cuda[:N]", help="Torch device [default: cuda when available].")
@click.pass_context
@user_errors
def demo_cmd(ctx, outdir, method, device):
    """Fuse the bundled Landsat-8 sample (Pamplona, PAN 15 m + MS 30 m) into OUTDIR [default: fusion-demo].

    Writes the fused GeoTIFF, the bicubic-interpolated MS for comparison, a quicklook PNG
    (interpolated | fused, true colour, same stretch) and summary.json; files there are replaced.
    """
    from fusion.engine.inference import fuse_raster
    from fusion.io import read_raster, sample_pair

    outdir = Path(outdir)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{outdir}: cannot create the output folder ({exc.strerror})") from None
    quiet = ctx.obj["verbosity"] < 0
    guide, lr = sample_pair()
    paths = {name: outdir / f"pamplona_{name}.tif" for name in ("fused", "interpolated")}
    runs = {
        name: fuse_raster(
            guide,
            lr,
            paths[name],
            chosen,
            sensor="landsat8",
            device=device,
            overwrite=True,
            progress=not quiet,
        )  # fmt: skip
        for name, chosen in (("fused", method), ("interpolated", "exp"))
    }
    (fused, info), (interpolated, _) = read_raster(paths["fused"]), read_raster(paths["interpolated"])
    quicklook = outdir / "pamplona_quicklook.png"
    stretch = write_quicklook(
        quicklook, interpolated, fused, true_colour_bands(info.wavelengths), info.nodata
    )
    summary_path = outdir / "summary.json"
    summary = {
        "sample": {"guide": str(guide), "lr": str(lr), "sensor": "landsat8"},
        "outputs": {**{k: str(v) for k, v in paths.items()}, "quicklook": str(quicklook)},
        "runs": runs,
        "quicklook_stretch": stretch,
        "full_resolution_quality": full_resolution_quality(
            guide, lr, {"fused": fused, "interpolated": interpolated}
        ),
    }
    with atomic_output(summary_path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    click.echo(
        f"fusion demo: fused the Landsat-8 sample with {method} in {runs['fused']['seconds']:.1f} s; wrote"
    )
    for path in (*paths.values(), quicklook, summary_path):
        click.echo(f"  {path}")
