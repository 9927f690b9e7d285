"""Static memory plan: give every arena buffer an offset so buffers whose
lifetimes overlap never overlap in memory.

Two heuristics run and the smaller plan wins: greedy by size (largest first,
lowest offset that fits, as TFLite Micro's planner does), and a two-ended
placement in order of first use that puts each buffer at the end of the arena
away from the buffer it must coexist with (which meets the lower bound on a
chain of layers, where greedy by size can miss it). The lower bound is the most
bytes live at any one step.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Buffer:
    name: str
    nbytes: int
    first: int  # step that writes it
    last: int  # last step that reads it (>= first)


@dataclass(frozen=True)
class Plan:
    offsets: dict[str, int]
    sizes: dict[str, int]  # aligned sizes
    peak: int  # arena bytes the plan needs
    lower_bound: int  # max over steps of bytes simultaneously live
    alignment: int


def align_up(n: int, alignment: int) -> int:
    return (n + alignment - 1) // alignment * alignment


def _gaps(busy: list[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    """Free [lo, hi) intervals of at least ``size`` bytes around ``busy`` (the last one open-ended)."""
    free, cursor = [], 0
    for lo, hi in sorted(busy):
        if lo - cursor >= size:
            free.append((cursor, lo))
        cursor = max(cursor, hi)
    free.append((cursor, 1 << 62))
    return free


def _overlap(a: Buffer, b: Buffer) -> bool:
    return a.first <= b.last and b.first <= a.last


def _greedy_by_size(buffers: list[Buffer], sizes: dict[str, int], bound: int) -> dict[str, int]:
    offsets: dict[str, int] = {}
    for buf in sorted(buffers, key=lambda b: (-sizes[b.name], b.first, b.name)):
        busy = [
            (offsets[p.name], offsets[p.name] + sizes[p.name])
            for p in buffers
            if p.name in offsets and _overlap(p, buf)
        ]
        offsets[buf.name] = _gaps(busy, sizes[buf.name])[0][0]
    return offsets


def _two_ended(buffers: list[Buffer], sizes: dict[str, int], bound: int) -> dict[str, int]:
    offsets: dict[str, int] = {}
    placed: list[Buffer] = []
    for buf in sorted(buffers, key=lambda b: (b.first, b.name)):
        size = sizes[buf.name]
        live = [p for p in placed if _overlap(p, buf)]
        gaps = _gaps([(offsets[p.name], offsets[p.name] + sizes[p.name]) for p in live], size)
        fits = [(lo, hi) for lo, hi in gaps if lo + size <= bound]
        offset = gaps[0][0]
        if fits and live:
            newest = live[-1]
            newest_low = offsets[newest.name] + sizes[newest.name] / 2 < bound / 2
            lo, hi = fits[-1] if newest_low else fits[0]
            offset = min(hi, bound) - size if newest_low else lo
        offsets[buf.name] = offset
        placed.append(buf)
    return offsets


def plan_memory(buffers: list[Buffer], alignment: int = 16, reuse: bool = True) -> Plan:
    """Place ``buffers``; with ``reuse=False`` every buffer gets its own bytes (debug builds)."""
    sizes = {b.name: align_up(b.nbytes, alignment) for b in buffers}
    if not reuse:
        offsets, cursor = {}, 0
        for b in sorted(buffers, key=lambda b: (b.first, b.name)):
            offsets[b.name], cursor = cursor, cursor + sizes[b.name]
        return Plan(offsets, sizes, cursor, cursor, alignment)
    steps = range(min((b.first for b in buffers), default=0), max((b.last for b in buffers), default=-1) + 1)
    lower = max((sum(sizes[b.name] for b in buffers if b.first <= s <= b.last) for s in steps), default=0)
    best: dict[str, int] | None = None
    for strategy in (_greedy_by_size, _two_ended):
        offsets = strategy(buffers, sizes, lower)
        if best is None or _peak(offsets, sizes) < _peak(best, sizes):
            best = offsets
    assert best is not None
    return Plan(best, sizes, _peak(best, sizes), lower, alignment)


def _peak(offsets: dict[str, int], sizes: dict[str, int]) -> int:
    return max((offsets[n] + sizes[n] for n in offsets), default=0)
