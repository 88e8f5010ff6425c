"""How big tiles and batches are, and where canvases live, from the memory there is."""

from __future__ import annotations

import torch

from cyclegan_fx.errors import NotEnoughMemoryError
from cyclegan_fx.networks import Program
from cyclegan_fx.runtime.backend import Backend
from cyclegan_fx.runtime.config import StatsMode
from cyclegan_fx.runtime.devices import available_memory, process_rss
from cyclegan_fx.runtime.executor import Grid, sweep_margin
from cyclegan_fx.runtime.plan import Rect, plan_cores, round_up
from cyclegan_fx.runtime.schedule import INPUT, Schedule, exact_schedule

CORE_SIZES = (2048, 1536, 1024, 768, 512, 384, 256, 192, 128, 96, 64)
CPU_MAX_CORE = 256  # measured fastest on CPUs (cache-sized tiles); larger ones only cost memory
GPU_TILE_SHARE = 0.5
MAX_BATCH = 8
WIDE_FACTOR = 4
HOST_RESERVE = 512 << 20  # tiles in flight, delayed core writes and post-processing copies
_OVERHEAD = 3  # input, output and workspace of the widest layer, plus the allocator's slack


def choose_grid(
    program: Program,
    backend: Backend,
    height: int,
    width: int,
    tile: int | None,
    batch: int | None,
    mode: StatsMode,
    images: int = 1,
) -> Grid:
    """Cores of the requested size (0: one for the whole image) or the largest that fits in memory,
    for ``images`` images of this size translated together."""
    margin = _margin(program, mode)
    budget = _tile_budget(backend)
    itemsize = torch.empty((), dtype=backend.dtype).element_size()
    if tile == 0:
        core = max(height, width)
    elif tile is None:
        fits = [c for c in CORE_SIZES if tile_bytes(program, c, margin, itemsize) <= budget and c <= _max_core(backend)]
        core = min(fits[0] if fits else CORE_SIZES[-1], round_up(max(height, width), program.granularity))
    else:
        core = round_up(tile, program.granularity)
    if backend.max_tile is not None:
        core = min(core, backend.max_tile)  # engines are built for tiles up to this size
    cores = plan_cores(height, width, core, program.granularity)
    wide = _wide_cores(backend, height, width, core, program.granularity, cores)
    if batch is None:
        batch = _auto_batch(backend, tile_bytes(program, core, margin, itemsize), budget, len(cores) * images)
    if backend.max_batch is not None:
        batch = min(batch, backend.max_batch)
    return Grid(cores, height, width, batch, images, wide)


def _wide_cores(
    backend: Backend, height: int, width: int, core: int, align: int, cores: list[Rect]
) -> list[Rect] | None:
    """Cores for the bottleneck sweeps where the backend's tuning asks for them: up to WIDE_FACTOR times
    the side of the others. None where every sweep uses ``cores``: backends without a wide core (GPUs),
    engines (fixed profiles), and when they would be the same."""
    limit = backend.tuning.wide_core
    if limit is None or backend.max_tile is not None:
        return None
    wide = plan_cores(height, width, max(core, min(core * WIDE_FACTOR, limit)), align)
    return None if wide == cores else wide


def tile_bytes(program: Program, core: int, margin: int, itemsize: int) -> int:
    """Peak memory of one tile: the widest layer's input and output at that layer's resolution."""
    side = core + 2 * margin
    widest = 0.0
    for i in range(len(program)):
        after = program.channels_before[i + 1] if i + 1 < len(program) else program.out_channels
        scale_after = program.scale_before[i + 1] if i + 1 < len(program) else 1
        values = program.channels_before[i] / program.scale_before[i] ** 2 + after / scale_after**2
        widest = max(widest, values)
    return int(widest * side * side * itemsize * _OVERHEAD)


def place_canvases(
    program: Program, candidates: list[Schedule], backend: Backend, grid: Grid, memory_limit: int | None
) -> tuple[Schedule, torch.device]:
    """The first schedule the backend can run whose canvases fit, and where they live: on the GPU when
    they fit there comfortably, else in host memory (within ``memory_limit`` bytes for the whole process)."""
    itemsize = torch.empty((), dtype=backend.dtype).element_size()
    host = _host_budget(memory_limit)
    candidates = runnable(candidates, backend)
    for schedule in candidates:
        need = memory_need(program, schedule, grid, itemsize)
        if backend.device.type == "cuda" and need < available_memory(backend.device) * (1 - GPU_TILE_SHARE) * 0.8:
            return schedule, backend.device
        if need <= host:
            return schedule, torch.device("cpu")
    need = canvas_bytes(program, candidates[-1], grid, itemsize)
    raise NotEnoughMemoryError(
        f"Exact statistics for a {grid.width}x{grid.height} image need {need / 2**30:.1f} GiB of memory "
        f"but {max(host, 0) / 2**30:.1f} GiB is available; use --stats thumbnail or a smaller --work-size."
    )


def runnable(candidates: list[Schedule], backend: Backend) -> list[Schedule]:
    """The schedules whose every segment the backend can run (an exported pack has a fixed set)."""
    return [s for s in candidates if backend.segments is None or {w.segment for w in s.sweeps} <= backend.segments]


def memory_need(program: Program, schedule: Schedule, grid: Grid, itemsize: int) -> float:
    """Free memory a schedule asks for: its canvases may take only its share of it."""
    return canvas_bytes(program, schedule, grid, itemsize) / schedule.memory_share


def canvas_bytes(program: Program, schedule: Schedule, grid: Grid, itemsize: int) -> int:
    """Canvases of a schedule plus the float input and output images, for every image of the grid."""
    pixels = grid.height * grid.width * grid.images
    need = sum(s.channels * pixels // s.scale**2 * itemsize for k, s in schedule.slots.items() if k != INPUT)
    return need + (program.in_channels + program.out_channels) * pixels * 4


def _host_budget(memory_limit: int | None) -> int:
    """Host memory the canvases may take: what is free, or the limit less what the process holds."""
    free = available_memory(torch.device("cpu"))
    if memory_limit is None:
        return free
    return min(free, memory_limit - process_rss() - HOST_RESERVE)


def _margin(program: Program, mode: StatsMode) -> int:
    if mode is StatsMode.EXACT:
        return max(sweep_margin(program, sweep.segment) for sweep in exact_schedule(program).sweeps)
    return round_up(program.radius(), program.granularity)


def _tile_budget(backend: Backend) -> int:
    free = available_memory(backend.device)
    return int(free * GPU_TILE_SHARE) if backend.device.type == "cuda" else free // 4


def _max_core(backend: Backend) -> int:
    return CORE_SIZES[0] if backend.device.type == "cuda" else CPU_MAX_CORE


def _auto_batch(backend: Backend, per_tile: int, budget: int, tiles: int) -> int:
    """One tile per call on a CPU (its threads already share the tile); as many as fit on a GPU."""
    if backend.device.type != "cuda":
        return 1
    return max(1, min(MAX_BATCH, tiles, budget // max(per_tile, 1)))
