"""Registered fusion methods and models.

A new model is one module with one ``@MODELS.register("name")`` and one import line below.
"""

from __future__ import annotations

import fnmatch

from fusion.models.base import FusionModel
from fusion.registry import MODELS

# Registration happens on import; keep one line per model family.
from fusion.models import classical  # noqa: E402,F401  (registers the classical methods)


def create_model(name: str, **kwargs) -> FusionModel:
    """Build the registered model ``name`` with keyword arguments (e.g. ``lr_bands``, ``sensor``)."""
    return MODELS.build({"name": name, "args": kwargs})


def list_models(pattern: str = "*") -> list[str]:
    """Sorted names of registered models matching an fnmatch ``pattern``."""
    return [n for n in MODELS.keys() if fnmatch.fnmatch(n, pattern)]


__all__ = ["FusionModel", "create_model", "list_models"]
