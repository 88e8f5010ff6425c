"""How closely a student reproduces its teacher, and how much faster it is: both through the Runner, side by side."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from cyclegan_fx.distill.metrics import psnr, ssim
from cyclegan_fx.errors import ConfigError
from cyclegan_fx.io.image_read import load_image
from cyclegan_fx.io.inputs import expand_inputs
from cyclegan_fx.models import Model
from cyclegan_fx.runners.factory import open_runner
from cyclegan_fx.runtime import pixels
from cyclegan_fx.runtime.config import RunOptions
from cyclegan_fx.runtime.devices import precision_name

log = logging.getLogger("cyclegan_fx")
_AT = {"work": RunOptions(work_size="model"), "full": RunOptions(work_size="full")}


@dataclass(frozen=True)
class ImageScore:
    """Student against teacher on one photo, at the model's work size and at full resolution."""

    name: str
    megapixels: float
    psnr_work: float
    ssim_work: float
    psnr_full: float
    ssim_full: float
    psnr_untouched: float  # the photo itself against the teacher's output: the score of doing nothing


@dataclass(frozen=True)
class Comparison:
    direction: str
    precision: str
    images: list[ImageScore]
    student_s_per_mp: float  # full resolution, measured in the same process as the teacher's
    teacher_s_per_mp: float

    @property
    def speedup(self) -> float:
        return self.teacher_s_per_mp / self.student_s_per_mp

    def mean(self, field: str) -> float:
        return float(np.mean([getattr(score, field) for score in self.images]))

    def summary(self) -> dict:
        """What model.json records: means, speed, and each image's scores."""
        means = {f: round(self.mean(f), 4) for f in ("psnr_work", "ssim_work", "psnr_full", "ssim_full", "psnr_untouched")}
        return {"direction": self.direction, "precision": self.precision, "photos": len(self.images), **means,
                "student_s_per_mp": round(self.student_s_per_mp, 4), "teacher_s_per_mp": round(self.teacher_s_per_mp, 4),
                "speedup": round(self.speedup, 2), "images": [asdict(s) for s in self.images]}

    def table(self) -> str:
        rows = [f"{'photo':<24} {'MP':>5} {'PSNR work':>9} {'SSIM work':>9} {'PSNR full':>9} {'SSIM full':>9} {'untouched':>9}"]
        rows += [f"{s.name[:24]:<24} {s.megapixels:5.2f} {s.psnr_work:9.2f} {s.ssim_work:9.4f} {s.psnr_full:9.2f} "
                 f"{s.ssim_full:9.4f} {s.psnr_untouched:9.2f}" for s in self.images]
        rows.append(f"{'mean':<24} {'':>5} {self.mean('psnr_work'):9.2f} {self.mean('ssim_work'):9.4f} "
                    f"{self.mean('psnr_full'):9.2f} {self.mean('ssim_full'):9.4f} {self.mean('psnr_untouched'):9.2f}")
        rows.append("(untouched: the photo itself against the teacher's output at full resolution, in dB)")
        rows.append(f"full resolution, {self.precision}: student {self.student_s_per_mp:.3f} s/MP, teacher "
                    f"{self.teacher_s_per_mp:.3f} s/MP ({self.speedup:.1f}x faster)")
        return "\n".join(rows)


def photo_files(args: list[str]) -> list[Path]:
    """The image files that files, folders and globs name, or a ConfigError for one that names none."""
    files, problems = expand_inputs(args)
    if problems:
        raise ConfigError(problems[0])
    return [f.path for f in files]


def compare(student: Model, teacher: Model, photos: list[Path], direction: str = "a2b", device: str = "auto",
            precision: str = "auto") -> Comparison:
    """PSNR and SSIM of the student's output against the teacher's, and seconds per megapixel of both."""
    runners = {"student": open_runner(student, direction, device, precision, "torch"),
               "teacher": open_runner(teacher, direction, device, precision, "torch")}
    seconds, megapixels, scores = {"student": 0.0, "teacher": 0.0}, 0.0, []
    for path in photos:
        image = load_image(path).pixels
        outputs = {}
        for at, options in _AT.items():
            for who, runner in runners.items():
                started = time.perf_counter()
                outputs[who, at] = runner.run(image, options)
                if at == "full":
                    seconds[who] += time.perf_counter() - started
        mp = image.shape[0] * image.shape[1] / 1e6
        megapixels += mp
        scores.append(ImageScore(path.name, round(mp, 3), *_similarity(outputs["student", "work"], outputs["teacher", "work"]),
                                 *_similarity(outputs["student", "full"], outputs["teacher", "full"]),
                                 _similarity(image, outputs["teacher", "full"])[0]))
        log.info("%s: PSNR %.2f dB, SSIM %.4f at full resolution.", path.name, scores[-1].psnr_full, scores[-1].ssim_full)
    name = precision_name(runners["student"].backend.dtype)
    return Comparison(direction, name, scores, seconds["student"] / megapixels, seconds["teacher"] / megapixels)


def _similarity(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """PSNR and SSIM of two outputs' colour channels, as floats in [0, 1]."""
    x, y = (torch.from_numpy(pixels.to_float(pixels.split(image)[0])) for image in (a, b))
    return round(psnr(x, y), 3), round(ssim(x, y), 5)
