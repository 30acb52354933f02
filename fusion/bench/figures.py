"""PNG figures of a quality benchmark (matplotlib, imported only here and only when drawing).

Per reduced-resolution data set, four figures (:data:`KINDS`): quality against ratio (one panel per
metric, one line per method, means over the data set's scenes), spectra of the reference and of each
method at a few pixels, error maps (per-pixel RMSE over bands, one colour scale for all methods) and
true-colour crops (the reference's 2-98 % stretch for every image). The images are the centre crops kept
in :class:`fusion.bench.quality.Quicklook`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from fusion.bench.markdown import shared_output
from fusion.errors import InputError

KINDS = ("quality_vs_ratio", "spectra", "error_maps", "true_colour")
SPECTRA_PIXELS = 4
DPI = 72
PANEL_INCHES = 2.2  # image panels: about 160 pixels, a little more than the 128-pixel crops


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend; a clear error when it is missing."""
    try:
        import matplotlib
    except ImportError:
        raise InputError(
            "figures need matplotlib: pip install 'fusion[bench]' (or pass no --figures)"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    plt = pyplot()
    with shared_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    return path


def _grid(count: int, columns: int) -> tuple[int, int]:
    return -(-count // columns), min(count, columns)


def quality_vs_ratio(rows: Sequence[Mapping], metrics: Sequence[str], title: str, path: Path) -> Path:
    """One panel per metric: the mean over scenes of each method's value against the ratio."""
    from fusion.bench.quality import mean_rows

    plt = pyplot()
    means = mean_rows(rows, ("method", "ratio"), metrics)
    metrics = [m for m in metrics if any(m in r for r in means)]
    nrows, ncols = _grid(len(metrics), 3)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3 * nrows), squeeze=False)
    styles = line_styles(list(dict.fromkeys(r["method"] for r in means)))
    for ax, metric in zip(axes.flat, metrics, strict=False):
        for method, style in styles.items():
            points = sorted((r["ratio"], r[metric]) for r in means if r["method"] == method and metric in r)
            ax.plot(*zip(*points, strict=True), marker="o", markersize=3, label=method, **style)
        ax.set_title(metric)
        ax.set_xlabel("ratio")
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(metrics) :]:
        ax.axis("off")
    _legend_right(fig, axes.flat[0])
    fig.suptitle(title)
    return _save(fig, path)


def line_styles(methods: Sequence[str]) -> dict[str, dict]:
    """A distinct colour (tab20) and, past 20 methods, a dashed line for each method, in order."""
    colours = pyplot().get_cmap("tab20").colors
    return {
        m: {"color": colours[i % 20], "linestyle": "-" if i < 20 else "--"} for i, m in enumerate(methods)
    }


def _legend_right(fig, ax) -> None:
    """One legend for the figure, right of the panels (many methods would hide a panel's lines)."""
    fig.tight_layout(rect=(0, 0, 0.86, 0.95))
    fig.legend(*ax.get_legend_handles_labels(), loc="center right", fontsize=7)


def spectra(look, path: Path, pixels: Sequence[tuple[int, int]] | None = None) -> Path:
    """One panel per pixel: the reference spectrum (black) and each method's, against wavelength."""
    from fusion.metrics.html import default_pixels

    plt = pyplot()
    bands, height, width = look.reference.shape
    pixels = list(pixels) if pixels is not None else default_pixels(height, width, SPECTRA_PIXELS)
    x = np.asarray(look.wavelengths_nm) if look.wavelengths_nm is not None else np.arange(bands)
    fig, axes = plt.subplots(1, len(pixels), figsize=(3.6 * len(pixels), 3), squeeze=False)
    for ax, (row, col) in zip(axes.flat, pixels, strict=True):
        ax.plot(x, look.reference[:, row, col], color="black", linewidth=2, label="reference")
        for name, style in line_styles(list(look.fused)).items():
            ax.plot(x, look.fused[name][:, row, col], linewidth=1, label=name, **style)
        ax.set_title(f"pixel ({row}, {col})", fontsize=9)
        ax.set_xlabel("wavelength (nm)" if look.wavelengths_nm is not None else "band")
    fig.suptitle(f"{look.dataset} / {look.scene}, ratio {look.ratio:g}: spectra (DN)")
    _legend_right(fig, axes.flat[0])
    return _save(fig, path)


def error_maps(look, path: Path) -> Path:
    """Per-pixel RMSE over bands of each method against the reference, on one colour scale (0 to the
    99th percentile of all maps)."""
    plt = pyplot()
    maps = {name: np.sqrt(((image - look.reference) ** 2).mean(axis=0)) for name, image in look.fused.items()}
    vmax = float(np.percentile(np.concatenate([m.ravel() for m in maps.values()]), 99)) or 1.0
    nrows, ncols = _grid(len(maps), 4)
    size = (PANEL_INCHES * ncols + 1, PANEL_INCHES * nrows + 0.6)
    fig, axes = plt.subplots(nrows, ncols, figsize=size, squeeze=False)
    for ax, (name, error) in zip(axes.flat, maps.items(), strict=False):
        shown = ax.imshow(error, cmap="viridis", vmin=0, vmax=vmax, interpolation="nearest")
        ax.set_title(f"{name}\nmean {error.mean():.4g}", fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.flat[len(maps) :]:
        ax.axis("off")
    fig.colorbar(shown, ax=axes, shrink=0.8, label="RMSE over bands (DN)")
    fig.suptitle(f"{look.dataset} / {look.scene}, ratio {look.ratio:g}: error maps")
    return _save(fig, path)


def true_colour(look, path: Path) -> Path:
    """The reference and each method in true colour, all with the reference's 2-98 % stretch."""
    from fusion.metrics.html import rgb_bands, stretch_limits

    plt = pyplot()
    bands = rgb_bands(look.reference.shape[0], look.wavelengths_nm)
    limits = stretch_limits(look.reference.astype(np.float64), bands)
    images = {"reference": look.reference, **look.fused}
    nrows, ncols = _grid(len(images), 4)
    size = (PANEL_INCHES * ncols, PANEL_INCHES * nrows + 0.6)
    fig, axes = plt.subplots(nrows, ncols, figsize=size, squeeze=False)
    for ax, (name, image) in zip(axes.flat, images.items(), strict=False):
        rgb = np.stack([image[b] for b in bands], axis=-1).astype(np.float64)
        span = np.where(limits[:, 1] > limits[:, 0], limits[:, 1] - limits[:, 0], 1.0)
        ax.imshow(np.clip((rgb - limits[:, 0]) / span, 0, 1), interpolation="nearest")
        ax.set_title(name, fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(f"{look.dataset} / {look.scene}, ratio {look.ratio:g}: true colour (bands {bands})")
    fig.tight_layout()
    return _save(fig, path)


def write_figures(result: Mapping, quicklooks: Sequence, folder: str | os.PathLike) -> list[Path]:
    """Every figure of :data:`KINDS` for each reduced data set into ``folder``: ``<kind>_<dataset>.png``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for dataset in dict.fromkeys(row["dataset"] for row in result["reduced"]):
        rows = [r for r in result["reduced"] if r["dataset"] == dataset]
        title = f"{dataset}: reduced resolution, {result['convention']} convention"
        written.append(
            quality_vs_ratio(
                rows, result["reduced_metrics"], title, folder / f"quality_vs_ratio_{dataset}.png"
            )
        )
    for look in quicklooks:
        if look.reference is None or not look.fused:
            continue
        written.append(spectra(look, folder / f"spectra_{look.dataset}.png"))
        written.append(error_maps(look, folder / f"error_maps_{look.dataset}.png"))
        written.append(true_colour(look, folder / f"true_colour_{look.dataset}.png"))
    return written
