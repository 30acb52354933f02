"""``fusion info FILE...``: what the fusion pipeline sees in rasters, and how two of them pair up."""

from __future__ import annotations

import json

import click

from fusion.cli import cli
from fusion.cli._common import user_errors


def _describe(info) -> dict:
    """JSON-ready facts about one :class:`fusion.io.RasterInfo`."""
    return {
        "path": str(info.path),
        "size": [info.width, info.height],
        "bands": info.count,
        "dtype": info.dtype,
        "nodata": info.nodata,
        "crs": info.crs.to_string() if info.crs else None,
        "resolution": list(info.res) if info.georeferenced else None,
        "bounds": list(info.bounds) if info.georeferenced else None,
        "descriptions": list(info.descriptions),
        "wavelengths_nm": list(info.wavelengths),
    }


def _describe_pair(first, second) -> dict:
    """Ratio and overlap of two rasters, the finer one taken as the guide (LR warped if CRSs differ)."""
    from fusion.io import open_pair

    guide, lr = sorted((first, second), key=lambda info: info.res[0] * info.res[1])
    with open_pair(guide.path, lr.path, reproject=True) as scene:
        height, width = scene.shape
        area = height * width * guide.res[0] * guide.res[1]
        return {
            "guide": str(guide.path),
            "lr": str(lr.path),
            "same_crs": guide.crs == lr.crs,
            "pixel_size_ratio": list(scene.native_ratio),
            "fusion_ratio": [str(r) for r in scene.ratio],
            "overlap_pixels": [width, height],
            "overlap_fraction": [
                area / (info.width * info.height * info.res[0] * info.res[1]) for info in (guide, lr)
            ]
            if guide.crs == lr.crs
            else None,
        }


def _print_file(item: dict) -> None:
    width, height = item["size"]
    click.echo(item["path"])
    click.echo(
        f"  {width} x {height} pixels, {item['bands']} band(s) {item['dtype']}, nodata {item['nodata']}"
    )
    if item["crs"] or item["resolution"]:
        res_x, res_y = item["resolution"]
        bounds = ", ".join(f"{b:.3f}" for b in item["bounds"])
        click.echo(f"  CRS {item['crs']}, pixel {res_x:.6g} x {res_y:.6g}, bounds ({bounds})")
    else:
        click.echo("  not georeferenced")
    for band, (text, nm) in enumerate(
        zip(item["descriptions"], item["wavelengths_nm"], strict=True), start=1
    ):
        click.echo(f"  band {band}: {text or '-'}, {f'{nm:g} nm' if nm else 'wavelength unknown'}")


def _print_pair(pair: dict) -> None:
    ry, rx = pair["pixel_size_ratio"]
    width, height = pair["overlap_pixels"]
    click.echo(f"pair: guide {pair['guide']}, low resolution {pair['lr']}")
    click.echo(f"  pixel-size ratio {ry:.5g} (y) x {rx:.5g} (x), fused at {' x '.join(pair['fusion_ratio'])}")
    overlap = f"  overlap {width} x {height} guide pixels"
    if pair["overlap_fraction"]:
        overlap += ", {:.1%} of the guide, {:.1%} of the low-resolution image".format(
            *pair["overlap_fraction"]
        )
    click.echo(overlap if pair["same_crs"] else overlap + " (different CRS: fuse with --reproject)")


@cli.command("info")
@click.argument("files", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@user_errors
def info_cmd(files, as_json):
    """Describe rasters: size, bands, CRS, resolution, band names and wavelengths.

    For two files, also their pixel-size ratio and overlap (the finer one is the guide).
    """
    from fusion.io import RasterInfo

    infos = [RasterInfo.read(path) for path in files]
    report = {"files": [_describe(info) for info in infos]}
    if len(infos) == 2:
        report["pair"] = _describe_pair(*infos)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    for item in report["files"]:
        _print_file(item)
    if "pair" in report:
        _print_pair(report["pair"])
