"""The ``cyclegan-fx`` command: a thin click layer, one module per command, heavy imports deferred."""

from __future__ import annotations

import importlib
import logging
import sys

import click

from cyclegan_fx import __version__
from cyclegan_fx.errors import CycleganFxError

COMMANDS = {
    "apply": ("cyclegan_fx.cli.apply", "apply"),
    "batch": ("cyclegan_fx.cli.batch", "batch"),
    "distill": ("cyclegan_fx.cli.distill", "distill"),
    "export": ("cyclegan_fx.cli.export", "export"),
    "gimp": ("cyclegan_fx.cli.gimp", "gimp"),
    "models": ("cyclegan_fx.cli.models", "models"),
    "serve": ("cyclegan_fx.cli.serve", "serve"),
    "train": ("cyclegan_fx.cli.train", "train"),
    "video": ("cyclegan_fx.cli.video", "video"),
    "watch": ("cyclegan_fx.cli.watch", "watch"),
}


class LazyGroup(click.Group):
    """Imports a command's module only when that command is listed or run."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name]
        return getattr(importlib.import_module(module), attr)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CycleganFxError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)


@click.group(cls=LazyGroup, context_settings={"auto_envvar_prefix": "CYCLEGAN_FX", "help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cyclegan-fx")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
def cli(verbose: int, quiet: bool) -> None:
    """Apply and train CycleGAN image-to-image translation."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr, force=True)
    if verbose < 2:
        for noisy in ("PIL", "matplotlib", "torch", "onnx_ir", "onnxscript", "ray"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def main() -> None:
    cli(prog_name="cyclegan-fx")
