"""Atomic output files: write to a temporary file in the target folder, rename at the end.

Nothing is left behind when the writer fails, and an existing file is only replaced when asked.
Used by GeoTIFF outputs, checkpoints and reports alike.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from fusion.errors import OutputError


def check_writable(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Refuse an existing ``path`` without ``overwrite`` and a folder that is missing or unwritable."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputError(f"{path}: output exists (use --overwrite to replace it)")
    if path.is_dir():
        raise OutputError(f"{path}: output is a folder")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"{path}: output folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: output folder {folder} is not writable")
    return path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it to ``path``, on error delete it.

    >>> with atomic_output("out.tif", overwrite=True) as tmp:  # doctest: +SKIP
    ...     write_everything(tmp)
    """
    path = check_writable(path, overwrite)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent or ".")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
