"""Command-line flags generated from a configuration dataclass: one per field, help and choices from its metadata."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_type_hints

import click

_CLICK_TYPES = {int: click.INT, float: click.FLOAT, str: click.STRING, Path: click.Path(path_type=Path)}


def _base_type(hint: Any) -> type:
    """``X | None`` reduced to ``X``."""
    return next(t for t in getattr(hint, "__args__", (hint,)) if t is not type(None))


def _flag(f: dataclasses.Field, kind: type) -> Callable:
    """A flag for one field: the field name with dashes; unset flags stay None."""
    flag = "--" + f.name.replace("_", "-")
    shown = f.default not in (None, "", False)
    help_text = f"{f.metadata['help']} [default: {f.default}]" if shown else f.metadata["help"]
    if kind is bool:
        decls = [flag] if f.default is False else [f"{flag}/--no-{flag[2:]}"]
        return click.option(*decls, f.name, is_flag=True, default=None, help=help_text)
    choices = f.metadata["choices"]
    click_type = click.Choice(choices) if choices else _CLICK_TYPES[kind]
    return click.option(flag, f.name, type=click_type, default=None, help=help_text)


def config_flags(config_type: type, skip: tuple[str, ...] = ()) -> Callable[[Callable], Callable]:
    """Every field of ``config_type`` but ``skip`` as a flag, handed to the command as one ``flags`` dict."""
    hints = get_type_hints(config_type)
    fields = [f for f in dataclasses.fields(config_type) if f.name not in skip]
    names = [f.name for f in fields]

    def decorate(command: Callable) -> Callable:
        @functools.wraps(command)
        def wrapper(*args, **kwargs):
            flags = {name: kwargs.pop(name) for name in names}
            return command(*args, flags=flags, **kwargs)

        return functools.reduce(lambda cmd, f: _flag(f, _base_type(hints[f.name]))(cmd), reversed(fields), wrapper)

    return decorate
