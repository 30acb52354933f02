"""Classical pansharpening and HSI-MSI fusion methods (no training), behind the model contract.

Pansharpening of MS or HS images with a PAN: ``exp`` (interpolation), ``brovey``, ``gs``, ``gsa``,
``pca``, ``bdsd-pc`` (component substitution, :mod:`.cs`); ``hpf``, ``sfim``, ``mtf-glp``,
``mtf-glp-hpm``, ``awlp`` (multiresolution analysis, :mod:`.mra`). HSI-MSI fusion with a
multi-band guide: ``gsa`` (bands assigned to guide bands), ``sfim-hs``, ``glp-hs`` (:mod:`.hs`).

Every method is batched, device-agnostic, takes any band count and any (non-integer, per-axis) ratio,
and supports tiled two-pass fusion (``halo``, ``scene_statistics``, ``forward(..., stats=...)``).
Definitions follow the reference toolbox; deviations are listed in ``docs/models/classical.md``.
"""

from fusion.models.classical import cs, hs, mra  # noqa: F401  (registers the methods)
from fusion.models.classical._common import ClassicalMethod, interpolate

__all__ = ["ClassicalMethod", "interpolate"]
