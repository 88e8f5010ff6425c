"""``cyclegan-fx gimp``: install or remove the GIMP 3 plug-in (Filters > CycleGAN)."""

from __future__ import annotations

from pathlib import Path

import click

_GIMP_DIR = click.option("--gimp-dir", type=click.Path(path_type=Path), default=None,
                         help="GIMP 3's user folder (the one holding plug-ins/). Default: $GIMP3_DIRECTORY, "
                              "else ~/.config/GIMP/3.0 (Windows: %APPDATA%\\GIMP\\3.0, macOS: "
                              "~/Library/Application Support/GIMP/3.0).")


@click.group()
def gimp() -> None:
    """The GIMP 3 plug-in: one Filters > CycleGAN entry per installed model and direction."""


@gimp.command()
@_GIMP_DIR
def install(gimp_dir: Path | None) -> None:
    """Install the plug-in for this user; restart GIMP to see the menu."""
    from cyclegan_fx.gimp import install_plugin
    from cyclegan_fx.models import ModelStore

    folder = install_plugin(gimp_dir)
    store = ModelStore()
    names = store.names()  # also installs the built-in model, so the menu is never empty
    click.echo(f"Installed the GIMP plug-in into {folder}.")
    click.echo(f"Restart GIMP: Filters > CycleGAN lists {len(names)} model(s) from {store.models_dir}.")


@gimp.command()
@_GIMP_DIR
def uninstall(gimp_dir: Path | None) -> None:
    """Remove the plug-in."""
    from cyclegan_fx.gimp import uninstall_plugin

    folder = uninstall_plugin(gimp_dir)
    click.echo(f"Removed {folder}." if folder else "The GIMP plug-in was not installed there.")
