"""Exceptions that carry a message meant for the user.

Library code raises these for bad input (a file, a shape, a band count); the CLI turns them into
one line and a non-zero exit instead of a traceback.
"""


class FusionError(Exception):
    """Base class of errors whose message names the offending input and the problem."""


class InputError(FusionError, ValueError):
    """An input file or array cannot be used as given (CRS, overlap, bands, dtype, NaN, shape)."""


class OutputError(FusionError, OSError):
    """An output cannot be written (existing file without overwrite, unwritable folder)."""
