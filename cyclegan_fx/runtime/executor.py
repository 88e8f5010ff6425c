"""Run a schedule of sweeps over a tile grid: gather tiles, call the backend, stitch cores.

One call translates one or more images of the same size (video frames, say): every
image is cut into the same tiles, and a backend call may take tiles of several images,
each normalized with its own image's statistics. Everything here lives for one call:
canvases, statistics and pending writes are local variables, so one backend can serve
many concurrent calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from cyclegan_fx.networks import Program
from cyclegan_fx.runtime.backend import Backend, NormHook, NormStats
from cyclegan_fx.runtime.moments import Moments
from cyclegan_fx.runtime.plan import Rect, Tile, border_strips, last_readers, plan_tiles, round_up, unread_interiors
from cyclegan_fx.runtime.schedule import INPUT, Schedule, Segment, Sweep, at_cheapest

TileDone = Callable[[float], None]  # called with the cost of each finished tile


@dataclass(frozen=True)
class Grid:
    cores: list[Rect]
    height: int
    width: int
    batch: int  # tiles per backend call
    images: int = 1  # images of this size translated together, each cut into ``cores``
    # Larger cores for sweeps that stay at the cheapest resolution: their tiles take little memory
    # and need a margin of a pixel or two, so bigger tiles waste less on overlap and on calls.
    wide_cores: list[Rect] | None = None


def sweep_margin(program: Program, segment: Segment) -> int:
    """Context a tile needs for one segment: its receptive radius, aligned to the granularity."""
    return round_up(program.radius(segment.start, segment.end), program.granularity)


def sweep_tiles(program: Program, sweep: Sweep, grid: Grid) -> list[Tile]:
    """The tiles of one sweep: margins cover exactly that sweep's receptive field."""
    wide = grid.wide_cores is not None and at_cheapest(program, sweep.segment)
    cores = grid.wide_cores if wide else grid.cores
    return plan_tiles(cores, sweep_margin(program, sweep.segment), grid.height, grid.width)


def sweep_cost(program: Program, sweep: Sweep, tile: Tile) -> float:
    """Multiply-accumulates one tile of this sweep costs (for progress)."""
    return program.macs_per_pixel(sweep.segment.start, sweep.segment.end) * tile.region.area + 1.0


def execute(
    backend: Backend,
    program: Program,
    schedule: Schedule,
    source: Callable[[], torch.Tensor],
    grid: Grid,
    stats: list[dict[int, NormStats]],
    on_tile: TileDone,
    storage: torch.device,
    hook: NormHook | None = None,
) -> torch.Tensor:
    """Run every sweep; return the outputs (N, C, H, W) in float32 on ``storage``.

    ``source`` makes the inputs, (N, C, H, W) float32 in [-1, 1]; they are dropped after
    their last reader. ``stats`` holds each image's given statistics and receives the
    collected ones, after ``hook`` (if any) has adjusted them.
    """
    slots: dict[int, torch.Tensor] = {INPUT: source()}
    output = None
    for index, sweep in enumerate(schedule.sweeps):
        if sweep.segment.end == len(program) and output is None:
            output = new_canvas(grid.images, program.out_channels, grid.height, grid.width, torch.float32, storage)
        for position, slot in sweep.sinks:
            if slot not in slots:
                shape = schedule.slots[slot]
                size = (shape.channels, grid.height // shape.scale, grid.width // shape.scale)
                slots[slot] = new_canvas(grid.images, *size, backend.dtype, storage)
        measured = _run_sweep(backend, program, sweep, grid, slots, stats, output, on_tile)
        if measured is not None:
            used = measured if hook is None else list(hook(sweep.segment.end, measured))
            if len(used) != len(measured):
                raise ValueError(f"a norm hook returned {len(used)} statistics for {len(measured)} images")
            for image_stats, value in zip(stats, used):
                image_stats[sweep.segment.end] = value
        for slot, last in schedule.last_use.items():
            if last == index:
                slots.pop(slot, None)
    return output


def _run_sweep(backend, program, sweep, grid, slots, stats, output, on_tile) -> list[NormStats] | None:
    """One sweep over every tile of every image; the statistics measured at its end, one per image."""
    seg = sweep.segment
    tiles = sweep_tiles(program, sweep, grid)
    jobs = [(image, tile) for image in range(grid.images) for tile in tiles]
    in_scale = program.scale_before[seg.start]
    out_scale = program.scale_before[seg.end] if seg.end < len(program) else 1
    skip_scales = [program.scale_before[s] for s in seg.skips_in]
    given = [] if seg.local_norms else [p for p in program.norms if seg.start <= p < seg.end]
    reads = {sweep.source, *sweep.skip_slots}
    writer = _CoreWriter(tiles, grid.images, lagged=any(slot in reads for _, slot in sweep.sinks))
    moments = [Moments(backend.tuning.moment_band) for _ in range(grid.images)] if sweep.collect else None
    for batch in _batches(len(jobs), grid.batch):
        picked = [jobs[j] for j in batch]
        x = _gather(slots[sweep.source], picked, in_scale, backend)
        skips = [_gather(slots[s], picked, scale, backend) for s, scale in zip(sweep.skip_slots, skip_scales)]
        result = backend.run(seg, x, skips, batch_stats(stats, [image for image, _ in picked], given))
        del x, skips
        values = {seg.end: result.out, **dict(zip(seg.saves_out, result.saved))}
        for b, (j, (image, tile)) in enumerate(zip(batch, picked)):
            core = tile.core.relative_to(tile.region)
            if moments is not None:
                moments[image].add(_crop(result.out[b], core, out_scale))
            for position, slot in sweep.sinks:
                scale = program.scale_before[position]
                writer.put(j, slots[slot][image], tile.core, _crop(values[position][b], core, scale), scale)
            if seg.end == len(program):
                _paste(output[image], tile.core, _crop(result.out[b], core, 1))
            on_tile(sweep_cost(program, sweep, tile))
        writer.commit(batch[-1])
    writer.commit(len(jobs))
    return [m.result() for m in moments] if moments is not None else None


def batch_stats(stats: list[dict[int, NormStats]], images: list[int], positions: list[int]) -> dict[int, NormStats]:
    """The statistics of the norms at ``positions`` for a batch of tiles: one row per tile, its image's."""
    return {
        p: NormStats(torch.stack([stats[i][p].mean for i in images]), torch.stack([stats[i][p].var for i in images]))
        for p in positions
    }


def _batches(count: int, size: int) -> Iterator[list[int]]:
    for start in range(0, count, size):
        yield list(range(start, min(start + size, count)))


def _gather(canvas: torch.Tensor, picked: list[tuple[int, Tile]], scale: int, backend: Backend) -> torch.Tensor:
    """The tiles' regions as one channels-last batch in the backend's dtype, on its device.

    A single tile covering the whole canvas is passed as a view: nothing writes to the canvas
    before the backend returns, and backends do not write to their inputs.
    """
    first = picked[0][1].region.scaled(scale)
    whole = len(picked) == 1 and (first.height, first.width) == tuple(canvas.shape[2:])
    if whole and canvas.dtype == backend.dtype and canvas.device == backend.device:
        return canvas[picked[0][0]][None]
    shape = (len(picked), canvas.shape[1], first.height, first.width)
    batch = torch.empty(shape, dtype=backend.dtype, device=backend.device, memory_format=torch.channels_last)
    for b, (image, tile) in enumerate(picked):
        batch[b].copy_(_crop(canvas[image], tile.region, scale), non_blocking=True)
    return batch


def new_canvas(
    images: int, channels: int, height: int, width: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """An (N, C, H, W) canvas stored channels-last, the layout tiles are computed in."""
    return torch.empty((images, channels, height, width), dtype=dtype, device=device, memory_format=torch.channels_last)


def _crop(t: torch.Tensor, rect: Rect, scale: int) -> torch.Tensor:
    r = rect.scaled(scale)
    return t[:, r.y0 : r.y1, r.x0 : r.x1]


def _paste(canvas: torch.Tensor, rect: Rect, values: torch.Tensor) -> None:
    canvas[:, rect.y0 : rect.y1, rect.x0 : rect.x1] = values


class _CoreWriter:
    """Writes tile cores into canvases. When a sweep overwrites a canvas it reads, the part of a core
    that later tiles of its image read (strips a margin wide) waits, copied, until the last of them
    has gathered its input; the rest is written at once. Tiles are numbered image by image."""

    def __init__(self, tiles: list[Tile], images: int, lagged: bool) -> None:
        self.count = len(tiles)
        self.interiors = unread_interiors(tiles) if lagged else None
        readers = last_readers(tiles) if lagged else []
        self.ready_after = [i * self.count + r for i in range(images) for r in readers]
        self.pending: list[tuple[int, torch.Tensor, Rect, torch.Tensor]] = []

    def put(self, tile: int, canvas: torch.Tensor, core: Rect, values: torch.Tensor, scale: int) -> None:
        """Write ``values`` (the core at 1/``scale`` resolution) of tile number ``tile``."""
        if self.interiors is None:
            _paste(canvas, core.scaled(scale), values)
            return
        inner = self.interiors[tile % self.count]
        if inner.area:
            _paste(canvas, inner.scaled(scale), _crop(values, inner.relative_to(core), scale))
        for strip in border_strips(core, inner):
            if strip.area:
                held = _crop(values, strip.relative_to(core), scale).clone()
                self.pending.append((tile, canvas, strip.scaled(scale), held))

    def commit(self, last_read: int) -> None:
        """Write every pending strip whose readers are all at or before tile ``last_read``."""
        keep = []
        for entry in self.pending:
            if self.ready_after[entry[0]] <= last_read:
                _paste(entry[1], entry[2], entry[3])
            else:
                keep.append(entry)
        self.pending = keep
