"""HTML evaluation report with PNG quicklooks: true colour, error maps and spectra at a few pixels.

Images are drawn with numpy and Pillow only. :func:`write_html` writes ``report.html`` and its PNGs in
``report_files/`` next to it; both appear only when everything was written (temporary names, renamed
at the end).
"""

from __future__ import annotations

import html
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from fusion.atomic import atomic_output, check_writable
from fusion.errors import InputError, OutputError
from fusion.metrics.report import Report

_VIRIDIS = np.array(
    [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=np.float64
)  # anchors of the viridis colour map, interpolated linearly
_LINE_COLOURS = [(0, 0, 0), (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
                 (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]  # fmt: skip


def _first_sample(x) -> np.ndarray:
    """``(C, H, W)`` float64 array of the first sample of a tensor/array ``(B, C, H, W)`` or ``(C, H, W)``."""
    array = (
        x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)
    )
    return array[0] if array.ndim == 4 else array


def rgb_bands(bands: int, wavelengths_nm: Sequence[float] | None = None) -> tuple[int, int, int]:
    """Band indices shown as red, green, blue: nearest to 650/550/470 nm when wavelengths are known,
    else bands 2, 1, 0 (blue-green-red-NIR order), or the first band three times for fewer than 3."""
    if wavelengths_nm is not None and len(wavelengths_nm) == bands:
        wl = np.asarray(wavelengths_nm, dtype=np.float64)
        return tuple(int(np.argmin(np.abs(wl - target))) for target in (650.0, 550.0, 470.0))
    return (2, 1, 0) if bands >= 3 else (0, 0, 0)


def stretch_limits(image: np.ndarray, bands: Sequence[int], percent: float = 2.0) -> np.ndarray:
    """``(3, 2)`` low/high percentiles of the displayed bands of ``image (C, H, W)``."""
    return np.stack([np.percentile(image[b], (percent, 100 - percent)) for b in bands])


def true_colour(image: np.ndarray, bands: Sequence[int], limits: np.ndarray) -> Image.Image:
    """8-bit RGB of ``image (C, H, W)`` with a linear stretch between ``limits``."""
    rgb = np.stack([image[b] for b in bands], axis=-1)
    low, high = limits[:, 0], limits[:, 1]
    scaled = (rgb - low) / np.where(high > low, high - low, 1.0)
    return Image.fromarray((np.clip(scaled, 0, 1) * 255 + 0.5).astype(np.uint8))


def colour_map(values: np.ndarray, vmax: float) -> Image.Image:
    """Viridis rendering of a non-negative map ``(H, W)`` scaled to ``[0, vmax]``."""
    t = np.clip(values / vmax if vmax > 0 else np.zeros_like(values), 0, 1) * (len(_VIRIDIS) - 1)
    low = np.floor(t).astype(int).clip(0, len(_VIRIDIS) - 2)
    frac = (t - low)[..., None]
    rgb = _VIRIDIS[low] * (1 - frac) + _VIRIDIS[low + 1] * frac
    return Image.fromarray((rgb + 0.5).astype(np.uint8))


def default_pixels(height: int, width: int, count: int = 4) -> list[tuple[int, int]]:
    """``count`` pixels spread over the image (centres of a 2 x ceil(count / 2) grid)."""
    cols = -(-count // 2)
    return [(int((2 * r + 1) * height / 4), int((2 * c + 1) * width / (2 * cols))) for r in range(2) for c in
            range(cols)][:count]  # fmt: skip


def spectra_plot(
    spectra: Mapping[str, np.ndarray], pixels: Sequence[tuple[int, int]], panel: tuple[int, int] = (320, 200)
) -> Image.Image:
    """One panel per pixel with a polyline per image: ``spectra[name]`` is ``(n_pixels, C)``."""
    names = list(spectra)
    all_values = np.concatenate([v.ravel() for v in spectra.values()])
    lo, hi = float(all_values.min()), float(all_values.max())
    hi = hi if hi > lo else lo + 1
    pw, ph = panel
    legend_h = 16 * len(names) + 8
    canvas = Image.new("RGB", (pw * len(pixels), ph + legend_h), "white")
    draw = ImageDraw.Draw(canvas)
    margin = 28
    for p, (row, col) in enumerate(pixels):
        x0 = p * pw
        draw.rectangle([x0 + margin, 8, x0 + pw - 8, ph - margin], outline=(160, 160, 160))
        draw.text((x0 + margin, ph - margin + 4), f"pixel ({row}, {col})", fill=(0, 0, 0))
        for k, name in enumerate(names):
            values = spectra[name][p]
            xs = np.linspace(x0 + margin, x0 + pw - 8, num=max(len(values), 2))[: len(values)]
            ys = ph - margin - (values - lo) / (hi - lo) * (ph - margin - 8)
            points = list(zip(xs.tolist(), ys.tolist(), strict=True))
            colour = _LINE_COLOURS[k % len(_LINE_COLOURS)]
            if len(points) > 1:
                draw.line(points, fill=colour, width=2)
            else:
                draw.ellipse(
                    [points[0][0] - 2, points[0][1] - 2, points[0][0] + 2, points[0][1] + 2], fill=colour
                )
    for k, name in enumerate(names):
        colour = _LINE_COLOURS[k % len(_LINE_COLOURS)]
        draw.line([(10, ph + 12 + 16 * k), (40, ph + 12 + 16 * k)], fill=colour, width=3)
        draw.text((48, ph + 5 + 16 * k), name, fill=(0, 0, 0))
    draw.text((4, 8), f"{hi:.4g}", fill=(90, 90, 90))
    draw.text((4, ph - margin - 10), f"{lo:.4g}", fill=(90, 90, 90))
    return canvas


def _figure(src: str, caption: str) -> str:
    return f'<figure><img src="{src}"><figcaption>{html.escape(caption)}</figcaption></figure>'


def _table_html(report: Report, digits: int = 4) -> str:
    names = report.metrics
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    body = []
    for method, values in report.summary().items():
        cells = "".join(f"<td>{values[n]:.{digits}f}</td>" if n in values else "<td>-</td>" for n in names)
        body.append(f"<tr><th>{html.escape(method)}</th>{cells}</tr>")
    return f"<table><tr><th>method</th>{head}</tr>{''.join(body)}</table>"


def write_html(
    report: Report,
    path: str | os.PathLike,
    images: Mapping[str, object],
    reference=None,
    reference_name: str = "reference",
    rgb: Sequence[int] | None = None,
    wavelengths_nm: Sequence[float] | None = None,
    pixels: Sequence[tuple[int, int]] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``path`` (HTML) and its quicklooks in ``<stem>_files/``; return the HTML path.

    Args:
        report: the numbers (its table and settings head the page).
        images: ``{name: fused image}``, each ``(B, C, H, W)``/``(C, H, W)`` (the first sample is shown).
        reference: image the fused ones are compared with (ground truth, or the interpolated MS at full
            resolution): error maps (per-pixel RMSE over bands) and the black spectra.
        rgb: band indices shown as red, green, blue (default from ``wavelengths_nm``, see :func:`rgb_bands`).
        pixels: ``(row, col)`` pixels whose spectra are plotted (default: 4 spread over the image).
        overwrite: replace an existing report and its folder.
    """
    path = check_writable(path, overwrite)
    folder = path.with_name(f"{path.stem}_files")
    if folder.exists() and not overwrite:
        raise OutputError(f"{folder}: quicklook folder exists (use --overwrite to replace it)")
    arrays = {name: _first_sample(image) for name, image in images.items()}
    if not arrays:
        raise InputError("write_html needs at least one image")
    ref = _first_sample(reference) if reference is not None else None
    shapes = {a.shape for a in arrays.values()} | ({ref.shape} if ref is not None else set())
    if len(shapes) != 1:
        raise InputError(f"quicklook images must share one shape, got {sorted(shapes)}")
    bands, height, width = next(iter(shapes))
    rgb = tuple(rgb) if rgb is not None else rgb_bands(bands, wavelengths_nm)
    if len(rgb) != 3 or not all(0 <= b < bands for b in rgb):
        raise InputError(f"rgb must be three band indices below {bands}, got {rgb}")
    pixels = list(pixels) if pixels is not None else default_pixels(height, width)
    limits = stretch_limits(ref if ref is not None else next(iter(arrays.values())), rgb)

    pngs: dict[str, Image.Image] = {}
    shown = ({reference_name: ref} if ref is not None else {}) | arrays
    figures = []
    for k, (name, array) in enumerate(shown.items()):
        pngs[f"rgb_{k}.png"] = true_colour(array, rgb, limits)
        figures.append(_figure(f"{folder.name}/rgb_{k}.png", name))
    error_figures, error_title = [], ""
    if ref is not None:
        maps = {name: np.sqrt(((array - ref) ** 2).mean(axis=0)) for name, array in arrays.items()}
        vmax = float(np.percentile(np.concatenate([m.ravel() for m in maps.values()]), 99)) or 1.0
        for k, (name, error) in enumerate(maps.items()):
            pngs[f"error_{k}.png"] = colour_map(error, vmax)
            error_figures.append(_figure(f"{folder.name}/error_{k}.png", name))
        error_title = f"<h2>Error maps (per-pixel RMSE over bands, viridis 0 to {vmax:.4g})</h2>"
    spectra = {name: np.stack([array[:, r, c] for r, c in pixels]) for name, array in shown.items()}
    pngs["spectra.png"] = spectra_plot(spectra, pixels)

    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>fusion evaluation</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #bbb;padding:3px 8px;text-align:right}} figure{{display:inline-block;margin:6px}}
img{{max-width:320px;image-rendering:pixelated}} figcaption{{text-align:center}}</style></head><body>
<h1>fusion evaluation</h1>
<p>{html.escape(report.describe()).replace(chr(10), "<br>")}</p>
{_table_html(report)}
<h2>True colour (bands {rgb[0]}, {rgb[1]}, {rgb[2]} as R, G, B; 2-98 % stretch of the first image)</h2>
{"".join(figures)}
{error_title}
{"".join(error_figures)}
<h2>Spectra at {len(pixels)} pixels</h2>
<img src="{folder.name}/spectra.png" style="max-width:none">
</body></html>
"""
    _write_folder(folder, pngs, overwrite)
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_text(page)
    return path


def _write_folder(folder: Path, pngs: Mapping[str, Image.Image], overwrite: bool) -> None:
    """Write the PNGs into a temporary folder next to ``folder``, then put it in place."""
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp makes it private; the report is meant to be shared
    try:
        for name, image in pngs.items():
            image.save(staging / name)
        if folder.exists() and overwrite:
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
