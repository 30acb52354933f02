"""Reusable layers of the INR models: coordinates, queries, encodings, activations and blocks.

No I/O and no registry here; models compose these. timm is imported only inside this package, and
only when a :class:`WindowAttention` is built, so the queries run where timm is not installed.
"""

from fusion.nn.activations import MIRE_ATOMS, Atom, activation_names, make_activation
from fusion.nn.attention import WindowAttention
from fusion.nn.coords import (
    grid_coords,
    make_cell,
    make_coord,
    normalize_wavelengths,
    sample_at,
)
from fusion.nn.dylinear import DyLinear
from fusion.nn.dynconv import ASSConv
from fusion.nn.encoding import CoordEncoding, encode_coords
from fusion.nn.hyper import HyperMLP
from fusion.nn.inr import SpatialQuery, SpatialState, SpectralQuery
from fusion.nn.mire import MireResult, MireTrial, mire_search
from fusion.nn.mlp import MLP

__all__ = [
    "ASSConv",
    "Atom",
    "CoordEncoding",
    "DyLinear",
    "HyperMLP",
    "MIRE_ATOMS",
    "MLP",
    "MireResult",
    "MireTrial",
    "SpatialQuery",
    "SpatialState",
    "SpectralQuery",
    "WindowAttention",
    "activation_names",
    "encode_coords",
    "grid_coords",
    "make_activation",
    "make_cell",
    "make_coord",
    "mire_search",
    "normalize_wavelengths",
    "sample_at",
]

