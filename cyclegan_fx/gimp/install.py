"""Put the plug-in into GIMP 3's user plug-ins folder, recording which cyclegan-fx it should start."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

import cyclegan_fx
from cyclegan_fx.errors import OutputError
from cyclegan_fx.io.atomic import temporary_sibling

PLUGIN_NAME = "cyclegan-fx"  # GIMP loads plug-ins/NAME/NAME.py only: folder name = file name
HELPERS = "cyclegan_fx_gimp.py"
RECORD = "install.json"  # read by the plug-in (cyclegan_fx_gimp.INSTALL_RECORD)
_SOURCE_TREE = Path(cyclegan_fx.__file__).resolve().parent.parent / "plugins" / "gimp" / PLUGIN_NAME
_DATA_FILES = f"share/cyclegan-fx/gimp/{PLUGIN_NAME}"  # where a wheel installs it (pyproject data-files)


def gimp_user_dir(environ: Mapping[str, str] | None = None, platform: str | None = None) -> Path:
    """GIMP 3's user folder: ``$GIMP3_DIRECTORY``, else the platform's default."""
    environ = os.environ if environ is None else environ
    platform = platform or sys.platform
    if environ.get("GIMP3_DIRECTORY"):
        return Path(environ["GIMP3_DIRECTORY"]).expanduser()
    if platform == "win32":
        return Path(environ.get("APPDATA") or Path.home() / "AppData" / "Roaming") / "GIMP" / "3.0"
    if platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "GIMP" / "3.0"
    return Path(environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "GIMP" / "3.0"


def plugin_source() -> Path:
    """The plug-in's folder: in the source tree (a checkout or editable install), else where a wheel put it."""
    if (_SOURCE_TREE / f"{PLUGIN_NAME}.py").is_file():
        return _SOURCE_TREE
    try:
        files = metadata.distribution("cyclegan-fx").files or []
    except metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.as_posix().endswith(f"{_DATA_FILES}/{PLUGIN_NAME}.py"):
            return Path(file.locate()).parent
    raise OutputError("The GIMP plug-in's files are not installed with this cyclegan-fx; reinstall it.")


def install_plugin(gimp_dir: Path | None = None) -> Path:
    """Copy the plug-in into ``gimp_dir/plug-ins/cyclegan-fx`` (replacing an older copy); return that folder."""
    plug_ins = (gimp_dir or gimp_user_dir()) / "plug-ins"
    target = plug_ins / PLUGIN_NAME
    try:
        plug_ins.mkdir(parents=True, exist_ok=True)
        staging = temporary_sibling(target)
        staging.mkdir()
        _fill(staging, plugin_source())
        _replace_folder(staging, target)
    except OSError as exc:
        raise OutputError(f"Cannot install the GIMP plug-in into {plug_ins}: {exc.strerror or exc}.") from exc
    return target


def uninstall_plugin(gimp_dir: Path | None = None) -> Path | None:
    """Remove the plug-in; returns the folder removed, or None when it was not installed there."""
    target = (gimp_dir or gimp_user_dir()) / "plug-ins" / PLUGIN_NAME
    if not target.is_dir():
        return None
    doomed = temporary_sibling(target)
    target.rename(doomed)
    shutil.rmtree(doomed)
    return target


def install_record() -> dict[str, str]:
    """What the plug-in needs to start this cyclegan-fx's service: this Python, and where this package is."""
    return {
        "python": sys.executable,
        "pythonpath": str(Path(cyclegan_fx.__file__).resolve().parent.parent),
        "version": cyclegan_fx.__version__,
    }


def _fill(folder: Path, source: Path) -> None:
    shutil.copyfile(source / f"{PLUGIN_NAME}.py", folder / f"{PLUGIN_NAME}.py")
    (folder / f"{PLUGIN_NAME}.py").chmod(0o755)
    shutil.copyfile(source / HELPERS, folder / HELPERS)
    (folder / RECORD).write_text(json.dumps(install_record(), indent=2) + "\n")


def _replace_folder(new: Path, target: Path) -> None:
    """Swap ``new`` in for ``target``: GIMP never sees a half-copied plug-in."""
    if target.exists():
        old = temporary_sibling(target)
        target.rename(old)
        new.rename(target)
        shutil.rmtree(old)
    else:
        new.rename(target)
