"""``cyclegan-fx train``: train CycleGAN on two folders of unpaired images; its flags are TrainConfig's fields."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from cyclegan_fx.cli.config_flags import config_flags
from cyclegan_fx.errors import ConfigError
from cyclegan_fx.training.config import TrainConfig, build_config, read_toml, resume_config

log = logging.getLogger("cyclegan_fx")


@click.command(context_settings={"max_content_width": 110})
@click.argument("data", required=False, type=click.Path(path_type=Path))
@click.option("--config", "config_file", type=click.Path(path_type=Path),
              help="TOML file of options (names as below, '-' or '_'); flags override it.")
@click.option("--resume", "resume_dir", type=click.Path(path_type=Path),
              help="Continue the run in this folder exactly where it stopped.")
@click.option("--export", "export_dir", type=click.Path(path_type=Path),
              help="Write the generators of this run's latest checkpoint to the model store, and stop.")
@config_flags(TrainConfig, skip=("data",))
def train(data: Path | None, config_file: Path | None, resume_dir: Path | None, export_dir: Path | None, flags: dict) -> None:
    """Train CycleGAN on DATA/trainA and DATA/trainB (or --a and --b) and store it as --name.

    \b
    Continue an interrupted run:  cyclegan-fx train --resume runs/NAME
    Several GPUs:                 torchrun --nproc-per-node 4 -m cyclegan_fx train DATA --name NAME
    """
    options = {**(read_toml(config_file) if config_file else {}), **{k: v for k, v in flags.items() if v is not None}}
    if data is not None:
        options["data"] = data
    if export_dir is not None:
        return _export(export_dir, options)
    if resume_dir is not None:
        return _resume(resume_dir, options)
    return _start(build_config(options).absolute())


def _export(run_dir: Path, options: dict) -> None:
    from cyclegan_fx.training.export import export_run
    from cyclegan_fx.training.run import RunFolder

    extra = sorted(set(options) - {"name", "label", "label_b2a"})
    if extra:
        raise ConfigError(f"--export takes only --name, --label and --label-b2a, not --{extra[0].replace('_', '-')}.")
    model = export_run(RunFolder.existing(run_dir), options.get("name"), options.get("label"), options.get("label_b2a"))
    click.echo(f"Exported {run_dir} as {model.name} ({', '.join(model.info.directions)}) into {model.path}.")


def _start(config: TrainConfig) -> None:
    from cyclegan_fx.models.store import check_name
    from cyclegan_fx.training.run import new_run

    if not config.name:
        raise ConfigError("Give the run a --name; it names the run folder and the model it makes.")
    check_name(config.name)
    config.folders()
    _train(config, new_run(config), None)


def _resume(run_dir: Path, options: dict) -> None:
    from cyclegan_fx.training.config import config_from_dict
    from cyclegan_fx.training.distributed import launched_rank
    from cyclegan_fx.training.run import reopen_run

    run, path, state = reopen_run(run_dir)
    config = resume_config(config_from_dict(state["config"], str(path)), options, run_dir).absolute()
    log.info("Resuming %s from %s.", run_dir, path.name)
    if launched_rank() == 0:
        run.save_config(config)
    _train(config, run, state)


def _train(config: TrainConfig, run, state: dict | None) -> None:
    from cyclegan_fx.training.distributed import launched_rank
    from cyclegan_fx.training.export import export_run
    from cyclegan_fx.training.loop import train as run_training

    result = run_training(config, run, state)
    if launched_rank() != 0:
        return
    if result.stopped_by is not None:
        log.error("Stopped at iteration %d; checkpoint %s. Continue with: cyclegan-fx train --resume %s",
                  result.step, result.checkpoint, run.path)
        sys.exit(128 + result.stopped_by)
    log.info("Trained %d iterations; last checkpoint %s.", result.step, result.checkpoint)
    if config.auto_export:
        model = export_run(run)
        click.echo(f"Stored {model.name} ({', '.join(model.info.directions)}) in {model.path}; "
                   f"try: cyclegan-fx apply IMAGE -m {model.name} -o OUT.")
