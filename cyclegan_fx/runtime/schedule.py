"""Which sweeps over the tiles compute a program, and where their results are kept.

A sweep runs a span of the program on every tile. In exact mode each instance
normalization needs the statistics of the whole image before any tile can pass
it, so the program is cut at every normalization:

* at the cheapest resolution (fewest values per input pixel: the ResNet
  bottleneck) the pre-norm activation is stored whole in a canvas, and the next
  sweep starts from it with a margin of a few pixels;
* at the expensive full-resolution normalizations nothing is stored; later
  sweeps recompute from the last canvas (the encoder and decoder ends are cheap).

Where memory is plentiful, the stored schedule keeps every pre-norm activation
instead, so each layer runs once (about 10% faster on a CPU); its canvases grow
with the full-resolution activations, so it may take only a share of the memory.

Canvases whose last reader is the sweep that writes a new canvas of the same
shape are reused in place, which keeps a ResNet to two bottleneck canvases.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from cyclegan_fx.networks.program import OpKind, Program

INPUT = 0  # slot of the input image


@dataclass(frozen=True)
class Segment:
    """A span of the program as one backend call sees it."""

    start: int
    end: int
    skips_in: tuple[int, ...] = ()  # SAVE positions before ``start`` whose ADD/CAT lies inside
    saves_out: tuple[int, ...] = ()  # SAVE positions inside whose ADD/CAT lies at or after ``end``
    local_norms: bool = False  # norms use each tile's own statistics instead of given ones


@dataclass(frozen=True)
class Sweep:
    segment: Segment
    source: int  # slot read at ``segment.start``
    skip_slots: tuple[int, ...]  # slot of each ``segment.skips_in``
    sinks: tuple[tuple[int, int], ...]  # (position, slot): SAVE outputs, or ``end`` for the activation
    collect: bool  # accumulate statistics of the activation at ``end`` (a norm)


@dataclass(frozen=True)
class SlotShape:
    channels: int
    scale: int


@dataclass(frozen=True)
class Schedule:
    sweeps: tuple[Sweep, ...]
    slots: dict[int, SlotShape]
    last_use: dict[int, int]  # slot -> index of the last sweep that reads it
    memory_share: float = 1.0  # the most of the available memory its canvases may take


def segment(program: Program, start: int, end: int, local_norms: bool = False) -> Segment:
    """The segment for ``start..end-1`` with its skip inputs and outputs."""
    partner = program.partner
    skips_in = tuple(
        s for s in range(start) if program.ops[s].kind is OpKind.SAVE and start <= partner[s] < end
    )
    saves_out = tuple(
        s for s in range(start, end) if program.ops[s].kind is OpKind.SAVE and partner[s] >= end
    )
    return Segment(start, end, skips_in, saves_out, local_norms)


def single_sweep(program: Program, local_norms: bool) -> Schedule:
    """The whole program in one sweep (norm statistics known beforehand, or per tile)."""
    sweep = Sweep(segment(program, 0, len(program), local_norms), INPUT, (), (), collect=False)
    return Schedule((sweep,), {INPUT: SlotShape(program.in_channels, 1)}, {INPUT: 0})


# A sweep before its slots are assigned: start, end, collect statistics at end, store the activation at end.
SweepDraft = tuple[int, int, bool, bool]


def exact_schedule(program: Program) -> Schedule:
    """Sweeps that give every normalization the statistics of the whole image.

    Stores the pre-norm activation at every cheapest-resolution norm: each
    convolution runs once (two bottleneck canvases for a ResNet).
    """
    norms = program.norms
    if not norms:
        return single_sweep(program, local_norms=False)
    cheapest = _cheapest(program)
    drafts: list[SweepDraft] = []
    start = 0
    for end in (*norms, len(program)):
        store = end < len(program) and program.density(end) <= cheapest
        exit_ = None if store else _bottleneck_exit(program, start, end, cheapest)
        if exit_ is not None:
            drafts.append((start, exit_, False, True))
            start = exit_
        drafts.append((start, end, end < len(program), store))
        if store:
            start = end
    return _assign_slots(program, drafts)


# A quarter: the stored schedule only saves time, and apply, watch and GIMP may run side by side.
STORED_MEMORY_SHARE = 0.25


def stored_schedule(program: Program) -> Schedule:
    """Exact statistics with every pre-norm activation stored: each layer runs once, for the most memory
    (a ResNet's full-resolution activations: 64 channels per pixel)."""
    norms = program.norms
    if not norms:
        return single_sweep(program, local_norms=False)
    drafts = [(start, end, end < len(program), end < len(program)) for start, end in pairwise((0, *norms, len(program)))]
    return _assign_slots(program, drafts, STORED_MEMORY_SHARE)


def _bottleneck_exit(program: Program, start: int, end: int, cheapest: float) -> int | None:
    """Where to store the activation once more before leaving the cheapest resolution: the last
    position before ``end`` still that cheap with every skip read since ``start`` consumed.

    The sweeps after it then read one canvas instead of the activation and its skips (a ResNet
    decoder holds one bottleneck canvas, not two, next to the output image).
    """
    if not segment(program, start, end).skips_in:
        return None
    for position in range(end - 1, start, -1):
        if program.density(position) <= cheapest and not segment(program, position, end).skips_in:
            return position
    return None


def lean_schedule(program: Program) -> Schedule:
    """Exact statistics with half the canvases: only skip inputs (ResNet block inputs) are stored,
    and every norm inside a block is reached by recomputing from its input.

    For a ResNet the first convolution of a block runs three times and the second twice.
    """
    norms = program.norms
    if not norms:
        return single_sweep(program, local_norms=False)
    cheapest = _cheapest(program)
    saves = [i for i, op in enumerate(program.ops) if op.kind is OpKind.SAVE and program.density(i) <= cheapest]
    drafts: list[SweepDraft] = []
    start = 0
    for position in sorted({*norms, *saves}):
        if position in saves and position > start:
            drafts.append((start, position, False, True))
            start = position
        if position in norms:
            drafts.append((start, position, True, False))
    drafts.append((start, len(program), False, False))
    return _assign_slots(program, drafts)


def at_cheapest(program: Program, seg: Segment) -> bool:
    """Whether every activation the segment reads, computes or returns is at the cheapest resolution."""
    if not program.norms:
        return False
    cheapest, last = _cheapest(program), min(seg.end, len(program) - 1)
    return all(program.density(p) <= cheapest for p in range(seg.start, last + 1))


def _cheapest(program: Program) -> float:
    return min(program.density(n) for n in program.norms)


def _assign_slots(program: Program, drafts: list[SweepDraft], memory_share: float = 1.0) -> Schedule:
    """Give every stored value a slot, reusing slots whose value is read for the last time."""
    segments = [segment(program, start, end) for start, end, _, _ in drafts]
    last_read = {value: i for i, seg in enumerate(segments) for value in _reads(seg)}
    value_slot: dict[Value, int] = {("act", 0): INPUT}
    slots = {INPUT: SlotShape(program.in_channels, 1)}
    live: dict[int, Value] = {}
    last_use: dict[int, int] = {}
    sweeps = []
    for i, (seg, (_, end, collect, store)) in enumerate(zip(segments, drafts)):
        source = value_slot[("act", seg.start)]
        skip_slots = tuple(value_slot[("save", s)] for s in seg.skips_in)
        sinks = []
        for value in _stored(seg) if store else []:
            shape = SlotShape(program.channels_before[value[1]], program.scale_before[value[1]])
            slot = _free_slot(live, slots, last_read, shape, i)
            if slot is None:
                slot = len(slots)
                slots[slot] = shape
            live[slot] = value
            value_slot[value] = slot
            sinks.append((value[1], slot))
        for slot in (source, *skip_slots, *(slot for _, slot in sinks)):
            last_use[slot] = i
        sweeps.append(Sweep(seg, source, skip_slots, tuple(sinks), collect))
    return Schedule(tuple(sweeps), slots, last_use, memory_share)


Value = tuple[str, int]  # ("act", position): activation before that op; ("save", position): a SAVE output


def _reads(seg: Segment) -> list[Value]:
    return [("act", seg.start)] + [("save", s) for s in seg.skips_in]


def _stored(seg: Segment) -> list[Value]:
    return [("save", s) for s in seg.saves_out] + [("act", seg.end)]


def _free_slot(
    live: dict[int, Value], slots: dict[int, SlotShape], last_read: dict[Value, int], shape: SlotShape, sweep: int
) -> int | None:
    """A slot of this shape whose value nobody reads after ``sweep``."""
    for slot, value in live.items():
        if slots[slot] == shape and last_read.get(value, -1) <= sweep:
            return slot
    return None
