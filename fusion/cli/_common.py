"""Helpers shared by the subcommands."""

from __future__ import annotations

import functools

import click

from fusion.errors import FusionError


def user_errors(func):
    """Turn :class:`FusionError` raised by ``func`` into a one-line click error (exit status 1)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except FusionError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper
