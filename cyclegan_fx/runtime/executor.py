"""Run a schedule of sweeps over a tile grid: gather tiles, call the backend, stitch cores.

Everything here lives for one call: canvases, statistics and pending writes are
local variables, so one backend can serve many concurrent calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from cyclegan_fx.networks import Program
from cyclegan_fx.runtime.backend import Backend, NormStats
from cyclegan_fx.runtime.plan import Rect, Tile, last_readers, plan_tiles, round_up
from cyclegan_fx.runtime.schedule import INPUT, Schedule, Segment, Sweep

TileDone = Callable[[float], None]  # called with the cost of each finished tile


@dataclass(frozen=True)
class Grid:
    cores: list[Rect]
    height: int
    width: int
    batch: int


def sweep_margin(program: Program, segment: Segment) -> int:
    """Context a tile needs for one segment: its receptive radius, aligned to the granularity."""
    return round_up(program.radius(segment.start, segment.end), program.granularity)


def sweep_tiles(program: Program, sweep: Sweep, grid: Grid) -> list[Tile]:
    """The tiles of one sweep: margins cover exactly that sweep's receptive field."""
    return plan_tiles(grid.cores, sweep_margin(program, sweep.segment), grid.height, grid.width)


def sweep_cost(program: Program, sweep: Sweep, tile: Tile) -> float:
    """Multiply-accumulates one tile of this sweep costs (for progress)."""
    return program.macs_per_pixel(sweep.segment.start, sweep.segment.end) * tile.region.area + 1.0


def execute(
    backend: Backend,
    program: Program,
    schedule: Schedule,
    source: Callable[[], torch.Tensor],
    grid: Grid,
    stats: dict[int, NormStats],
    on_tile: TileDone,
    storage: torch.device,
) -> torch.Tensor:
    """Run every sweep; return the output (C, H, W) in float32 on ``storage``.

    ``source`` makes the input, (C, H, W) float32 in [-1, 1]; it is dropped after
    its last reader. ``stats`` holds given statistics and receives the collected ones.
    """
    slots: dict[int, torch.Tensor] = {INPUT: source()}
    output = None
    for index, sweep in enumerate(schedule.sweeps):
        if sweep.segment.end == len(program) and output is None:
            output = new_canvas(program.out_channels, grid.height, grid.width, torch.float32, storage)
        for position, slot in sweep.sinks:
            if slot not in slots:
                shape = schedule.slots[slot]
                size = (shape.channels, grid.height // shape.scale, grid.width // shape.scale)
                slots[slot] = new_canvas(*size, backend.dtype, storage)
        collected = _run_sweep(backend, program, sweep, grid, slots, stats, output, on_tile)
        if collected is not None:
            stats[sweep.segment.end] = collected
        for slot, last in schedule.last_use.items():
            if last == index:
                slots.pop(slot, None)
    return output


def _run_sweep(backend, program, sweep, grid, slots, stats, output, on_tile) -> NormStats | None:
    seg = sweep.segment
    tiles = sweep_tiles(program, sweep, grid)
    in_scale = program.scale_before[seg.start]
    out_scale = program.scale_before[seg.end] if seg.end < len(program) else 1
    skip_scales = [program.scale_before[s] for s in seg.skips_in]
    reads = {sweep.source, *sweep.skip_slots}
    writer = _CoreWriter(tiles, lagged=any(slot in reads for _, slot in sweep.sinks))
    moments = _Moments() if sweep.collect else None
    for batch in _batches(len(tiles), grid.batch):
        regions = [tiles[i].region for i in batch]
        x = _gather(slots[sweep.source], regions, in_scale, backend)
        skips = [_gather(slots[s], regions, scale, backend) for s, scale in zip(sweep.skip_slots, skip_scales)]
        result = backend.run(seg, x, skips, stats)
        del x, skips
        values = {seg.end: result.out, **dict(zip(seg.saves_out, result.saved))}
        for b, i in enumerate(batch):
            core = tiles[i].core.relative_to(tiles[i].region)
            if moments is not None:
                moments.add(_crop(result.out[b], core, out_scale))
            for position, slot in sweep.sinks:
                scale = program.scale_before[position]
                writer.put(i, slots[slot], tiles[i].core.scaled(scale), _crop(values[position][b], core, scale))
            if seg.end == len(program):
                _paste(output, tiles[i].core, _crop(result.out[b], core, 1))
            on_tile(sweep_cost(program, sweep, tiles[i]))
        writer.commit(batch[-1])
    writer.commit(len(tiles))
    return moments.result() if moments is not None else None


def _batches(count: int, size: int) -> Iterator[list[int]]:
    for start in range(0, count, size):
        yield list(range(start, min(start + size, count)))


def _gather(canvas: torch.Tensor, regions: list[Rect], scale: int, backend: Backend) -> torch.Tensor:
    """Copy the regions into one channels-last batch in the backend's dtype, on its device."""
    first = regions[0].scaled(scale)
    shape = (len(regions), canvas.shape[0], first.height, first.width)
    batch = torch.empty(shape, dtype=backend.dtype, device=backend.device, memory_format=torch.channels_last)
    for b, region in enumerate(regions):
        batch[b].copy_(_crop(canvas, region, scale), non_blocking=True)
    return batch


def new_canvas(channels: int, height: int, width: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A (C, H, W) canvas stored channels-last, the layout tiles are computed in."""
    return torch.empty((1, channels, height, width), dtype=dtype, device=device, memory_format=torch.channels_last)[0]


def _crop(t: torch.Tensor, rect: Rect, scale: int) -> torch.Tensor:
    r = rect.scaled(scale)
    return t[:, r.y0 : r.y1, r.x0 : r.x1]


def _paste(canvas: torch.Tensor, rect: Rect, values: torch.Tensor) -> None:
    canvas[:, rect.y0 : rect.y1, rect.x0 : rect.x1] = values


class _CoreWriter:
    """Writes tile cores into canvases; when a sweep overwrites a canvas it reads,
    each core waits until the last tile that reads it has gathered its input."""

    def __init__(self, tiles: list[Tile], lagged: bool) -> None:
        self.ready_after = last_readers(tiles) if lagged else None
        self.pending: list[tuple[int, torch.Tensor, Rect, torch.Tensor]] = []

    def put(self, tile: int, canvas: torch.Tensor, rect: Rect, values: torch.Tensor) -> None:
        if self.ready_after is None:
            _paste(canvas, rect, values)
        else:
            self.pending.append((tile, canvas, rect, values.clone()))

    def commit(self, last_read: int) -> None:
        """Write every pending core whose readers are all at or before tile ``last_read``."""
        if self.ready_after is None:
            return
        keep = []
        for entry in self.pending:
            if self.ready_after[entry[0]] <= last_read:
                _paste(entry[1], entry[2], entry[3])
            else:
                keep.append(entry)
        self.pending = keep


class _Moments:
    """Per-channel mean and variance over many cores, summed in float64.

    Each core is first summed along its rows in float32 (short, exact enough
    sums that vectorize well), then the row sums are accumulated in float64.
    """

    def __init__(self) -> None:
        self.count = 0
        self.sum: torch.Tensor | float = 0.0
        self.sum_sq: torch.Tensor | float = 0.0

    def add(self, core: torch.Tensor) -> None:
        values = core.permute(1, 2, 0).float()
        self.sum = self.sum + values.sum(1).sum(0, dtype=torch.float64).cpu()
        self.sum_sq = self.sum_sq + values.square().sum(1).sum(0, dtype=torch.float64).cpu()
        self.count += core.shape[1] * core.shape[2]

    def result(self) -> NormStats:
        mean = self.sum / self.count
        return NormStats(mean, (self.sum_sq / self.count - mean.square()).clamp_min(0.0))
