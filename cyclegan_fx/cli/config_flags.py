"""Command-line flags generated from a configuration dataclass: one per field, help, type and rule from its metadata."""

from __future__ import annotations

import dataclasses
import enum
import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click

from cyclegan_fx.config_fields import field_kinds, flag, from_text
from cyclegan_fx.errors import ConfigError

_CLICK_TYPES = {int: click.INT, float: click.FLOAT, str: click.STRING, Path: click.Path(path_type=Path)}


class _FieldType:
    """A flag's text read by its field's own parser and rule, so that it is refused in the words TOML and JSON get;
    mixed into the click type that --help shows."""

    config_type: type
    field: str

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return from_text(self.config_type, self.field, value)
        except ConfigError as exc:
            raise click.UsageError(str(exc), ctx) from None


class _Text(_FieldType, click.ParamType):
    pass


class _Choice(_FieldType, click.Choice):
    pass


class _IntRange(_FieldType, click.IntRange):
    pass


class _FloatRange(_FieldType, click.FloatRange):
    pass


def _click_type(config_type: type, f: dataclasses.Field, kind: type) -> click.ParamType:
    """The field's own text parser, choices or number range, as the field's metadata gives them."""
    meta = f.metadata
    if meta["parse"] or meta["words"]:
        shown = _Text()
        shown.name = meta["metavar"]
    elif meta["choices"]:
        shown = _Choice(meta["choices"])
    elif meta["minimum"] is not None or meta["maximum"] is not None:
        shown = (_IntRange if kind is int else _FloatRange)(meta["minimum"], meta["maximum"])
    else:
        return _CLICK_TYPES[kind]
    shown.config_type, shown.field = config_type, f.name
    return shown


def _flag(config_type: type, f: dataclasses.Field, kind: type) -> Callable:
    """A flag for one field: the field name with dashes; unset flags stay None."""
    shown = f.default not in (None, "", False)
    help_text = f"{f.metadata['help']} [default: {f.default}]" if shown else f.metadata["help"]
    if kind is bool:
        decls = [flag(f.name)] if f.default is False else [f"{flag(f.name)}/--no-{flag(f.name)[2:]}"]
        return click.option(*decls, f.name, is_flag=True, default=None, help=help_text)
    return click.option(flag(f.name), f.name, type=_click_type(config_type, f, kind), default=None, help=help_text)


def config_flags(config_type: type, skip: tuple[str, ...] = ()) -> Callable[[Callable], Callable]:
    """Every field of ``config_type`` but ``skip`` as a flag, handed to the command as one ``flags`` dict."""
    kinds = field_kinds(config_type)
    fields = [f for f in dataclasses.fields(config_type) if f.name not in skip]
    names = [f.name for f in fields]

    def decorate(command: Callable) -> Callable:
        @functools.wraps(command)
        def wrapper(*args, **kwargs):
            flags = {name: kwargs.pop(name) for name in names}
            return command(*args, flags=flags, **kwargs)

        return _stacked([_flag(config_type, f, kinds[f.name]) for f in fields], wrapper)

    return decorate


def field_options(
    config_type: type, names: tuple[str, ...] | None = None, short: Mapping[str, str] | None = None
) -> Callable[[Callable], Callable]:
    """Flags for the fields ``names`` (default: all) of ``config_type``, defaulting to the fields' defaults;
    each reaches the command as an argument of the field's name."""
    kinds = field_kinds(config_type)
    fields = [f for f in dataclasses.fields(config_type) if names is None or f.name in names]

    def option_of(f: dataclasses.Field) -> Callable:
        default = f.default.value if isinstance(f.default, enum.Enum) else f.default
        shown = default is not None and "Default:" not in f.metadata["help"]  # a help that words its default itself
        decls = [d for d in ((short or {}).get(f.name), flag(f.name)) if d]
        return click.option(*decls, f.name, type=_click_type(config_type, f, kinds[f.name]), default=default,
                            show_default=shown, help=f.metadata["help"] or None)

    return lambda command: _stacked([option_of(f) for f in fields], command)


def _stacked(options: list[Callable], command: Callable) -> Callable:
    """``command`` with ``options``, listed in --help in their order."""
    return functools.reduce(lambda cmd, option: option(cmd), reversed(options), command)
