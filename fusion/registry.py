"""Name → class registries with explicit kebab-case names.

A spec is data: ``{"name": "gsa", "args": {...}}``. :meth:`Registry.build` deep-copies the
spec's args (it never mutates the caller's dict) and merges keyword arguments injected by the
parent (derived sizes such as ``lr_bands``).
"""

from __future__ import annotations

import copy
import difflib
import fnmatch
from collections.abc import Callable, Mapping
from typing import Any


class Registry:
    """A mapping from explicit names to classes or factories.

    >>> MODELS = Registry("model")
    >>> @MODELS.register("my-model")
    ... class MyModel: ...
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator registering ``obj`` under ``name``; duplicate names raise ``ValueError``."""

        def decorate(obj: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = obj
            obj.registered_name = name
            return obj

        return decorate

    def get(self, name: str) -> Callable[..., Any]:
        """The entry called ``name``; an unknown name raises ``KeyError`` listing close matches."""
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._entries, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise KeyError(
                f"unknown {self.kind} {name!r}{hint} (known: {', '.join(sorted(self._entries))})"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def keys(self, pattern: str = "*") -> list[str]:
        """Sorted registered names matching an fnmatch ``pattern``."""
        return sorted(k for k in self._entries if fnmatch.fnmatch(k, pattern))

    def build(self, spec: Mapping[str, Any] | str, **inject: Any) -> Any:
        """Instantiate ``spec`` (a name or ``{name, args}``) with ``inject`` merged over its args."""
        if isinstance(spec, str):
            spec = {"name": spec}
        args = copy.deepcopy(dict(spec.get("args") or {}))
        args.update(inject)
        return self.get(spec["name"])(**args)


MODELS = Registry("model")
DATASETS = Registry("dataset")
LOSSES = Registry("loss")
