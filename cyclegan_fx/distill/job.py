"""One distillation run from its configuration: the teacher, the crops and their cached outputs, the students."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch

from cyclegan_fx.distill.config import DistillConfig
from cyclegan_fx.distill.crops import CropPlan
from cyclegan_fx.distill.loop import DistillResult, distill, make_student
from cyclegan_fx.distill.pool import TeacherPool, fill_pool, open_pool, pool_key
from cyclegan_fx.distill.precision import precision
from cyclegan_fx.errors import ConfigError
from cyclegan_fx.models import Model, resolve_model
from cyclegan_fx.models.bundle import file_sha256
from cyclegan_fx.models.store import cache_home
from cyclegan_fx.networks import Generator, build_generator, generator_from_spec
from cyclegan_fx.networks.compact import CompactConfig
from cyclegan_fx.networks.factorise import factorise, max_rank
from cyclegan_fx.networks.resnet import ResnetConfig
from cyclegan_fx.runners.factory import open_runner
from cyclegan_fx.runtime.devices import precision_name
from cyclegan_fx.runtime.runner import Runner
from cyclegan_fx.training import distributed
from cyclegan_fx.training.data import scan_folder
from cyclegan_fx.training.run import RunFolder

log = logging.getLogger("cyclegan_fx")


@dataclass(frozen=True)
class Teacher:
    model: Model
    sha256: dict[str, str]  # weights hash of each direction


def open_teacher(ref: str) -> Teacher:
    """The teacher model, refusing what has no weights to learn from."""
    if not ref:
        raise ConfigError("Say which model to distill: cyclegan-fx distill TEACHER --data PHOTOS --name NAME.")
    model = resolve_model(ref)
    if model.is_engine:
        raise ConfigError(f"{ref} is a TensorRT engine, which holds no weights a student can learn from; "
                          "give the model it was built from (a store name or bundle).")
    hashes = {d: entry.sha256 or file_sha256(model.path) for d, entry in model.info.directions.items()}
    return Teacher(model, hashes)


def student_spec(config: DistillConfig, teacher: Generator) -> dict[str, Any]:
    """The student architecture at --width and --blocks (a ResNet student has the teacher's depth by default)."""
    params = teacher.config
    if config.student == "factorised":
        return build_generator("resnet", replace(_factorisable(teacher, config.width), rank=config.width)).spec()
    if config.student == "compact":
        if params.input_nc != params.output_nc:
            raise ConfigError(f"The compact student adds its input to its output, so it needs a teacher with as many "
                              f"input as output channels, not {params.input_nc} and {params.output_nc}; use --student resnet.")
        student = CompactConfig(input_nc=params.input_nc, output_nc=params.output_nc, channels=config.width,
                                n_blocks=config.blocks or CompactConfig.n_blocks)
    else:
        blocks = config.blocks or (params.n_blocks if isinstance(params, ResnetConfig) else ResnetConfig.n_blocks)
        student = ResnetConfig(input_nc=params.input_nc, output_nc=params.output_nc, ngf=config.width, n_blocks=blocks,
                               affine=True)
    return build_generator(config.student, student).spec()


def check_student(config: DistillConfig, teacher: Model, direction: str) -> None:
    """Refuse, before any work, a student this teacher cannot have (the teacher built weightless, as for an engine)."""
    with torch.device("meta"):
        student_spec(config, generator_from_spec(teacher.direction(direction).architecture))


def student_start(config: DistillConfig, teacher: Generator) -> dict[str, torch.Tensor] | None:
    """The weights a student starts from: the teacher's, factorised, or None for a fresh initialization."""
    if config.student != "factorised":
        return None
    return factorise(teacher, config.width).net.state_dict()


def _factorisable(teacher: Generator, rank: int) -> ResnetConfig:
    """The teacher's ResnetConfig, or a ConfigError where factorising it to ``rank`` cannot work."""
    params = teacher.config
    if not isinstance(params, ResnetConfig):
        raise ConfigError(f"The factorised student starts from its teacher's weights, so it needs a ResNet teacher, "
                          f"not {teacher.arch.name}; use --student compact.")
    if params.rank:
        raise ConfigError("The teacher is already factorised; distill from the model it was made from.")
    if rank > max_rank(params):
        raise ConfigError(f"--width {rank} is above {max_rank(params)}, the teacher's block width, where the "
                          f"factorised convolutions are already exact; give a lower rank.")
    return params


def crop_plan(config: DistillConfig, teacher: Model, direction: str) -> CropPlan:
    """The crops of one direction's photos; photos smaller than a crop are skipped with a warning."""
    folder = config.directions()[direction][0]
    files = scan_folder(folder, config.crop_size, 1)
    return CropPlan(files, config.crop_size, teacher.info.work_size, config.min_scale, config.max_scale,
                    config.colour_jitter, config.seed, config.crops_per_view)


def run_distillation(config: DistillConfig, run: RunFolder, resume: dict[str, Any] | None,
                     plans: Mapping[str, CropPlan] | None = None) -> DistillResult:
    """Fill the teacher caches, then train the students; under torchrun every process takes part.

    ``plans`` are the directions' crop plans where the caller has already checked the photos (so the skipped ones
    are reported once); otherwise they are made here.
    """
    world, device = distributed.join_world(config.device)
    try:
        if not world.is_main:
            log.setLevel(logging.ERROR)
        dtype = precision(config.amp, device)
        teacher = open_teacher(config.teacher)
        students, pools = [], []
        for direction in config.directions():
            # The teacher as apply runs it: the runner, exact statistics over each whole view.
            runner = open_runner(teacher.model, direction, str(device), precision_name(dtype or torch.float32), "torch")
            plan = plans[direction] if plans else crop_plan(config, teacher.model, direction)
            pools.append(_teacher_pool(config, teacher, direction, plan, runner, dtype, world))
            spec, start = student_spec(config, runner.generator), student_start(config, runner.generator)
            students.append(make_student(config, spec, direction, device, world, dtype, start))
        distributed.any_rank(False, world, device)  # every rank's share of the caches is written
        return distill(config, run, students, pools, world, device, dtype, resume)
    finally:
        distributed.leave_world(world)


def _teacher_pool(config: DistillConfig, teacher: Teacher, direction: str, plan: CropPlan, runner: Runner,
                  dtype: torch.dtype | None, world: distributed.World) -> TeacherPool:
    key = pool_key(plan, config.pool, teacher.sha256[direction], direction, str(dtype))
    pool = open_pool(cache_home() / "distill" / key, config.pool, config.crop_size)
    fill_pool(pool, plan, runner, world.rank, world.size)
    return pool
