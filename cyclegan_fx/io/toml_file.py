"""Reading the TOML configuration files of training and the folder watcher."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from cyclegan_fx.errors import ConfigError


def read_toml_file(path: Path) -> dict[str, Any]:
    """The file's tables as dicts; a missing, unreadable or invalid file is one ConfigError sentence."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"Config file {path} does not exist.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read config file {path}: {exc}.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: {exc}.") from exc
