"""The emulator's errors, and how they name threads."""

from __future__ import annotations

from collections.abc import Iterable


class EmulatorError(RuntimeError):
    """A kernel did something a GPU would not run correctly (out of bounds, bad collective)."""


class EmulatorRaceError(EmulatorError):
    """Two threads touched the same element with no barrier ordering them."""


class EmulatorBarrierError(EmulatorError):
    """The threads of a block did not all reach the same ``__syncthreads()``."""


Triple = tuple[int, int, int]


def triple(t: Iterable[int]) -> str:
    return "(" + ", ".join(str(i) for i in t) + ")"


def thread_runs(linear_ids: Iterable[int], triples: list[Triple], limit: int = 4) -> str:
    """``(0, 0, 0)..(15, 0, 0), (32, 0, 0)``: runs of consecutive linear thread ids."""
    ids = sorted(linear_ids)
    runs: list[tuple[int, int]] = []
    for i in ids:
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    parts = [triple(triples[a]) if a == b else f"{triple(triples[a])}..{triple(triples[b])}"
             for a, b in runs[:limit]]
    if len(runs) > limit:
        parts.append(f"... ({len(ids)} threads)")
    return ", ".join(parts)
