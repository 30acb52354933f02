"""YAML experiment configs with dotted ``--set`` overrides.

A training config has the top-level sections below; any other top-level key is an error, so a typo
does not silently fall back to a default::

    model:    {name: naive-pinr, args: {...}}          # a registry spec
    data:     {name: hsi-cubes, root: ..., args: {...}} # training data
    val:      {...}                                      # validation data and fixed ratios
    degrade:  {...}                                      # RandomDegradation parameters
    loss:     {name: l1, args: {...}}
    optim:    {name: adamw, lr: 2e-4, ...}
    schedule: {steps: ..., warmup: ..., ...}
    train:    {batch_size: ..., patch: ..., seed: ..., ...}
    log:      {...}

A config may start from others: ``extends: base.yaml`` (or a list, paths relative to the file) merges
the bases first, then the file's own keys over them, mapping by mapping.

Overrides are ``key.sub=value`` strings; values are parsed as safe YAML (never ``eval``).
:func:`resolve` fills a config in from a tree of defaults and rejects unknown keys at every level
(except in open mappings such as ``model.args``); the training defaults and their meaning are
``fusion.engine.trainer.DEFAULTS``.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from fusion.atomic import atomic_output
from fusion.errors import InputError


class _Loader(yaml.SafeLoader):
    """Safe YAML loader that also reads ``2e-4`` and ``1e3`` as floats (YAML 1.1 wants ``2.0e-4``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^[-+]?(?:\d[\d_]*(?:\.[\d_]*)?|\.\d+)(?:[eE][-+]?\d+)?$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"
    ),
    list("-+0123456789."),
)


def parse_yaml(text: str) -> Any:
    """Parse YAML text safely, with scientific-notation floats."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)


SECTIONS = ("model", "data", "val", "test", "degrade", "loss", "optim", "schedule", "train", "log")


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` deep-merged onto ``base`` (mappings merge key by key, anything else is replaced)."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_config_file(path: str | os.PathLike, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """One YAML config with its ``extends`` resolved: a path (or list of paths) relative to the file,
    whose configs are merged first (in order) and then overridden by this file's keys."""
    path = Path(path)
    if path.resolve() in _chain:
        raise InputError(f"{path}: 'extends' loops back to itself")
    try:
        config = parse_yaml(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: config not found") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(config, dict):
        raise InputError(f"{path}: a config must be a mapping of sections, got {type(config).__name__}")
    bases = config.pop("extends", None) or []
    merged: dict[str, Any] = {}
    for base in [bases] if isinstance(bases, str) else bases:
        merged = merge(merged, read_config_file(path.parent / base, (*_chain, path.resolve())))
    return merge(merged, config)


def load_config(path: str | os.PathLike, overrides: Iterable[str] = (), sections=SECTIONS) -> dict[str, Any]:
    """Read a YAML config (with ``extends``), apply ``overrides`` and check its top-level keys against
    ``sections``."""
    path = Path(path)
    config = apply_overrides(read_config_file(path), overrides)
    unknown = sorted(set(config) - set(sections))
    if unknown:
        raise InputError(f"{path}: unknown config key(s) {', '.join(unknown)} (known: {', '.join(sections)})")
    return config


def apply_overrides(config: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """A copy of ``config`` with each ``"a.b.c=value"`` applied (creating missing mappings)."""
    config = copy.deepcopy(dict(config))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InputError(f"--set {item!r}: expected key.sub=value")
        *parents, leaf = key.split(".")
        node = config
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise InputError(f"--set {item!r}: {part!r} is not a mapping")
            node = child
        node[leaf] = parse_yaml(raw)
    return config


def dump_config(config: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write the resolved config as YAML (atomically), for run folders."""
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    return Path(path)


_MISSING = object()


def resolve(
    config: Mapping[str, Any], defaults: Mapping[str, Any], open_keys: Iterable[str] = (), _path: str = ""
) -> dict[str, Any]:
    """``config`` merged over ``defaults`` (copies, never mutated); a key absent from a default mapping
    is an :class:`InputError` naming its dotted path. Mappings at dotted paths in ``open_keys`` (and
    defaults of ``None``) accept anything."""
    open_keys = frozenset(open_keys)
    if not isinstance(config, Mapping):
        raise InputError(f"config key {_path or '(top)'} must be a mapping, got {config!r}")
    unknown = sorted(set(config) - set(defaults))
    if unknown:
        where = f" in {_path}" if _path else ""
        names = ", ".join(f"{_path}.{k}" if _path else k for k in unknown)
        raise InputError(f"unknown config key(s) {names}{where} (known: {', '.join(defaults)})")
    out = {}
    for key, default in defaults.items():
        path = f"{_path}.{key}" if _path else key
        value = config.get(key, _MISSING)
        if isinstance(default, Mapping) and path not in open_keys:
            out[key] = resolve({} if value in (_MISSING, None) else value, default, open_keys, path)
        else:
            out[key] = copy.deepcopy(default if value is _MISSING else value)
    return out
