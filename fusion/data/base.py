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
from collections.abc import Sequence
from pathlib import Path

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
    """

    bands: int
    guide_bands: int | None = None
    wavelengths_nm: tuple[float, ...] | None = None
    scale: float = 1.0

    def __init__(
        self, patch=64, crop: str = "random", samples_per_image: int = 16, augment: bool = True, seed: int = 0
    ):
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
        """The crop of an image of ``size`` on the reference grid, as row and column slices."""
        if self.crop == "full":
            return slice(0, size[0]), slice(0, size[1])
        if self.crop == "centre" or rng is None:
            return centre_window(size, self.patch)
        return random_window(size, self.patch, rng)

    def describe(self) -> dict:
        """Band metadata recorded in checkpoints."""
        return {
            "lr_bands": self.bands,
            "guide_bands": self.guide_bands,
            "band_centres_nm": None if self.wavelengths_nm is None else list(self.wavelengths_nm),
            "data_scale": self.scale,
        }
