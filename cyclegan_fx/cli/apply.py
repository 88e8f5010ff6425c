"""``cyclegan-fx apply``: translate image files with a model."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import click

from cyclegan_fx.cli.options import model_options, run_options
from cyclegan_fx.errors import CycleganFxError, OutputError

log = logging.getLogger("cyclegan_fx")


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Output file (one input) or folder (created if needed).")
@click.option("--recursive", is_flag=True, help="Include images in subfolders of folder inputs.")
@click.option("--overwrite", is_flag=True, help="Replace outputs that exist already.")
@model_options
@run_options
def apply(inputs, output, recursive, overwrite, model, direction, device, precision, backend, options) -> None:
    """Translate INPUT images (files, folders or globs) with a model."""
    from cyclegan_fx.io.inputs import expand_inputs

    files, problems = expand_inputs(list(inputs), recursive)
    for problem in problems:
        log.error("%s", problem)
    if not files:
        raise OutputError("No input images to translate.")
    targets = _targets(files, output)
    runner = _open_runner(model, direction, device, precision, backend)
    failed = _translate_all(runner, files, targets, options, overwrite)
    written = len(files) - failed
    if written:
        where = targets[0] if len(files) == 1 else output
        log.info("Wrote %d image%s to %s.", written, "" if written == 1 else "s", where)
    if failed or problems:
        raise click.ClickException(f"{failed + len(problems)} input(s) failed; see the messages above.")


def _open_runner(model: str, direction: str, device: str, precision: str, backend: str):
    from cyclegan_fx.models import resolve_model
    from cyclegan_fx.runners.factory import open_runner

    return open_runner(resolve_model(model), direction, device, precision, backend)


def _targets(files, output: Path) -> list[Path]:
    """One output path per input: ``output`` itself for a single input with an image suffix."""
    from cyclegan_fx.io.folders import writable_folder
    from cyclegan_fx.io.image_format import SUPPORTED_SUFFIXES

    if len(files) == 1 and output.suffix.lower() in SUPPORTED_SUFFIXES:
        writable_folder(output.parent)
        return [output]
    if output.exists() and not output.is_dir():
        raise OutputError(f"{output} is a file; with several inputs the output must be a folder.")
    targets = [output / f.name for f in files]
    if len(set(targets)) != len(targets):
        raise OutputError("Two inputs would be written to the same output name; give them separate output folders.")
    writable_folder(output)
    return targets


def _translate_all(runner, files, targets, options, overwrite: bool) -> int:
    """Translate each file, reporting failures and going on; return how many failed."""
    from cyclegan_fx.cli.progress import BatchProgress

    progress = BatchProgress(len(files))
    failed = 0
    try:
        for f, target in zip(files, targets):
            started = time.monotonic()
            try:
                _translate_one(runner, f.path, target, options, overwrite, progress.item(str(f.name)))
            except CycleganFxError as exc:
                failed += 1
                progress.finished(f"FAILED {f.path}: {exc}")
                continue
            progress.finished(f"{f.path} -> {target} ({time.monotonic() - started:.1f} s)")
    finally:
        progress.close()
    return failed


def _translate_one(runner, source: Path, target: Path, options, overwrite: bool, report) -> None:
    from cyclegan_fx.io.folders import writable_folder
    from cyclegan_fx.runners.translate_file import translate_file

    if not target.parent.is_dir():
        writable_folder(target.parent)
    translate_file(runner, source, target, options, overwrite, report)
