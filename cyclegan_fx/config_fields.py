"""Fields of the configuration dataclasses: each field's contract in its metadata, and the one check of it.

A field's contract is its type, help text, and optionally the choices it offers, the range its number lies in,
words it accepts instead of a number (work size "full"), and how a command-line text becomes its value ("4G").
Every front-end (flags, TOML, JSON) maps its raw values through ``checked``; ``check_fields`` holds a built
dataclass to the same rules, so each rule is written once, in the field.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
from collections.abc import Callable, Mapping
from dataclasses import field
from typing import Any, get_type_hints

from cyclegan_fx.errors import ConfigError


def option(
    default: Any, help: str, choices: tuple[str, ...] | None = None, *, minimum: float | None = None,
    maximum: float | None = None, words: tuple[str, ...] = (), parse: Callable[[str], Any] | None = None,
    metavar: str | None = None,
) -> Any:
    """A field whose flag shows ``help``; its value is one of ``choices``, one of ``words``, or a number in range.

    ``parse`` turns a command-line text into the value (shown as ``metavar``); without it the type's own does.
    """
    return field(default=default, metadata={
        "help": help, "choices": choices, "minimum": minimum, "maximum": maximum, "words": words, "parse": parse,
        "metavar": metavar,
    })


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def base_type(hint: Any) -> type:
    """``X | None`` (or ``X | Literal[...]``) reduced to ``X``."""
    return next(t for t in getattr(hint, "__args__", (hint,)) if t is not type(None))


@functools.cache
def field_kinds(config_type: type) -> dict[str, type]:
    """Each field's type, reduced by ``base_type``."""
    return {name: base_type(hint) for name, hint in get_type_hints(config_type).items()}


@functools.cache
def _nullable(config_type: type) -> frozenset[str]:
    """The fields whose type admits None."""
    return frozenset(name for name, hint in get_type_hints(config_type).items()
                     if type(None) in getattr(hint, "__args__", ()))


def check_fields(config: Any, minimums: Mapping[str, float] | None = None) -> None:
    """Every field of ``config`` keeps its rule; ``minimums`` adds lower bounds to fields that declare none."""
    kinds, nullable = field_kinds(type(config)), _nullable(type(config))
    for f in dataclasses.fields(config):
        value, low = getattr(config, f.name), (minimums or {}).get(f.name)
        if not (value is None and f.name in nullable) and _breaks(f.metadata, value, low):
            raise ConfigError(_sentence(flag(f.name), f.metadata, kinds[f.name], value, low))


def checked(config_type: type, values: Mapping[str, Any], label: Callable[[str], str] = flag) -> dict[str, Any]:
    """Raw ``values`` (JSON, TOML, flags) of fields of ``config_type`` as the fields' types, each held to its rule.

    A bool is no number, a whole number is a float where one is wanted, None only fits a field that may be None;
    a value of the wrong type or against the rule is a ConfigError whose sentence names the field as ``label``
    spells it.
    """
    metas = {f.name: f.metadata for f in dataclasses.fields(config_type)}
    kinds, nullable = field_kinds(config_type), _nullable(config_type)
    out = {}
    for name, value in values.items():
        if value is None and name in nullable:
            out[name] = None
            continue
        typed = _typed(kinds[name], metas[name], value)
        if typed is _WRONG or _breaks(metas[name], typed, None):
            raise ConfigError(_sentence(label(name), metas[name], kinds[name], value, None))
        out[name] = typed
    return out


def from_text(config_type: type, name: str, text: str) -> Any:
    """A command-line ``text`` as the value of field ``name``, held to its rule."""
    meta = next(f.metadata for f in dataclasses.fields(config_type) if f.name == name)
    kind = field_kinds(config_type)[name]
    try:
        value = text if text in meta["words"] else (meta["parse"] or kind)(text)
    except ValueError:
        raise ConfigError(_sentence(flag(name), meta, kind, text, None)) from None
    return checked(config_type, {name: value})[name]


_WRONG = object()


def _typed(kind: type, meta: Mapping[str, Any], value: Any) -> Any:
    """``value`` as ``kind`` (a word of the field stays a word), or ``_WRONG`` where it is of another type."""
    if isinstance(value, str) and value in meta["words"]:
        return value
    if kind is bool or isinstance(value, bool):
        return value if kind is bool and isinstance(value, bool) else _WRONG
    if kind is float and isinstance(value, (int, float)):
        return float(value)
    if issubclass(kind, enum.Enum) and isinstance(value, str):
        return kind(value) if value in meta["choices"] else value
    return value if isinstance(value, kind) else _WRONG


def _breaks(meta: Mapping[str, Any], value: Any, low: float | None) -> bool:
    """Whether a value is outside the field's choices, words or range (None is outside every one)."""
    if value is None:
        return True
    if isinstance(value, str) or meta["choices"]:
        return bool(meta["words"] or meta["choices"]) and value not in (*meta["words"], *(meta["choices"] or ()))
    low = meta["minimum"] if meta["minimum"] is not None else low
    # "not >=" rather than "<", so that NaN is outside every range
    return (low is not None and not value >= low) or (meta["maximum"] is not None and not value <= meta["maximum"])


def _sentence(label: str, meta: Mapping[str, Any], kind: type, value: Any, low: float | None) -> str:
    return f"{label} must be {_contract(meta, kind, low)}, not {value!r}."


def _contract(meta: Mapping[str, Any], kind: type, low: float | None) -> str:
    """What a field accepts, in words: 'one of a, b', "'full' or a whole number of at least 16"."""
    if meta["choices"]:
        return f"one of {', '.join(meta['choices'])}"
    low = meta["minimum"] if meta["minimum"] is not None else low
    what = _TYPE_WORDS.get(kind, kind.__name__)
    if low is not None and meta["maximum"] is not None:
        what += f" from {low:g} to {meta['maximum']:g}"
    elif low is not None:
        what += f" of at least {low:g}"
    return f"{', '.join(map(repr, meta['words']))} or {what}" if meta["words"] else what


_TYPE_WORDS = {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}
