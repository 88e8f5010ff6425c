"""``cyclegan-fx distill``: a compact student that reproduces a teacher model; its flags are DistillConfig's fields."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from cyclegan_fx.cli.config_flags import config_flags
from cyclegan_fx.distill.config import DistillConfig
from cyclegan_fx.errors import ConfigError

log = logging.getLogger("cyclegan_fx")


@click.command(context_settings={"max_content_width": 110})
@click.argument("teacher", required=False)
@click.option("--resume", "resume_dir", type=click.Path(path_type=Path),
              help="Continue the run in this folder exactly where it stopped.")
@config_flags(DistillConfig, skip=("teacher",))
def distill(teacher: str | None, resume_dir: Path | None, flags: dict) -> None:
    """Distill TEACHER into a model several times cheaper per pixel, trained on crops of --data photos.

    \b
    cyclegan-fx distill vintage --data photos/ --eval held-out/ --name vintage-fast
    Continue an interrupted run:  cyclegan-fx distill --resume runs/NAME
    Several GPUs:                 torchrun --nproc-per-node 4 -m cyclegan_fx distill TEACHER --data DIR --name NAME
    """
    options = {k: v for k, v in flags.items() if v is not None}
    if resume_dir is not None:
        if teacher is not None:
            options["teacher"] = teacher
        return _resume(resume_dir, options)
    return _start(DistillConfig(teacher=teacher or "", **options).absolute())


def _start(config: DistillConfig) -> None:
    from cyclegan_fx.distill.job import check_student, crop_plan, open_teacher
    from cyclegan_fx.models.store import check_name
    from cyclegan_fx.training.run import new_run

    teacher = open_teacher(config.teacher)
    if not config.name:
        raise ConfigError("Give the student a --name; it names the run folder and the model it makes.")
    check_name(config.name)
    plans = {}
    for direction in config.directions():
        check_student(config, teacher.model, direction)
        plans[direction] = crop_plan(config, teacher.model, direction)
    _distill(config, new_run(config), None, plans)


def _resume(run_dir: Path, options: dict) -> None:
    from cyclegan_fx.distill.config import resume_config
    from cyclegan_fx.training.distributed import launched_rank
    from cyclegan_fx.training.run import reopen_run

    run, path, state = reopen_run(run_dir)
    if "students" not in state:
        raise ConfigError(f"{run_dir} is a training run, not a distillation; continue it with cyclegan-fx train --resume.")
    config = resume_config(DistillConfig.from_dict(state["config"]), options, run_dir).absolute()
    log.info("Resuming %s from %s.", run_dir, path.name)
    if launched_rank() == 0:
        run.save_config(config)
    _distill(config, run, state)


def _distill(config: DistillConfig, run, state: dict | None, plans: dict | None = None) -> None:
    from cyclegan_fx.distill.job import run_distillation
    from cyclegan_fx.training.distributed import launched_rank

    result = run_distillation(config, run, state, plans)
    if launched_rank() != 0:
        return
    if result.stopped_by is not None:
        log.error("Stopped; checkpoint %s. Continue with: cyclegan-fx distill --resume %s", result.checkpoint, run.path)
        sys.exit(128 + result.stopped_by)
    if config.auto_export:
        _export(config, run)


def _export(config: DistillConfig, run) -> None:
    from cyclegan_fx.distill.export import export_students, report_quality
    from cyclegan_fx.models import resolve_model

    model = export_students(run)
    teacher = resolve_model(config.teacher)
    for direction, (_, held_out) in config.directions().items():
        if held_out is not None:
            click.echo(f"{direction} against {teacher.name}:\n" + report_quality(model, teacher, held_out, direction,
                                                                                  device=config.device).table())
    click.echo(f"Stored {model.name} ({', '.join(model.info.directions)}) in {model.path}; "
               f"try: cyclegan-fx apply IMAGE -m {model.name} -o OUT.")
