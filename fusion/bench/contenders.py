"""What the quality benchmark compares: classical methods, trained checkpoints and scene-adaptive fits.

Each contender turns an input pair in digital numbers into a fused image in digital numbers:

* :class:`Classical` -- a registered method without trainable parameters, built with the scene's sensor.
* :class:`Checkpoint` -- a trained model file; it saw data divided by the task's scale, so it runs
  inside :class:`fusion.engine.fit.Rescaled` with the scene's scale.
* :class:`SceneFit` -- an INR model trained on the pair itself reduced by its own ratio
  (:func:`fusion.engine.fit.fit_scene`), then applied to the pair.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from fusion.models import FusionModel, create_model, list_models
from fusion.models.base import takes_sensor
from fusion.registry import MODELS


def is_classical(name: str) -> bool:
    """A registered method is classical when, built with its defaults, it has no trainable parameter."""
    try:
        model = create_model(name)
    except (TypeError, ValueError):
        return False
    return not any(p.requires_grad for p in model.parameters())


def classical_methods() -> list[str]:
    """Every registered classical method, sorted."""
    return [name for name in list_models() if is_classical(name)]


def build_with_sensor(name: str, sensor: str | None, **kwargs) -> FusionModel:
    """``create_model(name, **kwargs)``, with ``sensor`` when the method takes one."""
    sensor_arg = {"sensor": sensor} if sensor and takes_sensor(MODELS.get(name)) else {}
    return create_model(name, **kwargs, **sensor_arg)


class Classical:
    """A registered method without training; ``name`` is its registry name."""

    def __init__(self, name: str):
        self.name = name

    @torch.no_grad()
    def fuse(self, lr: torch.Tensor, guide: torch.Tensor, sensor: str | None, scale: float) -> torch.Tensor:
        model = build_with_sensor(self.name, sensor).to(lr.device)
        return model(lr, guide)


class Checkpoint:
    """A trained model file, named ``"<model> [<file stem>]"``; inputs are divided by the scene's scale."""

    def __init__(self, path: str | os.PathLike):
        from fusion.engine.checkpoint import load_checkpoint

        self.path = Path(path)
        self.model, payload = load_checkpoint(self.path)
        self.model.eval()
        self.name = f"{payload['model']['name']} [{self.path.stem}]"

    @torch.no_grad()
    def fuse(self, lr: torch.Tensor, guide: torch.Tensor, sensor: str | None, scale: float) -> torch.Tensor:
        from fusion.engine.fit import Rescaled

        model = Rescaled(self.model.to(lr.device), scale)
        return model(lr.float(), guide.float()).to(lr.dtype)


class SceneFit:
    """INR model ``model_name`` fitted to each pair (``steps`` Adam steps, default
    :func:`fusion.engine.fit.fit_scene`'s), named ``"<model> (fit)"``."""

    def __init__(self, model_name: str, steps: int | None = None, seed: int = 0):
        self.model_name, self.steps, self.seed = model_name, steps, seed
        self.name = f"{model_name} (fit)"

    def fuse(self, lr: torch.Tensor, guide: torch.Tensor, sensor: str | None, scale: float) -> torch.Tensor:
        from fusion.engine.fit import fit_scene

        torch.manual_seed(self.seed)
        model = create_model(self.model_name, lr_bands=lr.shape[1], guide_bands=guide.shape[1]).to(lr.device)
        steps = {"steps": self.steps} if self.steps else {}
        fitted = fit_scene(model, lr.float(), guide.float(), sensor=sensor, seed=self.seed, **steps)
        with torch.no_grad():
            return fitted.rescaled()(lr.float(), guide.float()).to(lr.dtype)


def shipped() -> list[Checkpoint]:
    """The trained checkpoints shipped with the package (``fusion/weights``), each checked against its
    index entry. They were trained on the developer data: scores on the same scenes are not held out."""
    from fusion.engine.zoo import shipped_checkpoints, verified

    return [Checkpoint(verified(entry)) for entry in shipped_checkpoints()]


def default_fit_model() -> str | None:
    """``fusion.engine.fit.DEFAULT_FIT_MODEL`` where the package defines one."""
    from fusion.engine import fit

    return getattr(fit, "DEFAULT_FIT_MODEL", None)
