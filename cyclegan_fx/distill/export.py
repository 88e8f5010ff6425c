"""A distillation run's students into the model store, labelled after the teacher, with their provenance."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from cyclegan_fx.distill.compare import Comparison, compare, photo_files
from cyclegan_fx.distill.config import DistillConfig
from cyclegan_fx.distill.job import open_teacher
from cyclegan_fx.models import Model, ModelStore
from cyclegan_fx.networks import generator_from_spec
from cyclegan_fx.training.checkpoint import load_latest
from cyclegan_fx.training.export import check_export_name
from cyclegan_fx.training.run import RunFolder

log = logging.getLogger("cyclegan_fx")
LOSS = "l1 + ssim_weight * (1 - SSIM), against crops of the teacher's output on whole views of the photos"
_START = {"factorised": "the teacher's weights, factorised by truncated SVD"}


def export_students(run: RunFolder, store: ModelStore | None = None) -> Model:
    """Write the students of the run's latest checkpoint to the store, one bundle with each direction."""
    path, state = load_latest(run.checkpoints)
    config = DistillConfig.from_dict(state["config"])
    store = store if store is not None else ModelStore()
    teacher = open_teacher(config.teacher)
    info = teacher.model.info
    model = None
    check_export_name(store, config.name, run)
    for direction, spec, student in zip(state["directions"], state["specs"], state["students"]):
        generator = generator_from_spec(spec)
        generator.net.load_state_dict(student["net"])
        generator.net.eval()
        provenance = {"distilled_from": config.teacher, "teacher": info.name, "teacher_sha256": teacher.sha256[direction],
                      "student": config.student, "start": _START.get(config.student, "a fresh initialization"),
                      "data": str(config.directions()[direction][0]), "steps": config.steps, "loss": LOSS,
                      "ssim_weight": config.ssim_weight, "crop_size": config.crop_size, "pool": config.pool,
                      "scales": [config.min_scale, config.max_scale], "crops_per_view": config.crops_per_view,
                      "run": str(run.path.resolve()), "checkpoint": path.name,
                      "exported": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        model = store.add_generator(config.name, generator, direction, config.label or f"{info.menu_label('a2b')} (fast)",
                                    config.crop_size, info.work_size, provenance, overwrite=True,
                                    label_b2a=config.label_b2a or f"{info.menu_label('b2a')} (fast)")
    log.info("Stored the student as %s in %s.", config.name, model.path)
    return model


def report_quality(student: Model, teacher: Model, photos: Path, direction: str, store: ModelStore | None = None,
                   device: str = "auto") -> Comparison:
    """Compare the stored student with its teacher on held-out photos and record the figures in its model.json."""
    result = compare(student, teacher, photo_files([str(photos)]), direction, device)
    (store or ModelStore()).add_provenance(student.name, direction, {"quality": result.summary()})
    return result
