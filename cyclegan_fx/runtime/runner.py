"""The one path every image takes: pixels in, translated pixels out.

GIMP, the folder watcher, video and ``cyclegan-fx apply`` all call ``Runner.run``.
A Runner holds only what is fixed for its life (the generator and a backend);
everything about one call lives in that call, so threads may share a Runner.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F

from cyclegan_fx.errors import DeviceError, ImageTooLargeError, ImageTooSmallError
from cyclegan_fx.networks import Generator
from cyclegan_fx.runtime import pixels, resample
from cyclegan_fx.runtime.backend import Backend, NormStats
from cyclegan_fx.runtime.config import RunOptions, StatsMode
from cyclegan_fx.runtime.devices import is_out_of_memory
from cyclegan_fx.runtime.executor import Grid, execute, sweep_cost, sweep_tiles
from cyclegan_fx.runtime.plan import Rect, round_up
from cyclegan_fx.runtime.progress import ProgressCallback, ProgressTracker
from cyclegan_fx.runtime.schedule import Schedule, exact_schedule, lean_schedule, single_sweep
from cyclegan_fx.runtime.sizing import choose_grid, place_canvases

log = logging.getLogger(__name__)


class Runner:
    def __init__(self, generator: Generator, backend: Backend, work_size: int | None = None) -> None:
        """``work_size`` is the model's recommended long side; None means full resolution."""
        self.generator = generator
        self.backend = backend
        self.work_size = work_size
        program = generator.program
        self._schedules = {
            StatsMode.EXACT: [exact_schedule(program), lean_schedule(program)],  # fastest first
            StatsMode.THUMBNAIL: [single_sweep(program, local_norms=False)],
            StatsMode.TILE: [single_sweep(program, local_norms=True)],
        }

    def run(self, image: np.ndarray, options: RunOptions = RunOptions(), progress: ProgressCallback | None = None) -> np.ndarray:
        """Translate an H x W [x C] array (uint8, uint16 or float; gray, RGB, with or without alpha)."""
        height, width = image.shape[:2]
        if height * width > options.max_pixels:
            raise ImageTooLargeError(
                f"The image is {width}x{height} ({height * width / 1e6:.0f} MP), over the "
                f"{options.max_pixels / 1e6:.0f} MP limit; raise it with --max-pixels."
            )
        colour, alpha, layout = pixels.split(image)
        shape = resample.work_shape(height, width, self._work_long_side(options), self.generator.min_size)
        if shape == (height, width):
            out = self.translate(colour, options, progress)
        else:
            rgb = pixels.to_float(colour)
            small = resample.downscale(rgb, shape)
            out = resample.restore_detail(self.translate(small, options, progress), rgb, small)
        if options.strength < 1.0:
            out = resample.blend(pixels.to_float(colour), out, options.strength)
        return pixels.join(out, alpha, layout)

    def _work_long_side(self, options: RunOptions) -> int | None:
        if options.work_size == "model":
            return self.work_size
        return None if options.work_size == "full" else options.work_size

    def translate(self, rgb: np.ndarray, options: RunOptions = RunOptions(), progress: ProgressCallback | None = None) -> np.ndarray:
        """The network at the image's own resolution (no work size, no blending).

        ``rgb`` is H x W x 3, uint8, uint16 or float in [0, 1]; the result is float32 in [0, 1].
        """
        height, width = rgb.shape[:2]
        need = self.generator.min_size
        if min(height, width) < need:
            raise ImageTooSmallError(f"The image is {width}x{height} pixels; this model needs at least {need}x{need}.")
        y = self._execute(rgb, options, progress)[:, :height, :width]
        return y.add_(1.0).mul_(0.5).permute(1, 2, 0).numpy()

    def _execute(self, rgb: np.ndarray, options: RunOptions, progress: ProgressCallback | None) -> torch.Tensor:
        """Run the schedule, halving the tile after an out-of-memory error."""
        mode = options.stats if self.generator.tileable else StatsMode.EXACT
        tile = options.tile if self.generator.tileable else 0
        g = self.generator.granularity
        height, width = round_up(rgb.shape[0], g), round_up(rgb.shape[1], g)
        while True:
            grid = choose_grid(self.generator.program, self.backend, height, width, tile, options.batch, mode)
            try:
                return self._run_grid(rgb, grid, mode, options, progress)
            except (torch.OutOfMemoryError, RuntimeError) as exc:
                if not is_out_of_memory(exc):
                    raise
                tile = _smaller_tile(grid, self.generator.granularity, exc)
                log.warning("Out of memory with %d px tiles; retrying with %d px tiles.", _core_size(grid), tile)
                if self.backend.device.type == "cuda":
                    torch.cuda.empty_cache()

    def _run_grid(self, rgb: np.ndarray, grid: Grid, mode: StatsMode, options: RunOptions, progress) -> torch.Tensor:
        program = self.generator.program
        whole = len(grid.cores) == 1
        stats: dict[int, NormStats] = {}
        if mode is StatsMode.THUMBNAIL:
            stats = self._thumbnail_stats(self._network_input(rgb), options.thumbnail_size)
            candidates = self._schedules[StatsMode.THUMBNAIL]
        elif whole or mode is StatsMode.TILE:
            candidates = self._schedules[StatsMode.TILE]
        else:
            candidates = self._schedules[StatsMode.EXACT]
        schedule, storage = place_canvases(program, candidates, self.backend, grid, options.max_memory)
        tracker = _tracker(program, schedule, grid, progress)
        # Made by the executor and held only there, so it is freed once the last sweep has read it.
        source = lambda: self._network_input(rgb).to(storage)  # noqa: E731
        return execute(self.backend, program, schedule, source, grid, stats, tracker.tile_done, storage).cpu()

    def _network_input(self, rgb: np.ndarray) -> torch.Tensor:
        """(3, H, W) float32 in [-1, 1], padded to the granularity."""
        scale = 2.0 / pixels.value_range(rgb.dtype)
        x = torch.from_numpy(rgb.astype(np.float32)).permute(2, 0, 1)  # a copy: rgb is never touched
        x.mul_(scale).sub_(1.0)
        return _pad_to_multiple(x, self.generator.granularity)

    def _thumbnail_stats(self, x: torch.Tensor, long_side: int) -> dict[int, NormStats]:
        """Statistics of every norm, measured exactly on a downscaled copy (one tile)."""
        g = self.generator.granularity
        scale = min(1.0, long_side / max(x.shape[1:]))
        size = [max(self.generator.min_size, round_up(round(s * scale), g)) for s in x.shape[1:]]
        thumb = F.interpolate(x[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0]
        grid = Grid([Rect(0, 0, *size)], size[0], size[1], batch=1)
        stats: dict[int, NormStats] = {}
        program, schedule = self.generator.program, self._schedules[StatsMode.EXACT][0]
        execute(self.backend, program, schedule, lambda: thumb, grid, stats, lambda cost: None, self.backend.device)
        return stats


def _pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad bottom and right to a multiple, mirroring where the image is large enough."""
    pad_h = round_up(x.shape[1], multiple) - x.shape[1]
    pad_w = round_up(x.shape[2], multiple) - x.shape[2]
    if not pad_h and not pad_w:
        return x
    mode = "reflect" if pad_h < x.shape[1] and pad_w < x.shape[2] else "replicate"
    return F.pad(x[None], (0, pad_w, 0, pad_h), mode=mode)[0]


def _tracker(program, schedule: Schedule, grid: Grid, progress: ProgressCallback | None) -> ProgressTracker:
    cost, count = 0.0, 0
    for sweep in schedule.sweeps:
        tiles = sweep_tiles(program, sweep, grid)
        cost += sum(sweep_cost(program, sweep, t) for t in tiles)
        count += len(tiles)
    return ProgressTracker(progress, cost, count)


def _core_size(grid: Grid) -> int:
    return max(max(c.height, c.width) for c in grid.cores)


def _smaller_tile(grid: Grid, granularity: int, exc: BaseException) -> int:
    tile = round_up(_core_size(grid) // 2, granularity)
    if tile < max(64, granularity):
        raise DeviceError("Out of memory even with the smallest tiles; free memory or use --device cpu.") from exc
    return tile
