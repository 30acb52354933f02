"""What a protocol runs: named fusion functions built from registered classical methods or checkpoints,
and a timed, evaluation-mode forward pass.

A :class:`Method` is a row label, a function ``fuse(lr (1, C, h, w), guide (1, G, H, W)) -> (1, C, H, W)``
on the protocol's device, the scenes it may be scored on (``None``: all) and a JSON-able ``info``
recorded in the result's ``meta``.
"""

from __future__ import annotations

import fnmatch
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fusion.errors import InputError
from fusion.models import FusionModel, create_model
from fusion.models.base import takes_sensor
from fusion.models.classical import ClassicalMethod
from fusion.protocols.common import metric_row
from fusion.registry import MODELS

Fuse = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Method:
    """A labelled fusion function (see the module docstring)."""

    label: str
    fuse: Fuse
    scenes: frozenset[str] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def runs_on(self, scene: str) -> bool:
        return self.scenes is None or scene in self.scenes


def model_method(network: FusionModel, label: str, device: torch.device, **info: Any) -> Method:
    """A :class:`Method` running ``network`` in eval mode on ``device``, without autocast; ``info``
    is recorded with its parameter count."""
    network = network.to(device).eval()

    @torch.no_grad()
    def fuse(lr: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, enabled=False):
            return network(lr, guide, out_size=tuple(guide.shape[-2:]))

    params = sum(p.numel() for p in network.parameters())
    return Method(label, fuse, info={"parameters": params, **info})


def registered(name: str) -> type:
    """The model class registered as ``name``; an :class:`InputError` naming the known ones if none is."""
    try:
        return MODELS.get(name)
    except KeyError as exc:
        raise InputError(str(exc.args[0])) from None


def classical_method(name: str, device: torch.device, **kwargs: Any) -> Method:
    """The registered classical method ``name`` (built with ``kwargs``); an :class:`InputError` for
    unknown names and for trainable models, which need a checkpoint."""
    cls = registered(name)
    if not issubclass(cls, ClassicalMethod):
        raise InputError(f"method {name!r} is a trainable model: pass its trained weights as a checkpoint")
    return model_method(create_model(name, **kwargs), name, device, model=name, kind="classical")


def fresh_model(name: str, lr_bands: int, guide_bands: int, sensor, **kwargs: Any) -> FusionModel:
    """An untrained registered INR model ``name`` for the band counts (with ``sensor`` if it takes
    one); an :class:`InputError` for unknown names and for models without trainable parameters."""
    cls = registered(name)
    sensor_arg = {"sensor": sensor} if takes_sensor(cls) else {}
    model = create_model(name, lr_bands=lr_bands, guide_bands=guide_bands, **sensor_arg, **kwargs)
    if not any(p.requires_grad for p in model.parameters()):
        raise InputError(f"fit: {name} has nothing to train; pick an INR model")
    return model


def split_fit_options(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A protocol's fit options as ``(model_args, fit_args)``: the ``"model_args"`` entry, for building
    a fresh model, and the rest, for :func:`fusion.engine.fit.fit_scene`."""
    model_args = dict(options.get("model_args") or {})
    return model_args, {key: value for key, value in options.items() if key != "model_args"}


def fitted_method(
    network: FusionModel,
    label: str,
    lr: torch.Tensor,
    guide: torch.Tensor,
    ratio: float,
    sensor,
    device: torch.device,
    steps: int,
    options: Mapping[str, Any],
    **info: Any,
) -> tuple[Method, float]:
    """``network`` fitted on ``lr (1, C, h, w)`` and ``guide (1, G, H, W)`` reduced again by ``ratio``
    with ``sensor``'s MTF (:func:`fusion.engine.fit.fit_scene` with ``options``; the reference is never
    seen), as a :class:`Method` labelled ``label`` in the inputs' units, and the fitting time in seconds.
    ``info`` is recorded with the steps, the options and the final loss."""
    from fusion.engine.fit import fit_scene

    torch.manual_seed(int(options.get("seed", 0)))
    lr, guide = (x.to(device, torch.float32) for x in (lr, guide))
    start = time.perf_counter()
    result = fit_scene(network.to(device), lr, guide, ratio=ratio, sensor=sensor, steps=steps, **options)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    method = model_method(
        result.rescaled(), label, device, kind="fit", steps=steps,
        final_loss=float(np.mean(result.losses[-10:])), fit_args=dict(options), **info,
    )  # fmt: skip
    return method, seconds


def checkpoint_label(path: str | os.PathLike) -> str:
    """A short name for a checkpoint file: its stem, or its folder's name for a training run's
    ``best.pt`` / ``last.pt`` / ``checkpoints/step_*.pt``."""
    path = Path(path)
    if path.stem in ("best", "last"):
        return path.parent.name or path.stem
    if path.stem.startswith("step_") and path.parent.name == "checkpoints":
        return f"{path.parent.parent.name}/{path.stem}"
    return path.stem


def training_files(payload: dict[str, Any]) -> list[str] | None:
    """The file patterns a checkpoint's training run read (``config.data.args.files``), or ``None``
    when the checkpoint does not record them (no config, or every file of its data folder)."""
    config = payload.get("config") or {}
    files = ((config.get("data") or {}).get("args") or {}).get("files")
    if files is None:
        return None
    return [files] if isinstance(files, str) else [str(f) for f in files]


def trained_on(patterns: list[str] | None, filename: str) -> bool | None:
    """Whether ``filename`` matches one of a run's training ``patterns`` (``None`` when unknown)."""
    if patterns is None:
        return None
    return any(fnmatch.fnmatch(filename, Path(p).name) for p in patterns)


def check_labels(methods: Iterable[Method], scenes: Iterable[str]) -> list[Method]:
    """``methods`` as a list, checked so that no label is scored twice on one scene (rows of one label
    are averaged together; a leave-one-out label may run a different checkpoint on each scene)."""
    methods, scenes = list(methods), list(scenes)
    covered: dict[tuple[str, str], Method] = {}
    for method in methods:
        for scene in scenes:
            if not method.runs_on(scene):
                continue
            other = covered.setdefault((method.label, scene), method)
            if other is not method:
                raise InputError(
                    f"{other.info.get('checkpoint', other.label)} and "
                    f"{method.info.get('checkpoint', method.label)} are both labelled {method.label!r} "
                    f"on {scene}: give them distinct labels"
                )
    return methods


def timed(fuse: Fuse, lr: torch.Tensor, guide: torch.Tensor, warmup: bool) -> tuple[torch.Tensor, float]:
    """``fuse(lr, guide)`` and its wall time in seconds (CUDA synchronised; after one untimed call
    when ``warmup``, so that kernel loading and autotuning are not counted)."""
    if warmup:
        fuse(lr, guide)
    if lr.device.type == "cuda":
        torch.cuda.synchronize(lr.device)
    start = time.perf_counter()
    out = fuse(lr, guide)
    if lr.device.type == "cuda":
        torch.cuda.synchronize(lr.device)
    return out, time.perf_counter() - start


def scored(
    method: Method,
    lr: torch.Tensor,
    guide: torch.Tensor,
    reference,
    ratio: float,
    device: torch.device,
    warm: set[str],
    **metric_args: Any,
) -> dict[str, float]:
    """:func:`fusion.protocols.common.metric_row` of ``method`` on ``lr`` / ``guide`` (float32 on
    ``device``) against ``reference`` at ``ratio``, plus ``seconds`` of one forward pass. On CUDA the
    first call of each label is warmed up; ``warm`` remembers the labels seen."""
    lr, guide = (x.to(device, torch.float32) for x in (lr, guide))
    pred, seconds = timed(method.fuse, lr, guide, warmup=device.type == "cuda" and method.label not in warm)
    warm.add(method.label)
    return {**metric_row(pred.double().cpu(), reference, ratio, **metric_args), "seconds": seconds}
