"""Training data: datasets of HSI cubes, PAN/MS pairs, PanCollection ``.h5`` files and GeoTIFF scenes,
keyed patch sampling aligned with the ratio, and resumable distributed batch sampling.

Datasets are registered in :data:`fusion.registry.DATASETS` (``hsi-cubes``, ``pan-ms-pairs``,
``geotiff-scenes``, ``pancollection``) and built from a config's ``data`` section by
:func:`build_dataset`. Samples are dicts of float32 tensors (see :mod:`fusion.data.base`).
GeoTIFF reading (rasterio) and h5py are imported only by the datasets that need them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fusion.data import hsi, pairs, pancollection  # noqa: F401  (register the datasets)
from fusion.data.base import FusionDataset, find_files
from fusion.data.cubes import Cube, load_cube
from fusion.data.patches import aligned_window, keyed_rng, random_window
from fusion.data.sampling import StepBatchSampler
from fusion.errors import InputError
from fusion.registry import DATASETS


def build_dataset(spec: Mapping[str, Any], **inject: Any) -> FusionDataset:
    """The dataset of a ``{name, root, args}`` spec (``inject`` overrides args, e.g. ``crop``)."""
    if "name" not in spec:
        raise InputError(f"data spec needs a dataset name (one of {', '.join(DATASETS.keys())})")
    if spec.get("root") is None:
        raise InputError(f"data spec for {spec['name']!r} needs a root folder")
    try:
        cls = DATASETS.get(spec["name"])
    except KeyError as exc:
        raise InputError(str(exc.args[0])) from None
    args = {**dict(spec.get("args") or {}), **inject}
    try:
        return cls(spec["root"], **args)
    except TypeError as exc:
        raise InputError(f"dataset {spec['name']!r}: {exc}") from None


__all__ = [
    "Cube",
    "FusionDataset",
    "StepBatchSampler",
    "aligned_window",
    "build_dataset",
    "find_files",
    "keyed_rng",
    "load_cube",
    "random_window",
]
