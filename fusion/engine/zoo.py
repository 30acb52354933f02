"""Shipped trained checkpoints: the weights folder, its index, and the lookup behind
``fusion fuse --method NAME``.

The folder is ``fusion/weights/`` in the package, or the folder named by the environment variable
``FUSION_WEIGHTS_PATH`` (tests, or weights kept outside the package). It holds checkpoints written by
``scripts/ship_checkpoint.py`` (fp16 EMA weights, no training state) and ``index.json``::

    {"format": "fusion-weights/1",
     "checkpoints": [{"model": "liif", "file": "liif-cave.pt", "task": "CAVE",
                      "lr_bands": 31, "guide_bands": 3, "band_centres_nm": [400.0, ..., 700.0] | null,
                      "guide_kind": "msi" | "pan", "guide_response": "nikon_d700" | null,
                      "data_scale": 65535.0, "sha256": "<64 hex>", "size": <bytes>}, ...]}

A shipped checkpoint *fits* a scene when the band counts are the same and, where both the checkpoint
and the scene know the centres of their low-resolution bands, every centre agrees within
:data:`WAVELENGTH_TOLERANCE_NM`. Its ``data_scale`` is the divisor the training data were scaled by:
the scene must be in the same units as the training files (e.g. CAVE's 16-bit values) for the model
to see what it was trained on (:func:`fusion.engine.inference.resolve_model` applies it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fusion.atomic import atomic_output
from fusion.errors import InputError

INDEX_FORMAT = "fusion-weights/1"
INDEX_NAME = "index.json"
WEIGHTS_ENV = "FUSION_WEIGHTS_PATH"
#: Largest total size of the weights folder (checkpoints and index), in bytes.
SIZE_LIMIT = 25 * 10**6
#: Largest difference between a checkpoint's band centre and the scene's for a fit, in nm.
WAVELENGTH_TOLERANCE_NM = 5.0


@dataclass(frozen=True)
class Entry:
    """One shipped checkpoint, as listed in ``index.json``; ``folder`` is where the index lies."""

    model: str
    file: str
    task: str
    lr_bands: int
    guide_bands: int
    band_centres_nm: tuple[float, ...] | None
    guide_kind: str
    guide_response: str | None
    data_scale: float
    sha256: str
    size: int
    folder: Path = field(default=Path("."), compare=False)

    @property
    def path(self) -> Path:
        return self.folder / self.file

    @classmethod
    def from_record(cls, record: dict, folder: Path) -> Entry:
        centres = record.get("band_centres_nm")
        return cls(
            model=str(record["model"]),
            file=str(record["file"]),
            task=str(record.get("task", "")),
            lr_bands=int(record["lr_bands"]),
            guide_bands=int(record["guide_bands"]),
            band_centres_nm=None if centres is None else tuple(float(c) for c in centres),
            guide_kind=str(record.get("guide_kind", "pan" if int(record["guide_bands"]) == 1 else "msi")),
            guide_response=record.get("guide_response"),
            data_scale=float(record.get("data_scale", 1.0)),
            sha256=str(record["sha256"]),
            size=int(record["size"]),
            folder=folder,
        )

    def record(self) -> dict:
        """The entry as stored in ``index.json`` (without the folder)."""
        record = asdict(self)
        del record["folder"]
        centres = record["band_centres_nm"]
        record["band_centres_nm"] = None if centres is None else list(centres)
        return record

    def spectral_match(
        self, wavelengths_nm: Sequence[float | None] | None, tolerance_nm: float
    ) -> bool | None:
        """``True``/``False`` when both sides know their band centres, ``None`` when one does not."""
        if self.band_centres_nm is None or wavelengths_nm is None or None in wavelengths_nm:
            return None
        if len(wavelengths_nm) != len(self.band_centres_nm):
            return False
        pairs = zip(self.band_centres_nm, wavelengths_nm, strict=True)
        return all(abs(float(a) - float(b)) <= tolerance_nm for a, b in pairs)

    def fits(
        self,
        lr_bands: int,
        guide_bands: int,
        wavelengths_nm: Sequence[float | None] | None = None,
        tolerance_nm: float = WAVELENGTH_TOLERANCE_NM,
    ) -> bool:
        """Whether this checkpoint takes a scene of ``lr_bands`` (centred at ``wavelengths_nm``, if
        known) + ``guide_bands``."""
        if (self.lr_bands, self.guide_bands) != (lr_bands, guide_bands):
            return False
        return self.spectral_match(wavelengths_nm, tolerance_nm) is not False

    def layout(self) -> str:
        """``"31 + 3 (CAVE, 400-700 nm)"``: band counts, task and spectral range."""
        notes = [self.task] if self.task else []
        if self.band_centres_nm:
            notes.append(_span(self.band_centres_nm))
        return f"{self.lr_bands} + {self.guide_bands}" + (f" ({', '.join(notes)})" if notes else "")


def _span(centres: Sequence[float]) -> str:
    low, high = min(centres), max(centres)
    return f"{low:g} nm" if low == high else f"{low:g}-{high:g} nm"


def weights_folder() -> Path:
    """The folder of shipped checkpoints: ``$FUSION_WEIGHTS_PATH`` if set, else ``fusion/weights``."""
    override = os.environ.get(WEIGHTS_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1] / "weights"


def read_index(folder: str | os.PathLike | None = None) -> list[Entry]:
    """Every entry of ``folder``'s index (default :func:`weights_folder`); none when it has no index."""
    folder = Path(folder) if folder is not None else weights_folder()
    path = folder / INDEX_NAME
    if not path.is_file():
        return []
    try:
        index = json.loads(path.read_text())
        if index.get("format") != INDEX_FORMAT:
            raise ValueError(f"format {index.get('format')!r}, expected {INDEX_FORMAT!r}")
        return [Entry.from_record(record, folder) for record in index["checkpoints"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{path}: not a readable index of shipped checkpoints ({exc})") from None


def index_text(entries: Iterable[Entry]) -> str:
    """The text of an ``index.json`` listing ``entries``, sorted by model and file."""
    ordered = sorted(entries, key=lambda e: (e.model, e.file))
    return json.dumps({"format": INDEX_FORMAT, "checkpoints": [e.record() for e in ordered]}, indent=1) + "\n"


def write_index(entries: Iterable[Entry], folder: str | os.PathLike) -> Path:
    """Write ``folder/index.json`` (:func:`index_text`) atomically."""
    path = Path(folder) / INDEX_NAME
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(index_text(entries))
    return path


def shipped_checkpoints(name: str | None = None) -> list[Entry]:
    """The shipped checkpoints, of model ``name`` only when given."""
    return [entry for entry in read_index() if name is None or entry.model == name]


def find_shipped(
    name: str,
    lr_bands: int,
    guide_bands: int,
    wavelengths_nm: Sequence[float | None] | None = None,
    tolerance_nm: float = WAVELENGTH_TOLERANCE_NM,
) -> Path | None:
    """The shipped checkpoint of model ``name`` that fits the band layout (see :meth:`Entry.fits`),
    preferring one whose band centres were checked; ``None`` when none fits. A file that does not match
    its index entry (size, SHA-256) is an :class:`InputError`."""
    layout = (lr_bands, guide_bands, wavelengths_nm, tolerance_nm)
    fitting = [entry for entry in shipped_checkpoints(name) if entry.fits(*layout)]
    if not fitting:
        return None
    best = min(fitting, key=lambda e: e.spectral_match(wavelengths_nm, tolerance_nm) is None)
    return verified(best)


def verified(entry: Entry) -> Path:
    """``entry``'s file, after checking that its size and SHA-256 are those in the index."""
    from fusion.engine.checkpoint import file_hash

    path = entry.path
    if not path.is_file():
        raise InputError(f"{path}: shipped checkpoint listed in {entry.folder / INDEX_NAME} is missing")
    if path.stat().st_size != entry.size or file_hash(path, length=64) != entry.sha256:
        raise InputError(f"{path}: shipped checkpoint does not match its index entry (size or SHA-256)")
    return path


def _bands(count: int, what: str) -> str:
    return f"{count} {what} band{'' if count == 1 else 's'}"


def no_fit_error(
    name: str, lr_bands: int, guide_bands: int, wavelengths_nm: Sequence[float | None] | None = None
) -> InputError:
    """The error for an INR model name with no shipped checkpoint for the scene's band layout."""
    known = wavelengths_nm is not None and len(wavelengths_nm) > 0 and None not in wavelengths_nm
    scene = _bands(lr_bands, "LR") + (f" ({_span(wavelengths_nm)})" if known else "")
    shipped = ", ".join(entry.layout() for entry in shipped_checkpoints(name)) or "none"
    return InputError(
        f"--method {name}: no shipped checkpoint fits {scene} + {_bands(guide_bands, 'guide')} "
        f"(shipped: {shipped}); use --fit to train it on this scene, or `fusion train`"
    )


def folder_size(folder: str | os.PathLike, skip: Iterable[str] = ()) -> int:
    """Bytes of the files in ``folder`` (hidden temporary files and the names in ``skip`` left out)."""
    skip = set(skip)
    files = [p for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith(".")]
    return sum(p.stat().st_size for p in files if p.name not in skip)


def megabytes(size: float) -> str:
    return f"{size / 1e6:.2f} MB"
