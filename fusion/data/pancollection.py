"""``pancollection``: PanCollection ``.h5`` files (keys ``gt``, ``ms``, ``lms``, ``pan``; ``(N, C, H, W)``).

Each entry is a reduced-resolution training triple made by the collection's own protocol (ratio 4):
``gt`` the reference, ``ms`` its LR version, ``pan`` the guide on the reference grid (``lms``, the
upsampled ``ms``, is not used: models upsample themselves). With ``use_lr=True`` (default) samples
carry ``"lr"`` and the trainer uses it as is; with ``use_lr=False`` it degrades ``"gt"`` itself at
random ratios. h5py is imported on first use and files are opened lazily in each worker process.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from fusion.data.base import FusionDataset, PerProcess, Sample, find_files, to_tensor
from fusion.data.patches import aligned_window
from fusion.errors import InputError
from fusion.registry import DATASETS

KEYS = ("gt", "ms", "pan")


def open_h5(path: Path):
    """``path`` opened read-only with h5py (imported here: only this dataset needs it)."""
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"{path}: not a readable HDF5 file ({exc})") from None


@DATASETS.register("pancollection")
class PanCollection(FusionDataset):
    """Entries of one or more PanCollection ``.h5`` files.

    Args:
        root: an ``.h5`` file or a folder of them (``files`` globs). scale: divisor of the stored DN
            (2047 for the 11-bit WorldView-3/QuickBird sets; 1023 for GaoFen-2). use_lr: see module.
        patch: crop of ``gt``/``pan`` (a multiple of the ratio when ``use_lr``); ``None``: whole entries.
    """

    supports_region = False  # entries are small patches already

    def __init__(self, root, files="*.h5", scale: float = 2047.0, use_lr: bool = True, **crop):
        super().__init__(**crop)
        root = Path(root)
        self.paths = [root] if root.is_file() else find_files(root, files, "PanCollection .h5 files")
        self.scale, self.use_lr = float(scale), bool(use_lr)
        self._files = PerProcess(open_h5)
        self.index: list[tuple[int, int]] = []  # (file, entry)
        shapes = set()
        for number, path in enumerate(self.paths):
            stream = self._file(path)
            missing = [k for k in KEYS if k not in stream]
            if missing:
                raise InputError(
                    f"{path}: PanCollection file lacks {', '.join(missing)} (has {', '.join(stream)})"
                )
            gt, ms, pan = (stream[k].shape for k in KEYS)
            if len(gt) != 4 or gt[0] != ms[0] or gt[0] != pan[0] or gt[2:] != pan[2:] or gt[1] != ms[1]:
                raise InputError(f"{path}: inconsistent shapes gt {gt}, ms {ms}, pan {pan}")
            shapes.add((gt[1:], ms[2:], pan[1]))
            self.index += [(number, entry) for entry in range(gt[0])]
        if len(shapes) != 1:
            raise InputError(f"{root}: PanCollection files differ in shape: {sorted(shapes)}")
        ((gt_shape, ms_size, self.guide_bands),) = shapes
        self.bands, self.ratio = (
            gt_shape[0],
            tuple(Fraction(g, m) for g, m in zip(gt_shape[1:], ms_size, strict=True)),
        )
        if self.patch is not None and self.use_lr:
            for p, r in zip(self.patch, self.ratio, strict=True):
                if (p / r).denominator != 1:
                    raise InputError(f"{root}: patch {self.patch} is not a multiple of the ratio {r}")

    def _file(self, path: Path):
        """The open h5py file of this process."""
        return self._files.get(path)

    @property
    def n_images(self) -> int:
        return len(self.index)

    def read(self, image: int, rng) -> Sample:
        number, entry = self.index[image]
        stream = self._file(self.paths[number])
        gt, pan = (np.asarray(stream[k][entry]) / self.scale for k in ("gt", "pan"))
        if not self.use_lr:
            rows, cols = self.window(gt.shape[-2:], rng)
            return {"gt": to_tensor(gt[:, rows, cols]), "guide": to_tensor(pan[:, rows, cols])}
        ms = np.asarray(stream["ms"][entry]) / self.scale
        lr_patch = ms.shape[-2:]
        if self.patch is not None:
            lr_patch = tuple(int(p / r) for p, r in zip(self.patch, self.ratio, strict=True))
        (lr_rows, lr_cols), (rows, cols) = aligned_window(ms.shape[-2:], self.ratio, lr_patch, rng)
        return {
            "gt": to_tensor(gt[:, rows, cols]),
            "guide": to_tensor(pan[:, rows, cols]),
            "lr": to_tensor(ms[:, lr_rows, lr_cols]),
        }
