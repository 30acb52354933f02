"""Spectral response: HS -> MS or PAN through the target sensor's response functions (SRF),
least-squares SRF estimation from a co-registered pair, and PAN synthesis from MS by regression.

SRF tables are long CSV files (``band,wavelength_nm,response``) named by a sensor preset's
``srf.table``. They are looked up, in order, in ``$FUSION_SRF_PATH`` (``os.pathsep``-separated
folders), ``fusion/configs/sensors/srf/``, ``$FUSION_DATA/srf`` and the developer data folder next to
the checkout (``../shared/data/srf``). Without a table, or for presets that have none, each band's
response is a Gaussian from its centre and FWHM -- an approximation, flagged as such.
"""

from __future__ import annotations

import csv
import functools
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fusion.degrade.sensors import SENSOR_DIR, Sensor, get_sensor
from fusion.errors import InputError

_PACKAGE = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Response:
    """One band's spectral response sampled at ``wavelengths_nm``; ``approximate`` for Gaussians."""

    name: str
    wavelengths_nm: np.ndarray
    values: np.ndarray
    approximate: bool


def srf_search_path() -> list[Path]:
    """Folders searched for SRF tables, in order."""
    folders = [Path(p) for p in os.environ.get("FUSION_SRF_PATH", "").split(os.pathsep) if p]
    folders.append(SENSOR_DIR / "srf")
    if os.environ.get("FUSION_DATA"):
        folders.append(Path(os.environ["FUSION_DATA"]) / "srf")
    folders.append(_PACKAGE.parents[1] / "shared" / "data" / "srf")
    return folders


def find_srf_table(name: str) -> Path | None:
    """The first ``name`` on the SRF search path, or ``None``."""
    for folder in srf_search_path():
        if (folder / name).is_file():
            return folder / name
    return None


@functools.lru_cache(maxsize=16)
def load_srf_table(path: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{band: (wavelengths_nm, response)}`` from a long CSV with ``band,wavelength_nm,response``."""
    path = Path(path)
    rows: dict[str, list[tuple[float, float]]] = {}
    try:
        with path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                rows.setdefault(row["band"], []).append((float(row["wavelength_nm"]), float(row["response"])))
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"{path}: not a readable SRF table (band,wavelength_nm,response): {exc}") from None
    table = {}
    for band, samples in rows.items():
        arr = np.array(sorted(samples))
        table[band] = (arr[:, 0], arr[:, 1])
    return table


def gaussian_response(name: str, centre_nm: float, fwhm_nm: float | None) -> Response:
    """A Gaussian response from centre and FWHM, sampled every nm over +-3 FWHM."""
    if fwhm_nm is None or not fwhm_nm > 0:
        raise InputError(f"band {name!r}: no FWHM to build an approximate spectral response from")
    wavelengths = np.arange(math.floor(centre_nm - 3 * fwhm_nm), math.ceil(centre_nm + 3 * fwhm_nm) + 1.0)
    values = np.exp(-4 * math.log(2) * ((wavelengths - centre_nm) / fwhm_nm) ** 2)
    return Response(name, wavelengths, values, approximate=True)


def sensor_responses(sensor: str | Sensor, which: str = "ms") -> list[Response]:
    """Spectral responses of a sensor's MS bands (``which="ms"``) or its PAN (``"pan"``).

    Tabulated curves where the preset names a table that is found, Gaussians otherwise (warned).
    """
    sensor = get_sensor(sensor)
    if which == "pan":
        if sensor.pan_wavelength_nm is None and sensor.srf_pan is None:
            raise InputError(f"sensor {sensor.name!r} has no PAN band")
        specs = [("pan", sensor.srf_pan, sensor.pan_wavelength_nm, sensor.pan_fwhm_nm)]
    elif which == "ms":
        if not sensor.n_bands:
            raise InputError(f"sensor {sensor.name!r} has no band list")
        specs = list(
            zip(sensor.band_names, sensor.srf_bands, sensor.wavelengths_nm, sensor.fwhm_nm, strict=True)
        )
    else:
        raise InputError(f"which must be 'ms' or 'pan', got {which!r}")
    path = find_srf_table(sensor.srf_table) if sensor.srf_table else None
    table = load_srf_table(path) if path is not None else {}
    responses = []
    for name, table_band, centre, fwhm in specs:
        if table_band is not None and table_band in table:
            wavelengths, values = table[table_band]
            responses.append(Response(name, wavelengths, values, approximate=False))
        else:
            responses.append(gaussian_response(name, centre, fwhm))
    if sensor.srf_table and path is None:
        warnings.warn(
            f"SRF table {sensor.srf_table!r} for {sensor.name} not found on {srf_search_path()}: "
            "using Gaussian approximations (set FUSION_SRF_PATH)",
            UserWarning,
            stacklevel=2,
        )
    return responses


def _integral(values: np.ndarray, wavelengths: np.ndarray) -> float:
    """Trapezoidal integral (numpy's ``trapz`` was renamed across versions)."""
    return float(((values[1:] + values[:-1]) / 2 * np.diff(wavelengths)).sum())


def coverage(response: Response, low_nm: float, high_nm: float) -> float:
    """Fraction of a response's integral that lies within ``[low_nm, high_nm]``."""
    wl, values = response.wavelengths_nm, response.values
    inside = np.interp(np.clip(wl, low_nm, high_nm), wl, values) * ((wl >= low_nm) & (wl <= high_nm))
    total = _integral(values, wl)
    return _integral(inside, wl) / total if total > 0 else 0.0


def srf_matrix(
    responses: list[Response], wavelengths_nm, like: torch.Tensor | None = None, min_coverage: float = 0.5
) -> torch.Tensor:
    """Weights ``(M, C)`` mapping ``C`` HS bands at ``wavelengths_nm`` to ``M`` target bands.

    Each target band's response is interpolated at the HS band centres (0 outside its table) and
    normalised to sum to 1. A target band whose response lies less than ``min_coverage`` inside the
    HS range is an error (its normalised weights would describe a different band).
    """
    centres = np.asarray(torch.as_tensor(wavelengths_nm).detach().cpu(), dtype=np.float64).reshape(-1)
    rows = []
    for response in responses:
        row = np.interp(centres, response.wavelengths_nm, response.values, left=0.0, right=0.0)
        covered = coverage(response, centres.min(), centres.max())
        if not row.sum() > 0 or covered < min_coverage:
            raise InputError(
                f"target band {response.name!r} ({response.wavelengths_nm.min():.0f}-"
                f"{response.wavelengths_nm.max():.0f} nm) lies {100 * (1 - covered):.0f} % outside the "
                f"HS bands ({centres.min():.0f}-{centres.max():.0f} nm)"
            )
        rows.append(row / row.sum())
    dtype = like.dtype if like is not None and like.is_floating_point() else torch.get_default_dtype()
    return torch.tensor(np.stack(rows), dtype=dtype, device=None if like is None else like.device)


def sensor_srf(sensor: str | Sensor, wavelengths_nm, which: str = "ms", like=None) -> torch.Tensor:
    """:func:`srf_matrix` of a sensor's MS bands or PAN over HS bands at ``wavelengths_nm``."""
    return srf_matrix(sensor_responses(sensor, which), wavelengths_nm, like)


def spectral_response(x: torch.Tensor, srf: torch.Tensor) -> torch.Tensor:
    """Apply ``srf`` ``(M, C)`` (or per-sample ``(B, M, C)``) to ``x (B, C, H, W)`` -> ``(B, M, H, W)``."""
    if x.ndim != 4 or srf.shape[-1] != x.shape[1]:
        raise InputError(f"SRF of shape {tuple(srf.shape)} does not fit an image of shape {tuple(x.shape)}")
    equation = "mc,bchw->bmhw" if srf.ndim == 2 else "bmc,bchw->bmhw"
    return torch.einsum(equation, srf.to(x.dtype), x)


# -- regression ---------------------------------------------------------------------------------
def _design(x: torch.Tensor, intercept: bool) -> torch.Tensor:
    """Pixels as rows ``(B, N, C [+ 1])`` of ``x (B, C, H, W)``."""
    rows = x.flatten(2).transpose(1, 2)
    if intercept:
        rows = torch.cat([rows, torch.ones_like(rows[..., :1])], dim=-1)
    return rows


def regress_bands(
    src: torch.Tensor, dst: torch.Tensor, intercept: bool = False, ridge: float = 0.0, pooled: bool = False
) -> torch.Tensor:
    """Least-squares weights ``W`` with ``dst ~ W @ src`` (per pixel), per sample or pooled.

    ``src (B, C, H, W)``, ``dst (B, M, H, W)`` on the same grid. Returns ``(B, M, C [+ 1])``, or
    ``(M, C [+ 1])`` when ``pooled`` (one fit over the whole batch); the last column is the intercept.
    Solved through the normal equations with an optional ridge (scaled by the mean diagonal).
    """
    if src.shape[0] != dst.shape[0] or src.shape[-2:] != dst.shape[-2:]:
        raise InputError(
            f"regression needs images on one grid, got {tuple(src.shape)} and {tuple(dst.shape)}"
        )
    a, b = _design(src, intercept), dst.flatten(2).transpose(1, 2)
    if pooled:
        a, b = a.reshape(1, -1, a.shape[-1]), b.reshape(1, -1, b.shape[-1])
    gram = a.transpose(1, 2) @ a
    eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
    gram = gram + ridge * gram.diagonal(dim1=-2, dim2=-1).mean(-1)[:, None, None] * eye
    weights = torch.linalg.solve(gram, a.transpose(1, 2) @ b).transpose(1, 2)
    return weights[0] if pooled else weights


def estimate_srf(
    hs: torch.Tensor, ms: torch.Tensor, nonneg: bool = True, ridge: float = 1e-6
) -> torch.Tensor:
    """Estimate the response ``(M, C)`` with ``ms ~ srf @ hs`` from a co-registered pair on one grid.

    ``hs (B, C, H, W)``, ``ms (B, M, H, W)`` (bring them to one grid first, e.g. degrade the MS with
    :func:`fusion.degrade.area_downsample`). ``nonneg`` solves the non-negative least squares (scipy,
    on the ``C x C`` normal equations, so cost is independent of the pixel count).
    """
    if not nonneg:
        return regress_bands(hs, ms, ridge=ridge, pooled=True)
    from scipy.optimize import nnls

    a = _design(hs, False).reshape(-1, hs.shape[1]).double()
    b = ms.flatten(2).transpose(1, 2).reshape(-1, ms.shape[1]).double()
    gram = a.T @ a
    gram = gram + ridge * gram.diagonal().mean() * torch.eye(
        gram.shape[0], dtype=gram.dtype, device=gram.device
    )
    chol = torch.linalg.cholesky(gram)  # ||a w - b||^2 = ||chol^T w - chol^-1 a^T b||^2 + const
    rhs = torch.linalg.solve_triangular(chol, a.T @ b, upper=False)
    lhs = chol.T.cpu().numpy()
    rows = [nnls(lhs, rhs[:, m].cpu().numpy())[0] for m in range(ms.shape[1])]
    return torch.tensor(np.stack(rows), dtype=hs.dtype, device=hs.device)


def fit_pan_weights(ms: torch.Tensor, pan: torch.Tensor, intercept: bool = True) -> torch.Tensor:
    """Per-sample regression weights ``(B, C [+ 1])`` of ``pan (B, 1, h, w)`` on ``ms (B, C, h, w)``."""
    if pan.ndim != 4 or pan.shape[1] != 1:
        raise InputError(f"pan must be (B, 1, H, W), got shape {tuple(pan.shape)}")
    return regress_bands(ms, pan, intercept=intercept)[:, 0]


def synthesize_pan(ms: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """PAN ``(B, 1, H, W)`` from ``ms (B, C, H, W)`` and weights ``(B, C)`` or ``(B, C + 1)``
    (intercept last)."""
    bands = ms.shape[1]
    pan = torch.einsum("bc,bchw->bhw", weights[:, :bands].to(ms.dtype), ms)[:, None]
    if weights.shape[1] == bands + 1:
        pan = pan + weights[:, bands, None, None, None].to(ms.dtype)
    return pan
