"""Sensor presets loaded from ``fusion/configs/sensors/*.yaml`` (also reachable as ``configs/sensors``).

Each file describes one sensor: band names, centre wavelengths and FWHM, MTF gain at Nyquist (GNyq)
per multispectral band and for the PAN, bit depth, where its spectral responses come from, and the
source of every number. Names match case- and punctuation-insensitively, accents ignored, through
each file's ``aliases`` (``"WV2"``, ``"worldview-2"`` and ``"WorldView2"`` all find WorldView-2).
An unknown name falls back to ``generic`` (GNyq 0.3, PAN 0.15) with a warning.

Bands are given one by one (``bands:``) or, for hyperspectral sensors, as evenly spaced series
(``band_series:``); ``gnyq_ranges`` sets GNyq over 1-based inclusive band ranges.
"""

from __future__ import annotations

import functools
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from fusion.errors import InputError

SENSOR_DIR = Path(__file__).resolve().parents[1] / "configs" / "sensors"
GENERIC = "generic"


@dataclass(frozen=True)
class Sensor:
    """One sensor preset. Per-band tuples follow ``band_names``' order."""

    name: str
    band_names: tuple[str, ...]
    wavelengths_nm: tuple[float, ...]
    fwhm_nm: tuple[float | None, ...]
    gnyq: tuple[float, ...]
    gnyq_pan: float | None
    bit_depth: int | None
    default_gnyq: float = 0.3
    default_gnyq_pan: float = 0.15
    pan_wavelength_nm: float | None = None
    pan_fwhm_nm: float | None = None
    srf_table: str | None = None
    srf_bands: tuple[str | None, ...] = ()
    srf_pan: str | None = None
    aliases: tuple[str, ...] = ()
    sources: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    key: str = GENERIC

    @property
    def n_bands(self) -> int:
        return len(self.band_names)

    def gnyq_for(self, n_bands: int) -> tuple[float, ...]:
        """GNyq for ``n_bands`` bands: this sensor's when the count matches, else its default repeated."""
        if n_bands == self.n_bands:
            return self.gnyq
        return (self.default_gnyq,) * n_bands

    @property
    def pan_gain(self) -> float:
        """GNyq of the PAN, or the default (0.15) when the sensor has none or it is unknown."""
        return self.gnyq_pan if self.gnyq_pan is not None else self.default_gnyq_pan


def normalize_name(name: str) -> str:
    """Lower-case ASCII letters and digits only: ``"Pléiades-1B"`` -> ``"pleiades1b"``."""
    ascii_name = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    return "".join(ch for ch in ascii_name.lower() if ch.isalnum())


def _expand_bands(spec: dict) -> list[dict]:
    """Per-band dicts from ``bands`` and/or ``band_series`` entries."""
    bands = [dict(b) for b in spec.get("bands", [])]
    for series in spec.get("band_series", []):
        count = int(series["count"])
        step = (series["stop_nm"] - series["start_nm"]) / max(count - 1, 1)
        for i in range(count):
            bands.append(
                {
                    "name": f"{series['prefix']}{series.get('first', 1) + i}",
                    "wavelength_nm": round(series["start_nm"] + i * step, 3),
                    "fwhm_nm": series.get("fwhm_nm"),
                }
            )
    default = spec.get("default_gnyq", 0.3)
    for band in bands:
        band.setdefault("gnyq", default)
    for entry in spec.get("gnyq_ranges", []):
        first, last = entry["bands"]
        for band in bands[first - 1 : last]:
            band["gnyq"] = entry["value"]
    return bands


def _build(key: str, spec: dict) -> Sensor:
    bands = _expand_bands(spec)
    pan = spec.get("pan") or {}
    srf = spec.get("srf") or {}
    return Sensor(
        name=spec["name"],
        band_names=tuple(str(b["name"]) for b in bands),
        wavelengths_nm=tuple(float(b["wavelength_nm"]) for b in bands),
        fwhm_nm=tuple(None if b.get("fwhm_nm") is None else float(b["fwhm_nm"]) for b in bands),
        gnyq=tuple(float(b["gnyq"]) for b in bands),
        gnyq_pan=None if pan.get("gnyq") is None else float(pan["gnyq"]),
        bit_depth=spec.get("bit_depth"),
        default_gnyq=float(spec.get("default_gnyq", 0.3)),
        default_gnyq_pan=float(spec.get("default_gnyq_pan", 0.15)),
        pan_wavelength_nm=pan.get("wavelength_nm"),
        pan_fwhm_nm=pan.get("fwhm_nm"),
        srf_table=srf.get("table"),
        srf_bands=tuple(b.get("srf") for b in bands),
        srf_pan=pan.get("srf"),
        aliases=tuple(spec.get("aliases", [])),
        sources=dict(spec.get("sources", {})),
        notes=tuple(spec.get("notes", [])),
        key=key,
    )


@functools.lru_cache(maxsize=1)
def _registry() -> tuple[dict[str, Sensor], dict[str, str]]:
    """All presets by file stem, and a lookup from every normalised name/alias to the stem."""
    sensors, lookup = {}, {}
    for path in sorted(SENSOR_DIR.glob("*.yaml")):
        with path.open() as fh:
            spec = yaml.safe_load(fh)
        sensor = _build(path.stem, spec)
        sensors[path.stem] = sensor
        for alias in (path.stem, sensor.name, *sensor.aliases):
            lookup.setdefault(normalize_name(alias), path.stem)
    return sensors, lookup


def list_sensors() -> list[str]:
    """Preset keys (file stems), sorted."""
    return sorted(_registry()[0])


def get_sensor(name: str | Sensor | None) -> Sensor:
    """The preset for ``name`` (a :class:`Sensor` passes through; ``None`` gives ``generic``).

    Unknown names warn and return ``generic``.
    """
    if isinstance(name, Sensor):
        return name
    sensors, lookup = _registry()
    if name is None:
        return sensors[GENERIC]
    key = lookup.get(normalize_name(name))
    if key is None:
        warnings.warn(
            f"unknown sensor {name!r}: using the generic MTF (GNyq 0.3, PAN 0.15); "
            f"known sensors: {', '.join(list_sensors())}",
            UserWarning,
            stacklevel=2,
        )
        return sensors[GENERIC]
    return sensors[key]


def gnyq_for(sensor: str | Sensor | None, n_bands: int) -> tuple[float, ...]:
    """GNyq for ``n_bands`` low-resolution bands: the sensor's values when the band count matches,
    else its default (generic 0.3) repeated. What MTF-based fusion methods call."""
    if n_bands < 1:
        raise InputError(f"band count must be positive, got {n_bands}")
    return get_sensor(sensor).gnyq_for(n_bands)


def pan_gnyq(sensor: str | Sensor | None) -> float:
    """GNyq of the sensor's PAN (0.15 when unknown)."""
    return get_sensor(sensor).pan_gain
