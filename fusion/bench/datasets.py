"""Scenes of the quality benchmark, found under a data root (``../shared/data`` or ``$FUSION_DATA``).

Reduced resolution (the reference is known):

* HSI cubes (CAVE, AVIRIS, Houston): :func:`fusion.degrade.simulate` makes the guide through a sensor's
  spectral responses (CAVE: the Nikon D700 RGB; AVIRIS, Houston: the Landsat-8 OLI PAN) and the LR cube
  by blurring with the generic MTF and decimating at pixel centres, as the training tasks in
  ``configs/train/tasks`` do; the cube is the reference.
* Real PAN/MS pairs (WorldView-2): Wald's protocol, :func:`fusion.degrade.reduce_pair` at each ratio (the
  MS is the reference, the PAN is resized onto its grid), as :func:`fusion.metrics.evaluate_reduced`.

Full resolution (no reference): the WorldView-2 pair, the Landsat-8 Pamplona pair shipped in
``fusion/sample_data`` (reflectance x 10000 taken as DN) and the Houston HS + RGB pair (fused with the RGB
guide; D_S against the mean of the RGB bands as PAN).

Every image is ``(1, C, H, W)`` float64 in digital numbers, as the ``reference`` metric convention
wants; ``scale`` is what the training tasks divide the data by (checkpoints see ``[0, 1]`` values).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fusion.errors import InputError

LANDSAT_DN_PER_REFLECTANCE = 10000.0


def default_data_root() -> Path:
    """``$FUSION_DATA`` if set, else ``../shared/data`` (next to a checkout, as the tests assume)."""
    return Path(os.environ.get("FUSION_DATA", "../shared/data"))


@dataclass(frozen=True)
class CubeSource:
    """HSI cubes matching ``pattern`` under the data root, simulated into pairs through ``sensor``."""

    name: str
    pattern: str
    sensor: str
    guide: str  # "msi" or "pan": which of the sensor's responses makes the guide
    scale: float
    wavelengths_nm: tuple[float, float] | None = None  # (first, last) when the files have none
    drop_empty_bands: bool = False


@dataclass(frozen=True)
class PairSource:
    """Real PAN/MS pairs (``.npz`` with ``pan (H, W)`` and ``ms (h, w, C)``) matching ``pattern``."""

    name: str
    pattern: str
    sensor: str
    scale: float


CUBES = (
    CubeSource("cave", "hsi/cave_*.npz", "nikon_d700", "msi", 65535.0),
    CubeSource("aviris", "hsi/aviris_*.npz", "landsat8_oli", "pan", 10000.0, drop_empty_bands=True),
    CubeSource("houston", "hsi/houston*.npz", "landsat8_oli", "pan", 65535.0, wavelengths_nm=(380.0, 1050.0)),
)
PAIRS = (PairSource("wv2", "pansharpening/wv2_*.npz", "worldview2", 2047.0),)
FULL_DATASETS = ("wv2", "landsat8", "houston")
REDUCED_DATASETS = tuple(s.name for s in CUBES + PAIRS)
DESCRIPTIONS = {
    "cave": "CAVE cubes (31 bands, 400-700 nm, 512 x 512, 16-bit DN); RGB guide through the Nikon D700 "
    "response; LR blurred with the generic MTF (GNyq 0.3), decimated at pixel centres.",
    "aviris": "AVIRIS cube (181 non-empty of 224 bands, 90 x 90, reflectance x 10000); PAN through the "
    "Landsat-8 OLI panchromatic response; generic MTF. Q2n skipped (more than 64 bands).",
    "houston": "Houston 2018 HS cube (48 bands, 128 x 128); PAN through the Landsat-8 OLI panchromatic "
    "response; generic MTF.",
    "wv2": "WorldView-2 pair (8-band MS 320 x 320, 11-bit DN): Wald's protocol, the MS is the reference, "
    "reduced with the WorldView-2 MTF; the PAN is resized onto the MS grid (bicubic imresize).",
    "wv2:full": "WorldView-2 PAN 1280 x 1280 + 8-band MS 320 x 320 (ratio 4, 11-bit DN).",
    "landsat8:full": "Landsat-8 Pamplona sample shipped in fusion/sample_data (PAN 15 m + 4-band MS 30 m, "
    "ratio 2; reflectance x 10000 as DN).",
    "houston:full": "Houston 2018 HS (48 bands) + real RGB (ratio 4), fused with the RGB guide; D_S "
    "against the mean of the RGB bands (the RGB has a black no-data patch, included).",
}
"""One line per data set (``NAME:full`` at full resolution) for the tables."""


@dataclass
class CubeScene:
    """A cube ``(1, C, H, W)`` whose reduced-resolution pairs are simulated at any ratio."""

    dataset: str
    name: str
    cube: torch.Tensor
    wavelengths_nm: tuple[float, ...]
    sensor: str
    guide_kind: str
    scale: float

    def inputs(self, ratio: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(lr (1, C, h, w), guide (1, G, H, W), reference (1, C, H, W))`` at ``ratio``."""
        from fusion.degrade import simulate

        sim = simulate(
            self.cube, self.sensor, ratio, guide=self.guide_kind, wavelengths_nm=self.wavelengths_nm,
            phase="centre",
        )  # fmt: skip
        return sim.lr, sim.guide, sim.gt

    def crop(self, size: int) -> CubeScene:
        return CubeScene(
            self.dataset, self.name, centre_crop(self.cube, size), self.wavelengths_nm, self.sensor,
            self.guide_kind, self.scale,
        )  # fmt: skip


@dataclass
class PairScene:
    """A real pair ``guide (1, G, H, W)``, ``lr (1, C, h, w)`` with an integer ratio ``H / h``."""

    dataset: str
    name: str
    guide: torch.Tensor
    lr: torch.Tensor
    sensor: str | None
    scale: float
    wavelengths_nm: tuple[float, ...] | None = None
    pan: torch.Tensor | None = None  # the one-band image D_S compares with (default: the guide)

    @property
    def ratio(self) -> int:
        return self.guide.shape[-2] // self.lr.shape[-2]

    def inputs(self, ratio: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Wald's reduced pair at ``ratio``: ``(lr_reduced, guide_reduced, reference = lr)``."""
        from fusion.degrade import reduce_pair

        guide, lr, reference = reduce_pair(self.guide, self.lr, ratio, self.sensor)
        return lr, guide, reference

    def crop(self, size: int) -> PairScene:
        """The centre ``size x size`` LR pixels (the reduced-resolution reference) and their guide pixels."""
        r = self.ratio
        lr = centre_crop(self.lr, size)
        top = (self.lr.shape[-2] - lr.shape[-2]) // 2 * r
        left = (self.lr.shape[-1] - lr.shape[-1]) // 2 * r
        rows, cols = slice(top, top + lr.shape[-2] * r), slice(left, left + lr.shape[-1] * r)
        pan = None if self.pan is None else self.pan[..., rows, cols]
        return PairScene(
            self.dataset, self.name, self.guide[..., rows, cols], lr, self.sensor, self.scale,
            self.wavelengths_nm, pan,
        )  # fmt: skip


def centre_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """The centre ``size x size`` pixels of ``x (..., H, W)`` (the whole axis where shorter)."""
    h, w = x.shape[-2:]
    ch, cw = min(size, h), min(size, w)
    top, left = (h - ch) // 2, (w - cw) // 2
    return x[..., top : top + ch, left : left + cw]


def _as_image(array: np.ndarray, bands_last: bool) -> torch.Tensor:
    """``(H, W)`` or ``(H, W, C)`` (``bands_last``) / ``(C, H, W)`` array -> ``(1, C, H, W)`` float64."""
    x = np.asarray(array, dtype=np.float64)
    if x.ndim == 2:
        x = x[None]
    elif bands_last:
        x = np.moveaxis(x, -1, 0)
    return torch.from_numpy(np.ascontiguousarray(x))[None]


def _files(root: Path, pattern: str) -> list[Path]:
    return sorted(root.glob(pattern))


def load_cubes(root: Path, source: CubeSource) -> list[CubeScene]:
    """The cubes of ``source`` under ``root`` in stored DN (empty list when there are none)."""
    from fusion.data.cubes import load_cube
    from fusion.data.hsi import drop_empty_bands_of, given_wavelengths

    cubes = [load_cube(path, scale=1.0) for path in _files(root, source.pattern)]
    if source.wavelengths_nm is not None:
        cubes = [given_wavelengths(cube, source.wavelengths_nm) for cube in cubes]
    if cubes and source.drop_empty_bands:
        cubes = drop_empty_bands_of(cubes)
    for cube in cubes:
        if cube.wavelengths_nm is None:
            raise InputError(f"{cube.path}: the cube has no band wavelengths; cannot simulate its guide")
    return [
        CubeScene(
            source.name,
            cube.path.stem,
            _as_image(cube.data, bands_last=False),
            cube.wavelengths_nm,
            source.sensor,
            source.guide,
            source.scale,
        )  # fmt: skip
        for cube in cubes
    ]


def load_pairs(root: Path, source: PairSource) -> list[PairScene]:
    """The PAN/MS pairs of ``source`` under ``root``."""
    scenes = []
    for path in _files(root, source.pattern):
        with np.load(path) as data:
            if "pan" not in data or "ms" not in data:
                raise InputError(f"{path}: a PAN/MS pair needs arrays 'pan' and 'ms'")
            guide, lr = _as_image(data["pan"], True), _as_image(data["ms"], True)
        if guide.shape[-2] % lr.shape[-2] or guide.shape[-1] * lr.shape[-2] != guide.shape[-2] * lr.shape[-1]:
            raise InputError(f"{path}: PAN {tuple(guide.shape[-2:])} is not an integer multiple of the MS")
        wavelengths = sensor_wavelengths(source.sensor, lr.shape[1])
        scenes.append(PairScene(source.name, path.stem, guide, lr, source.sensor, source.scale, wavelengths))
    return scenes


def sensor_wavelengths(sensor: str, bands: int) -> tuple[float, ...] | None:
    """The sensor preset's band centres when it has ``bands`` bands (files of pairs carry none)."""
    from fusion.degrade import get_sensor

    preset = get_sensor(sensor)
    return tuple(preset.wavelengths_nm) if preset.n_bands == bands else None


def houston_rgb(root: Path) -> list[PairScene]:
    """The Houston HS cube with its real RGB image (ratio 4); the RGB's band mean is the PAN of D_S."""
    scenes = []
    for path in _files(root, "hsi/houston*.npz"):
        with np.load(path) as data:
            if "rgb" not in data:
                continue
            hs, rgb = _as_image(data["hs"], True), _as_image(data["rgb"], True)
        source = next(s for s in CUBES if s.name == "houston")
        wavelengths = tuple(np.linspace(*source.wavelengths_nm, hs.shape[1]).tolist())
        pan = rgb.mean(dim=1, keepdim=True)
        scenes.append(PairScene("houston", path.stem, rgb, hs, None, source.scale, wavelengths, pan))
    return scenes


def landsat8_sample() -> list[PairScene]:
    """The Landsat-8 Pamplona PAN/MS sample on a common grid (reflectance x 10000; needs rasterio)."""
    from fusion.io import open_pair, plan_tiles, sample_pair

    guide_path, lr_path = sample_pair()
    with open_pair(guide_path, lr_path, sensor="landsat8_oli") as scene:
        ry, rx = scene.ratio
        if ry != rx or ry.denominator != 1:
            raise InputError(f"{lr_path}: expected an integer ratio for both axes, got {ry} and {rx}")
        data = scene.read_tile(plan_tiles(scene.shape, scene.ratio, None, 0)[0])
        wavelengths, shape = tuple(scene.lr.wavelengths), scene.shape
    r = int(ry)
    h, w = shape[0] // r, shape[1] // r  # whole LR pixels inside the output grid
    guide = data.guide[..., : h * r, : w * r].double() * LANDSAT_DN_PER_REFLECTANCE
    lr = data.lr[..., :h, :w].double() * LANDSAT_DN_PER_REFLECTANCE
    known = wavelengths if all(nm is not None for nm in wavelengths) else None
    return [PairScene("landsat8", "landsat8_pamplona", guide, lr, "landsat8_oli", 1.0, known)]


def reduced_scenes(root: Path, names: Sequence[str] | None = None) -> list[CubeScene | PairScene]:
    """Every reduced-resolution scene under ``root`` whose data set is in ``names`` (default: all)."""
    scenes: list[CubeScene | PairScene] = []
    for source in CUBES:
        if names is None or source.name in names:
            scenes += load_cubes(root, source)
    for source in PAIRS:
        if names is None or source.name in names:
            scenes += load_pairs(root, source)
    return scenes


def full_scenes(root: Path, names: Sequence[str] | None = None) -> list[PairScene]:
    """Every real full-resolution pair: WorldView-2 and Houston under ``root``, the Landsat-8 sample."""
    wanted = FULL_DATASETS if names is None else [n for n in FULL_DATASETS if n in names]
    scenes: list[PairScene] = []
    if "wv2" in wanted:
        scenes += [s for source in PAIRS for s in load_pairs(root, source)]
    if "landsat8" in wanted:
        scenes += landsat8_sample()
    if "houston" in wanted:
        scenes += houston_rgb(root)
    return scenes
