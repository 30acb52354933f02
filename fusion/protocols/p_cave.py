"""Protocol P-CAVE (issue 9): HSI-MSI fusion on CAVE cubes at ratio 4 and at the non-integer ratio 3.3.

The test case of a cube (:func:`make_case`):

* reference: the 256 x 256 centre crop of the cube (``(H, W, 31)`` uint16 divided by 65535), rows and
  columns ``(N - 256) // 2`` onwards;
* guide: the 3-band MSI ``R^T x`` per pixel, ``R`` the Nikon D700 response table interpolated
  (``np.interp``) at the 31 band centres (400:10:700 nm), each channel's weights summing to 1
  (:func:`fusion.degrade.sensor_srf`, channels R, G, B);
* low-resolution input (:func:`degrade_lr`): a Gaussian blur whose gain at the low-resolution Nyquist
  frequency is 0.3, ``sigma = r sqrt(-2 ln 0.3) / pi`` (1.976 px at ratio 4), with edge-replicated
  borders, then geometrically centred decimation: LR pixel ``k`` is the bilinear value of the blurred
  image at HR index ``r k + (r - 1) / 2`` (``4 k + 1.5`` at ratio 4)
  (:func:`fusion.degrade.mtf_blur` + :func:`fusion.degrade.decimate` with ``phase="centre"``).

Choices the issue leaves open, made here:

* The crop is degraded on its own (its borders replicated), so the LR input of a 256 crop at ratio 4
  is 64 x 64 and covers exactly the reference; the rest of the cube plays no part.
* Non-integer ratios: the LR size is ``round(256 / r)`` (78 at 3.3) and the LR grid covers the crop,
  so the ratio actually applied is ``256 / 78 = 3.282`` on both axes; the blur, the sample positions
  and ERGAS all use that effective ratio (as :class:`fusion.degrade.Degradation` and the trainer's
  validation do). A nominal 3.3 with 78 samples would cover 257.4 pixels, past the crop. Rows keep
  the nominal ratio; ``meta["effective_ratios"]`` records the applied one.
* Metrics on the whole crop, no border cut, no clipping of the prediction (the issue asks for none):
  PSNR with peak 1, SAM in degrees (mean over pixels), ERGAS at the effective ratio. Every method gets
  float32 inputs; metrics are computed in float64 against the float64 reference.
* ``bicubic``: Keys' bicubic (a = -0.5) interpolation of the LR image on the same centred grid
  (:func:`fusion.degrade.upsample` with ``phase="centre"``, mirrored borders).
* Classical methods (``gsa``, ``sfim-hs``, ``glp-hs``) run with their defaults: generic gains (0.3) for
  the LR and the guide, and their own interpolator (at ratio 4 the toolbox's 23-tap one, which places
  LR sample ``k`` at ``4 k + 2``, half a pixel from this protocol's ``4 k + 1.5``; Keys' bicubic on
  the centred grid at non-integer ratios).

Checkpoints (:func:`checkpoint_method`) run in eval mode, float32, no autocast, on values divided as
the training data were: a checkpoint whose ``meta.data_scale`` is not the cube's scale (65535) gets its
inputs rescaled accordingly. A checkpoint built for another guide response or other band centres is
refused. Leave-one-out checkpoints (``loo``) are scored only on the scene assigned to them; see
:func:`leave_one_out` and, for a folder of them named by the scene each was trained on,
:func:`loo_folder`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fusion.data import Cube, load_cube
from fusion.degrade import decimate, get_sensor, mtf_blur, sensor_srf, spectral_response, upsample
from fusion.degrade.resample import lr_size
from fusion.engine import pick_device
from fusion.engine.checkpoint import file_hash, load_checkpoint, read_checkpoint
from fusion.engine.fit import FINE_TUNE_LEARNING_RATE
from fusion.errors import InputError
from fusion.models import FusionModel
from fusion.models.consistency import BackProjected, back_project
from fusion.protocols.common import BP_SUFFIX, beats, mean_rows
from fusion.protocols.common import versus_best as common_versus_best
from fusion.protocols.methods import (
    Method,
    check_labels,
    checkpoint_label,
    classical_method,
    fitted_method,
    fresh_model,
    model_method,
    scored,
    split_fit_options,
    trained_on,
    training_files,
)

PROTOCOL = "p-cave"
CUBE_GLOB = "cave_*.npz"
CROP = 256
GNYQ = 0.3
GUIDE_SENSOR = "nikon_d700"
PHASE = "centre"
DEFAULT_RATIOS = (4.0, 3.3)
BICUBIC = "bicubic"
DEFAULT_METHODS = (BICUBIC, "gsa", "sfim-hs", "glp-hs")
"""Bicubic interpolation and the registry's classical methods that fuse a 31-band LR cube with a
3-band guide (``exp`` is the toolbox interpolation, covered by ``bicubic`` on the protocol's grid)."""
LOO_SUFFIX = "leave-one-out"
LOO_GLOB = "*_train_*.pt"
"""Leave-one-out checkpoints in a folder (:func:`loo_folder`): ``<anything>_train_<scene>.pt``."""
HIGHER_IS_BETTER = {"psnr": True, "sam": False, "ergas": False}
CLASSICAL = ("gsa", "sfim-hs", "glp-hs")
"""The classical methods an INR model of ours must beat (issue 7; bicubic is not one)."""

REFERENCE_NUMBERS = {
    "source": "issue 9, protocol P-CAVE: measured by the issue's author on three held-back CAVE scenes "
    "(mean), ratio 4; the public QIS-GAN and SS-INR code trained 8 minutes on one H200",
    "ratio": 4.0,
    "methods": {
        "bicubic": {"psnr": 31.10, "sam": 3.86, "ergas": 6.16},
        "ss-inr (public)": {"psnr": 31.03, "sam": 8.67, "ergas": 6.08},
        "qis-gan (public)": {"psnr": 39.51, "sam": 3.54, "ergas": 2.24, "parameters": 170_000,
                             "ms_per_256x256": 4.3},
    },
}  # fmt: skip
"""Reference numbers of the issue (held-back scenes, not the two in the developer data)."""

FIT_SENSOR = replace(
    get_sensor(None), name="P-CAVE", key="p-cave", aliases=(), default_gnyq=GNYQ, gnyq_pan=GNYQ,
    default_gnyq_pan=GNYQ,
)  # fmt: skip
"""The MTF a scene fit reduces the case with: the protocol's gain for the LR cube and for the guide
(the guide is the reference seen through the camera response, so the reference's blur is its blur)."""
L1_SAM_LOSS = {
    "name": "combination",
    "args": {"terms": [{"name": "l1", "weight": 1.0}, {"name": "sam", "weight": 0.1}]},
}
BACK_PROJECTION = {"gnyq": GNYQ, "phase": PHASE}
"""The LR image's MTF gain and sample phase, as :mod:`fusion.models.consistency` models them
(``run(back_projection=N)``); its PSF is evaluated at the sample centres where the protocol samples
the blurred image bilinearly, a small difference."""

DEFAULT_FIT_OPTIONS = {"loss": L1_SAM_LOSS, "patch": 32}
""":func:`fusion.engine.fit.fit_scene` options of a P-CAVE scene fit: the training configs' loss (L1 +
0.1 SAM) and 32-pixel patches of the LR image (64 pixels at ratio 4, 78 at 3.3), which is the target."""


def reference_rows() -> list[dict[str, Any]]:
    """:data:`REFERENCE_NUMBERS` as mean rows (``method``, ``ratio``, ``psnr``, ``sam``, ``ergas``)."""
    return [
        {"method": f"{name} [issue 9]", "ratio": REFERENCE_NUMBERS["ratio"],
         **{k: values[k] for k in ("psnr", "sam", "ergas")}, "scenes": 3}
        for name, values in REFERENCE_NUMBERS["methods"].items()
    ]  # fmt: skip


# -- the degradation ------------------------------------------------------------------------------
def blur_sigma(ratio: float, gnyq: float = GNYQ) -> float:
    """Standard deviation (HR pixels) of the Gaussian with gain ``gnyq`` at ``0.5 / ratio`` cycles/pixel."""
    return ratio * math.sqrt(-2 * math.log(gnyq)) / math.pi


def effective_ratio(size: int, ratio: float) -> float:
    """The ratio applied to ``size`` HR pixels: ``size / round(size / ratio)``."""
    return size / lr_size(size, ratio)


def degrade_lr(gt: torch.Tensor, ratio: float) -> torch.Tensor:
    """The protocol's LR input ``(B, C, round(H / r), round(W / r))`` of ``gt (B, C, H, W)``: Gaussian
    MTF blur (GNyq 0.3, replicate borders) at the effective ratio, then bilinear sampling at the LR
    pixel centres ``(k + 0.5) r - 0.5``."""
    out_size = (lr_size(gt.shape[-2], ratio), lr_size(gt.shape[-1], ratio))
    ratios = (gt.shape[-2] / out_size[0], gt.shape[-1] / out_size[1])
    return decimate(mtf_blur(gt, GNYQ, ratios), ratios, phase=PHASE, out_size=out_size)


def guide_response(wavelengths_nm, like: torch.Tensor | None = None) -> torch.Tensor:
    """The ``(3, C)`` Nikon D700 response at the cube's band centres, rows summing to 1."""
    return sensor_srf(GUIDE_SENSOR, wavelengths_nm, which="ms", like=like)


def centre_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """The ``size x size`` centre crop of ``x (..., H, W)``, starting at ``(H - size) // 2``."""
    height, width = x.shape[-2:]
    if min(height, width) < size:
        raise InputError(f"P-CAVE: a {size} x {size} crop does not fit an image of {height} x {width}")
    top, left = (height - size) // 2, (width - size) // 2
    return x[..., top : top + size, left : left + size]


def bicubic(lr: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    """The ``bicubic`` baseline: ``lr`` interpolated onto the guide's grid (centred phase)."""
    return upsample(lr, tuple(guide.shape[-2:]), method="bicubic", phase=PHASE)


@dataclass(frozen=True)
class Case:
    """One test case: ``lr (1, C, h, w)``, ``guide (1, 3, H, W)``, ``gt (1, C, H, W)`` (float64)."""

    scene: str
    ratio: float
    lr: torch.Tensor
    guide: torch.Tensor
    gt: torch.Tensor

    @property
    def effective_ratio(self) -> float:
        return 0.5 * (self.gt.shape[-2] / self.lr.shape[-2] + self.gt.shape[-1] / self.lr.shape[-1])


def make_case(cube: Cube, ratio: float, crop: int = CROP) -> Case:
    """The protocol's case for ``cube`` at ``ratio`` (see the module docstring)."""
    if cube.wavelengths_nm is None:
        raise InputError(f"{cube.path}: P-CAVE needs the band wavelengths to synthesise the guide")
    gt = centre_crop(torch.from_numpy(cube.data).double(), crop)[None]
    guide = spectral_response(gt, guide_response(cube.wavelengths_nm, like=gt))
    return Case(cube.path.stem, float(ratio), degrade_lr(gt, ratio), guide, gt)


# -- scenes and checkpoints -----------------------------------------------------------------------
def cube_folder(data_root: str | os.PathLike) -> Path:
    """The cube folder: ``data_root/hsi`` when it exists (the developer data folder), else ``data_root``."""
    root = Path(data_root)
    return root / "hsi" if (root / "hsi").is_dir() else root


def scene_paths(data_root, scenes: Iterable[str] | None = None) -> list[Path]:
    """The cube files to test: every ``cave_*.npz`` of the folder, or the named ``scenes`` (stems)."""
    folder = cube_folder(data_root)
    if scenes is None:
        paths = sorted(folder.glob(CUBE_GLOB))
        if not paths:
            raise InputError(f"{folder}: no {CUBE_GLOB} cubes for P-CAVE")
        return paths
    paths = [folder / (name if name.endswith(".npz") else f"{name}.npz") for name in scenes]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise InputError(f"P-CAVE: no such scene: {', '.join(missing)}")
    return paths


def check_checkpoint_fits(path, meta: Mapping[str, Any], cube: Cube) -> None:
    """Refuse a checkpoint trained with another guide response or other band centres than ``cube``'s."""
    guide = meta.get("guide_response")
    if guide is not None and (
        get_sensor(guide.get("sensor")).name != get_sensor(GUIDE_SENSOR).name or guide.get("bands") != "ms"
    ):
        raise InputError(f"{path}: trained with guide {guide}, not P-CAVE's {GUIDE_SENSOR} MSI")
    centres = meta.get("band_centres_nm")
    if (
        centres is not None
        and cube.wavelengths_nm is not None
        and (len(centres) != cube.bands or not np.allclose(centres, cube.wavelengths_nm, atol=0.5))
    ):
        raise InputError(f"{path}: trained on bands at {centres} nm, not {cube.path.name}'s")


def checkpoint_model(path, cubes: Mapping[str, Cube]) -> tuple[FusionModel, dict[str, Any], float]:
    """The model of checkpoint ``path``, its payload, and the divisor of ``cubes``' values that gives
    its training data's units (``meta.data_scale / cube scale``; 1 when they agree). Refuses a
    checkpoint that does not fit the cubes (:func:`check_checkpoint_fits`)."""
    model, payload = load_checkpoint(path)
    meta = payload.get("meta") or {}
    for cube in cubes.values():
        check_checkpoint_fits(path, meta, cube)
    cube_scale = next(iter(cubes.values())).scale
    return model, payload, float(meta.get("data_scale") or cube_scale) / cube_scale


def checkpoint_info(path, payload: Mapping[str, Any], scale: float) -> dict[str, Any]:
    """What a result's ``meta`` records of a checkpoint."""
    return {
        "model": payload["model"]["name"],
        "checkpoint": str(path),
        "sha256": file_hash(path),
        "step": payload.get("step"),
        "training_files": training_files(payload),
        "value_scale": scale,
    }


def checkpoint_method(
    path, cubes: Mapping[str, Cube], device: torch.device, label: str | None = None
) -> Method:
    """A checkpoint as a :class:`Method` scored on ``cubes`` (their stems), labelled ``label`` or
    ``"<model> (<file label>)"`` (:func:`checkpoint_label`), fed values in its training data's units
    (:func:`checkpoint_model`): inputs divided by that scale and outputs multiplied back when not 1."""
    model, payload, scale = checkpoint_model(path, cubes)
    if scale != 1.0:
        from fusion.engine.fit import Rescaled

        model = Rescaled(model, scale)
    info = checkpoint_info(path, payload, scale)
    label = label or f"{info['model']} ({checkpoint_label(path)})"
    method = model_method(model, label, device, kind="checkpoint", **info)
    method.scenes = frozenset(cubes)
    return method


def projection_args(iterations: int) -> dict[str, Any]:
    """``iterations`` back-projection steps with :data:`BACK_PROJECTION`: the keyword arguments of
    :func:`fusion.models.consistency.back_project` and :class:`~fusion.models.consistency.BackProjected`,
    and what a result records."""
    return {"iterations": iterations, **BACK_PROJECTION}


def back_projected(method: Method, iterations: int) -> Method:
    """``method`` with its output back-projected onto the LR input (:func:`fusion.models.consistency.
    back_project` with :data:`BACK_PROJECTION`, ``iterations`` steps), labelled ``"<label> + bp"``."""

    def fuse(lr: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        fused = method.fuse(lr, guide)
        return back_project(fused, lr, **projection_args(iterations)).to(fused.dtype)

    info = {**method.info, "back_projection": projection_args(iterations)}
    return Method(method.label + BP_SUFFIX, fuse, method.scenes, info)


def leave_one_out(checkpoints: Iterable, scenes: Iterable[str]) -> dict[str, list[str]]:
    """``{scene: [checkpoint, ...]}``: each checkpoint assigned to every scene (stem) whose file is not
    among the training files its config records; a checkpoint recording none is an error."""
    scenes = list(scenes)
    assignment: dict[str, list[str]] = {scene: [] for scene in scenes}
    for path in checkpoints:
        patterns = training_files(read_checkpoint(path))
        if patterns is None:
            raise InputError(f"{path}: records no training files, so its left-out scene is unknown")
        for scene in scenes:
            if not trained_on(patterns, f"{scene}.npz"):
                assignment[scene].append(str(path))
    return assignment


def trained_scene(path, scenes: Sequence[str]) -> str:
    """The scene (stem) that the leave-one-out checkpoint ``path`` was trained on, read from its name
    ``<anything>_train_<scene>.pt``: ``<scene>`` is one scene's stem or its last words (``balloons``
    for ``cave_balloons``, ``peppers`` for ``cave_fake_and_real_peppers``)."""
    token = Path(path).stem.rpartition("_train_")[2]
    matches = [scene for scene in scenes if scene == token or scene.endswith(f"_{token}")]
    if len(matches) != 1:
        which = "none" if not matches else f"several ({', '.join(matches)})"
        raise InputError(
            f"{path}: its name says it was trained on {token!r}, which names {which} of the P-CAVE "
            f"scenes {', '.join(scenes)}"
        )
    return matches[0]


def loo_label(payload: Mapping[str, Any]) -> str:
    """A leave-one-out checkpoint's label: ``"<model> + <prior> prior"`` for a model trained as a
    correction of a classical prior, else ``"<model> (leave-one-out)"``."""
    spec = payload["model"]
    prior = (spec.get("args") or {}).get("prior")
    if prior is None:
        return f"{spec['name']} ({LOO_SUFFIX})"
    return f"{spec['name']} + {prior if isinstance(prior, str) else prior['name']} prior"


def loo_folder(folder, scenes: Sequence[str]) -> dict[str, dict[str, str]]:
    """``{test scene: {label: path}}`` for the leave-one-out checkpoints of ``folder``: every
    :data:`LOO_GLOB` file, named by the scene it was trained on (:func:`trained_scene`), tested on each
    of the other ``scenes`` and labelled by :func:`loo_label`. Other files (e.g. ``*_both.pt``, trained
    on every scene) are not leave-one-out checkpoints and are left alone."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder of leave-one-out checkpoints")
    paths = sorted(folder.glob(LOO_GLOB))
    if not paths:
        raise InputError(f"{folder}: no leave-one-out checkpoints in it (files named {LOO_GLOB})")
    loo: dict[str, dict[str, str]] = {}
    for path in paths:
        trained, label = trained_scene(path, scenes), loo_label(read_checkpoint(path))
        for scene in (scene for scene in scenes if scene != trained):
            given = loo.setdefault(scene, {})
            if label in given:
                raise InputError(f"{given[label]} and {path} are both {label!r} left out of {scene}")
            given[label] = str(path)
    return loo


def loo_entries(loo, cubes: Mapping[str, Cube]) -> list[tuple[str, str | None, str]]:
    """``(scene, label or None, path)`` for each leave-one-out checkpoint of ``loo``: ``{scene:
    [paths]}``, ``{scene: {label: path}}``, a folder (:func:`loo_folder`), or a list of paths assigned
    by :func:`leave_one_out`."""
    if isinstance(loo, (str, os.PathLike)):
        loo = loo_folder(loo, list(cubes))
    elif not isinstance(loo, Mapping):
        loo = leave_one_out(loo, cubes)
    entries = []
    for scene, given in loo.items():
        if scene not in cubes:
            raise InputError(f"P-CAVE leave-one-out: scene {scene!r} is not among {', '.join(cubes)}")
        items = given.items() if isinstance(given, Mapping) else [(None, p) for p in given]
        entries += [(scene, label, str(path)) for label, path in items]
    return entries


def check_left_out(path, info: Mapping[str, Any], scene: str) -> None:
    """Refuse a leave-one-out checkpoint whose recorded training files include its test ``scene``."""
    if trained_on(info["training_files"], f"{scene}.npz"):
        raise InputError(f"{path}: was trained on {scene}, so it cannot be its leave-one-out test")


def loo_methods(loo, cubes: Mapping[str, Cube], device: torch.device) -> list[Method]:
    """Methods for leave-one-out checkpoints (:func:`loo_entries`), each scored on its scene only,
    labelled as given or ``"<model> (leave-one-out)"``. One label on several scenes (one checkpoint
    per scene) is one method, whose mean is the leave-one-out score."""
    methods = []
    for scene, label, path in loo_entries(loo, cubes):
        method = checkpoint_method(path, {scene: cubes[scene]}, device, label)
        if label is None:
            method.label = f"{method.info['model']} ({LOO_SUFFIX})"
        check_left_out(path, method.info, scene)
        method.info["loo_scene"] = scene
        methods.append(method)
    return methods


# -- scene-adaptive fitting -----------------------------------------------------------------------
@dataclass(frozen=True)
class Fit:
    """A model fitted on each case it runs on: a fresh registered INR model ``name`` (every scene), or
    the leave-one-out checkpoint ``path`` fine-tuned on its ``scene``'s case (``label``: the one given
    to it, if any)."""

    label: str | None = None
    name: str | None = None
    path: str | None = None
    scene: str | None = None

    def runs_on(self, scene: str) -> bool:
        return self.scene is None or scene == self.scene


def fits(names: Sequence[str] | None, fit_loo, cubes: Mapping[str, Cube]) -> list[Fit]:
    """The :class:`Fit` of each fresh model ``names`` and of each leave-one-out checkpoint of
    ``fit_loo`` (as :func:`loo_entries` reads it)."""
    planned = [Fit(name=name) for name in names or ()]
    planned += [
        Fit(label, path=path, scene=scene) for scene, label, path in loo_entries(fit_loo or {}, cubes)
    ]
    return planned


def fit_case(
    fit: Fit,
    case: Case,
    cube: Cube,
    device: torch.device,
    steps: int,
    options: Mapping[str, Any],
    back_projection: int | None = None,
) -> tuple[Method, float]:
    """``fit`` fitted on ``case`` (:func:`fusion.protocols.methods.fitted_method` with
    :data:`FIT_SENSOR` and :data:`DEFAULT_FIT_OPTIONS` updated by ``options``; a ``"model_args"``
    entry goes to a fresh model; a checkpoint keeps its value scale and starts at
    :data:`FINE_TUNE_LEARNING_RATE`), and the fitting time in seconds. Labels: ``"<name> (fit)"`` for a
    fresh model, ``"<label> + fit"`` for a checkpoint (its label as in :func:`loo_methods`).
    ``back_projection``: fit (and fuse) through :class:`~fusion.models.consistency.BackProjected`
    with that many steps and :data:`BACK_PROJECTION`; the label ends in ``" + bp"``."""
    model_args, fit_args = split_fit_options(options)
    fit_args = {**DEFAULT_FIT_OPTIONS, **fit_args}
    if fit.path is None:
        network = fresh_model(fit.name, case.lr.shape[1], case.guide.shape[1], FIT_SENSOR, **model_args)
        info = {"model": fit.name, "model_args": model_args}
        label = f"{fit.name} (fit)"
    else:
        network, payload, scale = checkpoint_model(fit.path, {case.scene: cube})
        info = {**checkpoint_info(fit.path, payload, scale), "loo_scene": case.scene}
        check_left_out(fit.path, info, case.scene)
        fit_args = {"learning_rate": FINE_TUNE_LEARNING_RATE, **fit_args, "scale": scale}
        label = f"{fit.label or info['model'] + f' ({LOO_SUFFIX})'} + fit"
    if back_projection:
        info["back_projection"] = projection_args(back_projection)
        network = BackProjected(network, **info["back_projection"])
        label += BP_SUFFIX
    return fitted_method(
        network, label, case.lr, case.guide, case.effective_ratio, FIT_SENSOR, device, steps, fit_args,
        **info,
    )  # fmt: skip


# -- the protocol ---------------------------------------------------------------------------------
def build_methods(methods, checkpoints, loo, cubes: Mapping[str, Cube], device) -> list[Method]:
    """Every method to score: named ones, checkpoints (all scenes), leave-one-out checkpoints. A
    trainable model's name in ``methods`` only asks for its checkpoints, so one must be given."""
    trained = [checkpoint_method(path, cubes, device) for path in checkpoints]
    trained += loo_methods(loo, cubes, device) if loo else []
    given = {method.info["model"] for method in trained}
    built = []
    for name in DEFAULT_METHODS if methods is None else methods:
        if name == BICUBIC:
            built.append(Method(BICUBIC, bicubic, info={"kind": "interpolation", "parameters": 0}))
        elif name not in given:
            built.append(classical_method(name, device))
    return check_labels(built + trained, cubes)


def run(
    data_root,
    methods: Sequence[str] | None = None,
    checkpoints: Iterable = (),
    ratios: Sequence[float] | None = DEFAULT_RATIOS,
    device=None,
    progress: bool = False,
    scenes: Iterable[str] | None = None,
    loo=None,
    crop: int = CROP,
    fit: Sequence[str] | None = None,
    fit_loo=None,
    fit_steps: int | None = None,
    fit_options: Mapping[str, Any] | None = None,
    back_projection: int | None = None,
) -> dict[str, Any]:
    """Score ``methods`` (default :data:`DEFAULT_METHODS`), ``checkpoints`` and leave-one-out
    checkpoints ``loo`` (see :func:`loo_methods`) on the centre crops of the CAVE cubes in
    ``data_root`` (or ``data_root/hsi``) at each of ``ratios``. ``methods`` names ``"bicubic"`` and
    classical methods; the name of a trainable model only asks that a checkpoint of it be given.
    ``scenes``: cube stems (default: every ``cave_*.npz``); ``crop``: the crop size.

    Scene-adaptive fitting (:func:`fit_case`; the reference is never seen): ``fit`` names INR models
    fitted afresh on each case, ``fit_loo`` leave-one-out checkpoints (as ``loo``) each fine-tuned on
    its scene's cases; ``fit_steps`` steps (default :data:`fusion.engine.fit.DEFAULT_FIT_STEPS`),
    ``fit_options`` over :data:`DEFAULT_FIT_OPTIONS`.

    ``back_projection``: also score every method with its output back-projected onto the LR input
    (:func:`back_projected`, that many steps; rows ``"<label> + bp"``), and fit through the
    back-projection (fits are then scored with it only).

    Returns the protocol result (see :mod:`fusion.protocols`): rows per method, scene and ratio with
    ``psnr``, ``sam``, ``ergas``, ``seconds`` (one forward pass), for checkpoints
    ``trained_on_scene`` (whether the scene's file was among the training files; ``None`` if unknown)
    and for fits ``fit_seconds``. ``meta["methods"]`` describes every method (checkpoint path, hash,
    step, training files...), ``meta["fitted"]`` every fit.
    """
    from tqdm.auto import tqdm

    from fusion.engine.fit import DEFAULT_FIT_STEPS

    ratios = [float(r) for r in (DEFAULT_RATIOS if ratios is None else ratios)]
    device = pick_device(device)
    cubes = {path.stem: load_cube(path) for path in scene_paths(data_root, scenes)}
    cases = [make_case(cube, ratio, crop) for cube in cubes.values() for ratio in ratios]
    to_run = build_methods(methods, list(checkpoints), loo, cubes, device)
    if back_projection:
        to_run += [back_projected(method, back_projection) for method in to_run]
    planned = fits(fit, fit_loo, cubes)
    steps = int(fit_steps or DEFAULT_FIT_STEPS)
    jobs = [(m, c) for m in to_run + planned for c in cases if m.runs_on(c.scene)]
    rows, warm, fitted = [], set(), []
    for method, case in tqdm(jobs, desc=PROTOCOL, disable=not progress):
        extra = {}
        if isinstance(method, Fit):
            method, extra["fit_seconds"] = fit_case(
                method, case, cubes[case.scene], device, steps, fit_options or {}, back_projection
            )
            fitted.append({"label": method.label, "scene": case.scene, "ratio": case.ratio, **method.info})
        row = {"method": method.label, "scene": case.scene, "ratio": case.ratio}
        row.update(scored(method, case.lr, case.guide, case.gt, case.effective_ratio, device, warm))
        if method.info.get("kind") == "checkpoint":
            row["trained_on_scene"] = trained_on(method.info["training_files"], f"{case.scene}.npz")
        rows.append({**row, **extra})
    first = next(iter(cubes.values()))
    return {
        "protocol": PROTOCOL,
        "convention": "reference",
        "ratios": ratios,
        "rows": rows,
        "mean": mean_rows(rows),
        "meta": {
            "scenes": list(cubes),
            "crop": crop,
            "gnyq": GNYQ,
            "guide": f"{GUIDE_SENSOR} response interpolated at the band centres, rows summing to 1",
            "phase": f"{PHASE}: LR pixel k is the bilinear value at HR index (k + 0.5) r - 0.5",
            "effective_ratios": {f"{r:g}": effective_ratio(crop, r) for r in ratios},
            "sigma": {f"{r:g}": blur_sigma(effective_ratio(crop, r)) for r in ratios},
            "lr_size": {f"{r:g}": lr_size(crop, r) for r in ratios},
            "band_centres_nm": list(first.wavelengths_nm or ()),
            "data_scale": first.scale,
            "metrics": "whole crop, no border cut, no clipping; PSNR peak 1, SAM degrees, ERGAS at the "
            "effective ratio",
            "device": str(device),
            "methods": [{"label": m.label, **m.info} for m in to_run],
            "fitted": fitted,
            "back_projection": projection_args(back_projection) if back_projection else None,
            "fit_sensor": {"lr_gnyq": FIT_SENSOR.default_gnyq, "guide_gnyq": FIT_SENSOR.pan_gain}
            if planned
            else None,
            "reference": reference_rows(),
            "reference_source": REFERENCE_NUMBERS["source"],
        },
    }


# -- verdicts -------------------------------------------------------------------------------------
def versus_best(result: Mapping[str, Any], label: str, others: Iterable[str] = CLASSICAL) -> dict:
    """:func:`fusion.protocols.common.versus_best` on P-CAVE's metrics (the classical methods by default)."""
    return common_versus_best(result, label, others, HIGHER_IS_BETTER)


def versus_reference(result: Mapping[str, Any], label: str, reference: str = "qis-gan (public)") -> dict:
    """``label``'s means at the reference ratio (4) against the issue's numbers of ``reference``
    (other scenes: a guide, not a like-for-like comparison): ``{metric: {"value", "reference",
    "beats"}}`` plus ``"every"``."""
    ratio = REFERENCE_NUMBERS["ratio"]
    mine = next((r for r in result["mean"] if r["method"] == label and r["ratio"] == ratio), None)
    if mine is None:
        raise InputError(f"P-CAVE: no mean row of {label!r} at ratio {ratio:g}")
    theirs = REFERENCE_NUMBERS["methods"][reference]
    table = {
        m: {"value": mine[m], "reference": theirs[m], "beats": beats(mine[m], theirs[m], higher)}
        for m, higher in HIGHER_IS_BETTER.items()
    }
    return {**table, "every": all(entry["beats"] for entry in table.values())}


def verdicts(result: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """For each learned label of ``result`` (checkpoints and fits, back-projected ones included):
    ``versus_best_classical`` (:func:`versus_best` against :data:`CLASSICAL` as published), for a
    ``" + bp"`` label also ``versus_best_classical_bp`` (against the back-projected classical methods,
    the ablation), and ``versus_qis_gan`` (:func:`versus_reference`). A comparison whose rows the
    result lacks (no classical method run, no reference ratio) is left out."""
    meta = result["meta"]
    learned = [method["label"] for method in meta["methods"] if method.get("kind") == "checkpoint"]
    learned += list(dict.fromkeys(fitted["label"] for fitted in meta["fitted"]))
    rows = {(row["method"], row["ratio"]) for row in result["mean"]}
    present = {method for method, _ in rows}
    found = {}
    for label in learned:
        groups = {"versus_best_classical": CLASSICAL}
        if label.endswith(BP_SUFFIX):
            groups["versus_best_classical_bp"] = [name + BP_SUFFIX for name in CLASSICAL]
        entry = {
            key: versus_best(result, label, [name for name in others if name in present])
            for key, others in groups.items()
            if present.intersection(others)
        }
        if (label, REFERENCE_NUMBERS["ratio"]) in rows:
            entry["versus_qis_gan"] = versus_reference(result, label)
        found[label] = entry
    return found
