"""Streaming fusion of a GeoTIFF pair into a GeoTIFF: :func:`fuse_raster` (``fusion.fuse``).

The output is processed in tiles planned on the guide grid (:func:`fusion.io.plan_tiles`), each read
with a halo of ``model.halo(ratio)`` guide pixels, fused, and its core written as soon as it is done,
so memory is bounded by the tile, not the scene. Methods whose parameters come from whole-image
statistics get two passes: ``model.scene_statistics`` summed over all tile cores first, then
``model(lr, guide, out_size, stats=summed)`` per tile. Tiled and untiled runs therefore agree (see
``tests/engine``).

``back_projection=N`` (``fusion fuse --back-projection N``) wraps the resolved method in
:class:`fusion.models.consistency.BackProjected` (:func:`with_back_projection`), so that the output,
blurred and decimated, gives back the LR image; see :data:`SCENE_PHASE` for where it puts the LR samples.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from fusion import __version__
from fusion.atomic import check_writable
from fusion.engine import DEFAULT_METHOD, pick_device
from fusion.errors import FusionError, InputError
from fusion.io import (
    RasterWriter,
    Scene,
    Tile,
    TileData,
    block_size,
    cast_values,
    gdal_env,
    open_pair,
    output_profile,
    plan_tiles,
)
from fusion.models import FusionModel, create_model
from fusion.models.base import Stats, WrappedModel, takes_sensor
from fusion.models.consistency import BackProjected
from fusion.registry import MODELS

DEFAULT_TILE = 1024

SCENE_PHASE = "centre"
"""Sample phase of a real scene's LR pixels on the guide grid (:mod:`fusion.degrade.resample`), used
to back-project onto a real pair. Co-registered grids put LR pixel ``k`` over guide pixels
``[k r, (k + 1) r)`` (:mod:`fusion.models.base`); its value, the sensor's PSF-weighted mean over that
footprint, belongs at the footprint's centre ``(k + 0.5) r - 0.5``: phase ``"centre"``. The other
phase, ``"toolbox"``, samples guide pixel ``floor((k + 0.5) r)``, half a pixel off the centre at even
ratios: how the reference toolbox simulates reduced pairs, not how a sensor's products are laid out.
:func:`fusion.engine.fit.fit_scene` reduces a scene at ``"centre"`` too, so a fit and its
back-projection agree."""

log = logging.getLogger(__name__)


def check_sensor(sensor: str | None) -> None:
    """Refuse a sensor name without a preset (the presets themselves fall back to generic with a warning)."""
    if sensor is None:
        return
    from fusion.degrade import get_sensor

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        try:
            get_sensor(sensor)
        except UserWarning as exc:
            known = str(exc).rsplit("known sensors:", 1)[-1].strip()
            raise InputError(f"--sensor {sensor}: unknown sensor (known: {known})") from None


def resolve_model(
    method: str | os.PathLike | FusionModel,
    lr_bands: int,
    guide_bands: int,
    sensor: str | None = None,
    wavelengths: Sequence[float | None] | None = None,
    fresh: bool = False,
) -> tuple[FusionModel, dict]:
    """A model for ``lr_bands`` + ``guide_bands`` and the tags describing it, from

    * an instance: used as it is;
    * a checkpoint file: the model it stores, taking and returning the scene's units when the
      checkpoint records the divisor of its training data (``meta["data_scale"]``, applied by
      :class:`fusion.engine.fit.Rescaled`);
    * a registered name: methods without trainable parameters are built for the band counts (with
      ``sensor`` if they take one); a model with trainable parameters uses the shipped checkpoint that
      fits the band counts and the LR band centres ``wavelengths`` (nm; see
      :func:`fusion.engine.zoo.find_shipped`), and without one it is refused, since an untrained model
      fuses nothing useful. ``fresh`` (``--fit``) builds it from its name instead, untrained, whatever
      is shipped: scene-adaptive fitting starts from scratch; to fine-tune a checkpoint, pass its file.
    """
    if isinstance(method, FusionModel):
        return method, {"FUSION_METHOD": getattr(method, "registered_name", type(method).__name__)}
    if Path(method).is_file():
        return _from_checkpoint(Path(method))
    name = str(method)
    if not fresh and name in MODELS:
        from fusion.engine.zoo import find_shipped

        shipped = find_shipped(name, lr_bands, guide_bands, wavelengths)
        if shipped is not None:
            return _from_checkpoint(shipped)
    with_sensor = name in MODELS and takes_sensor(MODELS.get(name))
    sensor_arg = {"sensor": sensor} if sensor and with_sensor else {}
    try:
        model = create_model(name, lr_bands=lr_bands, guide_bands=guide_bands, **sensor_arg)
    except KeyError as exc:
        raise InputError(f"--method {method}: {exc.args[0]}") from None
    trainable = any(p.requires_grad for p in model.parameters())
    if trainable and not fresh:
        from fusion.engine.zoo import no_fit_error

        raise no_fit_error(name, lr_bands, guide_bands, wavelengths)
    if sensor and not with_sensor and not trainable:
        raise InputError(f"--method {method}: this method takes no --sensor")
    return model, {"FUSION_METHOD": name}


def back_projection_of(model: FusionModel) -> BackProjected | None:
    """The :class:`BackProjected` that ``model`` is or holds inside other :class:`WrappedModel` layers
    (e.g. :class:`fusion.engine.fit.Rescaled`), as a checkpoint whose spec has ``back_projection`` does."""
    while not isinstance(model, BackProjected):
        if not isinstance(model, WrappedModel):
            return None
        model = model.model
    return model


def with_back_projection(
    model: FusionModel, iterations: int | None, sensor: str | None, method: object
) -> FusionModel:
    """``model`` wrapped in :class:`BackProjected`: ``iterations`` steps (``None``/0: ``model`` as it
    is) with the MTF gains of ``sensor`` (the generic ones when ``None``) at :data:`SCENE_PHASE`.

    A model that back-projects already (``method``: how the user named it) is refused rather than
    projected twice: its own projection may use other gains or phase, and a second one would hide that.
    """
    if not iterations:
        return model
    if not isinstance(iterations, int) or iterations < 0:
        raise InputError(f"--back-projection {iterations}: give a whole number of steps, at least 1 (0: off)")
    existing = back_projection_of(model)
    if existing is not None:
        raise InputError(
            f"--back-projection {iterations}: --method {method} back-projects its output already "
            f"({existing.iterations} steps, in its spec); drop --back-projection"
        )
    return BackProjected(model, iterations=iterations, sensor=sensor, phase=SCENE_PHASE)


def _from_checkpoint(path: Path) -> tuple[FusionModel, dict]:
    """The model stored at ``path``, in the scene's units (see :func:`resolve_model`), and its tags."""
    from fusion.engine.checkpoint import file_hash, load_checkpoint
    from fusion.engine.fit import Rescaled

    model, payload = load_checkpoint(path)
    tags = {"FUSION_METHOD": payload["model"]["name"], "FUSION_CHECKPOINT": file_hash(path)}
    scale = (payload.get("meta") or {}).get("data_scale")
    if scale is not None and float(scale) != 1.0:
        model = Rescaled(model, float(scale))
    return model, tags


def fit_to_scene(
    guide: str | os.PathLike,
    lr: str | os.PathLike,
    method: str | os.PathLike | FusionModel,
    sensor: str | None = None,
    steps: int | None = None,
    device: str | torch.device | None = None,
    reproject: bool = False,
    wavelengths: Sequence[float] | None = None,
    progress: bool = True,
    back_projection: int | None = None,
) -> FusionModel:
    """Scene-adaptive fitting (``fusion fuse --fit``): train ``method`` (an INR model name, checkpoint or
    instance) on this pair reduced by its own ratio with the sensor's MTF
    (:func:`fusion.engine.fit.fit_scene`), and return it in the scene's units, ready for
    :func:`fuse_raster`. The whole pair is read at once: meant for scenes that fit in memory.
    ``steps`` defaults to :data:`fusion.engine.fit.DEFAULT_FIT_STEPS`; a checkpoint file is fine-tuned
    from :data:`fusion.engine.fit.FINE_TUNE_LEARNING_RATE`, a fresh model from its ``fit_learning_rate``.
    ``back_projection``: steps of :func:`with_back_projection`; the model is fitted through it, so the
    detail it learns is the detail that survives the projection, and the returned model keeps it.
    """
    from fusion.engine.fit import DEFAULT_FIT_STEPS, FINE_TUNE_LEARNING_RATE, Rescaled, fit_scene

    steps = DEFAULT_FIT_STEPS if steps is None else steps
    check_sensor(sensor)
    device = pick_device(device)
    pair = {"reproject": reproject, "sensor": sensor, "wavelengths": wavelengths}
    with gdal_env(), open_pair(guide, lr, **pair) as scene:
        # the sensor sets the MTF of the reduction; the model gets it only if it takes one
        model, tags = resolve_model(method, scene.lr.count, scene.guide.count, sensor, fresh=True)
        if not any(p.requires_grad for p in model.parameters()):
            raise InputError(f"--fit: {method} has nothing to train; pick an INR model (see `fusion models`)")
        whole = plan_tiles(scene.shape, scene.ratio, None, 0)[0]
        _check_bands(model, scene, whole)
        data = scene.read_tile(whole)
        ratio = tuple(float(r) for r in scene.ratio)
    if not bool(data.valid.all()):
        raise InputError(f"--fit: {lr} or {guide} has no-data pixels; fitting needs a complete scene")
    # a checkpoint is fine-tuned at the scale of its training data, a fresh model at the scene's
    model, scale = (model.model, model.scale) if isinstance(model, Rescaled) else (model, None)
    model = with_back_projection(model, back_projection, sensor, method).to(device)
    lr_image, guide_image = data.lr.to(device, torch.float32), data.guide.to(device, torch.float32)
    options = {"steps": steps, "scale": scale, "progress": progress}
    if "FUSION_CHECKPOINT" in tags:
        options["learning_rate"] = FINE_TUNE_LEARNING_RATE  # trained weights: a gentler start
    fitted = fit_scene(model, lr_image, guide_image, ratio, sensor, **options)
    return fitted.rescaled()


def _format_ratio(ratio: Sequence) -> str:
    """``"2"`` for equal axes, ``"10/3,3"`` (y, x) otherwise."""
    return str(ratio[0]) if ratio[0] == ratio[1] else f"{ratio[0]},{ratio[1]}"


def _check_bands(model: FusionModel, scene: Scene, tile: Tile) -> None:
    """Fail before any output exists when ``model`` cannot take the pair's band counts or ratio."""
    lr = torch.empty((1, scene.lr.count, *tile.lr_size), device="meta")
    guide = torch.empty((1, scene.guide.count, *tile.window_size), device="meta")
    try:
        model.check_inputs(lr, guide, tile.window_size)
    except InputError as exc:
        raise InputError(
            f"{scene.lr.path} ({scene.lr.count} bands) with guide {scene.guide.path.name} "
            f"({scene.guide.count} bands): {exc}"
        ) from None


@contextlib.contextmanager
def _tile_errors(out: Path, tile: Tile, number: int, total: int) -> Iterator[None]:
    """Name the output and the tile in any non-user error raised while processing it."""
    try:
        yield
    except FusionError:
        raise
    except Exception as exc:
        raise FusionError(
            f"{out}: fusion failed on tile {number}/{total} ({tile.describe()}): {type(exc).__name__}: {exc}"
        ) from exc


def _read(scene: Scene, tile: Tile, device: torch.device) -> TileData:
    data = scene.read_tile(tile)
    return TileData(data.lr.to(device), data.guide.to(device), data.valid.to(device))


def _statistics(model: FusionModel, data: TileData, tile: Tile) -> Stats | None:
    return model.scene_statistics(data.lr, data.guide, tile.window_size, tile.core_in_window, data.valid)


def _add(total: Stats | None, stats: Stats) -> Stats:
    """Sum statistics in float64 (they are handed to the model in float64)."""
    stats = {key: value.double() for key, value in stats.items()}
    return stats if total is None else {key: total[key] + stats[key] for key in total}


def _fuse_tile(model: FusionModel, data: TileData, tile: Tile, stats: Stats | None) -> np.ndarray:
    """The fused core of ``tile`` as a float32 array ``(C, h, w)``."""
    extra = {} if stats is None else {"stats": stats}
    fused = model(data.lr, data.guide, tile.window_size, **extra)
    rows, cols = tile.core_in_window
    return fused[0, :, rows, cols].float().cpu().numpy()


def _profile(scene: Scene, tile: Tile, dtype: str, nodata: float | None, co) -> dict:
    """The output's creation profile: the scene's grid, GeoTIFF blocks that tile the cores."""
    core = (tile.rows.core[1] - tile.rows.core[0], tile.cols.core[1] - tile.cols.core[0])
    return output_profile(
        scene.shape[1], scene.shape[0], scene.lr.count, dtype,
        crs=scene.crs, transform=scene.transform, nodata=nodata,
        block=(block_size(core[0]), block_size(core[1])), co=co,
    )  # fmt: skip


def _scene_tags(scene: Scene, sensor: str | None) -> dict:
    return {
        "FUSION_RATIO": _format_ratio(scene.ratio),
        "FUSION_VERSION": __version__,
        "FUSION_GUIDE": scene.guide.path.name,
        "FUSION_LR": scene.lr.path.name,
        **({"FUSION_SENSOR": sensor} if sensor else {}),
    }


@torch.inference_mode()
def fuse_raster(
    guide: str | os.PathLike,
    lr: str | os.PathLike,
    out: str | os.PathLike,
    method: str | os.PathLike | FusionModel = DEFAULT_METHOD,
    *,
    sensor: str | None = None,
    wavelengths: str | Sequence[float] | None = None,
    tile: int | None = DEFAULT_TILE,
    device: str | torch.device | None = None,
    dtype: str | None = None,
    co: Iterable[str] | Mapping[str, str] | None = None,
    cog: bool = False,
    overwrite: bool = False,
    reproject: bool = False,
    progress: bool = True,
    back_projection: int | None = None,
) -> dict:
    """Fuse the low-resolution raster ``lr`` with the finer ``guide`` into the GeoTIFF ``out``.

    Args:
        guide, lr: paths of the guide (PAN or MSI) and the low-resolution (MS or HS) rasters.
        out: output path; refused if it exists unless ``overwrite``.
        method: a registered name (``fusion models``), a checkpoint file, or a model instance.
        sensor: sensor preset name, passed to the method and used for missing band wavelengths.
        wavelengths: centre wavelengths (nm) of the low-resolution bands, overriding the file's tags.
        tile: output tile size in guide pixels (``None`` or 0: one tile for the whole scene).
        device: torch device (default: CUDA when available, else CPU).
        dtype: output data type (default: the low-resolution file's); values are clipped to its range.
        co: GeoTIFF creation options ``NAME=VALUE`` overriding the defaults; ``cog``: write a COG.
        reproject: warp the low-resolution image to the guide's CRS instead of refusing a mismatch.
        progress: show a progress bar (on a terminal).
        back_projection: back-project the method's output onto ``lr`` with this many steps
            (:func:`with_back_projection`: ``sensor``'s MTF gains, LR samples at :data:`SCENE_PHASE`).

    Returns:
        A summary: output path, method, back-projection steps (0: none), ratios, size, bands, dtype,
        tiles, passes, device, seconds.
    """
    started = time.perf_counter()
    out = check_writable(out, overwrite)
    device = pick_device(device)
    check_sensor(sensor)
    pair = {"reproject": reproject, "sensor": sensor, "wavelengths": wavelengths}
    with gdal_env(), open_pair(guide, lr, **pair) as scene:
        for source in (scene.guide.path, scene.lr.path):
            if out.resolve() == source.resolve():
                raise InputError(f"{out}: output would replace its own input")
        model, tags = resolve_model(method, scene.lr.count, scene.guide.count, sensor, scene.lr.wavelengths)
        model = with_back_projection(model, back_projection, sensor, method).to(device).eval()
        projection = back_projection_of(model)
        projection_steps = 0 if projection is None else projection.iterations
        ratio = tuple(float(r) for r in scene.ratio)
        tiles = plan_tiles(scene.shape, scene.ratio, tile, model.halo(ratio), *model.tile_alignment())
        if len(tiles) > 1 and not model.exact_tiling:
            pools = projection is None or not projection.model.exact_tiling
            reason = "it pools over its whole input" if pools else "its back-projection reaches past the halo"
            log.warning(
                "%s: %s, so %d tiles approximate an untiled run (--tile 0 is exact if the scene fits in "
                "memory)",
                method,
                reason,
                len(tiles),
            )
        _check_bands(model, scene, tiles[0])
        out_dtype = dtype or scene.lr.dtype
        nodata = scene.output_nodata(out_dtype)
        profile = _profile(scene, tiles[0], out_dtype, nodata, co)
        tags.update(_scene_tags(scene, sensor))
        if projection_steps:
            tags["FUSION_BACK_PROJECTION"] = str(projection_steps)
        log.info(
            "%s: %d x %d output, ratio %s, %d tile(s)",
            out,
            *scene.shape[::-1],
            tags["FUSION_RATIO"],
            len(tiles),
        )

        with _tile_errors(out, tiles[0], 1, len(tiles)):
            first = _read(scene, tiles[0], device)
            first_stats = _statistics(model, first, tiles[0])
        passes = 1 if first_stats is None else 2
        if first_stats is not None:
            first = None  # the second pass reads it again; keep one tile in memory at a time
        writer = RasterWriter(
            out, profile, overwrite=overwrite, cog=cog, tags=tags,
            descriptions=scene.lr.descriptions, wavelengths=scene.lr.wavelengths,
        )  # fmt: skip
        bar = tqdm(total=passes * len(tiles), unit="tile", desc=out.name, disable=None if progress else True)
        with bar, writer:
            stats = None
            if first_stats is not None:
                stats = _add(None, first_stats)
                bar.update()
                for number, t in enumerate(tiles[1:], start=2):
                    with _tile_errors(out, t, number, len(tiles)):
                        stats = _add(stats, _statistics(model, _read(scene, t, device), t))
                    bar.update()
            for number, t in enumerate(tiles, start=1):
                with _tile_errors(out, t, number, len(tiles)):
                    data, first = (first, None) if first is not None else (_read(scene, t, device), None)
                    fused = _fuse_tile(model, data, t, stats)
                    invalid = ~data.valid[0, 0][t.core_in_window].cpu().numpy()
                    writer.write(cast_values(fused, out_dtype, invalid, nodata), t.rows.core, t.cols.core)
                bar.update()
    return {
        "output": str(out),
        "method": tags["FUSION_METHOD"],
        "back_projection": projection_steps,
        "ratio": list(ratio),
        "native_ratio": list(scene.native_ratio),
        "size": list(scene.shape),
        "bands": scene.lr.count,
        "dtype": out_dtype,
        "tiles": len(tiles),
        "passes": passes,
        "device": str(device),
        "seconds": round(time.perf_counter() - started, 3),
    }
