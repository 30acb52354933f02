"""fusion: pansharpening and hyperspectral–multispectral image fusion with implicit neural representations.

Public API::

    import fusion
    model = fusion.create_model("gsa")          # any registered method or model
    fused = model(lr, guide)                    # lr (B, C, h, w), guide (B, G, H, W) -> (B, C, H, W)
    fusion.fuse("pan.tif", "ms.tif", "out.tif") # GeoTIFF in, GeoTIFF out, tiled and streaming
    fusion.list_models()

Heavy or optional parts (GeoTIFF I/O, metrics) are imported on first use, so ``import fusion`` on a
training machine needs neither GDAL nor the CLI.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "create_model": ("fusion.models", "create_model"),
    "list_models": ("fusion.models", "list_models"),
    "fuse": ("fusion.engine.inference", "fuse_raster"),
    "fuse_raster": ("fusion.engine.inference", "fuse_raster"),
    "evaluate": ("fusion.metrics", "evaluate"),
}


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'fusion' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = ["__version__", *_LAZY]
