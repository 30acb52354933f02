"""Fixed quality protocols of issue 9: P-CAVE (HSI-MSI fusion on CAVE cubes, :mod:`.p_cave`) and
P-PAN (pansharpening at reduced resolution, :mod:`.p_pan`).

Every protocol module has ``DEFAULT_METHODS`` and ``run(data_root, methods=None, checkpoints=(),
ratios=None, device=None, progress=False, **extra) -> dict``, a JSON-able result::

    {"protocol": name, "convention": "reference", "ratios": [...],
     "rows": [{"method", "scene", "ratio", "psnr", "sam", "ergas", ...}, ...],
     "mean": [{"method", "ratio", <metric means>, "scenes"}, ...], "meta": {...}}

``methods`` are registered names (classical methods, or ``"bicubic"`` where the protocol has it);
``checkpoints`` are fusion checkpoint paths (the model comes from the file). :func:`run_protocol`
imports a protocol by name and runs it; :func:`markdown_table` renders a result's means.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from fusion.errors import InputError
from fusion.protocols.common import markdown_table, mean_rows, metric_row

PROTOCOLS = {"p-cave": "fusion.protocols.p_cave", "p-pan": "fusion.protocols.p_pan"}


def protocol_module(name: str) -> ModuleType:
    """The module implementing protocol ``name`` (one of :data:`PROTOCOLS`)."""
    if name not in PROTOCOLS:
        raise InputError(f"unknown protocol {name!r}; use one of {', '.join(PROTOCOLS)}")
    return importlib.import_module(PROTOCOLS[name])


def run_protocol(name: str, **kwargs: Any) -> dict[str, Any]:
    """Run protocol ``name`` with its ``run(**kwargs)`` and return the result dict."""
    return protocol_module(name).run(**kwargs)


__all__ = ["PROTOCOLS", "markdown_table", "mean_rows", "metric_row", "protocol_module", "run_protocol"]
