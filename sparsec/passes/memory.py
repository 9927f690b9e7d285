"""Static memory plan: give every arena buffer an offset so buffers whose
lifetimes overlap never overlap in memory.

Greedy by size (largest first, lowest offset that fits), as TFLite Micro's
planner does. The lower bound is the most bytes live at any one step; on a
chain of layers the plan meets it.
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


def plan_memory(buffers: list[Buffer], alignment: int = 16, reuse: bool = True) -> Plan:
    """Place ``buffers``; with ``reuse=False`` every buffer gets its own bytes (debug builds)."""
    sizes = {b.name: align_up(b.nbytes, alignment) for b in buffers}
    offsets: dict[str, int] = {}
    placed: list[Buffer] = []
    order = sorted(buffers, key=lambda b: (-sizes[b.name], b.first, b.name))
    for buf in order:
        conflicts = sorted(
            (offsets[p.name], offsets[p.name] + sizes[p.name])
            for p in placed
            if not reuse or (p.first <= buf.last and buf.first <= p.last)
        )
        offset = 0
        for lo, hi in conflicts:
            if offset + sizes[buf.name] <= lo:
                break
            offset = max(offset, hi)
        offsets[buf.name] = offset
        placed.append(buf)
    peak = max((offsets[n] + sizes[n] for n in offsets), default=0)
    steps = range(min((b.first for b in buffers), default=0), max((b.last for b in buffers), default=-1) + 1)
    lower = max((sum(sizes[b.name] for b in buffers if b.first <= s <= b.last) for s in steps), default=0)
    return Plan(offsets, sizes, peak, lower if reuse else peak, alignment)
