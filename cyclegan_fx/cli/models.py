"""``cyclegan-fx models``: list, download, import, inspect and remove installed models."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from cyclegan_fx.runtime.config import DIRECTIONS

log = logging.getLogger("cyclegan_fx")


@click.group()
def models() -> None:
    """Manage the model store (see 'models list' for where it is)."""


@models.command("list")
def list_models() -> None:
    """Installed models: name, directions, menu label of each direction."""
    from cyclegan_fx.models import ModelStore

    store = ModelStore()
    installed = store.list()
    if not installed:
        click.echo(f"No models in {store.models_dir}.")
        return
    width = max(len(m.name) for m in installed)
    for m in installed:
        labels = " / ".join(m.info.menu_label(d) for d in m.info.directions)
        click.echo(f"{m.name:<{width}}  {','.join(m.info.directions):<7}  {labels}")
    log.info("(store: %s)", store.models_dir)


@models.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="Store name (letters, digits, '-', '_').")
@click.option("--label", default=None, help="Menu label of a2b, e.g. 'Summer to Winter'. Default: the name.")
@click.option("--label-b2a", default=None,
              help="Menu label of b2a. Default: the a2b label reversed ('Winter to Summer'), else 'NAME (reverse)'.")
@click.option("--direction", type=click.Choice(DIRECTIONS), default="a2b", show_default=True,
              help="Which direction this generator translates; import twice for both.")
@click.option("--training-size", type=click.IntRange(min=16), default=None, help="Crop size it was trained at.")
@click.option("--work-size", type=click.IntRange(min=16), default=1024, show_default=True,
              help="Recommended long side to translate at.")
def import_model(path: Path, name: str, label, label_b2a, direction: str, training_size, work_size: int) -> None:
    """Import a generator checkpoint (official .pth, vintagify, safetensors) as NAME."""
    from cyclegan_fx.models import ModelStore

    model = ModelStore().import_checkpoint(path, name, label, direction, training_size, work_size, label_b2a=label_b2a)
    arch = model.info.directions[direction].architecture
    click.echo(f"Imported {path} as {model.name} ({direction}, {arch['name']}) into {model.path}.")


@models.command("download")
@click.argument("name", required=False)
@click.option("--list", "list_", is_flag=True, help="Show the models that can be downloaded, and exit.")
@click.option("--url", metavar="BASE", default=None,
              help="Base URL of a mirror holding the official NAME.pth files. Default: $CYCLEGAN_FX_MODELS_URL, "
                   "else the official server.")
@click.option("--force", is_flag=True, help="Download a model that is installed already again, and replace it.")
def download(name: str | None, list_: bool, url: str | None, force: bool) -> None:
    """Download an official pretrained CycleGAN model (both directions where both exist) into the store."""
    from cyclegan_fx.cli.progress import ByteProgress
    from cyclegan_fx.errors import ConfigError
    from cyclegan_fx.models import catalogue
    from cyclegan_fx.models.download import install

    if list_:
        width = max(len(e.name) for e in catalogue.CATALOGUE)
        for e in catalogue.CATALOGUE:
            labels = " / ".join(s.label for s in e.sources().values())
            aliases = f"  (also {', '.join(e.aliases)})" if e.aliases else ""
            click.echo(f"{e.name:<{width}}  {','.join(e.sources()):<7}  {labels}{aliases}")
        return
    if name is None:
        raise ConfigError("Name a model to download, e.g. 'cyclegan-fx models download s2w' (--list shows them all).")
    model = install(name, url, force, progress=ByteProgress)
    labels = " / ".join(f"{d}: {model.info.menu_label(d)}" for d in model.info.directions)
    click.echo(f"Installed {model.name} ({labels}) into {model.path}.")


@models.command("label")
@click.argument("name")
@click.argument("label")
@click.option("--direction", type=click.Choice(DIRECTIONS), default="a2b", show_default=True,
              help="Which direction's menu label to set.")
def label(name: str, label: str, direction: str) -> None:
    """Set the menu label of NAME (GIMP shows it after a restart), e.g. 'Winter to Summer' --direction b2a."""
    from cyclegan_fx.models import ModelStore

    model = ModelStore().set_label(name, direction, label)
    click.echo(f"{model.name} {direction}: {model.info.menu_label(direction)}")


@models.command("info")
@click.argument("name")
def info(name: str) -> None:
    """Everything model.json says about NAME, and the generator's contract."""
    from cyclegan_fx.models import resolve_model

    model = resolve_model(name)
    data = model.info.to_json()
    for direction in model.info.directions:
        generator = model.generator(direction)
        data["directions"][direction]["contract"] = {
            "receptive_field_radius": generator.radius,
            "granularity": generator.granularity,
            "min_size": generator.min_size,
            "tileable": generator.tileable,
            "parameters": sum(p.numel() for p in generator.net.parameters()),
        }
    data["path"] = str(model.path)
    click.echo(json.dumps(data, indent=2))


@models.command("compare")
@click.argument("student")
@click.argument("teacher")
@click.argument("photos", nargs=-1, required=True)
@click.option("--direction", type=click.Choice(DIRECTIONS), default="a2b", show_default=True,
              help="Which direction of both models to compare.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--record", is_flag=True, help="Store the figures in STUDENT's model.json ('models info' shows them).")
def compare(student: str, teacher: str, photos: tuple[str, ...], direction: str, device: str, record: bool) -> None:
    """PSNR and SSIM of STUDENT against TEACHER on PHOTOS, at the work size and at full resolution, and the
    seconds per megapixel of both, measured side by side."""
    from cyclegan_fx.distill.compare import compare as compare_models
    from cyclegan_fx.distill.compare import photo_files
    from cyclegan_fx.models import ModelStore, resolve_model

    result = compare_models(resolve_model(student), resolve_model(teacher), photo_files(list(photos)), direction, device)
    click.echo(result.table())
    if record:
        ModelStore().add_provenance(student, direction, {"quality": result.summary()})


@models.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    """Delete NAME from the store."""
    from cyclegan_fx.models import ModelStore

    ModelStore().remove(name)
    click.echo(f"Removed {name}.")
