"""``fusion simulate``: make a fusion pair and its reference from an HSI cube, or Wald's
reduced-resolution pair from a real PAN/MS pair, as GeoTIFFs with a JSON manifest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import click
import numpy as np
import torch

from fusion import __version__
from fusion.cli import cli
from fusion.cli._common import user_errors
from fusion.errors import InputError

CUBE_KEYS = ("cube", "hs", "hsi", "gt", "I_GT", "data")
WAVELENGTH_KEYS = ("wavelengths_nm", "wavelengths", "wavelength", "wl", "bands_nm")
PAN_KEYS = ("pan", "I_PAN", "PAN")
MS_KEYS = ("ms", "I_MS_LR", "MS", "lr")


def _load_arrays(path: Path) -> dict[str, np.ndarray]:
    """Arrays of a .npz or .mat file (MATLAB v7.3 through h5py, transposed back to MATLAB order)."""
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path) as data:
                return {key: data[key] for key in data.files}
        from scipy.io import loadmat

        try:
            return {k: v for k, v in loadmat(path).items() if isinstance(v, np.ndarray)}
        except NotImplementedError:  # v7.3 files are HDF5
            import h5py

            with h5py.File(path, "r") as fh:
                return {k: np.asarray(v).T for k, v in fh.items() if isinstance(v, h5py.Dataset)}
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None


def _first(arrays: dict, keys, ndim: int | None = None):
    for key in keys:
        if key in arrays and (ndim is None or np.squeeze(arrays[key]).ndim == ndim):
            return key
    return None


def _channels_first(array: np.ndarray) -> np.ndarray:
    """(H, W, C) files (the .npz/.mat convention) to (C, H, W); 2-D to (1, H, W)."""
    array = np.asarray(array)
    return array[None] if array.ndim == 2 else np.moveaxis(array, -1, 0)


def read_input(paths: tuple[Path, ...]) -> dict:
    """``{"kind": "cube", "cube", "wavelengths", "info"}`` or ``{"kind": "pair", "guide", "lr", ...}``."""
    if len(paths) == 2:
        from fusion.io import read_raster

        (guide, guide_info), (lr, lr_info) = read_raster(paths[0]), read_raster(paths[1])
        return {"kind": "pair", "guide": guide, "lr": lr, "guide_info": guide_info, "lr_info": lr_info}
    if len(paths) != 1:
        raise InputError(f"give one cube file or a GUIDE LR pair before OUTDIR, got {len(paths)} inputs")
    path = paths[0]
    if path.suffix.lower() in (".tif", ".tiff"):
        from fusion.io import read_raster

        cube, info = read_raster(path)
        return {"kind": "cube", "cube": cube, "wavelengths": info.wavelengths, "info": info}
    if path.suffix.lower() not in (".npz", ".mat"):
        raise InputError(f"{path}: expected a .npz, .mat or .tif file")
    arrays = _load_arrays(path)
    pan_key, ms_key = _first(arrays, PAN_KEYS), _first(arrays, MS_KEYS, 3)
    cube_key = _first(arrays, CUBE_KEYS, 3)
    if cube_key is None and pan_key and ms_key:
        return {
            "kind": "pair",
            "guide": _channels_first(np.squeeze(arrays[pan_key])),
            "lr": _channels_first(arrays[ms_key]),
            "guide_info": None,
            "lr_info": None,
        }
    if cube_key is None:
        cubes = [k for k, v in arrays.items() if v.ndim == 3]
        if len(cubes) != 1:
            raise InputError(f"{path}: no cube found (keys {sorted(arrays)}; expected one of {CUBE_KEYS})")
        cube_key = cubes[0]
    wl_key = _first(arrays, WAVELENGTH_KEYS)
    wavelengths = np.asarray(arrays[wl_key], dtype=float).reshape(-1) if wl_key else None
    return {
        "kind": "cube",
        "cube": _channels_first(arrays[cube_key]),
        "wavelengths": wavelengths,
        "info": None,
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@cli.command("simulate")
@click.argument(
    "inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--sensor", required=True, help="Sensor preset (see `fusion.degrade.list_sensors()`), e.g. WV3."
)
@click.option(
    "--ratio", type=float, help="Resolution ratio (any number > 1); for a pair, default: the pair's."
)
@click.option(
    "--guide",
    "guide_kind",
    type=click.Choice(["pan", "msi"]),
    default="pan",
    show_default=True,
    help="Cube input: synthesise the sensor's PAN or its MS bands as the guide.",
)
@click.option("--snr", type=float, help="Noise on the low-resolution image, SNR in dB (default: none).")
@click.option("--guide-snr", type=float, help="Noise on the guide, SNR in dB (default: none).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the noise draws.")
@click.option("--wavelengths", help="Cube band centres in nm, comma-separated (if the file has none).")
@click.option(
    "--guide-mtf", is_flag=True, help="Pair input: MTF-filter the PAN too (Ciotola) instead of imresize."
)
@click.option(
    "--phase",
    type=click.Choice(["toolbox", "centre"]),
    default="toolbox",
    show_default=True,
    help="Where LR samples sit (toolbox: start index ratio/2).",
)
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@user_errors
def simulate_cmd(
    inputs, outdir, sensor, ratio, guide_kind, snr, guide_snr, seed, wavelengths, guide_mtf, phase, overwrite
):
    """Simulate a fusion pair into OUTDIR: lr.tif, guide.tif, gt.tif (the reference) and manifest.json.

    INPUTS is an HSI cube (.npz/.mat with (H, W, C) `cube` and `wavelengths_nm`, or a .tif with
    wavelength tags) -- simulated with the sensor's spectral response, MTF and --ratio -- or a real
    GUIDE LR pair (two .tif files, or one .npz/.mat with `pan` and `ms`) reduced by Wald's protocol,
    the LR image becoming the reference.
    """
    from fusion.degrade import get_sensor

    preset = get_sensor(sensor)
    data = read_input(tuple(inputs))
    manifest = {
        "fusion_version": __version__,
        "torch_version": torch.__version__,
        "command": "simulate",
        "inputs": [{"path": str(p), "sha256": _sha256(p)} for p in inputs],
        "sensor": preset.name,
        "seed": seed,
    }
    if data["kind"] == "cube":
        outputs, parameters = _simulate_cube(
            data, inputs[0], preset, ratio, guide_kind, snr, guide_snr, seed, wavelengths, phase
        )
        manifest["mode"] = "cube"
    else:
        outputs, parameters = _reduce_pair(data, preset, ratio, guide_mtf)
        manifest["mode"] = "wald"
    manifest["parameters"] = parameters
    outdir.mkdir(parents=True, exist_ok=True)
    from fusion.io import write_raster

    manifest["outputs"] = {}
    for name, (tensor, meta) in outputs.items():
        path = outdir / f"{name}.tif"
        write_raster(
            path, tensor[0].float(), overwrite=overwrite, tags={"fusion_version": __version__}, **meta
        )
        manifest["outputs"][name] = {"file": path.name, "shape": list(tensor.shape[1:])}
    (outdir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    click.echo(f"wrote lr.tif, guide.tif, gt.tif and manifest.json to {outdir}")


def _geo(info, sy: float = 1.0, sx: float = 1.0) -> dict:
    """``crs``/``transform`` of a georeferenced raster, pixels scaled by ``(sy, sx)``; else nothing."""
    if info is None or not info.georeferenced:
        return {}
    return {"crs": info.crs, "transform": info.transform * type(info.transform).scale(sx, sy)}


def _simulate_cube(data, path, preset, ratio, guide_kind, snr, guide_snr, seed, wavelengths, phase):
    from fusion.degrade import simulate
    from fusion.io import parse_wavelengths

    cube = torch.from_numpy(np.asarray(data["cube"], dtype=np.float64))
    centres = parse_wavelengths(wavelengths, cube.shape[0], "--wavelengths") or data["wavelengths"]
    if centres is None or any(w is None for w in centres):
        raise InputError(f"{path}: no band wavelengths in the file; give --wavelengths")
    if ratio is None:
        raise InputError("--ratio is required for a cube input")
    generator = torch.Generator().manual_seed(seed)
    pair = simulate(
        cube,
        preset,
        ratio,
        guide=guide_kind,
        snr=snr,
        wavelengths_nm=list(centres),
        guide_snr=guide_snr,
        phase=phase,
        generator=generator,
    )
    bands = {"descriptions": [f"{w:g} nm" for w in centres], "wavelengths": [float(w) for w in centres]}
    ry, rx = pair.params["ratio"]
    outputs = {
        "lr": (pair.lr, {**bands, **_geo(data["info"], ry, rx)}),
        "guide": (pair.guide, {"descriptions": pair.params["srf_bands"], **_geo(data["info"])}),
        "gt": (pair.gt, {**bands, **_geo(data["info"])}),
    }
    return outputs, pair.params


def _reduce_pair(data, preset, ratio, guide_mtf):
    from fusion.degrade import reduce_pair

    guide = torch.from_numpy(np.asarray(data["guide"], dtype=np.float64))[None]
    lr = torch.from_numpy(np.asarray(data["lr"], dtype=np.float64))[None]
    guide_r, lr_r, ref = reduce_pair(guide, lr, ratio, preset, guide_mtf=guide_mtf)
    sy, sx = lr.shape[-2] / lr_r.shape[-2], lr.shape[-1] / lr_r.shape[-1]
    info = data["lr_info"]
    outputs = {"lr": (lr_r, _geo(info, sy, sx)), "guide": (guide_r, _geo(info)), "gt": (ref, _geo(info))}
    parameters = {
        "ratio": [sy, sx],
        "lr_gnyq": list(preset.gnyq_for(lr.shape[1])),
        "lr_filter": "MTF Gaussian, decimation at floor((k + 0.5) r) (toolbox phase)",
        "guide_filter": "MTF Gaussian + decimation" if guide_mtf else "MATLAB bicubic imresize (antialiased)",
        "guide_gnyq": preset.pan_gain if guide_mtf else None,
    }
    return outputs, parameters
