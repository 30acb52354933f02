"""``hsi-cubes``: a folder of hyperspectral cubes (.npz/.mat/.tif) with wavelengths, cropped at random.

Samples have only a ``"gt"`` patch: the trainer degrades it into the LR input and synthesises the
guide (MSI or PAN) with the configured sensor's spectral response at the cubes' wavelengths.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fusion.data.base import FusionDataset, Sample, find_files, to_tensor
from fusion.data.cubes import SUFFIXES, Cube, load_cube
from fusion.errors import InputError
from fusion.registry import DATASETS


def check_same_bands(cubes: list[Cube]) -> None:
    """Every cube must have the first one's band count and (when known) wavelengths."""
    first = cubes[0]
    for cube in cubes[1:]:
        if cube.bands != first.bands:
            raise InputError(f"{cube.path}: has {cube.bands} bands but {first.path.name} has {first.bands}")
        if (cube.wavelengths_nm is None) != (first.wavelengths_nm is None) or (
            cube.wavelengths_nm is not None
            and not np.allclose(cube.wavelengths_nm, first.wavelengths_nm, atol=0.5)
        ):
            raise InputError(f"{cube.path}: band wavelengths differ from those of {first.path.name}")


def given_wavelengths(cube: Cube, wavelengths_nm) -> Cube:
    """``cube`` with band centres from the config: one per band, or ``[first, last]`` spaced evenly."""
    values = [float(w) for w in wavelengths_nm]
    if len(values) == 2 and cube.bands != 2:
        values = np.linspace(values[0], values[1], cube.bands).tolist()
    if len(values) != cube.bands:
        raise InputError(f"{cube.path}: {len(values)} configured wavelengths for {cube.bands} bands")
    return dataclasses.replace(cube, wavelengths_nm=tuple(values))


def drop_empty_bands_of(cubes: list[Cube]) -> list[Cube]:
    """The cubes without the bands that are zero everywhere in all of them (e.g. AVIRIS water bands)."""
    keep = np.any([np.any(cube.data != 0, axis=(1, 2)) for cube in cubes], axis=0)
    if not keep.any():
        raise InputError(f"{cubes[0].path.parent}: every band is zero")
    return [
        dataclasses.replace(
            cube,
            data=np.ascontiguousarray(cube.data[keep]),
            wavelengths_nm=None
            if cube.wavelengths_nm is None
            else tuple(np.asarray(cube.wavelengths_nm)[keep]),
        )
        for cube in cubes
    ]


@DATASETS.register("hsi-cubes")
class HSICubes(FusionDataset):
    """Hyperspectral cubes from ``root`` (files matching ``files``), kept in memory as float32.

    Args:
        root: folder of cubes. files: glob or list of globs relative to ``root`` (default: every
            supported file). scale: divisor of stored values (default per file: see
            :func:`fusion.data.cubes.load_cube`). wavelengths_nm: band centres for files without
            them (one per band, or ``[first, last]``). drop_empty_bands: remove bands that are zero
            in every cube. Other arguments: :class:`FusionDataset`.
    """

    def __init__(
        self,
        root,
        files=None,
        scale: float | None = None,
        wavelengths_nm=None,
        drop_empty_bands: bool = False,
        **crop,
    ):
        super().__init__(**crop)
        paths = find_files(root, files or [f"*{s}" for s in SUFFIXES], "cube files")
        self.cubes = [load_cube(path, scale) for path in paths]
        if wavelengths_nm is not None:
            self.cubes = [given_wavelengths(cube, wavelengths_nm) for cube in self.cubes]
        check_same_bands(self.cubes)
        if drop_empty_bands:
            self.cubes = drop_empty_bands_of(self.cubes)
        first = self.cubes[0]
        self.bands, self.wavelengths_nm, self.scale = first.bands, first.wavelengths_nm, first.scale

    @property
    def n_images(self) -> int:
        return len(self.cubes)

    def read(self, image: int, rng) -> Sample:
        data = self.cubes[image].data
        rows, cols = self.window(data.shape[-2:], rng)
        return {"gt": to_tensor(data[:, rows, cols])}
