"""``hsi-cubes``: a folder of hyperspectral cubes (.npz/.mat/.tif) with wavelengths, cropped at random.

Samples have only a ``"gt"`` patch: the trainer degrades it into the LR input and synthesises the
guide (MSI or PAN) with the configured sensor's spectral response at the cubes' wavelengths.
"""

from __future__ import annotations

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


@DATASETS.register("hsi-cubes")
class HSICubes(FusionDataset):
    """Hyperspectral cubes from ``root`` (files matching ``files``), kept in memory as float32.

    Args:
        root: folder of cubes. files: glob or list of globs relative to ``root`` (default: every
            supported file). scale: divisor of stored values (default per file: see
            :func:`fusion.data.cubes.load_cube`). Other arguments: :class:`FusionDataset`.
    """

    def __init__(self, root, files=None, scale: float | None = None, **crop):
        super().__init__(**crop)
        paths = find_files(root, files or [f"*{s}" for s in SUFFIXES], "cube files")
        self.cubes = [load_cube(path, scale) for path in paths]
        check_same_bands(self.cubes)
        first = self.cubes[0]
        self.bands, self.wavelengths_nm, self.scale = first.bands, first.wavelengths_nm, first.scale

    @property
    def n_images(self) -> int:
        return len(self.cubes)

    def read(self, image: int, rng) -> Sample:
        data = self.cubes[image].data
        rows, cols = self.window(data.shape[-2:], rng)
        return {"gt": to_tensor(data[:, rows, cols])}
