"""The one path every image takes: pixels in, translated pixels out.

GIMP, the folder watcher, video and ``cyclegan-fx apply`` all call ``Runner.run``.
A Runner holds only what is fixed for its life (the generator and a backend);
everything about one call lives in that call, so threads may share a Runner.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from cyclegan_fx.errors import ConfigError, ImageTooLargeError, ImageTooSmallError, NotEnoughMemoryError
from cyclegan_fx.networks import Generator
from cyclegan_fx.runtime import pixels, resample
from cyclegan_fx.runtime.backend import Backend, NormHook, NormStats
from cyclegan_fx.runtime.config import RunOptions, StatsMode
from cyclegan_fx.runtime.devices import is_out_of_memory
from cyclegan_fx.runtime.executor import Grid, execute, sweep_cost, sweep_tiles
from cyclegan_fx.runtime.plan import round_up
from cyclegan_fx.runtime.progress import ProgressCallback, ProgressTracker
from cyclegan_fx.runtime.schedule import Schedule, exact_schedule, lean_schedule, single_sweep, stored_schedule
from cyclegan_fx.runtime.sizing import choose_grid, place_canvases, runnable
from cyclegan_fx.runtime.statistics import OwnStats, StatsSource

log = logging.getLogger(__name__)
OWN = OwnStats()
DEFAULTS = RunOptions()


class Runner:
    def __init__(self, generator: Generator, backend: Backend, work_size: int | None = None) -> None:
        """``work_size`` is the model's recommended long side; None means full resolution."""
        self.generator = generator
        self.backend = backend
        self.work_size = work_size
        program = generator.program
        self._schedules = {
            StatsMode.EXACT: [stored_schedule(program), exact_schedule(program), lean_schedule(program)],  # fastest first
            StatsMode.THUMBNAIL: [single_sweep(program, local_norms=False)],  # every norm's statistics known
            StatsMode.TILE: [single_sweep(program, local_norms=True)],
        }

    def run(
        self, image: np.ndarray, options: RunOptions = DEFAULTS, progress: ProgressCallback | None = None,
        statistics: StatsSource = OWN,
    ) -> np.ndarray:
        """Translate an H x W [x C] array (uint8, uint16 or float; gray, RGB, with or without alpha)."""
        return self.run_batch([image], options, progress, statistics)[0]

    def run_batch(
        self, images: Sequence[np.ndarray], options: RunOptions = DEFAULTS,
        progress: ProgressCallback | None = None, statistics: StatsSource = OWN,
    ) -> list[np.ndarray]:
        """Translate images of one shape and type together; each result equals ``run`` of that image.

        On a GPU, tiles of several images share a backend call.
        """
        if not images:
            return []
        height, width = _common_shape(images)
        if height * width > options.max_pixels:
            raise ImageTooLargeError(
                f"The image is {width}x{height} ({height * width / 1e6:.0f} MP), over the "
                f"{options.max_pixels / 1e6:.0f} MP limit; raise it with --max-pixels."
            )
        parts = [pixels.split(image) for image in images]
        colours = [colour for colour, _, _ in parts]
        shape = resample.work_shape(height, width, self._work_long_side(options), self.generator.min_size)
        if shape == (height, width):
            outs = self._translate_batch(colours, options, progress, statistics)
        else:
            rgbs = [pixels.to_float(colour) for colour in colours]
            smalls = [resample.downscale(rgb, shape) for rgb in rgbs]
            translated = self._translate_batch(smalls, options, progress, statistics)
            outs = [resample.restore_detail(*trio) for trio in zip(translated, rgbs, smalls)]
        if options.strength < 1.0:
            outs = [resample.blend(pixels.to_float(c), out, options.strength) for c, out in zip(colours, outs)]
        return [pixels.join(out, alpha, layout) for out, (_, alpha, layout) in zip(outs, parts)]

    def _work_long_side(self, options: RunOptions) -> int | None:
        if options.work_size == "model":
            return self.work_size
        return None if options.work_size == "full" else options.work_size

    def _translate_batch(
        self, rgbs: Sequence[np.ndarray], options: RunOptions, progress: ProgressCallback | None,
        statistics: StatsSource,
    ) -> list[np.ndarray]:
        """The network at the images' own resolution: H x W x 3 arrays of one shape (uint8, uint16 or
        float in [0, 1]) to float32 in [0, 1]."""
        height, width = _common_shape(rgbs)
        need = self.generator.min_size
        if min(height, width) < need:
            raise ImageTooSmallError(f"The image is {width}x{height} pixels; this model needs at least {need}x{need}.")
        y = self._execute(rgbs, options, progress, statistics)[:, :, :height, :width]
        return list(y.add_(1.0).mul_(0.5).permute(0, 2, 3, 1).numpy())

    def _execute(
        self, rgbs, options: RunOptions, progress: ProgressCallback | None, statistics: StatsSource
    ) -> torch.Tensor:
        """Run the schedule, halving the tile after an out-of-memory error."""
        mode = options.stats if self.generator.tileable else StatsMode.EXACT
        if mode is StatsMode.TILE and statistics.hook is not None:
            raise ConfigError("Statistics adjusted across images need --stats exact or thumbnail, not tile.")
        tile = options.tile if self.generator.tileable else 0
        g = self.generator.granularity
        height, width = round_up(rgbs[0].shape[0], g), round_up(rgbs[0].shape[1], g)
        while True:
            grid = choose_grid(self.generator.program, self.backend, height, width, tile, options.batch, mode, len(rgbs))
            try:
                return self._run_grid(rgbs, grid, mode, options, progress, statistics)
            except (torch.OutOfMemoryError, RuntimeError) as exc:
                if not is_out_of_memory(exc):
                    raise
                tile = _smaller_tile(grid, self.generator.granularity, exc)
                log.warning("Out of memory with %d px tiles; retrying with %d px tiles.", _core_size(grid), tile)
                if self.backend.device.type == "cuda":
                    torch.cuda.empty_cache()

    def _run_grid(
        self, rgbs, grid: Grid, mode: StatsMode, options: RunOptions, progress, statistics: StatsSource
    ) -> torch.Tensor:
        program = self.generator.program
        hook = statistics.hook
        given = statistics.known(program.norms, len(rgbs))
        stats: list[dict[int, NormStats]] = [{} for _ in rgbs]
        if given is not None:
            stats = given
            candidates = self._schedules[StatsMode.THUMBNAIL]
        elif mode is StatsMode.THUMBNAIL:
            stats = self._thumbnail_stats(rgbs, options, hook)
            candidates = self._schedules[StatsMode.THUMBNAIL]
        elif mode is StatsMode.TILE or (len(grid.cores) == 1 and hook is None):
            candidates = self._schedules[StatsMode.TILE]  # one tile with its own statistics is exact
        else:
            candidates = self._schedules[StatsMode.EXACT]
        schedule, storage = place_canvases(program, candidates, self.backend, grid, options.max_memory)
        tracker = _tracker(program, schedule, grid, progress)
        # Made by the executor and held only there, so it is freed once the last sweep has read it.
        source = lambda: self._network_inputs(rgbs).to(storage)
        return execute(self.backend, program, schedule, source, grid, stats, tracker.tile_done, storage, hook).cpu()

    def _network_inputs(self, rgbs) -> torch.Tensor:
        """(N, 3, H, W) float32 in [-1, 1], padded to the granularity."""
        return torch.stack([self._network_input(rgb) for rgb in rgbs])

    def _network_input(self, rgb: np.ndarray) -> torch.Tensor:
        """(3, H, W) float32 in [-1, 1], padded to the granularity."""
        scale = 2.0 / pixels.value_range(rgb.dtype)
        x = torch.from_numpy(rgb.astype(np.float32)).permute(2, 0, 1)  # a copy: rgb is never touched
        x.mul_(scale).sub_(1.0)
        return _pad_to_multiple(x, self.generator.granularity)

    def _thumbnail_stats(self, rgbs, options: RunOptions, hook: NormHook | None) -> list[dict[int, NormStats]]:
        """Statistics of every norm, measured exactly on downscaled copies (one tile each)."""
        program = self.generator.program
        x = self._network_inputs(rgbs)
        g = self.generator.granularity
        scale = min(1.0, options.thumbnail_size / max(x.shape[2:]))
        size = [max(self.generator.min_size, round_up(round(s * scale), g)) for s in x.shape[2:]]
        thumbs = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
        del x
        grid = choose_grid(program, self.backend, *size, 0, options.batch, StatsMode.EXACT, len(rgbs))
        stats: list[dict[int, NormStats]] = [{} for _ in rgbs]
        schedule, device = runnable(self._schedules[StatsMode.EXACT], self.backend)[0], self.backend.device
        execute(self.backend, program, schedule, lambda: thumbs.to(device), grid, stats, lambda cost: None, device, hook)
        return stats


def _common_shape(images: Sequence[np.ndarray]) -> tuple[int, int]:
    """(height, width) shared by all images of a batch call."""
    first = images[0]
    for other in images[1:]:
        if other.shape != first.shape or other.dtype != first.dtype:
            raise ConfigError("Images translated together must have one shape and type.")
    return first.shape[0], first.shape[1]


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
    return ProgressTracker(progress, cost * grid.images, count * grid.images)


def _core_size(grid: Grid) -> int:
    return max(max(c.height, c.width) for c in grid.cores)


def _smaller_tile(grid: Grid, granularity: int, exc: BaseException) -> int:
    tile = round_up(_core_size(grid) // 2, granularity)
    if tile < max(64, granularity):
        raise NotEnoughMemoryError(
            "Out of memory even with the smallest tiles; free memory or use --device cpu."
        ) from exc
    return tile
