"""Data-race detection: who touched which element of shared memory in the current phase.

Why per phase: threads of a block are ordered only by barriers. Between two barriers (a
*phase*), an element written by one thread and read or written by another is a race whatever
order the emulator happened to run them in. ``__syncwarp()`` orders the lanes of one warp: each
access carries its warp's epoch, and accesses of one warp in different epochs do not conflict.

Why a log checked at the barrier: a Python call per access would make a checked kernel several
times slower. The generated code appends one integer per shared-memory access (``access id <<
32 | element``) to the block's read or write list, a builtin ``list.append``; the scheduler
marks where each thread's run begins. At the end of the phase numpy finds the elements touched
by more than one thread with at least one write, and only those are examined one by one.

Global memory gets a cheaper check over the whole launch: two threads writing different values
to the same element (a wrong thread binding) is reported, unless a barrier of their block
orders the two writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import EmulatorError, EmulatorRaceError, triple

if TYPE_CHECKING:  # pragma: no cover
    from .scheduler import Launch

_LOW = (1 << 32) - 1


class RaceChecker:
    """The shared-memory access log of one block's current phase."""

    def __init__(self, launch: Launch, block: tuple[int, int, int], num_warps: int) -> None:
        self.launch = launch
        self.block = block
        self.epochs = [0] * num_warps
        self.since = -1  # the site of the barrier that began this phase (-1: the start)
        self.phase = 0
        self.tid = 0  # the thread running now
        self.reads: list[Any] = []
        self.writes: list[Any] = []
        self.segments: list[tuple[int, int, int, int]] = []  # (reads, writes, tid, epoch)
        self.lr, self.lw = self.reads.append, self.writes.append  # what generated code calls

    def switch(self, tid: int) -> None:
        """Thread ``tid`` runs from here on (the scheduler calls this before each run)."""
        self.tid = tid
        epoch = self.epochs[tid // self.launch.warp_size]
        self.segments.append((len(self.reads), len(self.writes), tid, epoch))

    def lrv(self, off: Any, base: int) -> Any:
        """A vector load: log every lane's element, return the offsets."""
        self.reads.extend((np.asarray(off, np.int64).reshape(-1) + base).tolist())
        return off

    def lwv(self, off: Any, base: int) -> Any:
        """A vector store: log every lane's element, return the offsets."""
        self.writes.extend((np.asarray(off, np.int64).reshape(-1) + base).tolist())
        return off

    def note(self, offsets: Any, write: bool, access: int) -> None:
        """Accesses a warp collective reported (``WarpCall.note_read/note_write``)."""
        (self.lwv if write else self.lrv)(offsets, access << 32)

    def sync_warp(self, warp: int) -> None:
        self.epochs[warp] += 1

    def end_phase(self, barrier: int) -> None:
        """Check the phase that a barrier (``barrier``: its site; -1: the block's end) closes,
        and begin the next: everything before a barrier is ordered before everything after."""
        if self.writes:
            self._check()
        self.reads.clear()  # in place: the generated code holds their ``append``
        self.writes.clear()
        self.segments.clear()
        self.since = barrier
        self.phase += 1

    # ------------------------------------------------------------ the check

    def _columns(self, codes: list[Any], which: int) -> tuple[np.ndarray, ...]:
        """(element, access, tid, epoch) arrays of one list; element = storage << 32 | index."""
        code = np.array(codes, dtype=np.int64)
        starts = [s[which] for s in self.segments] + [len(codes)]
        counts = np.diff(np.array(starts, dtype=np.int64))
        tids = np.repeat(np.array([s[2] for s in self.segments], np.int64), counts)
        epochs = np.repeat(np.array([s[3] for s in self.segments], np.int64), counts)
        access = code >> 32
        element = (self.launch.access_keys()[access] << 32) | (code & _LOW)
        return element, access, tids, epochs

    def _check(self) -> None:
        w_elem, w_access, w_tid, w_epoch = self._columns(self.writes, 1)
        order = np.argsort(w_elem, kind="stable")
        elems, first = np.unique(w_elem[order], return_index=True)
        lo = np.minimum.reduceat(w_tid[order], first)
        hi = np.maximum.reduceat(w_tid[order], first)
        suspects = set(elems[lo != hi].tolist())
        reads = None
        if self.reads:
            reads = self._columns(self.reads, 0)
            r_elem, r_tid = reads[0], reads[2]
            pos = np.minimum(np.searchsorted(elems, r_elem), len(elems) - 1)
            hit = elems[pos] == r_elem
            other = hit & ((lo[pos] != r_tid) | (hi[pos] != r_tid))
            suspects.update(r_elem[other].tolist())
        for element in sorted(suspects):
            self._examine(element, (w_elem, w_access, w_tid, w_epoch), reads)

    def _examine(self, element: int, writes: tuple, reads: tuple | None) -> None:
        """Raise for the first unordered (write, other access) pair on ``element``, if any."""
        def accesses(columns: tuple) -> list[tuple[int, int, int]]:
            at = np.nonzero(columns[0] == element)[0]
            return list(zip(columns[1][at].tolist(), columns[2][at].tolist(),
                            columns[3][at].tolist()))

        written = accesses(writes)
        others = [("writes", a) for a in written]
        others += [("reads", a) for a in (accesses(reads) if reads is not None else [])]
        size = self.launch.warp_size
        for w in written:
            for verb, a in others:
                if a[1] != w[1] and (a[1] // size != w[1] // size or a[2] == w[2]):
                    self._race(element, w, verb, a)

    def _race(self, element: int, write: tuple, verb: str, other: tuple) -> None:
        launch = self.launch
        storage = launch.kernel.tables.storages[element >> 32]
        name = launch.kernel.tables.accesses[write[0]][1]
        since = "the kernel's start" if self.since < 0 else \
            f"the barrier {launch.describe_site(self.since)}"
        raise EmulatorRaceError(
            f"data race in kernel {launch.kernel.name!r} on {storage.scope} buffer "
            f"{name!r}[{element & _LOW}]: thread {triple(launch.triples[write[1]])} writes it at "
            f"{launch.describe_access(write[0])} and thread {triple(launch.triples[other[1]])} "
            f"{verb} it at {launch.describe_access(other[0])} in block {triple(self.block)} with "
            f"no T.tvm_storage_sync between (both since {since})"
        )


class GlobalWriteLog:
    """Which thread wrote each global element (and what), over one launch."""

    def __init__(self, launch: Launch) -> None:
        self.launch = launch
        # (storage, element) -> (block, thread, access, value, phase)
        self.log: dict[tuple[int, int], tuple[tuple[int, int, int], int, int, Any, int]] = {}
        self.checker: RaceChecker | None = None  # the block being run

    def gw(self, array: np.ndarray, key: int, off: Any, where: int, value: Any) -> Any:
        """A store of ``value`` to global ``array[off]``: log it, return off."""
        if type(off) is int:
            if not 0 <= off < array.size:
                self.launch.out_of_bounds(off, array.size, where)
            self._write(key, off, where, value)
            return off
        elems = np.asarray(off).reshape(-1).tolist()
        values = np.broadcast_to(np.asarray(value), (len(elems),))
        for e, v in zip(elems, values):
            if not 0 <= e < array.size:
                self.launch.out_of_bounds(e, array.size, where)
            self._write(key, e, where, v)
        return off

    def _write(self, key: int, e: int, where: int, value: Any) -> None:
        checker = self.checker
        record = (checker.block, checker.tid, where, value, checker.phase)
        old = self.log.get((key, e))
        self.log[(key, e)] = record
        if old is None or (old[0] == record[0] and (old[1] == record[1] or old[4] != record[4])):
            return
        if old[3] == value or (np.isnan(old[3]) and np.isnan(value)):
            return
        launch = self.launch
        storage = launch.kernel.tables.storages[key]
        raise EmulatorRaceError(
            f"conflicting writes in kernel {launch.kernel.name!r} to global buffer "
            f"{storage.name!r}[{e}]: thread {triple(launch.triples[old[1]])} of block "
            f"{triple(old[0])} writes {old[3]} at {launch.describe_access(old[2])} and thread "
            f"{triple(launch.triples[record[1]])} of block {triple(record[0])} writes {value} at "
            f"{launch.describe_access(where)}"
        )


__all__ = ["EmulatorError", "GlobalWriteLog", "RaceChecker"]
