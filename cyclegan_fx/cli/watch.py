"""``cyclegan-fx watch``: translate every image dropped into a folder, unattended, for as long as it runs."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from click.core import ParameterSource

from cyclegan_fx.cli.options import model_options, run_options
from cyclegan_fx.errors import ConfigError
from cyclegan_fx.watch.config import OUTPUT_FORMATS, WatchConfig, folder_config, load_config, run_option_values
from cyclegan_fx.watch.logs import LOG_FORMATS

_GIVEN = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


@click.command()
@click.argument("inbox", required=False, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Folder for translated images [default: INBOX/out].")
@click.option("--done", type=click.Path(path_type=Path),
              help="Where originals go once translated [default: INBOX/done].")
@click.option("--failed", type=click.Path(path_type=Path),
              help="Where files that cannot be translated go, each beside NAME.error.txt [default: INBOX/failed].")
@click.option("--settle", type=click.FloatRange(min=0), default=2.0, show_default=True,
              help="Seconds a file's size and times must stay unchanged before it is taken.")
@click.option("--poll", type=click.FloatRange(min=0.1), default=None, metavar="SECONDS",
              help="Look for files every SECONDS instead of waiting for the OS's events "
                   "(needed on NFS, SMB, SSHFS and container bind mounts).")
@click.option("--recursive", is_flag=True, help="Take images in subfolders too; outputs keep the subfolder.")
@click.option("--include", multiple=True, metavar="GLOB",
              help="Only take files matching GLOB (repeatable), e.g. '*.jpg'.")
@click.option("--exclude", multiple=True, metavar="GLOB", help="Never take files matching GLOB (repeatable).")
@click.option("--format", "output_format", type=click.Choice(OUTPUT_FORMATS), default="same", show_default=True,
              help="Format of the outputs: the input's own, or png, jpg, tif.")
@click.option("--once", is_flag=True, help="Take what is there, finish it, exit (non-zero if a file failed).")
@click.option("--config", "config_file", type=click.Path(path_type=Path),
              help="TOML file with one [[folder]] table per hot folder (one process, shared models); "
                   "flags override it.")
@click.option("--log-format", type=click.Choice(LOG_FORMATS), default="text", show_default=True,
              help="json: one JSON object per line, for log collectors.")
@model_options
@run_options
def watch(inbox, output, done, failed, settle, poll, recursive, include, exclude, output_format, once, config_file,
          log_format, model, direction, device, precision, backend, options) -> None:
    """Translate every image that lands in INBOX, until stopped (SIGTERM or Ctrl-C finish the image in hand).

    Outputs go to INBOX/out, originals to INBOX/done, bad files to INBOX/failed with the reason.
    Several daemons may watch one INBOX, on one machine or many.
    """
    from cyclegan_fx.watch.daemon import run
    from cyclegan_fx.watch.logs import use_log_format

    values = {
        "output": output, "done": done, "failed": failed, "settle": settle, "recursive": recursive,
        "include": include, "exclude": exclude, "format": output_format, "model": model, "direction": direction,
        "device": device, "precision": precision, "backend": backend, **run_option_values(options),
    }
    values = {k: _absolute(v) for k, v in values.items() if v is not None}
    config = _config(inbox, config_file, values, poll, once)
    use_log_format(log_format)
    summary = run(config)
    if summary.forced:
        sys.exit(130)
    if once and (summary.failed or summary.errors):
        problems = [f"{summary.failed} file(s) failed (see the failed folder)"] if summary.failed else []
        problems += [f"{summary.errors} could not be finished (see the messages above)"] if summary.errors else []
        raise click.ClickException(" and ".join(problems) + ".")


def _config(inbox: Path | None, config_file: Path | None, values: dict, poll: float | None, once: bool) -> WatchConfig:
    if (inbox is None) == (config_file is None):
        raise ConfigError("Give either INBOX or --config FILE.toml (one of the two).")
    if config_file is None:
        return WatchConfig((folder_config({"inbox": _absolute(inbox), **values}),), poll=poll, once=once)
    ctx = click.get_current_context()
    given = {k: v for k, v in values.items() if ctx.get_parameter_source(_param(k)) in _GIVEN}
    if poll is not None:
        given["poll"] = poll
    return load_config(config_file, defaults=values, overrides=given, once=once)


def _param(key: str) -> str:
    return "output_format" if key == "format" else key


def _absolute(value):
    return value.absolute() if isinstance(value, Path) else value
