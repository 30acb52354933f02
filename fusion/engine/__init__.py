"""Running models: streaming GeoTIFF inference (:mod:`fusion.engine.inference`, ``fusion.fuse``) and
self-describing checkpoints (:mod:`fusion.engine.checkpoint`).

Submodules are imported explicitly, so that importing one (a checkpoint on a training machine) does
not pull in another's dependencies (GDAL for GeoTIFF inference).
"""

DEFAULT_METHOD = "mtf-glp-hpm"  # what `fusion fuse` and `fusion demo` use unless told otherwise
