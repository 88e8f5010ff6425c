"""Fields of the configuration dataclasses: help text and choices in their metadata, and the checks every one gets."""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Any

from cyclegan_fx.errors import ConfigError


def option(default: Any, help: str, choices: tuple[str, ...] | None = None) -> Any:
    """A field whose command-line flag shows ``help`` (and offers only ``choices``)."""
    return field(default=default, metadata={"help": help, "choices": choices})


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_fields(config: Any, minimums: dict[str, float]) -> None:
    """Every field with choices holds one of them; every field in ``minimums`` that is set is at least that."""
    for f in dataclasses.fields(config):
        choices = f.metadata["choices"]
        if choices and getattr(config, f.name) not in choices:
            raise ConfigError(f"{flag(f.name)} must be one of {', '.join(choices)}, not {getattr(config, f.name)!r}.")
    for name, low in minimums.items():
        value = getattr(config, name)
        if value is not None and value < low:
            raise ConfigError(f"{flag(name)} must be at least {low}, not {value}.")
