"""What the watch daemon is asked to do: one FolderConfig per hot folder, one WatchConfig per process.

The command line and ``--config FILE.toml`` both map onto these; the TOML file holds shared keys at
its top level and one ``[[folder]]`` table per hot folder, named like the command's options.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cyclegan_fx.config_fields import checked
from cyclegan_fx.errors import ConfigError
from cyclegan_fx.io.toml_file import read_toml_file
from cyclegan_fx.runtime.config import ModelChoice, RunOptions

OUTPUT_FORMATS = ("same", "png", "jpg", "tif")
WORK_FOLDER = ".cyclegan-fx"


@dataclass(frozen=True)
class FolderConfig:
    """One hot folder: where files arrive and go, the model and options that translate them."""

    inbox: Path
    output: Path | None = None  # default INBOX/out
    done: Path | None = None  # default INBOX/done
    failed: Path | None = None  # default INBOX/failed
    model: ModelChoice = ModelChoice()
    options: RunOptions = RunOptions()
    settle: float = 2.0  # seconds a file's size and times must stay unchanged before it is taken
    recursive: bool = False
    include: tuple[str, ...] = ()  # globs; empty: every image
    exclude: tuple[str, ...] = ()
    format: str = "same"

    def __post_init__(self) -> None:
        if self.format not in OUTPUT_FORMATS:
            raise ConfigError(f"Output format must be one of {', '.join(OUTPUT_FORMATS)}, not {self.format!r}.")
        if self.settle < 0:
            raise ConfigError(f"--settle must be 0 or more seconds, not {self.settle}.")

    @property
    def outbox(self) -> Path:
        return self.output or self.inbox / "out"

    @property
    def done_dir(self) -> Path:
        return self.done or self.inbox / "done"

    @property
    def failed_dir(self) -> Path:
        return self.failed or self.inbox / "failed"

    @property
    def work_dir(self) -> Path:
        """The daemon's own folder: claimed files and their records, status files."""
        return self.inbox / WORK_FOLDER

    def owned_dirs(self) -> tuple[Path, ...]:
        """Folders the daemon writes to; never scanned for inputs, even inside INBOX."""
        return (self.outbox, self.done_dir, self.failed_dir, self.work_dir)


@dataclass(frozen=True)
class WatchConfig:
    folders: tuple[FolderConfig, ...]
    poll: float | None = None  # seconds between polls of the polling observer; None: the OS's events
    once: bool = False  # take what is there, finish, exit
    rescan: float = 30.0  # seconds between full scans and searches for abandoned claims
    stale_after: float = 120.0  # a daemon on another machine whose status file is older is taken as gone
    max_in_flight: int = 4  # claimed files in the pipeline at once: decoding, waiting, translating, writing
    status_every: float = 2.0  # seconds between status file rewrites (also the heartbeat)

    def __post_init__(self) -> None:
        if not self.folders:
            raise ConfigError("No hot folder to watch: give INBOX or a --config file with [[folder]] tables.")
        inboxes = [f.inbox.resolve() for f in self.folders]
        if len(set(inboxes)) != len(inboxes):
            raise ConfigError("The same inbox is listed twice; give each hot folder once.")
        if self.poll is not None and self.poll <= 0:
            raise ConfigError(f"--poll must be a positive number of seconds, not {self.poll}.")


# --- building configs from flat values (command line, TOML) -------------------------------------

_RUN_FIELDS = tuple(f.name for f in dataclasses.fields(RunOptions))
_MODEL_FIELDS = tuple(f.name for f in dataclasses.fields(ModelChoice))
_PROCESS_KEYS = ("poll", "rescan", "stale_after")


def run_option_values(options: RunOptions) -> dict[str, Any]:
    """RunOptions as flat values, as the command line gives them."""
    values = dataclasses.asdict(options)
    values["stats"] = options.stats.value
    return values


def folder_config(values: Mapping[str, Any]) -> FolderConfig:
    """A FolderConfig from flat values named like the command's options (``inbox``, ``model``, ``work_size``...)."""
    unknown = set(values) - set(_FOLDER_KEYS)
    if unknown:
        raise ConfigError(f"Unknown folder option {sorted(unknown)[0]!r}; known: {', '.join(sorted(_FOLDER_KEYS))}.")
    if values.get("inbox") is None:
        raise ConfigError("Each hot folder needs an inbox.")
    run = checked(RunOptions, {k: values[k] for k in _RUN_FIELDS if k in values})
    model = ModelChoice(**checked(ModelChoice, {k: values[k] for k in _MODEL_FIELDS if k in values}))
    plain_keys = ("inbox", "output", "done", "failed", "settle", "recursive", "format")
    plain = {k: values[k] for k in plain_keys if k in values}
    lists = {k: tuple(values[k]) for k in ("include", "exclude") if k in values}
    return FolderConfig(model=model, options=RunOptions(**run), **plain, **lists)


def load_config(
    path: Path, defaults: Mapping[str, Any], overrides: Mapping[str, Any], once: bool = False
) -> WatchConfig:
    """Hot folders from a TOML file: command-line ``overrides`` > a ``[[folder]]`` table > the file's top
    level > ``defaults``. Relative paths in the file are relative to the file's folder."""
    raw = read_toml_file(path)
    tables = raw.pop("folder", None)
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"Config file {path} needs at least one [[folder]] table with an inbox.")
    shared = _converted(raw, path, allowed=(*_FOLDER_KEYS, *_PROCESS_KEYS))
    process = {k: shared.pop(k) for k in _PROCESS_KEYS if k in shared}
    process |= {k: overrides[k] for k in _PROCESS_KEYS if k in overrides}
    given = {k: v for k, v in overrides.items() if k in _FOLDER_KEYS and k != "inbox"}
    folders = tuple(
        folder_config({**defaults, **shared, **_converted(table, path, allowed=_FOLDER_KEYS), **given})
        for table in tables
    )
    return WatchConfig(folders, once=once, **process)


def _converted(table: Mapping[str, Any], path: Path, allowed: tuple[str, ...]) -> dict[str, Any]:
    out = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in allowed:
            raise ConfigError(f"Unknown option {key!r} in {path}; known: {', '.join(sorted(allowed))}.")
        schema = RunOptions if name in _RUN_FIELDS else ModelChoice if name in _MODEL_FIELDS else None
        if schema is None:
            kind, check = _KEYS[name]
            out[name] = _convert(name, value, kind, check, path)
        else:
            out[name] = _field_value(schema, name, value, key, path)
    if "model" in out and _names_a_file(out["model"]):  # a store name, or a path relative to the file
        out["model"] = str((path.parent / Path(out["model"]).expanduser()).absolute())
    return out


def _field_value(schema: type, name: str, value: Any, key: str, path: Path) -> Any:
    """A run option or model choice of the file, held to the rule of that field of ``schema``."""
    return checked(schema, {name: value}, label=lambda _: f"Option {key!r} in {path}")[name]


def _convert(name: str, value: Any, kind: str, check: Callable[[Any], bool] | None, path: Path) -> Any:
    ok = {
        "path": isinstance(value, str),
        "str": isinstance(value, str),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "globs": isinstance(value, list) and all(isinstance(v, str) for v in value),
    }[kind]
    if not ok or (check is not None and not check(value)):
        raise ConfigError(f"Option {name!r} in {path} has an invalid value {value!r}.")
    if kind == "path":
        return (path.parent / Path(value).expanduser()).absolute()
    return float(value) if kind == "float" else value


def _names_a_file(model: str) -> bool:
    """A --model value that is a path (a store name has no '/' and no model file suffix)."""
    from cyclegan_fx.models.bundle import ENGINE_SUFFIX
    from cyclegan_fx.models.resolve import CHECKPOINT_SUFFIXES

    return "/" in model or Path(model).suffix in (*CHECKPOINT_SUFFIXES, ENGINE_SUFFIX)


def _choice(options: tuple[str, ...]) -> Callable[[Any], bool]:
    return lambda value: value in options


_KEYS: dict[str, tuple[str, Callable[[Any], bool] | None]] = {
    "inbox": ("path", None),
    "output": ("path", None),
    "done": ("path", None),
    "failed": ("path", None),
    "settle": ("float", None),
    "recursive": ("bool", None),
    "include": ("globs", None),
    "exclude": ("globs", None),
    "format": ("str", _choice(OUTPUT_FORMATS)),
    "poll": ("float", None),
    "rescan": ("float", None),
    "stale_after": ("float", None),
}
_FOLDER_KEYS = (*(k for k in _KEYS if k not in _PROCESS_KEYS), *_MODEL_FIELDS, *_RUN_FIELDS)
