"""The sample contract of training datasets and what they share: file discovery, keyed patch crops.

A sample is a dict of float32 tensors, values divided by the dataset's ``scale``:

* ``"gt"`` ``(C, P, P)`` -- the reference the model must reproduce;
* ``"guide"`` ``(G, P, P)`` -- the guide on the reference grid, when the data has one (PAN/MS pairs);
  cube datasets have none: the trainer synthesises it with a spectral response;
* ``"lr"`` ``(C, p, p)`` -- only for data shipped with its own low-resolution input (PanCollection);
  the trainer then skips its random degradation.

Keys: ``dataset[key]`` accepts any non-negative integer. Key ``k`` reads image ``k % n_images`` with a
crop drawn from ``keyed_rng(seed, k)``; :class:`fusion.data.sampling.StepBatchSampler` hands out keys
``epoch * len(dataset) + index`` so that every epoch sees new crops while any batch stays a pure
function of ``(seed, step, rank)``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from fusion.data.patches import centre_window, keyed_rng, random_flip, random_window
from fusion.errors import InputError

CROPS = ("random", "centre", "full")
Sample = dict[str, torch.Tensor]


def pair_of(value: int | Sequence[int]) -> tuple[int, int]:
    """``64`` -> ``(64, 64)``; ``(48, 64)`` stays."""
    pair = (int(value), int(value)) if isinstance(value, (int, float)) else tuple(int(v) for v in value)
    if len(pair) != 2 or min(pair) < 1:
        raise InputError(f"patch must be a positive size or a (height, width) pair, got {value!r}")
    return pair


def find_files(root: str | os.PathLike, patterns: str | Sequence[str], what: str) -> list[Path]:
    """Files under folder ``root`` matching any glob in ``patterns`` (sorted, no duplicates)."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: dataset folder not found")
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    found = sorted({p for pattern in patterns for p in root.glob(pattern) if p.is_file()})
    if not found:
        raise InputError(f"{root}: no {what} matching {', '.join(patterns)}")
    return found


class PerProcess:
    """Handles (rasterio datasets, h5py files) opened lazily, once per process and key.

    File handles do not survive a fork or pickling into DataLoader workers, so each process opens
    its own on first use: ``handles.get(key)`` calls ``opener(key)`` the first time in a process.
    """

    def __init__(self, opener: Callable[[Any], Any]):
        self.opener = opener
        self._handles: dict[Any, Any] = {}
        self._pid = os.getpid()

    def get(self, key):
        if self._pid != os.getpid():
            self._handles, self._pid = {}, os.getpid()
        if key not in self._handles:
            self._handles[key] = self.opener(key)
        return self._handles[key]

    def __getstate__(self):
        return {**self.__dict__, "_handles": {}}


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """A float32 tensor owning a contiguous copy of ``array`` (crops of cached images are views)."""
    return torch.from_numpy(np.array(array, dtype=np.float32, order="C"))


class FusionDataset(Dataset):
    """Base class: subclasses set ``bands``, ``guide_bands``, ``wavelengths_nm``, ``scale`` and implement
    :attr:`n_images` and :meth:`read`.

    Args:
        patch: crop size (one number or ``(h, w)``) on the reference grid; ``None`` reads whole images.
        crop: ``"random"`` (training), ``"centre"`` (deterministic validation) or ``"full"``.
        samples_per_image: random crops per image and epoch (the epoch length is ``n_images`` times it).
        augment: random flips and transposes (random crops only).
        seed: seed of the crops and flips.
        region: ``[[top, bottom], [left, right]]`` (Python slice bounds, ``None`` for open ends) of
            every image that crops are taken from, e.g. to hold out part of a scene for validation.
    """

    bands: int
    guide_bands: int | None = None
    wavelengths_nm: tuple[float, ...] | None = None
    scale: float = 1.0
    supports_region = True  # False where crops are aligned with an LR grid instead of :meth:`window`

    def __init__(
        self,
        patch=64,
        crop: str = "random",
        samples_per_image: int = 16,
        augment: bool = True,
        seed: int = 0,
        region=None,
    ):
        if region is not None and not self.supports_region:
            raise InputError(f"dataset {self.registered_name!r} does not support region")
        if region is not None and (len(region) != 2 or any(len(bounds) != 2 for bounds in region)):
            raise InputError(f"region must be [[top, bottom], [left, right]], got {region!r}")
        self.region = None if region is None else tuple(slice(*bounds) for bounds in region)
        if crop not in CROPS:
            raise InputError(f"crop must be one of {', '.join(CROPS)}, got {crop!r}")
        self.patch = None if patch is None else pair_of(patch)
        self.crop = "full" if self.patch is None else crop
        if samples_per_image < 1:
            raise InputError(f"samples_per_image must be positive, got {samples_per_image}")
        self.samples_per_image = int(samples_per_image)
        self.augment, self.seed = bool(augment), int(seed)

    @property
    def n_images(self) -> int:
        raise NotImplementedError

    def read(self, image: int, rng: np.random.Generator | None) -> Sample:
        """Sample of image ``image`` (``rng`` is ``None`` for deterministic crops)."""
        raise NotImplementedError

    def __len__(self) -> int:
        return self.n_images * (self.samples_per_image if self.crop == "random" else 1)

    def __getitem__(self, key: int) -> Sample:
        key = int(key)
        if key < 0:
            raise IndexError(f"sample keys are non-negative, got {key}")
        rng = keyed_rng(self.seed, key) if self.crop == "random" else None
        sample = self.read(key % len(self) % self.n_images, rng)
        return random_flip(sample, rng) if self.augment and rng is not None else sample

    def window(self, size: tuple[int, int], rng: np.random.Generator | None) -> tuple[slice, slice]:
        """The crop of an image of ``size`` on the reference grid (inside ``region``), as row and column
        slices."""
        bounds = [(0, n) for n in size]
        if self.region is not None:
            bounds = [part.indices(n)[:2] for part, n in zip(self.region, size, strict=True)]
            if any(stop <= start for start, stop in bounds):
                raise InputError(f"region {self.region} is empty in an image of size {tuple(size)}")
        inner = tuple(stop - start for start, stop in bounds)
        if self.crop == "full":
            rows, cols = slice(0, inner[0]), slice(0, inner[1])
        elif self.crop == "centre" or rng is None:
            rows, cols = centre_window(inner, self.patch)
        else:
            rows, cols = random_window(inner, self.patch, rng)
        (top, _), (left, _) = bounds
        return slice(rows.start + top, rows.stop + top), slice(cols.start + left, cols.stop + left)

    def describe(self) -> dict:
        """Band metadata recorded in checkpoints."""
        return {
            "lr_bands": self.bands,
            "guide_bands": self.guide_bands,
            "band_centres_nm": None
            if self.wavelengths_nm is None
            else [float(nm) for nm in self.wavelengths_nm],
            "data_scale": self.scale,
        }
