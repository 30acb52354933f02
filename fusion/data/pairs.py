"""PAN/MS (or MSI/HS) pairs without a reference, trained under Wald's protocol.

The low-resolution image of a pair is the reference (``"gt"``); the guide is reduced to its grid by
:func:`fusion.degrade.reduce_pair` at the pair's own ratio (bicubic ``imresize`` as the toolbox, or the
PAN's MTF with ``guide_mtf=True``). The trainer then degrades ``"gt"`` at random ratios, so the model
learns to undo degradations at the scale below the data's own, which is the protocol's assumption.

* ``pan-ms-pairs``: small pairs read whole into memory -- ``.npz`` files holding both images (keys
  ``guide_key``/``lr_key``, images ``(H, W)`` or ``(H, W, C)``), and GeoTIFF pairs matched by name
  (``*_pan.tif`` with ``*_ms.tif``), assumed to cover the same extent.
* ``geotiff-scenes``: large georeferenced pairs opened with :func:`fusion.io.open_pair` and read
  window by window; windows start on the LR grid where LR pixel edges meet guide pixel edges, so LR
  and guide windows cover the same extent for any (rational) ratio.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from fusion.data.base import FusionDataset, PerProcess, Sample, find_files, to_tensor
from fusion.data.cubes import WAVELENGTH_KEYS, _read_arrays, bands_first, default_scale, pick_array
from fusion.data.patches import aligned_window
from fusion.degrade import reduce_pair
from fusion.errors import InputError
from fusion.registry import DATASETS

INVALID_RETRIES = 8  # random windows drawn before accepting one with nodata pixels


def match_pairs(root, guide: str, lr: str, required: bool = True) -> list[tuple[Path, Path]]:
    """``(guide, lr)`` files of ``root`` whose names match the two globs with the same ``*`` part."""

    def key(path: Path, pattern: str) -> str:
        head, _, tail = pattern.partition("*")
        return path.name[len(head) : len(path.name) - len(tail)]

    for pattern in (guide, lr):
        if pattern.count("*") != 1:
            raise InputError(f"pair pattern {pattern!r} must contain exactly one '*'")
    try:
        guides = find_files(root, guide, "guide files")
    except InputError:
        if required or not Path(root).is_dir():
            raise
        return []
    partners = {key(p, lr): p for p in Path(root).glob(lr)}
    pairs = []
    for path in guides:
        if key(path, guide) not in partners:
            raise InputError(f"{path}: no low-resolution partner matching {lr!r} in {root}")
        pairs.append((path, partners[key(path, guide)]))
    return pairs


def check_bands(path: Path, found: tuple[int, int], expected: tuple[int, int]) -> None:
    """Every pair must have the first pair's ``(LR bands, guide bands)``."""
    if found != expected:
        raise InputError(f"{path}: has {found[0]} LR + {found[1]} guide bands, the first pair {expected}")


def reduced_guide(guide: torch.Tensor, lr: torch.Tensor, ratio, sensor, guide_mtf: bool) -> torch.Tensor:
    """``guide (G, H, W)`` reduced onto the grid of ``lr (C, h, w)`` as Wald's protocol does it."""
    return reduce_pair(guide[None], lr[None], ratio=ratio, sensor=sensor, guide_mtf=guide_mtf)[0][0]


@DATASETS.register("pan-ms-pairs")
class PanMSPairs(FusionDataset):
    """Small guide/LR pairs from ``.npz`` files and ``*_pan.tif``/``*_ms.tif`` GeoTIFF pairs in ``root``.

    Args:
        files: globs of ``.npz`` pair files. guide_key, lr_key: their array names.
        tif_pairs: ``(guide_glob, lr_glob)`` of GeoTIFF pairs, each with one ``*`` (read via fusion.io).
        sensor: preset for the MTF gains (``guide_mtf`` uses its PAN gain). scale: divisor of the stored
            values of both images (default from the LR type, e.g. 2047 should be given for 11-bit data).
        Crop arguments (on the LR grid): :class:`FusionDataset`.
    """

    def __init__(
        self,
        root,
        files="*.npz",
        guide_key: str = "pan",
        lr_key: str = "ms",
        tif_pairs=("*_pan.tif", "*_ms.tif"),
        sensor: str | None = None,
        guide_mtf: bool = False,
        scale: float | None = None,
        **crop,
    ):
        super().__init__(**crop)
        if not Path(root).is_dir():
            raise InputError(f"{root}: dataset folder not found")
        npz = sorted(p for p in Path(root).glob(files) if p.is_file() and p.suffix == ".npz")
        tifs = match_pairs(root, *tif_pairs, required=False)
        if not npz and not tifs:
            raise InputError(f"{root}: no pair files matching {files!r} or {tif_pairs[0]!r}/{tif_pairs[1]!r}")
        loaded = [self._load_npz(p, guide_key, lr_key) for p in npz] + [
            self._load_tifs(*pair) for pair in tifs
        ]
        self.scale = float(scale) if scale is not None else default_scale(loaded[0][1].dtype)
        self.images = [self._prepare(path, guide, lr, sensor, guide_mtf) for path, lr, guide, _ in loaded]
        self.bands, self.guide_bands = self.images[0][0].shape[0], self.images[0][1].shape[0]
        self.wavelengths_nm = loaded[0][3]
        for (path, *_), (lr, guide) in zip(loaded, self.images, strict=True):
            check_bands(path, (lr.shape[0], guide.shape[0]), (self.bands, self.guide_bands))

    @staticmethod
    def _load_npz(path: Path, guide_key: str, lr_key: str):
        arrays = _read_arrays(path)
        guide, lr = (pick_array(arrays, (key,), path, key) for key in (guide_key, lr_key))
        if guide is None or lr is None:
            raise InputError(f"{path}: needs arrays {guide_key!r} and {lr_key!r}, has {', '.join(arrays)}")
        wavelengths = pick_array(arrays, WAVELENGTH_KEYS, path, "wavelengths")
        return (
            path,
            bands_first(lr, path),
            bands_first(guide, path),
            None if wavelengths is None else tuple(map(float, wavelengths)),
        )

    @staticmethod
    def _load_tifs(guide_path: Path, lr_path: Path):
        from fusion.io import read_raster

        (guide, _), (lr, info) = read_raster(guide_path), read_raster(lr_path)
        wavelengths = None if any(w is None for w in info.wavelengths) else tuple(info.wavelengths)
        return lr_path, lr, guide, wavelengths

    def _prepare(
        self, path, guide: np.ndarray, lr: np.ndarray, sensor, guide_mtf
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scaled float32 ``(lr, reduced guide)`` on the LR grid."""
        if guide.shape[1] <= lr.shape[1] or guide.shape[2] <= lr.shape[2]:
            raise InputError(f"{path}: guide {guide.shape[1:]} is not finer than the LR image {lr.shape[1:]}")
        lr_t = torch.from_numpy(np.asarray(lr, dtype=np.float64) / self.scale)
        guide_t = torch.from_numpy(np.asarray(guide, dtype=np.float64) / self.scale)
        small = reduced_guide(guide_t, lr_t, None, sensor, guide_mtf)
        return lr_t.float().numpy(), small.float().numpy()

    @property
    def n_images(self) -> int:
        return len(self.images)

    def read(self, image: int, rng) -> Sample:
        lr, guide = self.images[image]
        rows, cols = self.window(lr.shape[-2:], rng)
        return {"gt": to_tensor(lr[:, rows, cols]), "guide": to_tensor(guide[:, rows, cols])}


@DATASETS.register("geotiff-scenes")
class GeoTiffScenes(FusionDataset):
    """Large GeoTIFF guide/LR scenes read in random windows through :func:`fusion.io.open_pair`.

    (No ``region``: hold out a scene, or a file cut from one, for validation.)

    Args:
        guide, lr: globs (one ``*`` each) pairing the files of ``root`` by the ``*`` part.
        patch: window size on the (virtual) LR grid; ``patch * ratio`` must be whole guide pixels.
        sensor, guide_mtf: as :class:`PanMSPairs`. scale: divisor of stored values (default 1).
        reproject: warp LR files in another CRS to the guide's (see :func:`fusion.io.open_pair`).
    """

    supports_region = False

    def __init__(
        self,
        root,
        guide: str = "*_pan.tif",
        lr: str = "*_ms.tif",
        sensor: str | None = None,
        guide_mtf: bool = False,
        scale: float = 1.0,
        reproject: bool = False,
        **crop,
    ):
        super().__init__(**crop)
        self.pairs = match_pairs(root, guide, lr)
        self.sensor, self.guide_mtf, self.scale, self.reproject = (
            sensor,
            bool(guide_mtf),
            float(scale),
            reproject,
        )
        self._scenes = PerProcess(self._open)
        self.geometry = []  # per scene: (LR grid size, ratio (y, x) as fractions)
        for index in range(len(self.pairs)):
            scene = self._scene(index)
            lr_size = tuple(
                m.size * m.ratio.denominator // m.ratio.numerator for m in (scene.rows, scene.cols)
            )
            self.geometry.append((lr_size, scene.ratio))
            aligned_window(lr_size, scene.ratio, self._lr_patch(lr_size, scene.ratio), None)  # fits?
            bands = (scene.lr.count, scene.guide.count)
            wavelengths = scene.lr.wavelengths
            if index == 0:
                self.bands, self.guide_bands = bands
                self.wavelengths_nm = None if any(w is None for w in wavelengths) else tuple(wavelengths)
            check_bands(scene.lr.path, bands, (self.bands, self.guide_bands))

    def _lr_patch(self, lr_size, ratio) -> tuple[int, int]:
        if self.patch is not None:
            return self.patch
        return tuple(n // r.denominator * r.denominator for n, r in zip(lr_size, ratio, strict=True))

    def _scene(self, index: int):
        """The open scene ``index`` of this process."""
        return self._scenes.get(index)

    def _open(self, index: int):
        from fusion.io import open_pair

        return open_pair(*self.pairs[index], reproject=self.reproject)

    @property
    def n_images(self) -> int:
        return len(self.pairs)

    def read(self, image: int, rng) -> Sample:
        scene = self._scene(image)
        lr_size, ratio = self.geometry[image]
        lr_patch = self._lr_patch(lr_size, ratio)
        for _ in range(INVALID_RETRIES if rng is not None else 1):
            lr_win, guide_win = aligned_window(lr_size, ratio, lr_patch, rng)
            lr, lr_bad = scene.read_lr(*((s.start, s.stop) for s in lr_win))
            guide, guide_bad = scene.read_guide(*((s.start, s.stop) for s in guide_win))
            if not (lr_bad.any() or guide_bad.any()):
                break
        ratio_yx = tuple(float(r) for r in ratio)
        small = reduced_guide(
            guide.double() / self.scale, lr.double() / self.scale, ratio_yx, self.sensor, self.guide_mtf
        )
        return {"gt": (lr / self.scale).float(), "guide": small.float()}
