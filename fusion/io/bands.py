"""Band metadata in GeoTIFFs: centre wavelengths (nm) read from and written to band tags.

Read, in this order, per band: our own ``wavelength_nm`` tag; GDAL's ``IMAGERY`` domain
``CENTRAL_WAVELENGTH_UM`` (GDAL >= 3.10 convention); ENVI-style ``wavelength`` with an optional
``wavelength_units`` (a bare number below 100 is taken as micrometres). Written: the first two.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from fusion.errors import InputError

log = logging.getLogger(__name__)

_MICROMETRE_UNITS = {
    "um",
    "µm",
    "micrometer",
    "micrometers",
    "micrometre",
    "micrometres",
    "micron",
    "microns",
}
_NANOMETRE_UNITS = {"nm", "nanometer", "nanometers", "nanometre", "nanometres"}


def _as_float(text: str | None) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def _wavelength_from_tags(tags: dict[str, str], imagery: dict[str, str]) -> float | None:
    lowered = {key.lower(): value for key, value in tags.items()}
    if (nm := _as_float(lowered.get("wavelength_nm"))) is not None:
        return nm
    if (um := _as_float(imagery.get("CENTRAL_WAVELENGTH_UM"))) is not None:
        return um * 1000.0
    value = _as_float(lowered.get("wavelength", lowered.get("central_wavelength")))
    if value is None:
        return None
    units = lowered.get("wavelength_units", "").strip().lower()
    if units in _MICROMETRE_UNITS or (units not in _NANOMETRE_UNITS and value < 100):
        return value * 1000.0
    return value


def read_wavelengths(dataset) -> tuple[float | None, ...]:
    """Centre wavelength in nm of each band of an open rasterio dataset (``None`` where unknown)."""
    return tuple(
        _wavelength_from_tags(dataset.tags(band), dataset.tags(band, ns="IMAGERY"))
        for band in range(1, dataset.count + 1)
    )


def wavelength_tags(nm: float) -> dict[str, dict[str, str]]:
    """Band tags recording a centre wavelength, by metadata domain (``""`` is the default domain)."""
    return {"": {"wavelength_nm": f"{nm:g}"}, "IMAGERY": {"CENTRAL_WAVELENGTH_UM": f"{nm / 1000:g}"}}


def parse_wavelengths(
    text: str | Sequence[float] | None, count: int, source: str
) -> tuple[float, ...] | None:
    """Wavelengths from ``"665,560,490"`` or a sequence; ``source`` names the argument in errors."""
    if text is None:
        return None
    items = text.replace(" ", ",").split(",") if isinstance(text, str) else list(text)
    values = [_as_float(str(item)) for item in items if str(item).strip()]
    if any(value is None for value in values):
        raise InputError(f"{source}: expected positive numbers in nm separated by commas, got {text!r}")
    if len(values) != count:
        raise InputError(f"{source}: {len(values)} wavelengths given for {count} bands")
    return tuple(values)


def sensor_wavelengths(name: str, descriptions: Sequence[str | None]) -> tuple[float | None, ...]:
    """Centre wavelengths of bands described by ``descriptions`` from sensor preset ``name``.

    Bands are matched in order when the counts agree, else by description = preset band name (e.g.
    ``red``); bands that cannot be matched stay ``None`` (with a warning).
    """
    from fusion.degrade import get_sensor

    sensor = get_sensor(name)
    if len(descriptions) == sensor.n_bands:
        return tuple(float(nm) for nm in sensor.wavelengths_nm)
    by_name = {
        band.lower(): float(nm) for band, nm in zip(sensor.band_names, sensor.wavelengths_nm, strict=True)
    }
    found = tuple(by_name.get((text or "").strip().lower()) for text in descriptions)
    if None in found:
        log.warning(
            "--sensor %s: the preset has %d bands (%s), the file %d; bands not named like the preset's "
            "have no wavelength (give --wavelengths)",
            name, sensor.n_bands, ", ".join(sensor.band_names), len(descriptions),
        )  # fmt: skip
    return found


def resolve_wavelengths(
    from_tags: Sequence[float | None],
    descriptions: Sequence[str | None],
    wavelengths: str | Sequence[float] | None = None,
    sensor: str | None = None,
) -> tuple[float | None, ...]:
    """Band centres: explicit ``wavelengths`` first, then the file's tags, then the ``sensor`` preset."""
    count = len(from_tags)
    explicit = parse_wavelengths(wavelengths, count, "--wavelengths")
    if explicit is not None:
        return explicit
    if all(nm is not None for nm in from_tags) or sensor is None:
        return tuple(from_tags)
    from_sensor = sensor_wavelengths(sensor, descriptions)
    return tuple(tag if tag is not None else nm for tag, nm in zip(from_tags, from_sensor, strict=True))
