"""Tile geometry: rectangles in, rectangles out. No tensors, no state.

Cores partition the (granularity-padded) image; every pixel belongs to exactly
one core. A tile is its core grown by a margin on the sides that face other
tiles, as one fixed size for the whole grid, so tiles can be batched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Rect:
    y0: int
    x0: int
    y1: int
    x1: int

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def area(self) -> int:
        return self.height * self.width

    def scaled(self, scale: int) -> Rect:
        """The same rectangle on a grid ``scale`` times coarser (coordinates must divide)."""
        return Rect(self.y0 // scale, self.x0 // scale, self.y1 // scale, self.x1 // scale)

    def relative_to(self, outer: Rect) -> Rect:
        return Rect(self.y0 - outer.y0, self.x0 - outer.x0, self.y1 - outer.y0, self.x1 - outer.x0)

    def intersects(self, other: Rect) -> bool:
        return self.y0 < other.y1 and other.y0 < self.y1 and self.x0 < other.x1 and other.x0 < self.x1


@dataclass(frozen=True)
class Tile:
    core: Rect  # the pixels this tile is responsible for
    region: Rect  # what it reads: the core plus context


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def aligned_spans(length: int, max_core: int, align: int) -> list[tuple[int, int]]:
    """Cut ``0..length`` into near-equal aligned spans no longer than ``max_core``."""
    if length % align or max_core < align:
        raise ValueError("length must be aligned and the core at least one alignment unit")
    units, per_core = length // align, max(1, max_core // align)
    count = -(-units // per_core)
    base, extra = divmod(units, count)
    spans, start = [], 0
    for i in range(count):
        size = (base + (i < extra)) * align
        spans.append((start, start + size))
        start += size
    return spans


def plan_cores(height: int, width: int, max_core: int, align: int) -> list[Rect]:
    """Cores covering the whole image, in rows across its shorter side.

    A sweep that rewrites the canvas it reads holds back about one such row of
    cores (see ``last_readers``), so rows across the shorter side hold back least.
    """
    rows, cols = aligned_spans(height, max_core, align), aligned_spans(width, max_core, align)
    if width > height:
        return [Rect(y0, x0, y1, x1) for x0, x1 in cols for y0, y1 in rows]
    return [Rect(y0, x0, y1, x1) for y0, y1 in rows for x0, x1 in cols]


def plan_tiles(cores: list[Rect], margin: int, height: int, width: int) -> list[Tile]:
    """Grow every core by ``margin`` into one common tile size that stays inside the image.

    A tile at the image border is shifted inwards rather than clipped, so it keeps
    the common size; its core then has more context on one side, never less than
    ``margin`` on a side that faces another tile.
    """
    tile_h = min(max(c.height for c in cores) + 2 * margin, height)
    tile_w = min(max(c.width for c in cores) + 2 * margin, width)
    tiles = []
    for core in cores:
        y0 = min(max(core.y0 - margin, 0), height - tile_h)
        x0 = min(max(core.x0 - margin, 0), width - tile_w)
        tiles.append(Tile(core, Rect(y0, x0, y0 + tile_h, x0 + tile_w)))
    return tiles


def last_readers(tiles: list[Tile]) -> list[int]:
    """For each tile, the index of the last tile whose region overlaps its core.

    A sweep that overwrites the canvas it reads may write a core only after that
    tile has read its region.
    """
    regions = np.array([(t.region.y0, t.region.x0, t.region.y1, t.region.x1) for t in tiles])
    cores = np.array([(t.core.y0, t.core.x0, t.core.y1, t.core.x1) for t in tiles])
    overlap = (
        (regions[None, :, 0] < cores[:, None, 2])
        & (cores[:, None, 0] < regions[None, :, 2])
        & (regions[None, :, 1] < cores[:, None, 3])
        & (cores[:, None, 1] < regions[None, :, 3])
    )
    index = np.arange(len(tiles))
    return np.where(overlap, index[None, :], -1).max(axis=1).tolist()


def unread_interiors(tiles: list[Tile]) -> list[Rect]:
    """For each tile, the largest rectangle inside its core that no later tile's region overlaps.

    Overlaps come from neighbouring tiles, so each touches an edge of the core; the core is
    shrunk from that edge (from the top or bottom for a corner). May be empty.
    """
    interiors = []
    for i, tile in enumerate(tiles):
        c = tile.core
        y0, x0, y1, x1 = c.y0, c.x0, c.y1, c.x1
        for later in tiles[i + 1 :]:
            r = later.region
            if not r.intersects(c):
                continue
            o = Rect(max(r.y0, c.y0), max(r.x0, c.x0), min(r.y1, c.y1), min(r.x1, c.x1))
            if o.height == c.height and o.width < c.width and o.x0 == c.x0:
                x0 = max(x0, o.x1)
            elif o.height == c.height and o.width < c.width and o.x1 == c.x1:
                x1 = min(x1, o.x0)
            elif o.y0 == c.y0:
                y0 = max(y0, o.y1)
            elif o.y1 == c.y1:
                y1 = min(y1, o.y0)
            else:
                y1 = y0
        y1, x1 = max(y0, y1), max(x0, x1)
        interiors.append(Rect(y0, x0, y1, x1))
    return interiors


def border_strips(core: Rect, inner: Rect) -> list[Rect]:
    """The core less ``inner``, as up to four rectangles (top, bottom, left, right)."""
    return [
        Rect(core.y0, core.x0, inner.y0, core.x1),
        Rect(inner.y1, core.x0, core.y1, core.x1),
        Rect(inner.y0, core.x0, inner.y1, inner.x0),
        Rect(inner.y0, inner.x1, inner.y1, core.x1),
    ]
