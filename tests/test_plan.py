"""The tile planner and the sweep schedule: pure geometry, checked exhaustively on small cases."""

from __future__ import annotations

import numpy as np
import pytest

from cyclegan_fx.networks import OpKind, generator_from_name
from cyclegan_fx.runtime.plan import (
    aligned_spans,
    border_strips,
    last_readers,
    plan_cores,
    plan_tiles,
    unread_interiors,
)
from cyclegan_fx.runtime.schedule import INPUT, exact_schedule, lean_schedule, stored_schedule


@pytest.mark.parametrize("length,core,align", [(4, 4, 4), (100, 32, 4), (1536, 512, 4), (1000, 96, 8), (256, 1000, 4)])
def test_aligned_spans_cover_the_length_with_aligned_bounded_spans(length, core, align):
    spans = aligned_spans(length, core, align)
    assert spans[0][0] == 0 and spans[-1][1] == length
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert all(s % align == 0 and e % align == 0 and 0 < e - s <= max(core, align) for s, e in spans)
    sizes = [e - s for s, e in spans]
    assert max(sizes) - min(sizes) <= align  # near-equal


@pytest.mark.parametrize("height,width,core,margin", [(64, 96, 32, 8), (200, 120, 64, 12), (48, 48, 16, 20), (40, 400, 64, 4)])
def test_tiles_partition_the_image_and_give_every_core_its_margin(height, width, core, margin):
    cores = plan_cores(height, width, core, 4)
    coverage = np.zeros((height, width), int)
    for c in cores:
        coverage[c.y0 : c.y1, c.x0 : c.x1] += 1
    assert (coverage == 1).all()
    tiles = plan_tiles(cores, margin, height, width)
    assert len({(t.region.height, t.region.width) for t in tiles}) == 1  # one size: batchable
    for t in tiles:
        r, c = t.region, t.core
        assert 0 <= r.y0 and r.y1 <= height and 0 <= r.x0 and r.x1 <= width
        assert r.y0 % 4 == 0 and r.x0 % 4 == 0
        assert c.y0 - r.y0 >= margin or r.y0 == 0
        assert r.y1 - c.y1 >= margin or r.y1 == height
        assert c.x0 - r.x0 >= margin or r.x0 == 0
        assert r.x1 - c.x1 >= margin or r.x1 == width


def test_last_readers_match_a_brute_force_search():
    cores = plan_cores(120, 200, 32, 4)
    tiles = plan_tiles(cores, 12, 120, 200)
    expected = [max(j for j, o in enumerate(tiles) if o.region.intersects(t.core)) for t in tiles]
    assert last_readers(tiles) == expected
    assert all(r >= i for i, r in enumerate(expected))


def test_exact_schedule_stores_only_bottleneck_canvases_and_reuses_them():
    program = generator_from_name("resnet_9blocks").program
    schedule = exact_schedule(program)
    stored = {k: s for k, s in schedule.slots.items() if k != INPUT}
    assert len(stored) == 2
    assert all(s.scale == 4 and s.channels == 256 for s in stored.values())
    assert schedule.sweeps[-1].segment.end == len(program)


@pytest.mark.parametrize("net_g", ["resnet_9blocks", "resnet_6blocks"])
def test_the_decoder_reads_one_bottleneck_canvas(net_g):
    """The last residual sum is stored once, so the full-resolution output shares memory with one canvas."""
    schedule = exact_schedule(generator_from_name(net_g).program)
    for index, sweep in enumerate(schedule.sweeps):
        live = {slot for slot, last in schedule.last_use.items() if slot != INPUT and last >= index}
        written = {slot for earlier in schedule.sweeps[:index] for _, slot in earlier.sinks}
        if sweep.segment.end == len(generator_from_name(net_g).program):
            assert len(live & written) == 1


@pytest.mark.parametrize("make", [stored_schedule, exact_schedule, lean_schedule])
@pytest.mark.parametrize("net_g", ["resnet_9blocks", "resnet_6blocks"])
def test_exact_schedules_give_every_norm_its_statistics_before_use(make, net_g):
    program = generator_from_name(net_g).program
    known: set[int] = set()
    written = {INPUT}
    for sweep in make(program).sweeps:
        seg = sweep.segment
        assert sweep.source in written and set(sweep.skip_slots) <= written
        for i in range(seg.start, seg.end):
            if program.ops[i].kind is OpKind.NORM:
                assert i in known, f"norm {i} used before its statistics were collected"
        if sweep.collect:
            assert program.ops[seg.end].kind is OpKind.NORM
            known.add(seg.end)
        written |= {slot for _, slot in sweep.sinks}
    assert known == set(program.norms)


def test_the_lean_schedule_keeps_one_canvas_for_more_compute():
    program = generator_from_name("resnet_9blocks").program
    lean, fast = lean_schedule(program), exact_schedule(program)
    assert len([k for k in lean.slots if k != INPUT]) == 1

    def cost(schedule):
        return sum(program.macs_per_pixel(w.segment.start, w.segment.end) for w in schedule.sweeps)

    assert 2 < cost(lean) / cost(fast) < 3


def test_sweep_margins_are_small_in_exact_mode():
    program = generator_from_name("resnet_9blocks").program
    radii = [program.radius(w.segment.start, w.segment.end) for w in exact_schedule(program).sweeps]
    assert max(radii) <= 12 < program.radius()


def test_a_network_without_instance_norm_is_one_sweep():
    program = generator_from_name("resnet_6blocks", norm="batch").program
    assert len(exact_schedule(program).sweeps) == 1


def test_aligned_spans_refuse_unaligned_lengths():
    with pytest.raises(ValueError):
        aligned_spans(100, 32, 3)


@pytest.mark.parametrize("height, width, core, margin", [(300, 520, 64, 8), (512, 512, 128, 4), (100, 1000, 256, 12),
                                                         (64, 96, 16, 12), (1000, 600, 512, 4)])
def test_unread_interiors_are_read_by_no_later_tile_and_strips_complete_the_core(height, width, core, margin):
    tiles = plan_tiles(plan_cores(height, width, core, 4), margin, height, width)
    for i, (tile, inner) in enumerate(zip(tiles, unread_interiors(tiles))):
        assert all(not (inner.area and later.region.intersects(inner)) for later in tiles[i + 1 :])
        parts = [inner, *(s for s in border_strips(tile.core, inner) if s.area)]
        assert sum(p.area for p in parts) == tile.core.area
        assert all(tile.core.y0 <= p.y0 <= p.y1 <= tile.core.y1 and tile.core.x0 <= p.x0 <= p.x1 <= tile.core.x1
                   for p in parts)
        assert not any(a.intersects(b) for j, a in enumerate(parts) for b in parts[j + 1 :] if a.area and b.area)


def test_interiors_hold_back_only_thin_strips_on_wide_cores():
    tiles = plan_tiles(plan_cores(2000, 3000, 512, 4), 4, 2000, 3000)
    held = 1 - sum(r.area for r in unread_interiors(tiles)) / (2000 * 3000)
    assert 0 < held < 0.03
